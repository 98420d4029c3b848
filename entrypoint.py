"""The GitHub Action's edge: INPUT_* in; outputs, step summary, groups, masks and annotations out."""

from __future__ import annotations

import os
import sys

# The action's own src/ comes first: the code that runs is this checkout's, whatever version of the
# package the cached venv (keyed by dependencies only, see scripts/install-action.sh) was built with.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

from onnx_package.ci.github import GitHubReporter
from onnx_package.cli import execute
from onnx_package.settings import load_settings, run_environ

if __name__ == "__main__":
    environ = run_environ()
    sys.exit(execute(lambda: load_settings({}, environ), GitHubReporter(environ), environ))
