"""What the client commands say: status changes while waiting, an unknown service,
refusals as sentences, the backends in `zoe master --help`. A real master
(simulated backend), real PostgreSQL and the real API."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from master_harness import (
    RunningMaster,
    free_port,
    master_config,
    master_thread,
    zapp,
)
from typer.testing import CliRunner

from zoe.api.config import ApiConfig
from zoe.api.server import serve_in_thread
from zoe.cli.main import app
from zoe.live.backends import BACKENDS

runner = CliRunner()
PASSWORD = "s3cret-pass"


class Cli:
    """The ``zoe`` command with its own configuration folder, logged in as root."""

    def __init__(self, url: str, master: RunningMaster, home: Path) -> None:
        self.url = url
        self.master = master
        self.env = {"XDG_CONFIG_HOME": str(home), "ZOE_MASTER": None}

    def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=self.env, input=stdin)
        return result.exit_code, result.output


@pytest.fixture
def cli(postgres_dsn: str, deployment: str, tmp_path: Path) -> Iterator[Cli]:
    config = master_config(postgres_dsn, deployment, tmp_path / "master")
    with master_thread(config) as master:
        api = ApiConfig(postgres_dsn, deployment, master=master.address)
        with serve_in_thread(api, f"127.0.0.1:{free_port()}") as url:
            zoe = Cli(url, master, tmp_path / "home")
            code, out = zoe(
                "admin", "create-user", "root", "--role", "admin",
                "--password-stdin", "--database-url", postgres_dsn,
                "--deployment", deployment, stdin=f"{PASSWORD}\n",
            )  # fmt: skip
            assert code == 0, out
            code, out = zoe(
                "login", "--url", url, "--user", "root", "--password-stdin",
                stdin=f"{PASSWORD}\n",
            )  # fmt: skip
            assert code == 0, out
            yield zoe


@pytest.mark.integration
def test_start_wait_prints_each_status_change(cli: Cli, tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps(zapp(size=50.0)))  # 0.5 s of wall time at speed 0.01

    code, out = cli("exec", "start", "--wait", "--interval", "0.02", "job", str(job))

    lines = out.splitlines()
    assert code == 0, out
    assert lines[0] == "execution 1: submitted"
    assert lines[-1].startswith("execution 1: finished")
    middle = [line.removeprefix("execution 1: ") for line in lines[1:-1]]
    assert "running" in middle
    assert set(middle) <= {"queued", "starting", "running", "cleaning up"}
    assert all(a != b for a, b in itertools.pairwise(middle))


@pytest.mark.integration
def test_following_an_unknown_service_stops_at_once(cli: Cli, tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps(zapp(size=3000.0)))  # 30 s of wall time
    assert cli("exec", "start", "job", str(job))[0] == 0

    code, out = cli("exec", "logs", "--follow", "--service", "nope", "1")
    status = json.loads(cli("exec", "get", "--json", "1")[1])["status"]

    assert (code, out) == (
        1,
        "error: execution 1 has no service 'nope' (its services: s-0)\n",
    )
    assert status not in {"finished", "terminated", "rejected", "error"}
    cli("exec", "kill", "1")


@pytest.mark.integration
def test_refusals_read_as_sentences(cli: Cli) -> None:
    bad_quota = cli("admin", "set", "root", "--executions", "-1")
    wrong_url = runner.invoke(
        app,
        ["login", "--url", f"{cli.url}/zoe", "--user", "root", "--password-stdin"],
        env=cli.env,
        input=f"{PASSWORD}\n",
    )
    direct = runner.invoke(
        app,
        ["exec", "get", "99", "--master", cli.master.address, "--user", "root"],
        env=cli.env,
    )

    assert bad_quota == (
        2,
        "error: quotas.max_executions: input should be greater than or equal to 0\n",
    )
    assert (wrong_url.exit_code, wrong_url.output) == (
        1,
        f"error: the API at {cli.url} has no POST /zoe/api/v1/tokens (HTTP 404 "
        "Not Found); check the address given to `zoe login --url`\n",
    )
    assert (direct.exit_code, direct.output) == (
        1,
        "error: execution '99' not found\n",
    )


def test_master_help_lists_every_backend() -> None:
    result = runner.invoke(app, ["master", "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    assert "Backend: simulated (the default), docker or swarm." in result.output
    assert "Protocol address (default: tcp://127.0.0.1:4850)." in result.output
    assert set(BACKENDS) == {"simulated", "docker", "swarm"}


@pytest.mark.integration
def test_a_retry_name_is_waited_for_then_refused_once_ended(
    cli: Cli, tmp_path: Path
) -> None:
    # s-0-r1 would be the first retry of s-0: it may come, so it is waited for
    job = tmp_path / "job.json"
    job.write_text(json.dumps(zapp(size=0.3)))
    assert cli("exec", "start", "job", str(job))[0] == 0

    code, out = cli("exec", "logs", "--follow", "--service", "s-0-r1", "1")
    status = json.loads(cli("exec", "get", "--json", "1")[1])["status"]

    assert status == "finished"
    assert (code, out) == (
        1,
        "error: execution 1 has no service 's-0-r1' (its services: s-0)\n",
    )


@pytest.mark.integration
def test_bad_backend_options_and_bad_hosts_both_exit_2(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    def master(options: str) -> tuple[int, str]:
        config = tmp_path / "zoe.toml"
        config.write_text(f"[backend_options]\n{options}\n")
        result = runner.invoke(
            app,
            [
                "master", "--backend", "docker", "--config", str(config),
                "--database-url", postgres_dsn, "--deployment", deployment,
                "--data-dir", str(tmp_path / "data"),
                "--listen", f"tcp://127.0.0.1:{free_port()}",
            ],
            env={},
        )  # fmt: skip
        return result.exit_code, result.output

    address = master('address = "bogus://nowhere"')
    hosts = master("hosts = 3")

    assert address[0] == 2
    assert (
        address[1]
        .splitlines()[-1]
        .startswith(
            "error: docker backend: the daemon at bogus://nowhere does not answer"
        )
    )
    assert hosts == (
        2,
        "error: [backend_options] hosts: expected a non-empty list of hosts\n",
    )


@pytest.mark.integration
def test_an_administrator_revokes_a_users_tokens(cli: Cli) -> None:
    before = cli("admin", "users")

    revoked = cli("admin", "revoke-tokens", "root")
    after = cli("admin", "users")

    assert before[0] == 0
    assert revoked == (0, "user root: 1 token revoked\n")
    assert after == (1, "error: the token is wrong or has expired: log in again\n")
