"""A second ``zoe up`` on the data folder of a running one is refused at once and
the first goes on: two real processes, each with the embedded PostgreSQL."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest
from master_harness import free_port, wait_final, zapp

from zoe.live.client import MasterClient
from zoe.live.config import MasterConfig
from zoe.live.db import EmbeddedPostgres
from zoe.live.db.schema import MASTER_LOCK_CLASS
from zoe.live.errors import MasterRunning
from zoe.live.master import Master

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


def test_up_stops_when_another_master_takes_its_deployment(tmp_path: Path) -> None:
    # The master of `zoe up` loses its database session; before it reconnects,
    # another master takes the deployment. Its master then stops on reconnecting,
    # and `zoe up` stops with it instead of serving an API without a master.
    data_dir = Path(tempfile.mkdtemp(prefix="zoe-up-"))
    data_dir.chmod(0o711)
    address = f"tcp://127.0.0.1:{free_port()}"
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(up_command(data_dir, address), stdout=out, stderr=out)
    try:
        with MasterClient(address, timeout_ms=2000, retries=15) as client:
            client.ping()
        settings = json.loads((data_dir / "postgres" / "server.json").read_text())
        dsn = (
            f"host=127.0.0.1 port={settings['port']} user={settings['user']} "
            f"password={settings['password']} dbname=postgres"
        )
        config = MasterConfig(
            database_url=dsn, listen=f"tcp://127.0.0.1:{free_port()}", data_dir=tmp_path
        )
        other = take_over(dsn, config)
        code = up.wait(30)
        other.close()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(30)
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)

    assert code == 1, log.read_text()
    [error] = [line for line in log.read_text().splitlines() if "error:" in line]
    assert error.startswith("error: the master stopped: another master runs for")
    assert error.endswith("the API stopped with it")


def take_over(dsn: str, config: MasterConfig) -> Master:
    """End the sessions holding the deployment and open a master in their place."""
    for _ in range(50):
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE "
                "locktype = 'advisory' AND classid = %s AND objsubid = 2",
                (MASTER_LOCK_CLASS,),
            )
        conn.close()
        try:
            return Master.open(config)
        except MasterRunning:  # the old master was quicker to reconnect
            time.sleep(0.05)
    raise AssertionError("the deployment could not be taken over")


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded server `zoe up` left if it was killed."""
    server = EmbeddedPostgres(data_dir / "postgres")
    if server.is_running():
        server._pg_ctl("-m", "fast", "stop")
