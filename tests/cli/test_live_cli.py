"""`zoe exec` and `zoe stats` against a running master; `zoe master` bad config."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from master_harness import (
    RunningMaster,
    free_port,
    master_config,
    master_thread,
    wait_final,
    zapp,
)
from typer.testing import CliRunner

from zoe.cli.main import app
from zoe.live.client import MasterClient

runner = CliRunner()


@pytest.fixture
def running(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> Iterator[RunningMaster]:
    with master_thread(master_config(postgres_dsn, deployment, tmp_path)) as master:
        yield master


def zoe(master: RunningMaster, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, [*args], env={"ZOE_MASTER": master.address, "ZOE_USER": "carol"}
    )
    return result.exit_code, result.output


@pytest.mark.integration
def test_start_wait_get_ls_rm_and_stats(running: RunningMaster, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(zapp(size=0.3)))

    code, out = zoe(
        running, "exec", "start", "--wait", "--interval", "0.05", "job", str(good)
    )
    assert code == 0, out
    lines = out.splitlines()
    assert (lines[0], lines[-1]) == (
        "execution 1: submitted",
        "execution 1: finished (service s-0: work done (exit code 0))",
    )
    # between them, each status seen on the way, once as it was reached
    on_the_way = [line.removeprefix("execution 1: ") for line in lines[1:-1]]
    assert set(on_the_way) <= {"queued", "starting", "running", "cleaning up"}
    code, out = zoe(running, "exec", "get", "1", "--json")
    assert code == 0
    assert json.loads(out)["user"] == "carol"
    code, out = zoe(running, "exec", "ls", "--status", "finished")
    assert code == 0
    assert out.splitlines()[1].split()[:4] == ["1", "finished", "carol", "job"]
    code, out = zoe(running, "stats")
    assert code == 0
    assert (
        out.splitlines()[0]
        == "scheduler: flexible-fifo / first-fit, 0 running, 0 queued"
    )
    code, out = zoe(running, "exec", "rm", "1")
    assert (code, out) == (0, "execution 1: deleted\n")
    code, out = zoe(running, "exec", "get", "1")
    assert code == 1
    assert "execution '1' not found" in out


@pytest.mark.integration
def test_kill_and_a_failed_wait(running: RunningMaster, tmp_path: Path) -> None:
    lab = tmp_path / "lab.json"
    lab.write_text(json.dumps(zapp(kind="interactive", size=None)))
    code, out = zoe(running, "exec", "start", "lab", str(lab))
    assert (code, out) == (0, "execution 1: submitted\n")
    code, out = zoe(running, "exec", "kill", "1")
    assert code == 0
    assert out in ("execution 1: cleaning up\n", "execution 1: terminated\n")
    code, out = zoe(running, "exec", "rm", "1")
    assert code in (0, 1)  # 1 while it is still cleaning up: a Conflict


@pytest.mark.integration
def test_a_bad_zapp_file_is_refused_before_anything_is_sent(
    running: RunningMaster, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "version": 4, "frameworks": []}))

    code, out = zoe(running, "exec", "start", "job", str(bad))

    assert code == 2
    assert "frameworks" in out
    assert zoe(running, "exec", "ls", "--json")[1].strip() == "[]"


def test_a_bad_configuration_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "zoe.toml"
    config.write_text('policy = "nope-fifo"\n')

    result = runner.invoke(app, ["master", "--config", str(config)], env={})
    unknown = runner.invoke(app, ["master", "--backend", "kubernetes"], env={})
    setting = tmp_path / "other.toml"
    setting.write_text("colour = 1\n")
    bad_key = runner.invoke(app, ["master", "--config", str(setting)], env={})

    assert result.exit_code == 2
    assert result.output.startswith("error: unknown policy 'nope-fifo'")
    assert len(result.output.splitlines()) == 1
    assert unknown.exit_code == 2
    assert "unknown backend 'kubernetes'; valid backends: " in unknown.output
    assert bad_key.exit_code == 2
    assert "unknown setting 'colour'" in bad_key.output


def test_flags_win_over_the_environment_which_wins_over_the_file(
    tmp_path: Path,
) -> None:
    from zoe.live.config import load_config

    config_file = tmp_path / "zoe.toml"
    config_file.write_text('policy = "rigid-fifo"\nplacement = "pack"\nspeed = 0.5\n')
    env = {"ZOE_PLACEMENT": "spread", "ZOE_SPEED": "0.25"}

    config = load_config(config_file, env, {"speed": 2.0, "policy": None})

    assert (config.policy, config.placement, config.speed) == (
        "rigid-fifo",
        "spread",
        2.0,
    )


@pytest.mark.integration
def test_up_serves_with_embedded_postgres_and_stops_cleanly(tmp_path: Path) -> None:
    # `zoe up` as a user runs it: its own PostgreSQL in the data folder, the
    # simulated backend, and a master a client can use; SIGTERM stops all of it.
    data_dir = Path(tempfile.mkdtemp(prefix="zoe-up-"))
    data_dir.chmod(0o711)  # PostgreSQL runs as another user and must get in
    address = f"tcp://127.0.0.1:{free_port()}"
    log = tmp_path / "up.log"
    command = [
        sys.executable, "-c", "from zoe.cli.main import main; main()", "up",
        "--data-dir", str(data_dir), "--listen", address, "--speed", "0.001",
        "--api-listen", f"127.0.0.1:{free_port()}",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out)
    try:
        with MasterClient(address, timeout_ms=2000, retries=15) as client:
            reply = client.submit("up-test", zapp(size=5.0), "dave")
            record = wait_final(client, reply["execution_id"], timeout=30)
        assert record["status"] == "finished", log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
    text = log.read_text()
    assert code == 0, text
    assert "embedded postgres: stopped" in text
