"""The one place that chooses how a run reports, from the CI system's own environment variables."""

from __future__ import annotations

from collections.abc import Mapping

from ..report import Reporter
from .azure_devops import AzureDevOpsReporter
from .gitlab import GitLabReporter


def reporter_for(environ: Mapping[str, str]) -> Reporter:
    """Azure Pipelines sets TF_BUILD, GitLab CI sets GITLAB_CI; anything else gets plain lines.
    (The GitHub Action's edge, entrypoint.py, takes GitHubReporter itself.)"""
    if environ.get("TF_BUILD"):
        return AzureDevOpsReporter(environ)
    if environ.get("GITLAB_CI"):
        return GitLabReporter(environ)
    return Reporter()
