"""The live master and the simulator take the same decisions on the same arrivals.

What is compared, and why it is deterministic: the same policy object type
(``flexible-fifo``, ``first-fit``) sees the same snapshots in both, as long as
every arrival and every completion happens at a distinct instant, far enough
apart (at least 4 simulated seconds, 80 ms of wall clock at speed 0.02) that the
live master has handled one before the next. Under that condition the two agree
on (1) the order in which executions start and (2) the node of every service.
Times are not compared: the live ones carry a few milliseconds of jitter.

The trace, on two nodes of 4 cores: six executions of one group (1 essential + 1
elastic service, 2 cores each, 25 s of work), arriving at 0, 10, 20, 30, 42, 54.
Worked by hand: e0 fills node-0 (ends 25), e1 fills node-1 (ends 35); e2 waits
for e0 and takes node-0 at 25 (ends 50); e3 takes node-1 at 35 (ends 60); e4
takes node-0 at 50; e5 takes node-1 at 60.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from master_harness import group, master_config, master_thread, wait_final, zapp

from zoe.core.cluster import parse_cluster
from zoe.core.snapshot import Plan, Snapshot
from zoe.core.zapp import parse_zapp
from zoe.live.db import Repository
from zoe.policies.registry import make_policy
from zoe.sim.run import simulate
from zoe.sim.traces.base import TraceEntry

pytestmark = pytest.mark.integration

SPEED = 0.02
ARRIVALS = [0.0, 10.0, 20.0, 30.0, 42.0, 54.0]
WORK = 25.0
DOCUMENT = zapp("pair", [group("s", essential=1, total=2, cores=2)], size=WORK)
EXPECTED_ORDER = ["e0", "e1", "e2", "e3", "e4", "e5"]
EXPECTED_NODES = {
    f"e{i}": {(0, 0): f"node-{i % 2}", (0, 1): f"node-{i % 2}"} for i in range(6)
}


class Recorder:
    """Wraps a policy and keeps every start it plans, in order."""

    def __init__(self, name: str) -> None:
        self.policy = make_policy(name, "first-fit")
        self.name = self.policy.name
        self.starts: list[tuple[str, int, int, str]] = []

    def plan(self, snapshot: Snapshot) -> Plan:
        plan = self.policy.plan(snapshot)
        self.starts += [(p.execution_id, p.group, p.index, p.node) for p in plan.starts]
        return plan


def simulated_decisions() -> tuple[list[str], dict[str, dict[tuple[int, int], str]]]:
    the_zapp = parse_zapp(DOCUMENT)
    entries = [
        TraceEntry(f"e{i}", submit, WORK, the_zapp) for i, submit in enumerate(ARRIVALS)
    ]
    recorder = Recorder("flexible-fifo")
    simulate(entries, parse_cluster("2x4c8g"), recorder)
    order: list[str] = []
    nodes: dict[str, dict[tuple[int, int], str]] = {}
    for execution_id, group_index, index, node in recorder.starts:
        if execution_id not in order:
            order.append(execution_id)
        nodes.setdefault(execution_id, {})[(group_index, index)] = node
    return order, nodes


def live_decisions(
    dsn: str, deployment: str, data_dir: Path, repo: Repository
) -> tuple[list[str], dict[str, dict[tuple[int, int], str]]]:
    config = master_config(
        dsn, deployment, data_dir, cluster="2x4c8g", speed=SPEED, policy="flexible-fifo"
    )
    ids: dict[int, str] = {}
    with master_thread(config) as running, running.client() as client:
        begin = time.monotonic()
        for i, submit in enumerate(ARRIVALS):
            time.sleep(max(0.0, begin + submit * SPEED - time.monotonic()))
            ids[client.submit(f"e{i}", DOCUMENT, "alice")["execution_id"]] = f"e{i}"
        for execution_id in ids:
            wait_final(client, execution_id)
    first_row: dict[str, int] = {}
    nodes: dict[str, dict[tuple[int, int], str]] = {}
    for execution_id, name in ids.items():
        for service in repo.services_of(execution_id):
            first_row[name] = min(first_row.get(name, service.id), service.id)
            key = (service.group_index, service.instance_index)
            nodes.setdefault(name, {})[key] = service.node or ""
    return sorted(first_row, key=first_row.__getitem__), nodes


def test_the_live_master_decides_as_the_simulator(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    sim_order, sim_nodes = simulated_decisions()
    live_order, live_nodes = live_decisions(postgres_dsn, deployment, tmp_path, repo)

    assert sim_order == EXPECTED_ORDER
    assert sim_nodes == EXPECTED_NODES
    assert live_order == sim_order
    assert live_nodes == sim_nodes
