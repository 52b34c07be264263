"""An execution's endpoints end to end: real Docker, real PostgreSQL, a real
master and the real API; the URL answers, and a restarted master still shows it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PASSWORD
from docker_fixtures import TEST_IMAGE, api
from master_harness import (
    RunningMaster,
    free_port,
    master_config,
    master_thread,
    wait_for,
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
from zoe.live.replies import execution_detail

pytestmark = pytest.mark.integration

ENDPOINTS = "/api/v1/executions/1/endpoints"
HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/var/www"]


class AskedEngine(DockerEngineBackend):
    """The Docker engine backend, counting the questions for endpoints."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.asked: Counter[str] = Counter()

    def endpoints(self, backend_id: str) -> dict[str, str]:
        self.asked[backend_id] += 1
        return super().endpoints(backend_id)


def web_zapp() -> dict[str, Any]:
    """An interactive ZApp of one busybox httpd with a web port."""
    web = {
        "name": "web",
        "image": TEST_IMAGE,
        "command": HTTPD,
        "essential_count": 1,
        "total_count": 1,
        "resources": {"cores": 0.25, "memory": "64MiB"},
        "ports": [{"name": "ui", "port": 8080, "url": "http://{ip_port}/"}],
    }
    return {
        "name": "web",
        "version": 4,
        "kind": "interactive",
        "frameworks": [{"name": "f", "services": [web]}],
    }


@contextmanager
def web_session(url: str) -> Iterator[httpx.Client]:
    """A client logged in to the web interface as alice."""
    with httpx.Client(base_url=url, timeout=10) as client:
        form = client.get("/login").text
        found = re.search(r'name="login_csrf" value="([0-9a-f]+)"', form)
        assert found is not None, form
        body = {"user": "alice", "password": PASSWORD, "login_csrf": found.group(1)}
        assert client.post("/login", data=body).status_code == 303
        yield client


def engine(address: str, deployment: str) -> AskedEngine:
    host = DockerHost("local", address, Resources(2000, 1024**3))
    return AskedEngine([host], deployment=deployment)


@dataclass
class Rest:
    """The REST API as alice."""

    client: httpx.Client
    headers: dict[str, str]

    def endpoint(self) -> dict[str, Any]:
        """The first (and only) endpoint of execution 1; empty before services."""
        found = self.client.get(ENDPOINTS, headers=self.headers).json()
        return found[0] if found else {}

    def status(self) -> str:
        """The status of execution 1."""
        reply = self.client.get("/api/v1/executions/1", headers=self.headers)
        status: str = reply.json()["status"]
        return status


def test_the_url_of_a_port_answers_and_a_restarted_master_still_shows_it(
    postgres_dsn: str,
    docker_address: str,
    docker_deployment: str,
    repo: Repository,
    tmp_path: Path,
) -> None:
    digest = hash_password(PASSWORD, n=2**10)
    repo.transaction(lambda tx: create_user(tx, "alice", Role.USER, digest))
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    api_config = ApiConfig(postgres_dsn, docker_deployment, master="tcp://127.0.0.1:1")
    first, second = engine(docker_address, docker_deployment), None
    with (
        serve_in_thread(api_config, f"127.0.0.1:{free_port()}") as url,
        httpx.Client(base_url=url, timeout=30) as client,
        web_session(url) as web,
    ):
        body = {"user": "alice", "password": PASSWORD}
        token = client.post("/api/v1/tokens", json=body).json()["token"]
        rest = Rest(client, {"Authorization": f"Bearer {token}"})
        try:
            with master_thread(config, first) as running:
                with running.client() as master:
                    master.submit("web", web_zapp(), user="alice")
                seen = wait_for(lambda: rest.endpoint().get("url"), 30)
                row = repo.services_of(1)[0]
                detail = execution_detail(repo.get_execution(1), repo.services_of(1))
                answer = httpx.get(seen, timeout=5)
                page = web.get("/fragments/executions/1").text
                shown = cli_get(running)
                bindings = published(docker_address, f"zoe-{docker_deployment}-1-web-0")
            second = engine(docker_address, docker_deployment)
            with master_thread(config, second) as running:
                wait_for(lambda: running.master.scheduler.rounds >= 5, 20)
                after = rest.endpoint()
                asked_after_restart = dict(second.asked)
                with running.client() as master:
                    master.terminate(1)
                ended = wait_for(lambda: rest.endpoint()["address"] is None, 30)
                wait_for(lambda: rest.status() == "terminated", 30)
        finally:
            first.close()
            if second is not None:
                second.close()

    address = f"127.0.0.1:{bindings['8080/tcp'][0]['HostPort']}"
    assert row.endpoints == {"8080/tcp": address}
    assert seen == f"http://{address}/"
    assert detail["services"][0]["ports"] == [
        {"name": "ui", "address": address, "url": seen}
    ]
    assert answer.status_code == 404  # busybox httpd: /var/www has no index.html
    link = f'<a href="{seen}" rel="noopener noreferrer" target="_blank">{seen}</a>'
    assert f"ui: {link}" in page
    assert f"    port ui: {seen} ({address})\n" in shown
    assert after == {"service": "web-0", "port": "ui", "address": address, "url": seen}
    assert asked_after_restart == {}  # the row had them: never asked again
    assert ended


def published(address: str, container: str) -> dict[str, Any]:
    """The daemon's own account of the container's published ports."""
    client = api(address)
    try:
        ports: dict[str, Any] = client.inspect_container(container)["NetworkSettings"][
            "Ports"
        ]
    finally:
        client.close()
    return ports


def cli_get(running: RunningMaster) -> str:
    """The output of ``zoe exec get 1`` against ``running``."""
    result = CliRunner().invoke(
        app_cli, ["exec", "get", "1", "--master", running.address, "--user", "alice"]
    )
    assert result.exit_code == 0, result.output
    return result.output
