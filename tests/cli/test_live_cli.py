"""`zoe exec` and `zoe stats` against a running master; `zoe master` bad config."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

LIVE_TESTS = Path(__file__).resolve().parents[1] / "live"
sys.path.insert(0, str(LIVE_TESTS))

from master_harness import RunningMaster, master_config, master_thread, zapp  # noqa: E402

from zoe.cli.main import app  # noqa: E402


def _live_fixtures() -> ModuleType:
    # the PostgreSQL fixtures live in tests/live/conftest.py, out of reach of
    # tests/cli: load that file under another name and use its fixtures here
    spec = importlib.util.spec_from_file_location(
        "live_conftest", LIVE_TESTS / "conftest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_LIVE = _live_fixtures()
postgres_dsn = _LIVE.postgres_dsn
deployment = _LIVE.deployment
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
    assert out.splitlines() == [
        "execution 1: submitted",
        "execution 1: finished (service s-0: work done (exit code 0))",
    ]
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
    unknown = runner.invoke(app, ["master", "--backend", "docker"], env={})
    setting = tmp_path / "other.toml"
    setting.write_text("colour = 1\n")
    bad_key = runner.invoke(app, ["master", "--config", str(setting)], env={})

    assert result.exit_code == 2
    assert result.output.startswith("error: unknown policy 'nope-fifo'")
    assert len(result.output.splitlines()) == 1
    assert unknown.exit_code == 2
    assert "unknown backend 'docker'; valid backends: simulated" in unknown.output
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
