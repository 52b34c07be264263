"""A service's output streamed by the API as it is written: real Docker, real
PostgreSQL, a real master and the real API; and ``zoe exec logs --follow``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PASSWORD, Api
from master_harness import (
    free_port,
    group,
    master_config,
    master_thread,
    wait_for,
    zapp,
)
from typer.testing import CliRunner

from zoe.api.config import ApiConfig
from zoe.api.security import hash_password
from zoe.api.server import serve_in_thread
from zoe.cli.main import app as app_cli
from zoe.core.resources import Resources
from zoe.live.backends.docker_common import DockerHost
from zoe.live.backends.docker_engine import DockerEngineBackend
from zoe.live.db import Repository, Role
from zoe.live.db.accounts import create_user

pytestmark = pytest.mark.integration

TEN_LINES = "for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; sleep 0.2; done"
ALL_TEN = "".join(f"line {i}\n" for i in range(1, 11))
FINAL = {"finished", "terminated", "rejected", "error"}


class CountingEngine(DockerEngineBackend):
    """The Docker engine backend, counting the reads of container output."""

    reads = 0

    def logs(self, backend_id: str, *args: Any, **options: Any) -> str:
        self.reads += 1
        return super().logs(backend_id, *args, **options)


@dataclass
class DockerApi:
    """The API in front of a master with the Docker backend."""

    url: str
    client: httpx.Client
    engine: CountingEngine
    home: Path

    def login(self, name: str) -> dict[str, str]:
        body = {"user": name, "password": PASSWORD}
        token = self.client.post("/api/v1/tokens", json=body).json()["token"]
        return {"Authorization": f"Bearer {token}"}

    def submit(self, headers: dict[str, str], zapp: dict[str, Any]) -> int:
        body = {"name": "printer", "zapp": zapp}
        reply = self.client.post("/api/v1/executions", json=body, headers=headers)
        assert reply.status_code == 202, reply.text
        execution_id: int = reply.json()["id"]
        return execution_id

    def service_id(self, headers: dict[str, str], execution_id: int) -> int:
        def found() -> int | None:
            path = f"/api/v1/executions/{execution_id}"
            services = self.client.get(path, headers=headers).json()["services"]
            return services[0]["id"] if services else None

        service_id: int = wait_for(found, 20)
        return service_id

    def status(self, headers: dict[str, str], execution_id: int) -> str:
        path = f"/api/v1/executions/{execution_id}"
        status: str = self.client.get(path, headers=headers).json()["status"]
        return status


def printer(script: str = TEN_LINES, kind: str = "batch") -> dict[str, Any]:
    """A ZApp of one service ``p`` (named ``p-0``) running ``script``."""
    group = {
        "name": "p",
        "image": "zoe-test/busybox:1",
        "command": ["sh", "-c", script],
        "essential_count": 1,
        "total_count": 1,
        "resources": {"cores": 0.5, "memory": "64MiB"},
    }
    return {
        "name": "printer",
        "version": 4,
        "kind": kind,
        "frameworks": [{"name": "f", "services": [group]}],
    }


@pytest.fixture
def docker_api(
    postgres_dsn: str,
    docker_address: str,
    docker_deployment: str,
    repo: Repository,
    tmp_path: Path,
) -> Iterator[DockerApi]:
    """Alice and bob, and the API in front of a master with the Docker backend."""
    for name in ("alice", "bob"):
        digest = hash_password(PASSWORD, n=2**10)
        repo.transaction(lambda tx, n=name, d=digest: create_user(tx, n, Role.USER, d))
    host = DockerHost("local", docker_address, Resources(2000, 1024**3))
    engine = CountingEngine([host], deployment=docker_deployment)
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    try:
        with master_thread(config, engine) as running:
            api = ApiConfig(postgres_dsn, docker_deployment, master=running.address)
            listen = f"127.0.0.1:{free_port()}"
            with (
                serve_in_thread(api, listen) as url,
                httpx.Client(base_url=url, timeout=30) as client,
            ):
                yield DockerApi(url, client, engine, tmp_path / "home")
    finally:
        engine.close()


def stream(api: DockerApi, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """Read a streamed reply to its end: status, headers, chunks of text."""
    with api.client.stream("GET", path, headers=headers) as reply:
        chunks = list(reply.iter_text())
    return {"status": reply.status_code, "headers": reply.headers, "chunks": chunks}


def test_following_streams_every_line_once_in_order_and_ends_by_itself(
    docker_api: DockerApi,
) -> None:
    alice = docker_api.login("alice")
    eid = docker_api.submit(alice, printer())
    sid = docker_api.service_id(alice, eid)

    followed = stream(docker_api, f"/api/v1/services/{sid}/logs?follow=true", alice)
    status_after = docker_api.status(alice, eid)
    tail = stream(docker_api, f"/api/v1/services/{sid}/logs?tail=3", alice)
    tail_followed = stream(
        docker_api, f"/api/v1/services/{sid}/logs?follow=true&tail=2", alice
    )
    whole = docker_api.client.get(f"/api/v1/executions/{eid}/logs", headers=alice)

    assert followed["status"] == 200
    assert followed["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert followed["headers"]["transfer-encoding"] == "chunked"
    assert "".join(followed["chunks"]) == ALL_TEN
    assert len(followed["chunks"]) >= 3  # sent as written, not all at the end
    # the stream ended by itself: the service had exited
    assert status_after in FINAL
    assert "".join(tail["chunks"]) == "line 8\nline 9\nline 10\n"
    assert "".join(tail_followed["chunks"]) == "line 9\nline 10\n"
    entry = whole.json()["services"][0]
    assert (entry["name"], entry["logs"], entry["ended"]) == ("p-0", ALL_TEN, True)


def test_another_users_service_and_an_unknown_one_are_404(
    docker_api: DockerApi,
) -> None:
    alice, bob = docker_api.login("alice"), docker_api.login("bob")
    eid = docker_api.submit(alice, printer("echo hi"))
    sid = docker_api.service_id(alice, eid)

    theirs = docker_api.client.get(f"/api/v1/services/{sid}/logs", headers=bob)
    unknown = docker_api.client.get(f"/api/v1/services/{sid + 99}/logs", headers=bob)
    wait_for(lambda: docker_api.status(alice, eid) in FINAL, 20)

    for reply, key in ((theirs, sid), (unknown, sid + 99)):
        assert reply.status_code == 404
        assert reply.headers["content-type"] == "application/json"
        assert reply.json()["error"] == {
            "type": "NotFound",
            "message": f"service '{key}' not found",
            "details": {"kind": "service", "key": key},
        }


def test_a_client_that_goes_away_stops_the_following(docker_api: DockerApi) -> None:
    alice = docker_api.login("alice")
    script = "echo ready; exec sleep 600"
    eid = docker_api.submit(alice, printer(script, kind="interactive"))
    sid = docker_api.service_id(alice, eid)

    path = f"/api/v1/services/{sid}/logs?follow=true"
    with docker_api.client.stream("GET", path, headers=alice) as reply:
        first = next(reply.iter_text())
    time.sleep(1.5)  # the stream notices within a pause of 0.5 s
    reads = docker_api.engine.reads
    time.sleep(1.5)
    reads_later = docker_api.engine.reads
    docker_api.client.post(f"/api/v1/executions/{eid}/terminate", headers=alice)
    wait_for(lambda: docker_api.status(alice, eid) in FINAL, 20)

    assert first == "ready\n"
    assert reads_later == reads


def test_the_cli_follows_a_service_to_its_end(docker_api: DockerApi) -> None:
    env = {"XDG_CONFIG_HOME": str(docker_api.home), "ZOE_MASTER": None}
    runner = CliRunner()
    login = runner.invoke(
        app_cli,
        ["login", "--url", docker_api.url, "--user", "alice", "--password-stdin"],
        input=f"{PASSWORD}\n",
        env=env,
    )
    alice = docker_api.login("alice")
    eid = docker_api.submit(alice, printer())
    docker_api.service_id(alice, eid)  # it runs for 2 s from now

    followed = runner.invoke(
        app_cli, ["exec", "logs", "--follow", "--service", "p-0", str(eid)], env=env
    )

    assert login.exit_code == 0, login.output
    assert followed.exit_code == 0, followed.output
    assert followed.output == ALL_TEN
    assert docker_api.status(alice, eid) in FINAL


def test_a_backend_without_output_is_a_409_in_json_before_any_stream(
    api: Api, tmp_path: Path
) -> None:
    alice = api.login("alice")
    two = zapp(groups=[group("s", essential=2, cores=0.5, memory="64MiB")])
    eid = api.client.post(
        "/api/v1/executions", json={"name": "two", "zapp": two}, headers=alice
    ).json()["id"]
    services = wait_for(
        lambda: api.client.get(f"/api/v1/executions/{eid}", headers=alice).json()[
            "services"
        ]
    )
    sid = services[0]["id"]
    env = {"XDG_CONFIG_HOME": str(tmp_path / "home"), "ZOE_MASTER": None}
    runner = CliRunner()
    runner.invoke(
        app_cli,
        ["login", "--url", api.url, "--user", "alice", "--password-stdin"],
        input=f"{PASSWORD}\n",
        env=env,
    )

    reply = api.client.get(f"/api/v1/services/{sid}/logs?follow=true", headers=alice)
    unnamed = runner.invoke(app_cli, ["exec", "logs", "-f", str(eid)], env=env)
    named = runner.invoke(
        app_cli, ["exec", "logs", "-f", "--service", "s-1", str(eid)], env=env
    )
    direct = runner.invoke(
        app_cli, ["exec", "logs", "-f", "--master", "tcp://127.0.0.1:1", str(eid)]
    )

    assert reply.status_code == 409
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert error["type"] == "Conflict"
    assert error["message"] == "the simulated backend keeps no container output"
    assert (unnamed.exit_code, unnamed.output) == (
        2,
        f"error: execution {eid} has several services (s-0, s-1): name the one "
        "to follow with --service\n",
    )
    assert (named.exit_code, named.output) == (
        1,
        "error: the simulated backend keeps no container output\n",
    )
    assert (direct.exit_code, direct.output) == (
        2,
        "error: --follow goes through the REST API: drop --master\n",
    )


CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "results" / "screenshots"


@pytest.fixture
def chromium_page() -> Iterator[Any]:
    """A page of Debian's Chromium driven by Playwright (as test_web_browser's)."""
    if not CHROMIUM.exists():
        if os.environ.get("ZOE_SKIP_BROWSER") == "1":
            pytest.skip("browser tests skipped (ZOE_SKIP_BROWSER=1)")
        pytest.fail(f"no Chromium at {CHROMIUM}: run `bash scripts/browser.sh setup`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"]
        )
        try:
            yield browser.new_page(viewport={"width": 1100, "height": 800})
        finally:
            browser.close()


def test_the_execution_page_follows_the_output(
    docker_api: DockerApi, chromium_page: Any
) -> None:
    from playwright.sync_api import expect

    page = chromium_page
    page.goto(f"{docker_api.url}/login")
    page.get_by_label("User").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("No executions yet")).to_be_visible()
    alice = docker_api.login("alice")
    eid = docker_api.submit(alice, printer())
    docker_api.service_id(alice, eid)
    page.goto(f"{docker_api.url}/executions/{eid}")

    pane = page.locator("#logs details.log")
    expect(pane.locator("summary")).to_contain_text("following")
    expect(pane.locator("pre")).to_contain_text("line 3", timeout=10_000)
    expect(pane.locator("summary")).to_have_text("p-0 ended", timeout=20_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "execution-output.png")
    assert pane.locator("pre").inner_text() == ALL_TEN
