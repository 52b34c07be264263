"""The client commands through the REST API: login, exec, stats, admin, logout."""

from __future__ import annotations

import json
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from master_harness import free_port, master_config, master_thread, zapp
from typer.testing import CliRunner

from zoe.api.config import ApiConfig
from zoe.api.server import serve_in_thread
from zoe.cli.main import app

runner = CliRunner()
pytestmark = pytest.mark.integration


class Cli:
    """The ``zoe`` command with its own configuration folder and database."""

    def __init__(self, url: str, dsn: str, deployment: str, home: Path) -> None:
        self.url = url
        self.dsn = dsn
        self.deployment = deployment
        self.env = {"XDG_CONFIG_HOME": str(home), "ZOE_MASTER": None}

    def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=self.env, input=stdin)
        return result.exit_code, result.output

    def create_user(self, name: str, role: str, password: str) -> tuple[int, str]:
        return self(
            "admin", "create-user", name, "--role", role, "--password-stdin",
            "--database-url", self.dsn, "--deployment", self.deployment,
            stdin=f"{password}\n",
        )  # fmt: skip

    def login(self, name: str, password: str) -> tuple[int, str]:
        return self(
            "login", "--url", self.url, "--user", name, "--password-stdin",
            stdin=f"{password}\n",
        )  # fmt: skip


@pytest.fixture
def cli(postgres_dsn: str, deployment: str, tmp_path: Path) -> Iterator[Cli]:
    config = master_config(postgres_dsn, deployment, tmp_path / "master")
    with master_thread(config) as master:
        api = ApiConfig(postgres_dsn, deployment, master=master.address)
        with serve_in_thread(api, f"127.0.0.1:{free_port()}") as url:
            yield Cli(url, postgres_dsn, deployment, tmp_path / "home")


def test_create_user_login_and_run_an_execution(cli: Cli, tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps(zapp(size=0.3)))

    assert cli.create_user("root", "admin", "s3cret-pass") == (
        0,
        "user root created (admin)\n",
    )
    code, out = cli.login("root", "s3cret-pass")
    assert code == 0, out
    assert out.startswith(f"logged in to {cli.url} as root (admin); token in ")
    saved = tmp_path / "home" / "zoe" / "credentials.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600

    code, out = cli("exec", "start", "--wait", "--interval", "0.05", "job", str(job))
    assert code == 0, out
    lines = out.splitlines()
    assert (lines[0], lines[-1]) == (
        "execution 1: submitted",
        "execution 1: finished (service s-0: work done (exit code 0))",
    )
    # between them, each status seen on the way, once as it was reached
    on_the_way = [line.removeprefix("execution 1: ") for line in lines[1:-1]]
    assert set(on_the_way) <= {"queued", "starting", "running", "cleaning up"}
    code, out = cli("exec", "get", "1", "--json")
    assert (code, json.loads(out)["user"]) == (0, "root")
    code, out = cli("exec", "ls")
    assert out.splitlines()[1].split()[:4] == ["1", "finished", "root", "job"]
    code, out = cli("stats")
    assert out.splitlines()[0] == (
        "scheduler: flexible-fifo / first-fit, 0 running, 0 queued"
    )
    assert cli("exec", "rm", "1") == (0, "execution 1: deleted\n")
    code, out = cli("exec", "get", "1")
    assert (code, out) == (1, "error: execution '1' not found\n")


def test_a_user_sees_only_their_own_and_a_guest_cannot_start(
    cli: Cli, tmp_path: Path
) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps(zapp(kind="interactive")))
    cli.create_user("ann", "user", "ann-password")
    cli.create_user("gil", "guest", "gil-password")
    cli.login("ann", "ann-password")
    assert cli("exec", "start", "lab", str(job))[0] == 0

    cli.login("gil", "gil-password")
    code, out = cli("exec", "start", "lab", str(job))
    assert (code, out) == (1, "error: guests may only read; ask an administrator\n")
    assert cli("exec", "ls", "--json") == (0, "[]\n")
    assert cli("exec", "kill", "1")[0] == 1
    cli.create_user("bob", "user", "bob-password")
    cli.login("bob", "bob-password")
    assert cli("exec", "kill", "1") == (1, "error: execution '1' not found\n")


def test_login_failures_and_logout(cli: Cli) -> None:
    cli.create_user("ann", "user", "ann-password")

    assert cli("exec", "ls")[0] == 1
    assert "not logged in: run `zoe login`" in cli("exec", "ls")[1]
    assert cli.login("ann", "wrong-password") == (
        1,
        "error: wrong user name or password\n",
    )
    assert cli.login("ann", "ann-password")[0] == 0
    assert cli("logout") == (0, "logged out\n")
    assert "not logged in" in cli("exec", "ls")[1]


def test_create_user_refuses_bad_input(cli: Cli) -> None:
    assert cli.create_user("x", "boss", "long-enough")[1] == (
        "error: --role 'boss': use admin, user or guest\n"
    )
    code, out = cli.create_user("ann", "user", "short")
    assert (code, out) == (2, "error: the password must have 8 characters or more\n")
    assert cli.create_user("ann", "user", "long-enough")[0] == 0
    code, out = cli.create_user("ann", "user", "long-enough")
    assert (code, out) == (2, "error: user 'ann' exists already; choose another name\n")


def test_an_administrator_sets_roles_and_quotas(cli: Cli) -> None:
    cli.create_user("root", "admin", "root-password")
    cli.create_user("ann", "user", "ann-password")
    cli.login("root", "root-password")

    code, out = cli("admin", "set", "ann", "--cores", "2.5", "--memory", "4GiB")
    assert (code, out.split()) == (0, ["ann", "user", "-", "2.5", "4GiB"])
    code, out = cli("admin", "set", "ann", "--role", "guest", "--executions", "3")
    # quotas are set together: those not given are removed
    assert out.split() == ["ann", "guest", "3", "-", "-"]
    code, out = cli("admin", "users")
    assert [line.split()[0] for line in out.splitlines()] == ["USER", "ann", "root"]
    assert cli("admin", "set", "ann")[0] == 2
    assert cli("admin", "set", "ann", "--memory", "lots")[0] == 2
    assert cli("admin", "set", "nobody", "--role", "user") == (
        1,
        "error: user 'nobody' not found\n",
    )
    cli.login("ann", "ann-password")
    assert cli("admin", "users") == (
        1,
        "error: only an administrator may do this\n",
    )


@pytest.mark.slow
def test_up_starts_master_and_api_and_prints_the_password(tmp_path: Path) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="zoe-up-"))
    data_dir.chmod(0o711)  # PostgreSQL runs as another user and must get in
    port = free_port()
    log = tmp_path / "up.log"
    command = [
        sys.executable, "-c", "from zoe.cli.main import main; main()", "up",
        "--data-dir", str(data_dir), "--listen", f"tcp://127.0.0.1:{free_port()}",
        "--api-listen", f"127.0.0.1:{port}", "--speed", "0.001",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out)
    try:
        password = _wait_password(log, process)
        url = f"http://127.0.0.1:{port}/api/v1"
        token = _login(url, password)
        headers = {"Authorization": f"Bearer {token}"}
        reply = httpx.post(
            f"{url}/executions",
            json={"name": "up", "zapp": zapp(size=2.0)},
            headers=headers,
        )
        assert reply.json()["master"] == "notified", reply.text
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
    text = log.read_text()
    assert code == 0, text
    assert "embedded postgres: stopped" in text
    assert password not in text.replace(f"password {password} ", "", 1)


def _wait_password(log: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"administrator 'admin', password (\S+) ", log.read_text())
        if found:
            return found.group(1)
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"no password printed: {log.read_text()}")


def _login(url: str, password: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            reply = httpx.post(
                f"{url}/tokens", json={"user": "admin", "password": password}
            )
            token: str = reply.json()["token"]
            return token
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
