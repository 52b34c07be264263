"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the real PostgreSQL server and per-test deployments, for every folder of tests
pytest_plugins = ["postgres_fixtures", "docker_fixtures"]

REPO_DIR = Path(__file__).resolve().parents[1]


def locate_shared_dir() -> Path:
    """The shared folder: ``$ZOE_SHARED_DIR`` if set, else ``<repo>/../shared``."""
    configured = os.environ.get("ZOE_SHARED_DIR")
    return Path(configured) if configured else (REPO_DIR.parent / "shared").resolve()


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    """The root of the repository (where pyproject.toml is)."""
    return REPO_DIR


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared folder beside the repository, with sample ZApps and traces.

    Fails (never skips) when it is missing: those files are part of the contract.
    """
    path = locate_shared_dir()
    if not (path / "zapps").is_dir():
        pytest.fail(
            f"shared folder not found at {path} (expected a 'zapps' folder in it); "
            "clone the project with 'shared/' beside the repository or set "
            "ZOE_SHARED_DIR to its path"
        )
    return path
