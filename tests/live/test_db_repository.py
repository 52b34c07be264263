"""The repository on a real PostgreSQL: submissions, statuses, events, requests."""

from __future__ import annotations

import threading
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql

from zoe.core.cluster import Node
from zoe.core.errors import IllegalTransition, NotFound
from zoe.core.execution import ExecutionStatus, ServiceStatus
from zoe.core.resources import Resources
from zoe.core.zapp import ZApp, parse_zapp
from zoe.live.db import (
    Database,
    Repository,
    Role,
    ServiceSpec,
    SubjectKind,
    Transaction,
)
from zoe.live.protocol_errors import ConflictError

ES = ExecutionStatus
SS = ServiceStatus

pytestmark = pytest.mark.integration


def small_zapp(size: float | None = None) -> ZApp:
    document: dict[str, Any] = {
        "name": "notebook",
        "frameworks": [
            {
                "name": "jupyter",
                "services": [
                    {
                        "name": "lab",
                        "image": "zoe/jupyter:1",
                        "essential_count": 1,
                        "total_count": 2,
                        "resources": {"cores": 1, "memory": "1GiB"},
                    }
                ],
            }
        ],
    }
    if size is not None:
        document["size"] = size
    return parse_zapp(document)


def _count(repo: Repository, table: str) -> int:
    assert table in {"executions", "events", "requests", "services"}

    def work(cur: psycopg2.extensions.cursor) -> int:
        cur.execute(f"SELECT count(*) FROM {table}")
        row = cur.fetchone()
        return int(row[0]) if row else -1

    return repo.db.run(work)


def test_ensure_user_creates_once_and_keeps_the_role(repo: Repository) -> None:
    first = repo.ensure_user("alice", Role.ADMIN)
    again = repo.ensure_user("alice", Role.GUEST)

    assert again.id == first.id
    assert again.role is Role.ADMIN
    assert again.password_hash is None
    assert again.max_executions is None


def test_submission_is_stored_with_its_zapp_and_an_event(repo: Repository) -> None:
    repo.ensure_user("alice")
    zapp = small_zapp(size=3600.0)

    eid = repo.submit_execution("alice", "nb-1", zapp, request_id="r1")
    record = repo.get_execution(eid)

    assert record.name == "nb-1"
    assert record.user_name == "alice"
    assert record.status is ES.SUBMITTED
    assert record.zapp == zapp.to_dict()
    assert record.size_hint == 3600.0
    assert record.request_id == "r1"
    assert record.start_time is None
    assert record.end_time is None
    [event] = repo.execution_events(eid)
    assert (event.subject_kind, event.subject_id) == (SubjectKind.EXECUTION, str(eid))
    assert (event.old_status, event.new_status) == (None, "submitted")
    assert event.actor == "api:alice"


def test_submission_with_the_same_request_id_is_stored_once(repo: Repository) -> None:
    repo.ensure_user("alice")
    repo.ensure_user("bob")

    first = repo.submit_execution("alice", "a", small_zapp(), request_id="r1")
    again = repo.submit_execution("alice", "a", small_zapp(), request_id="r1")
    other = repo.submit_execution("alice", "b", small_zapp(), request_id="r2")
    bobs = repo.submit_execution("bob", "a", small_zapp(), request_id="r1")

    assert again == first
    assert len({first, other, bobs}) == 3
    assert _count(repo, "executions") == 3
    assert _count(repo, "events") == 3


@pytest.mark.parametrize(
    ("name", "size"), [("b", None), ("a", 60.0)], ids=["other name", "other zapp"]
)
def test_a_request_id_reused_for_another_submission_is_a_conflict(
    repo: Repository, name: str, size: float | None
) -> None:
    repo.ensure_user("alice")
    first = repo.submit_execution("alice", "a", small_zapp(), request_id="r1")

    with pytest.raises(ConflictError) as caught:
        repo.submit_execution("alice", name, small_zapp(size), request_id="r1")

    assert caught.value.message.startswith(
        "request id r1 was already used for another submission"
    )
    assert caught.value.details == {"request_id": "r1", "execution_id": first}
    assert _count(repo, "executions") == 1
    assert _count(repo, "events") == 1


def test_submission_by_an_unknown_user_writes_nothing(repo: Repository) -> None:
    with pytest.raises(NotFound, match="user 'mallory' not found"):
        repo.submit_execution("mallory", "a", small_zapp())
    assert _count(repo, "executions") == 0


def test_values_with_sql_syntax_are_stored_verbatim(repo: Repository) -> None:
    name = "x'); DROP TABLE executions; --"
    repo.ensure_user(name)
    eid = repo.submit_execution(name, name, small_zapp(), request_id=name)
    assert repo.get_execution(eid).name == name
    assert repo.get_execution(eid).user_name == name


def test_list_filters_and_pages_by_id(repo: Repository) -> None:
    repo.ensure_user("alice")
    repo.ensure_user("bob")
    ids = [
        repo.submit_execution(user, f"e{i}", small_zapp())
        for i, user in enumerate(["alice", "bob", "alice", "alice", "bob"])
    ]
    repo.set_execution_status(ids[2], ES.SUBMITTED, ES.QUEUED, "master")

    alices = [e.id for e in repo.list_executions(user_name="alice")]
    page1 = [e.id for e in repo.list_executions(limit=2)]
    page2 = [e.id for e in repo.list_executions(after_id=page1[-1], limit=2)]
    page3 = [e.id for e in repo.list_executions(after_id=page2[-1], limit=2)]
    queued = [e.id for e in repo.list_executions(statuses=[ES.QUEUED])]

    assert alices == [ids[0], ids[2], ids[3]]
    assert (page1, page2, page3) == (ids[0:2], ids[2:4], ids[4:5])
    assert queued == [ids[2]]
    assert repo.list_executions(statuses=[]) == []
    assert repo.list_executions(user_name="carol") == []


def test_a_status_change_is_conditional_on_the_old_status(repo: Repository) -> None:
    repo.ensure_user("alice")
    eid = repo.submit_execution("alice", "a", small_zapp())

    assert repo.set_execution_status(eid, ES.SUBMITTED, ES.QUEUED, "master") is True
    assert repo.set_execution_status(eid, ES.SUBMITTED, ES.REJECTED, "master") is False

    assert repo.get_execution(eid).status is ES.QUEUED
    statuses = [(e.old_status, e.new_status) for e in repo.execution_events(eid)]
    assert statuses == [(None, "submitted"), ("submitted", "queued")]


def test_two_concurrent_writers_never_both_move_one_execution(
    repo: Repository, postgres_dsn: str
) -> None:
    repo.ensure_user("alice")
    eid = repo.submit_execution("alice", "a", small_zapp())
    second_result: list[bool] = []

    first = psycopg2.connect(postgres_dsn)
    try:
        with first.cursor() as cur:
            cur.execute(
                sql.SQL("SET search_path TO {}").format(sql.Identifier(repo.db.schema))
            )
            # The first writer moves the row and holds its lock, uncommitted.
            assert Transaction(cur).set_execution_status(
                eid, ES.SUBMITTED, ES.QUEUED, "master"
            )
            with Database(postgres_dsn, repo.db.deployment) as db2:
                writer = threading.Thread(
                    target=lambda: second_result.append(
                        Repository(db2).set_execution_status(
                            eid, ES.SUBMITTED, ES.TERMINATED, "api:alice"
                        )
                    )
                )
                writer.start()
                writer.join(timeout=0.5)
                assert writer.is_alive(), "the second writer should wait on the row"
                first.commit()
                writer.join(timeout=10)
    finally:
        first.close()

    assert second_result == [False]
    assert repo.get_execution(eid).status is ES.QUEUED
    assert len(repo.execution_events(eid)) == 2


def test_an_illegal_transition_is_refused_and_writes_nothing(repo: Repository) -> None:
    repo.ensure_user("alice")
    eid = repo.submit_execution("alice", "a", small_zapp())

    with pytest.raises(IllegalTransition, match="'submitted' to 'running'"):
        repo.set_execution_status(eid, ES.SUBMITTED, ES.RUNNING, "master")

    assert repo.get_execution(eid).status is ES.SUBMITTED
    assert len(repo.execution_events(eid)) == 1


def test_unknown_execution_is_not_found(repo: Repository) -> None:
    with pytest.raises(NotFound, match="execution '999' not found"):
        repo.set_execution_status(999, ES.SUBMITTED, ES.QUEUED, "master")
    with pytest.raises(NotFound):
        repo.get_execution(999)


def test_every_change_of_a_life_is_an_event_with_times(repo: Repository) -> None:
    repo.ensure_user("alice")
    eid = repo.submit_execution("alice", "a", small_zapp())
    path = [ES.QUEUED, ES.STARTING, ES.RUNNING, ES.CLEANING_UP, ES.FINISHED]
    old = ES.SUBMITTED
    for new in path:
        assert repo.set_execution_status(eid, old, new, "master", reason=f"to {new}")
        old = new

    record = repo.get_execution(eid)
    events = repo.execution_events(eid)

    assert [(e.old_status, e.new_status) for e in events] == [
        (None, "submitted"),
        ("submitted", "queued"),
        ("queued", "starting"),
        ("starting", "running"),
        ("running", "cleaning up"),
        ("cleaning up", "finished"),
    ]
    assert [e.reason for e in events[1:]] == [f"to {s}" for s in path]
    assert all(e.actor == "master" for e in events[1:])
    assert record.reason == "to finished"
    assert record.start_time is not None
    assert record.end_time is not None
    assert record.submit_time <= record.start_time <= record.end_time
    assert repo.active_executions() == []


def test_services_are_created_once_and_change_status(repo: Repository) -> None:
    repo.ensure_user("alice")
    eid = repo.submit_execution("alice", "a", small_zapp())
    specs = [ServiceSpec(0, 0, "lab0", True), ServiceSpec(0, 1, "lab1", False)]

    created = repo.create_services(eid, specs)
    again = repo.create_services(eid, specs)
    lab0 = created[0]
    repo.assign_service(lab0.id, node="node-0")
    repo.assign_service(lab0.id, backend_id="c0ffee")
    assert repo.set_service_status(lab0.id, SS.CREATED, SS.STARTING, "master")
    assert repo.set_service_status(lab0.id, SS.STARTING, SS.RUNNING, "backend")
    assert not repo.set_service_status(lab0.id, SS.CREATED, SS.STARTING, "master")
    assert repo.set_service_status(
        lab0.id, SS.RUNNING, SS.EXITED, "backend", exit_code=3
    )

    assert [s.id for s in again] == [s.id for s in created]
    assert [(s.name, s.essential) for s in created] == [("lab0", True), ("lab1", False)]
    stored = repo.find_service_by_backend_id("c0ffee")
    assert stored is not None
    assert stored.id == lab0.id
    assert (stored.node, stored.status, stored.exit_code) == ("node-0", SS.EXITED, 3)
    assert stored.start_time is not None
    assert stored.end_time is not None
    [(execution, services)] = repo.active_executions()
    assert execution.id == eid
    assert [s.status for s in services] == [SS.EXITED, SS.CREATED]
    service_events = [
        (e.old_status, e.new_status, e.actor)
        for e in repo.execution_events(eid)
        if e.subject_id == str(lab0.id) and e.subject_kind is SubjectKind.SERVICE
    ]
    assert service_events == [
        (None, "created", "master"),
        ("created", "starting", "master"),
        ("starting", "running", "backend"),
        ("running", "exited", "backend"),
    ]
    with pytest.raises(IllegalTransition):
        repo.set_service_status(lab0.id, SS.EXITED, SS.RUNNING, "backend")


def test_nodes_upsert_and_availability_events(repo: Repository) -> None:
    gib = 1 << 30
    repo.upsert_nodes(
        [
            Node("n2", Resources(4000, 8 * gib)),
            Node("n1", Resources(2000, 4 * gib), frozenset({"gpu", "ssd"})),
        ]
    )
    repo.upsert_nodes([Node("n2", Resources(8000, 16 * gib))])

    assert repo.set_node_available("n1", False, "master", "heartbeat lost")
    assert not repo.set_node_available("n1", False, "master")
    nodes = repo.list_nodes()

    assert [n.node for n in nodes] == [
        Node("n1", Resources(2000, 4 * gib), frozenset({"gpu", "ssd"})),
        Node("n2", Resources(8000, 16 * gib)),
    ]
    assert [n.available for n in nodes] == [False, True]
    [event] = repo.events()
    assert (event.subject_kind, event.subject_id) == (SubjectKind.NODE, "n1")
    assert (event.old_status, event.new_status) == ("available", "unavailable")
    assert event.reason == "heartbeat lost"
    with pytest.raises(NotFound):
        repo.set_node_available("n9", False, "master")


def test_a_retried_request_is_not_carried_out_twice(repo: Repository) -> None:
    repo.ensure_user("alice")
    runs: list[int] = []

    def submit(tx: Transaction) -> dict[str, Any]:
        eid = tx.submit_execution("alice", "a", small_zapp())
        runs.append(eid)
        return {"execution_id": eid}

    first = repo.handle_request("client-1", "req-7", submit)
    again = repo.handle_request("client-1", "req-7", submit)
    other_client = repo.handle_request("client-2", "req-7", submit)

    assert again == first
    assert len(runs) == 2
    assert first == {"execution_id": runs[0]}
    assert other_client == {"execution_id": runs[1]}
    assert _count(repo, "executions") == 2
    assert repo.lookup_request("client-1", "req-7") == first
    assert repo.lookup_request("client-1", "req-8") is None


def test_a_failed_request_leaves_neither_effect_nor_reply(repo: Repository) -> None:
    repo.ensure_user("alice")

    def submit_then_fail(tx: Transaction) -> dict[str, Any]:
        tx.submit_execution("alice", "a", small_zapp())
        raise NotFound("node", "n9")

    with pytest.raises(NotFound):
        repo.handle_request("client-1", "req-1", submit_then_fail)

    assert _count(repo, "executions") == 0
    assert _count(repo, "requests") == 0
    first = repo.handle_request("client-1", "req-1", lambda _tx: {"ok": True})
    again = repo.handle_request("client-1", "req-1", lambda _tx: {"ok": False})
    assert first == {"ok": True}
    assert again == {"ok": True}


def test_only_a_finished_execution_is_deleted(repo: Repository) -> None:
    repo.ensure_user("alice")
    eid = repo.submit_execution("alice", "a", small_zapp())
    repo.create_services(eid, [ServiceSpec(0, 0, "lab0", True)])

    assert repo.delete_execution(eid) is False
    repo.set_execution_status(eid, ES.SUBMITTED, ES.TERMINATED, "api:alice")
    assert repo.delete_execution(eid) is True

    with pytest.raises(NotFound):
        repo.get_execution(eid)
    assert _count(repo, "services") == 0
    assert _count(repo, "events") == 3
