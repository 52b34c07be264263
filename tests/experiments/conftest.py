"""Fixtures of the experiment tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from exp_helpers import write_native


@pytest.fixture
def tiny_trace(tmp_path: Path) -> Path:
    """Three executions at 0, 10 and 20 s, each 2 services of 1 core for 50 s."""
    return write_native(tmp_path / "tiny.jsonl", [0.0, 10.0, 20.0])
