"""A second ``zoe up`` on the data folder of a running one is refused at once and
the first goes on: two real processes, each with the embedded PostgreSQL."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from master_harness import free_port, wait_final, zapp

from zoe.live.client import MasterClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def up_command(data_dir: Path, master: str) -> list[str]:
    return [
        sys.executable, "-c", "from zoe.cli.main import main; main()", "up",
        "--data-dir", str(data_dir), "--listen", master, "--speed", "0.001",
        "--api-listen", f"127.0.0.1:{free_port()}",
    ]  # fmt: skip


def test_a_second_up_on_the_same_data_folder_is_refused(tmp_path: Path) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="zoe-up-"))
    data_dir.chmod(0o711)  # PostgreSQL runs as another user and must get in
    address = f"tcp://127.0.0.1:{free_port()}"
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        first = subprocess.Popen(up_command(data_dir, address), stdout=out, stderr=out)
    try:
        with MasterClient(address, timeout_ms=2000, retries=15) as client:
            client.ping()
            second = subprocess.run(
                up_command(data_dir, f"tcp://127.0.0.1:{free_port()}"),
                capture_output=True,
                text=True,
                timeout=60,
            )
            reply = client.submit("after", zapp(size=5.0), "dave")
            record = wait_final(client, reply["execution_id"], timeout=30)
    finally:
        first.send_signal(signal.SIGTERM)
        code = first.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)

    assert second.returncode == 1
    assert second.stdout == ""
    assert second.stderr.splitlines()[-1] == (
        f"error: another Zoe (process {first.pid}) uses {data_dir / 'postgres'}; "
        "stop it first, or give another data folder (--data-dir) or a database "
        "address"
    )
    assert record["status"] == "finished"
    assert code == 0, log.read_text()
    assert "embedded postgres: stopped" in log.read_text()
