"""Provenance of an experiment: what ran, with what, where and when.

Never fails for lack of information: an absent git or package is recorded as null.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zoe

if TYPE_CHECKING:
    from zoe.experiments.runner import ExperimentResult, RunnerOptions
    from zoe.experiments.spec import ExperimentSpec

PACKAGES = (
    "zoe",
    "simpy",
    "pydantic",
    "numpy",
    "pandas",
    "pyarrow",
    "matplotlib",
    "rich",
    "dask",
    "distributed",
    "spar",
)


def provenance(
    spec: ExperimentSpec,
    options: RunnerOptions,
    started: datetime,
    total: int,
    result: ExperimentResult,
) -> dict[str, Any]:
    """The provenance record written to ``provenance.json``."""
    return {
        "zoe_version": zoe.__version__,
        "git": git_revision(Path(zoe.__file__).resolve().parent.parent),
        "spec": {
            "source": spec.source,
            "name": spec.name,
            "description": spec.description,
            "text": spec.text,
        },
        "seeds": list(spec.seeds),
        "python": sys.version,
        "platform": platform.platform(),
        "packages": package_versions(),
        "start_time": started.isoformat(),
        "end_time": datetime.now(UTC).isoformat(),
        "cores": os.cpu_count(),
        "executor": options.executor,
        "scheduler": options.scheduler,
        "workers": options.workers,
        "force": options.force,
        "runs": {
            "total": total,
            "executed": len(result.executed),
            "reused": len(result.reused),
            "failed": len(result.failures),
        },
    }


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape results (None: not installed)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(folder: Path) -> dict[str, Any] | None:
    """The commit of the git work tree holding ``folder`` and whether it is dirty.

    None when git is missing or ``folder`` is not in a work tree.
    """
    try:
        commit = _git(folder, "rev-parse", "HEAD")
        status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status)}


def _git(folder: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", "-C", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return completed.stdout.strip()
