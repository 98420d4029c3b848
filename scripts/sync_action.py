"""Write action.yml and README's input/output tables from the tables in src/ (the single source of truth).

python scripts/sync_action.py          # rewrite action.yml and README's tables
python scripts/sync_action.py --check  # exit 1 when either has drifted (run by the tests)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from onnx_package import __version__  # noqa: E402
from onnx_package.inputs import INPUTS  # noqa: E402
from onnx_package.outputs import OUTPUTS  # noqa: E402

HEADER = f"""\
# onnx-package-action {__version__}
# Generated from src/onnx_package/inputs.py and outputs.py by scripts/sync_action.py: edit those, then rerun it.
name: ONNX model package
description: Package an ONNX model (Azure ML, a path or a URL) into a tested, self-contained serving image and push it.
author: onnx-package-action
branding:
  icon: package
  color: blue
"""

# Nothing from an expression is pasted into `run:`: the action's folder comes from $GITHUB_ACTION_PATH
# (in a `container:` job `${{ github.action_path }}` is the host's path, actions/runner#2185) and the
# install step's answer reaches the next step through `env:`, as data.
RUNS = """\
runs:
  using: composite
  steps:
    - name: Install onnx-package
      id: install
      shell: bash
      run: bash "$GITHUB_ACTION_PATH/scripts/install-action.sh"
    - name: Package the model
      id: package
      shell: bash
      env:
        ONNX_PACKAGE_VENV_PYTHON: ${{ steps.install.outputs.python }}
%s
      run: '"$ONNX_PACKAGE_VENV_PYTHON" "$GITHUB_ACTION_PATH/entrypoint.py"'
"""


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def render() -> str:
    lines = [HEADER, "inputs:"]
    for spec in INPUTS:
        lines += [f"  {spec.name}:", f"    description: {quoted(spec.description)}", "    required: false"]
        if spec.default:
            lines.append(f"    default: {quoted(spec.default)}")
    lines.append("outputs:")
    for output in OUTPUTS:
        lines += [
            f"  {output.name}:",
            f"    description: {quoted(output.description)}",
            f"    value: ${{{{ steps.package.outputs.{output.name} }}}}",
        ]
    env = "\n".join(f"        INPUT_{spec.attr.upper()}: ${{{{ inputs.{spec.name} }}}}" for spec in INPUTS)
    return "\n".join(lines) + "\n" + RUNS % env


def readme_tables(readme: str) -> str:
    inputs = ["| input | default | description |", "|---|---|---|"] + [
        f"| `{spec.name}` | {f'`{spec.default}`' if spec.default else ''} | {spec.description} |" for spec in INPUTS
    ]
    outputs = ["| output | description |", "|---|---|"] + [f"| `{o.name}` | {o.description} |" for o in OUTPUTS]
    for name, table in (("inputs", inputs), ("outputs", outputs)):
        block = f"<!-- {name}:start -->\n" + "\n".join(table) + f"\n<!-- {name}:end -->"
        readme = re.sub(
            rf"<!-- {name}:start -->.*?<!-- {name}:end -->", lambda _, block=block: block, readme, flags=re.S
        )
    return readme


def main() -> int:
    files = {ROOT / "action.yml": lambda _: render(), ROOT / "README.md": readme_tables}
    stale = [path.name for path, make in files.items() if path.read_text() != make(path.read_text())]
    if "--check" in sys.argv:
        for name in stale:
            print(f"{name} is out of date: run python scripts/sync_action.py", file=sys.stderr)
        return 1 if stale else 0
    for path, make in files.items():
        path.write_text(make(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
