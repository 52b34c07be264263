"""The master records the endpoints a backend reports, once per service."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from master_harness import group, master_config, zapp

from zoe.core.cluster import parse_cluster
from zoe.core.execution import ServiceStatus
from zoe.core.zapp_import import load_zapp
from zoe.live.backends.simulated import SimulatedBackend
from zoe.live.db import Repository
from zoe.live.master import Master
from zoe.live.replies import execution_detail

pytestmark = pytest.mark.integration

ADDRESS = "127.0.0.1:40000"


class PortsBackend(SimulatedBackend):
    """The simulated backend with endpoints known from the third question on."""

    def __init__(self, **options: Any) -> None:
        super().__init__(parse_cluster("1x4c8g"), **options)
        self.asked: Counter[str] = Counter()

    def endpoints(self, backend_id: str) -> dict[str, str]:
        self.asked[backend_id] += 1
        return {"8080/tcp": ADDRESS} if self.asked[backend_id] >= 3 else {}


@pytest.fixture
def master(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> Iterator[tuple[Master, PortsBackend]]:
    backend = PortsBackend(deployment=deployment, speed=0.01)
    config = master_config(postgres_dsn, deployment, tmp_path, tick_duration=0.01)
    made = Master.open(config, backend=backend)
    try:
        made.start()
        yield made, backend
    finally:
        made.close()


def steps_until(master: Master, condition: Callable[[], Any]) -> Any:
    """Run the master's loop in this thread until ``condition`` holds (10 s)."""
    deadline = time.monotonic() + 10
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met within 10s"
        master.step()
    return value


def ticks(master: Master, count: int) -> None:
    start = master.scheduler.rounds
    steps_until(master, lambda: master.scheduler.rounds >= start + count)


def test_endpoints_are_written_once_and_not_asked_again_after_a_recovery(
    master: tuple[Master, PortsBackend], repo: Repository
) -> None:
    running, backend = master
    web = group("web", cores=0.5, memory="64MiB")
    web["ports"] = [{"name": "ui", "port": 8080, "url": "http://{ip_port}/ui"}]
    quiet = group("quiet", cores=0.5, memory="64MiB")
    document = zapp("lab", [web, quiet], kind="interactive", size=None)
    repo.ensure_user("alice")
    eid = repo.submit_execution("alice", "lab", load_zapp(document))

    def recorded() -> Any:
        services = {s.name: s for s in repo.services_of(eid)}
        web_row = services.get("web-0")
        return web_row is not None and web_row.endpoints is not None and services

    services = steps_until(running, recorded)
    asked_at_first = dict(backend.asked)
    ticks(running, 5)
    asked_later = dict(backend.asked)
    running.start()  # recovery: the mirror is read again from the database
    ticks(running, 5)
    asked_after_recovery = dict(backend.asked)
    detail = execution_detail(repo.get_execution(eid), repo.services_of(eid))

    web_id = services["web-0"].backend_id
    assert services["web-0"].status is ServiceStatus.RUNNING
    assert services["web-0"].endpoints == {"8080/tcp": ADDRESS}
    assert services["quiet-0"].endpoints is None
    # asked on each tick until the answer was not empty; the quiet group never
    assert asked_at_first == {web_id: 3}
    assert asked_later == {web_id: 3}
    assert asked_after_recovery == {web_id: 3}
    ports = {s["name"]: s["ports"] for s in detail["services"]}
    assert ports == {
        "web-0": [{"name": "ui", "address": ADDRESS, "url": f"http://{ADDRESS}/ui"}],
        "quiet-0": [],
    }


def test_endpoints_of_unknown_services_are_skipped(repo: Repository) -> None:
    assert repo.record_endpoints({}) == 0
    assert repo.record_endpoints({999: {"8080/tcp": ADDRESS}}) == 0
