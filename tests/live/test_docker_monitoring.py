"""Monitoring on real Docker: orphans removed, usage sampled, a hung daemon noticed."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_fixtures import TEST_IMAGE, DockerDaemon, api
from master_harness import master_config, master_thread, wait_final, wait_for
from test_docker_engine import SLEEP, app, events_until, launch, service
from typer.testing import CliRunner

from zoe.cli.main import app as app_cli
from zoe.core.resources import Resources
from zoe.live.backends import ServiceEventKind
from zoe.live.backends.docker_common import DockerHost
from zoe.live.backends.docker_engine import DockerEngineBackend
from zoe.live.client import MasterClient
from zoe.live.db import Repository

pytestmark = pytest.mark.integration

GIB = 1024**3
BUSY = ["sh", "-c", "while :; do :; done"]


@pytest.fixture
def watched(
    docker_address: str, docker_deployment: str
) -> Iterator[DockerEngineBackend]:
    """A backend on the local daemon that reconciles and samples every 0.5 s."""
    backend = DockerEngineBackend(
        [DockerHost("local", docker_address, Resources(2000, GIB))],
        deployment=docker_deployment,
        reconcile_duration=0.5,
        orphan_grace_duration=0.5,
        usage_duration=0.5,
        probe_duration=0.5,
    )
    try:
        yield backend
    finally:
        backend.close()


def _start_by_hand(address: str, labels: dict[str, str], name: str) -> str:
    client = api(address)
    try:
        made = client.create_container(TEST_IMAGE, SLEEP, labels=labels, name=name)
        client.start(made["Id"])
    finally:
        client.close()
    return str(made["Id"])


def _containers(address: str, deployment: str) -> dict[str, tuple[str, str]]:
    """Name -> (id, state) of the deployment's containers on ``address``."""
    client = api(address)
    try:
        rows = client.containers(
            all=True, filters={"label": f"zoe.deployment={deployment}"}
        )
    finally:
        client.close()
    return {str(r["Names"][0]).lstrip("/"): (r["Id"], r["State"]) for r in rows}


def test_reconciliation_removes_an_orphan_and_leaves_a_tracked_container(
    watched: DockerEngineBackend,
    docker_address: str,
    docker_deployment: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracked = watched.create(launch(docker_deployment, "s-0", SLEEP))
    watched.start(tracked)
    started = events_until(watched, 1)
    tracked_name = tracked.partition("/")[2]
    tracked_id = _containers(docker_address, docker_deployment)[tracked_name][0]
    # the labels of the tracked service, but a container nobody created through Zoe
    labels = dict(launch(docker_deployment, "s-0", SLEEP).labels)
    orphan = f"zoe-{docker_deployment}-7-stray"
    _start_by_hand(docker_address, labels, orphan)

    events = []

    def orphan_gone() -> bool:
        events.extend(watched.poll_events(0.05))
        return orphan not in _containers(docker_address, docker_deployment)

    with caplog.at_level("WARNING", logger="zoe.live.backends"):
        wait_for(orphan_gone, 15)
    left = _containers(docker_address, docker_deployment)
    watched.remove(tracked)

    assert [e.kind for e in started] == [ServiceEventKind.RUNNING]
    assert events == []  # nothing reported of the tracked one, nor of the orphan
    assert left == {tracked_name: (tracked_id, "running")}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        f"removing container local/{orphan}" in w and "execution 7, service s-0" in w
        for w in warnings
    ), warnings


def test_usage_of_a_busy_container_reaches_the_database_and_exec_get(
    postgres_dsn: str,
    docker_deployment: str,
    watched: DockerEngineBackend,
    repo: Repository,
    tmp_path: Path,
) -> None:
    zapp = app([service("s", BUSY, cores=1, memory="32MiB")], kind="interactive")
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")

    def sampled_busy(execution_id: int) -> Any:
        rows = repo.services_of(execution_id)
        busy = [r for r in rows if r.cpu_usage is not None and r.cpu_usage > 0.3]
        return busy[0] if busy else None

    with master_thread(config, watched) as running, running.client() as client:
        execution_id = client.submit("busy", zapp, user="a")["execution_id"]
        row = wait_for(lambda: sampled_busy(execution_id), 30)
        shown = CliRunner().invoke(
            app_cli,
            ["exec", "get", str(execution_id), "--json", "--master", running.address],
        )
        text = CliRunner().invoke(
            app_cli, ["exec", "get", str(execution_id), "--master", running.address]
        )
        client.terminate(execution_id)
        wait_final(client, execution_id, timeout=20)

    assert shown.exit_code == 0, shown.output
    (got,) = json.loads(shown.output)["services"]
    # the container may use at most its limit of one core (plus the reading's error)
    assert 0.3 < row.cpu_usage <= 1.2
    assert 0 < row.memory_usage <= 32 * 1024**2
    assert got["cpu_usage"] > 0.3
    assert 0 < got["memory_usage"] <= 32 * 1024**2
    assert got["usage_time"] is not None
    assert text.exit_code == 0, text.output
    assert "service s-0: running on local, cpu " in text.output


class _Pinger(threading.Thread):
    """Pings a master every 0.1 s and notes how long each answer took."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.durations: list[float] = []
        self.errors: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with MasterClient(self.address, timeout_ms=5000, retries=0) as client:
            while not self.stopping.wait(0.1):
                began = time.monotonic()
                try:
                    client.ping()
                except Exception as exc:  # noted, and the test fails on it
                    self.errors.append(repr(exc))
                self.durations.append(time.monotonic() - began)


def test_a_hung_daemon_is_unavailable_until_it_answers_and_the_master_answers(
    postgres_dsn: str,
    docker_deployment: str,
    docker_address: str,
    second_docker_host: DockerDaemon,
    repo: Repository,
    tmp_path: Path,
) -> None:
    # first-fit: s-0 on "one", s-1 on "two"; every monitoring thread is busy
    hosts = [
        DockerHost("one", docker_address, Resources(1000, GIB)),
        DockerHost("two", second_docker_host.address, Resources(1000, GIB)),
    ]
    backend = DockerEngineBackend(
        hosts,
        deployment=docker_deployment,
        timeout=2.0,
        reconcile_duration=0.5,
        probe_duration=0.5,
        usage_duration=0.5,
    )
    zapp = app([service("s", SLEEP, essential=2, cores=1)], kind="interactive")
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    pid = int((second_docker_host.folder / "dockerd.pid").read_text())
    two = second_docker_host.address
    with master_thread(config, backend) as running, running.client() as client:
        scheduler = running.master.scheduler
        execution_id = client.submit("both", zapp, user="a")["execution_id"]
        wait_for(lambda: client.get(execution_id)["status"] == "running", 20)
        on_two = list(_containers(two, docker_deployment))
        pinger = _Pinger(running.address)
        pinger.start()
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_for(lambda: scheduler.unavailable == {"two"}, 20)
            down = {r.node.name: r.available for r in repo.list_nodes()}
            ended = wait_final(client, execution_id, timeout=20)
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: scheduler.unavailable == set(), 20)
        up = {r.node.name: r.available for r in repo.list_nodes()}
        # the container reported lost on "two" is removed once it answers
        wait_for(lambda: not _containers(two, docker_deployment), 20)
        pinger.stopping.set()
        pinger.join(10)

    assert on_two == [f"zoe-{docker_deployment}-{execution_id}-s-1"]
    assert down == {"one": True, "two": False}
    assert up == {"one": True, "two": True}
    assert ended["status"] == "error"
    assert "host two stopped answering" in ended["reason"]
    assert pinger.errors == []
    assert len(pinger.durations) > 10
    assert max(pinger.durations) < 2.0, sorted(pinger.durations)[-5:]
