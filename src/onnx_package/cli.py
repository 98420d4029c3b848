"""The `onnx-package` command: flags from the inputs table, and the one place errors become exit codes."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence

from . import __version__
from .ci.reporters import reporter_for
from .errors import PackageError, first_line
from .inputs import INPUTS
from .outputs import output_values
from .pipeline import Result, run
from .report import Reporter
from .settings import Settings, debugging, load_settings, run_environ


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="onnx-package",
        description="Package an ONNX model into a served, checked image and push it to registries. "
        "Every flag can also be given as INPUT_<NAME> (the GitHub Action's inputs).",
    )
    cli.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for spec in INPUTS:
        default = f" (default: {spec.default})" if spec.default else ""
        cli.add_argument(
            f"--{spec.name}",
            dest=spec.name,
            default=None,
            metavar=spec.kind.upper(),
            help=spec.description.replace("%", "%%") + default,
        )
    return cli


def execute(load: Callable[[], Settings], reporter: Reporter, environ: Mapping[str, str] | None = None) -> int:
    """Run the pipeline; every failure ends here as one line (and an annotation on GitHub). `environ` (the
    process's when None) says whether to print tracebacks."""
    environ = run_environ(environ)
    try:
        settings = load()
        reporter.start(settings)
        result: Result = run(settings, reporter)
        values = output_values(
            result.pushed,
            result.image_id,
            result.spec,
            result.sbom,
            result.platform_digests,
            result.diff.to_json() if result.diff else "",
        )
        reporter.write_outputs(values, settings.environ)
        reporter.finish(result, values)
        return 0
    except PackageError as err:
        print_traceback_if_debugging(environ)
        if err.outputs:
            reporter.write_outputs(err.outputs, settings.environ)
        reporter.fail(err.title, str(err))
        return 1
    except KeyboardInterrupt:
        reporter.fail("Interrupted", "stopped by the user; nothing after the current stage ran")
        return 130
    except Exception as err:  # a bug: still one line, the traceback only on request
        print_traceback_if_debugging(environ)
        reporter.fail(
            "Internal error",
            f"{err.__class__.__name__}: {first_line(str(err), 300)}. Fix: rerun with "
            "ONNX_PACKAGE_DEBUG=1 (on GitHub: re-run the job with debug logging) and report the "
            "traceback at the project's issues",
        )
        return 2


def print_traceback_if_debugging(environ: Mapping[str, str]) -> None:
    """ONNX_PACKAGE_DEBUG=1, or GitHub's "re-run with debug logging" (RUNNER_DEBUG=1): the traceback too."""
    if debugging(environ):
        traceback.print_exc()


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = vars(parser().parse_args(argv))
    env = run_environ(environ)
    return execute(lambda: load_settings(args, env), reporter_for(env), env)


if __name__ == "__main__":
    sys.exit(main())
