"""The live master end to end: protocol in, PostgreSQL state, simulated backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq
from master_harness import (
    group,
    master_config,
    master_thread,
    wait_final,
    wait_for,
    zapp,
)

from zoe.core.cluster import Node, parse_cluster
from zoe.core.resources import Resources
from zoe.live.backends.simulated import SimulatedBackend
from zoe.live.db import Repository
from zoe.live.protocol_errors import ConflictError, InvalidZAppError, NotFoundError

pytestmark = pytest.mark.integration


def test_executions_are_submitted_scheduled_run_and_finished(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path)
    two = zapp("two", [group("s", essential=1, total=2)], size=1.0)
    with master_thread(config) as running, running.client() as client:
        first = client.submit("first", zapp(size=0.5), user="alice")["execution_id"]
        second = client.submit("second", two, user="bob")["execution_id"]
        done = [wait_final(client, first), wait_final(client, second)]
        page = client.list_executions()

    assert [d["status"] for d in done] == ["finished", "finished"]
    assert [s["name"] for s in done[1]["services"]] == ["s-0", "s-1"]
    assert [s["essential"] for s in done[1]["services"]] == [True, False]
    assert {s["status"] for s in done[1]["services"]} == {"exited"}
    assert [e["id"] for e in page["executions"]] == [second, first]
    assert page["next"] is None
    statuses = [
        e.new_status
        for e in repo.execution_events(first)
        if e.subject_kind == "execution"
    ]
    assert statuses == [
        "submitted",
        "queued",
        "starting",
        "running",
        "cleaning up",
        "finished",
    ]


def test_bad_requests_get_errors_and_the_master_keeps_serving(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path)
    with master_thread(config) as running, running.client() as client:
        raw = zmq.Context.instance().socket(zmq.REQ)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(running.address)
        raw.send(b"\xff not json")
        assert raw.poll(3000)
        reply = raw.recv()
        raw.close()
        with pytest.raises(InvalidZAppError) as invalid:
            client.submit(
                "bad", {"name": "x", "version": 4, "frameworks": []}, user="a"
            )
        with pytest.raises(NotFoundError):
            client.get(999)
        execution_id = client.submit("ok", zapp(size=0.2), user="a")["execution_id"]
        record = wait_final(client, execution_id)
        with pytest.raises(ConflictError, match="already finished"):
            client.terminate(execution_id)
        assert client.delete(execution_id) == {
            "execution_id": execution_id,
            "deleted": True,
        }
        with pytest.raises(NotFoundError):
            client.get(execution_id)

    assert b'"BadRequest"' in reply
    assert invalid.value.details["faults"][0]["path"] == "frameworks"
    assert record["status"] == "finished"


def test_services_start_in_dependency_order(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path)
    groups = [
        group("client", essential=2, depends_on=["server"]),
        group("server", essential=1),
    ]
    with master_thread(config) as running, running.client() as client:
        execution_id = client.submit("dep", zapp(groups=groups, size=0.5), user="a")[
            "execution_id"
        ]
        record = wait_final(client, execution_id)

    assert record["status"] == "finished"
    names = {s["id"]: s["name"] for s in record["services"]}
    order = [
        (names[int(e.subject_id)], e.new_status)
        for e in repo.execution_events(execution_id)
        if e.subject_kind == "service" and e.new_status in ("starting", "running")
    ]
    server_running = order.index(("server-0", "running"))
    client_starts = [
        i
        for i, item in enumerate(order)
        if item[1] == "starting" and item[0].startswith("client")
    ]
    assert len(client_starts) == 2
    assert min(client_starts) > server_running
    assert order.index(("server-0", "starting")) < server_running


def test_an_essential_failure_is_an_error_and_an_elastic_one_is_replaced(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path)
    lab = zapp("lab", [group("s", essential=1, total=2)], kind="interactive", size=None)
    with master_thread(config) as running, running.client() as client:
        backend = running.master.backend
        execution_id = client.submit("lab", lab, user="a")["execution_id"]

        def services(status: str) -> list[dict[str, object]]:
            found = client.get(execution_id)["services"]
            return [s for s in found if s["status"] == status]

        wait_for(lambda: len(services("running")) == 2)
        elastic = next(s for s in services("running") if not s["essential"])
        backend.fail(str(elastic["container_id"]), exit_code=137, reason="killed")  # type: ignore[attr-defined]
        wait_for(lambda: len(services("running")) == 2 and services("failed"))
        replaced = client.get(execution_id)["services"]

        core = next(s for s in services("running") if s["essential"])
        backend.fail(str(core["container_id"]), exit_code=1, reason="crashed")  # type: ignore[attr-defined]
        record = wait_final(client, execution_id)

    assert [(s["name"], s["status"]) for s in replaced] == [
        ("s-0", "running"),
        ("s-1", "failed"),
        ("s-1-r1", "running"),
    ]
    assert replaced[1]["exit_code"] == 137
    assert record["status"] == "error"
    assert record["reason"] == "service s-0: crashed (exit code 1)"


def test_terminating_a_running_execution_and_rejecting_one_that_never_fits(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path)
    lab = zapp("lab", kind="interactive", size=None)
    huge = zapp("huge", [group("s", cores=64)])
    with master_thread(config) as running, running.client() as client:
        lab_id = client.submit("lab", lab, user="a")["execution_id"]
        huge_id = client.submit("huge", huge, user="a")["execution_id"]
        wait_for(lambda: client.get(lab_id)["status"] == "running")
        stats = client.cluster(), client.scheduler()
        terminated = client.terminate(lab_id)
        records = wait_final(client, lab_id), wait_final(client, huge_id)

    cluster, scheduler = stats
    assert cluster["nodes"][0]["free"] == {"cores": 3, "memory": 7 * 2**30}
    assert cluster["nodes"][0]["services"] == 1
    assert (scheduler["running"], scheduler["queue_length"]) == (1, 0)
    assert terminated == {"execution_id": lab_id, "status": "cleaning up"}
    assert records[0]["status"] == "terminated"
    assert records[0]["services"][0]["status"] == "removed"
    assert records[1]["status"] == "rejected"
    assert records[1]["start_time"] is None


def test_a_node_that_joins_is_used_by_the_next_round(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    # One node of 4 cores holds one 3-core interactive execution; the second
    # waits in the queue until a node joins, then starts there without any other
    # event (no submission, no exit): the master notices the change by itself.
    config = master_config(postgres_dsn, deployment, tmp_path, cluster="1x4c8g")
    backend = SimulatedBackend(
        parse_cluster("1x4c8g"), deployment=deployment, speed=config.speed
    )
    lab = zapp("lab", [group("s", cores=3)], kind="interactive", size=None)
    with master_thread(config, backend) as running, running.client() as client:
        first = client.submit("first", lab, user="alice")["execution_id"]
        second = client.submit("second", lab, user="alice")["execution_id"]
        wait_for(lambda: client.get(first)["status"] == "running")
        assert client.get(second)["status"] == "queued"

        backend.add_node(Node("node-1", Resources(4000, 8 * 1024**3)))
        wait_for(lambda: client.get(second)["status"] == "running")
        record = client.get(second)

    assert record["services"][0]["node"] == "node-1"
    assert [n.node.name for n in repo.list_nodes()] == ["node-0", "node-1"]
