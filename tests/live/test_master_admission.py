"""Admission while a host is down: judged on the whole cluster, not on the hosts up.

A real master on a real PostgreSQL, with the simulated backend reporting hosts
down and up as the Docker backends do (``unavailable_nodes``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from master_harness import group, master_config, master_thread, wait_for, zapp

from zoe.core.cluster import parse_cluster
from zoe.live.backends.simulated import SimulatedBackend

pytestmark = pytest.mark.integration


class HostsGoingDown(SimulatedBackend):
    """The simulated backend whose hosts in ``down`` are reported unavailable."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.down: frozenset[str] = frozenset()

    def unavailable_nodes(self) -> set[str]:
        return set(self.down)


def test_an_execution_that_fits_once_a_host_is_back_waits_for_it(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    # two nodes of 4 cores: two essential services of 3 cores need both nodes,
    # one service of 5 cores fits on none even with both up
    config = master_config(postgres_dsn, deployment, tmp_path, cluster="2x4c8g")
    backend = HostsGoingDown(
        parse_cluster("2x4c8g"), deployment=deployment, speed=config.speed
    )
    backend.down = frozenset({"node-1"})
    wide = zapp("wide", [group("s", essential=2, cores=3)], kind="interactive")
    large = zapp("large", [group("s", cores=5)], kind="interactive")
    with master_thread(config, backend) as running, running.client() as client:
        wait_for(
            lambda: [n["available"] for n in client.cluster()["nodes"]] == [True, False]
        )
        waiting = client.submit("wide", wide, user="alice")["execution_id"]
        never = client.submit("large", large, user="alice")["execution_id"]
        wait_for(lambda: client.get(never)["status"] == "rejected")
        wait_for(lambda: client.scheduler()["rounds"] >= 3)
        while_down = client.get(waiting)

        backend.down = frozenset()
        wait_for(lambda: client.get(waiting)["status"] == "running")
        record = client.get(waiting)
        client.terminate(waiting)
        rejected = client.get(never)

    assert while_down["status"] == "queued"
    assert while_down["reason"] is None
    assert sorted(s["node"] for s in record["services"]) == ["node-0", "node-1"]
    assert rejected["reason"] == (
        "a service of group 0 needs 5 cores and 1GiB; no node is that large"
    )
