"""What the master and the API accept: how many services, whose submission, and
which request id; and what the master does with stored executions it cannot run.

A real master on a real PostgreSQL, with the simulated backend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from master_harness import (
    group,
    master_config,
    master_thread,
    wait_final,
    wait_for,
    zapp,
)

from zoe.api.config import ApiConfig
from zoe.api.submission import store
from zoe.core.errors import InvalidInput, InvalidZApp, NotFound
from zoe.core.zapp import parse_zapp
from zoe.live.config import load_config
from zoe.live.db import ExecutionRecord, Repository
from zoe.live.protocol_errors import BadRequestError, ConflictError, InvalidZAppError

pytestmark = pytest.mark.integration


def _count_executions(repo: Repository) -> int:
    return len(repo.list_executions(limit=1000))


def _store_unchecked(repo: Repository, user: str, document: dict[str, Any]) -> int:
    """Write a submission as an older version would have, without any check."""

    def work(cur: Any) -> int:
        cur.execute(
            "INSERT INTO executions (name, user_id, zapp) "
            "SELECT %s, id, %s FROM users WHERE name = %s RETURNING id",
            ("old", json.dumps(document), user),
        )
        row = cur.fetchone()
        assert row is not None
        return int(row[0])

    repo.ensure_user(user)
    return repo.db.run(work)


def _ended(repo: Repository, execution_id: int) -> ExecutionRecord:
    """The record of ``execution_id`` once in a final status, read from the database."""

    def final() -> ExecutionRecord | None:
        record = repo.get_execution(execution_id)
        return record if record.status.is_final else None

    record: ExecutionRecord = wait_for(final)
    return record


# -- the number of services ---------------------------------------------------------


def test_max_services_is_checked_and_passed_from_the_master_to_the_api(
    tmp_path: Path,
) -> None:
    config = load_config(env={"ZOE_MAX_SERVICES": "25"})
    api = ApiConfig.of(config, "postgresql://db", "tcp://127.0.0.1:4850")

    assert load_config().max_services == 10_000
    assert api.max_services == 25
    with pytest.raises(InvalidInput, match="max_services must be from 1 to 1000000"):
        load_config(env={"ZOE_MAX_SERVICES": "0"})
    with pytest.raises(InvalidInput, match="max_services must be from 1 to 1000000"):
        load_config(env={"ZOE_MAX_SERVICES": "1000001"})


def test_the_master_refuses_a_zapp_over_max_services_and_stores_nothing(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path, max_services=3)
    four = zapp("four", [group("s", essential=1, total=4)])
    huge = zapp("huge", [group("s", essential=1, total=10**9)])
    with master_thread(config) as running, running.client() as client:
        with pytest.raises(InvalidZAppError) as over:
            client.submit("four", four, user="alice")
        with pytest.raises(InvalidZAppError) as far_over:
            client.submit("huge", huge, user="alice")
        three = zapp("three", [group("s", essential=1, total=3)], size=0.2)
        execution_id = client.submit("three", three, user="alice")["execution_id"]
        record = wait_final(client, execution_id)

    assert [f["path"] for f in over.value.details["faults"]] == ["frameworks"]
    assert "the ZApp has 4 services" in over.value.message
    assert "at most 3 services per execution (max_services)" in over.value.message
    assert "a ZApp has at most 1000000 services" in far_over.value.message
    assert record["status"] == "finished"
    assert [e.id for e in repo.list_executions()] == [execution_id]


def test_the_api_store_refuses_a_zapp_over_max_services_before_writing(
    repo: Repository,
) -> None:
    repo.ensure_user("alice")
    four = parse_zapp(zapp("four", [group("s", essential=1, total=4)]))

    with pytest.raises(InvalidZApp) as caught:
        store(repo, "alice", "four", four, "r1", max_services=3)
    assert _count_executions(repo) == 0
    assert caught.value.faults[0].path == "frameworks"
    assert "at most 3 services per execution" in caught.value.faults[0].message

    execution_id = store(repo, "alice", "four", four, "r2", max_services=4)
    assert repo.get_execution(execution_id).name == "four"


def test_stored_executions_the_master_cannot_run_end_in_error_at_start(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    # stored before the limits: a billion services, and 5 over this master's 4
    huge = _store_unchecked(
        repo, "alice", zapp("huge", [group("s", essential=1, total=10**9)])
    )
    five = _store_unchecked(
        repo, "alice", zapp("five", [group("s", essential=1, total=5)])
    )
    config = master_config(postgres_dsn, deployment, tmp_path, max_services=4)
    with master_thread(config) as running, running.client() as client:
        ended = [_ended(repo, huge), _ended(repo, five)]
        shown = client.get(huge)  # its stored ZApp is not valid: still shown
        later = client.submit("later", zapp(size=0.2), user="bob")["execution_id"]
        after = wait_final(client, later)

    assert [e.status.value for e in ended] == ["error", "error"]
    assert (shown["status"], shown["services"]) == ("error", [])
    assert ended[0].reason == (
        "not run: its stored ZApp is not valid: invalid ZApp: frameworks: the ZApp "
        "has 1000000000 services (the sum of every group's total_count); a ZApp "
        "has at most 1000000 services: lower total_count"
    )
    assert ended[1].reason == (
        "not run: it has 5 services and this deployment runs at most 4 services "
        "per execution (max_services)"
    )
    assert after["status"] == "finished"


def test_a_stored_execution_the_master_cannot_run_found_later_ends_in_error(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path)
    with master_thread(config) as running, running.client() as client:
        client.cluster()  # the master has started
        huge = _store_unchecked(
            repo, "alice", zapp("huge", [group("s", essential=1, total=10**9)])
        )
        ended = _ended(repo, huge)
        later = client.submit("later", zapp(size=0.2), user="bob")["execution_id"]
        after = wait_final(client, later)

    assert ended.status.value == "error"
    assert ended.reason is not None
    assert "the ZApp has 1000000000 services" in ended.reason
    assert after["status"] == "finished"


# -- whose submission ---------------------------------------------------------------


@pytest.mark.parametrize("user", ["-alice", "al ice", "alice\n", "al/ice"])
def test_the_master_refuses_an_invalid_user_name_and_creates_no_user(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path, user: str
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path)
    with (
        master_thread(config) as running,
        running.client() as client,
        pytest.raises(BadRequestError) as caught,
    ):
        client.submit("x", zapp(), user=user)

    said = (
        f"user name {user!r} is not valid: use 1 to 64 letters, digits, '_', '.', "
        "'@' or '-', starting with a letter or a digit"
    )
    assert caught.value.message == f"args.user: {said}"
    assert caught.value.details == {
        "path": "args.user",
        "faults": [{"path": "args.user", "message": said}],
    }
    assert _count_executions(repo) == 0
    with pytest.raises(NotFound):
        repo.get_user(user)


def test_the_master_checks_the_quotas_of_a_submission(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    repo.ensure_user("alice")
    repo.transaction(
        lambda tx: tx.set_user_quota(
            "alice", max_executions=1, max_cores_milli=None, max_memory_bytes=None
        )
    )
    lab = zapp("lab", kind="interactive", size=None)
    config = master_config(postgres_dsn, deployment, tmp_path)
    with master_thread(config) as running, running.client() as client:
        first = client.submit("first", lab, user="alice")["execution_id"]
        with pytest.raises(ConflictError) as caught:
            client.submit("second", lab, user="alice")
        client.terminate(first)

    assert caught.value.message == (
        "quota reached: alice may have 1 executions not yet ended; wait for one to "
        "end or terminate one"
    )
    assert caught.value.details == {"quota": "executions", "limit": 1, "wanted": 2}
    assert [e.id for e in repo.list_executions()] == [first]


def test_a_submission_the_api_stored_is_not_checked_twice_by_the_master(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    # alice may have one execution: the one the API stored is that one, and the
    # master, told of it, must take it up rather than count it against itself
    repo.ensure_user("alice")
    repo.transaction(
        lambda tx: tx.set_user_quota(
            "alice", max_executions=1, max_cores_milli=None, max_memory_bytes=None
        )
    )
    document = zapp("job", size=0.2)
    stored = store(repo, "alice", "job", parse_zapp(document), "api-1")
    config = master_config(postgres_dsn, deployment, tmp_path)
    with master_thread(config) as running, running.client() as client:
        told = client.submit("job", document, user="alice", request_id="api-1")
        record = wait_final(client, stored)

    assert told == {"execution_id": stored}
    assert record["status"] == "finished"


# -- which request id ---------------------------------------------------------------


def test_the_api_store_refuses_a_request_id_used_for_another_submission(
    repo: Repository,
) -> None:
    repo.ensure_user("alice")
    one = parse_zapp(zapp("job", [group("s", total=1)]))
    two = parse_zapp(zapp("job", [group("s", total=2)]))
    first = store(repo, "alice", "job", one, "r1")

    again = store(repo, "alice", "job", one, "r1")
    with pytest.raises(ConflictError) as other_zapp:
        store(repo, "alice", "job", two, "r1")
    with pytest.raises(ConflictError) as other_name:
        store(repo, "alice", "job-2", one, "r1")

    assert again == first
    for caught in (other_zapp, other_name):
        assert caught.value.message.startswith(
            "request id r1 was already used for another submission"
        )
        assert caught.value.details == {"request_id": "r1", "execution_id": first}
    assert _count_executions(repo) == 1


def test_the_master_refuses_a_request_id_the_api_used_for_another_submission(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    repo.ensure_user("alice")
    stored = store(repo, "alice", "job", parse_zapp(zapp("job", size=0.2)), "api-1")
    other = zapp("job", [group("s", essential=1, total=2)], size=0.2)
    config = master_config(postgres_dsn, deployment, tmp_path)
    with (
        master_thread(config) as running,
        running.client() as client,
        pytest.raises(ConflictError) as caught,
    ):
        client.submit("job", other, user="alice", request_id="api-1")

    assert caught.value.message.startswith(
        "request id api-1 was already used for another submission"
    )
    assert caught.value.details == {"request_id": "api-1", "execution_id": stored}
    assert _count_executions(repo) == 1
