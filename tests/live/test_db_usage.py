"""Usage samples of services in PostgreSQL (migration 0003) and in `get` replies."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg2
import pytest
from test_db_repository import small_zapp

from zoe.live.db import Repository, ServiceSpec, ServiceUsage
from zoe.live.replies import execution_detail

pytestmark = pytest.mark.integration

MIB = 1024**2


def _two_services(repo: Repository) -> tuple[int, list[int]]:
    repo.ensure_user("alice")
    execution_id = repo.submit_execution("alice", "nb", small_zapp())
    specs = [ServiceSpec(0, 0, "lab-0", True), ServiceSpec(0, 1, "lab-1", False)]
    rows = repo.create_services(execution_id, specs)
    return execution_id, [row.id for row in rows]


def test_samples_are_stored_and_a_late_older_sample_does_not_win(
    repo: Repository,
) -> None:
    execution_id, (first, second) = _two_services(repo)
    at = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
    earlier = datetime(2026, 1, 5, 9, 59, 0, tzinfo=UTC)

    written = repo.record_usage(
        [ServiceUsage(first, 1.5, 64 * MIB, at), ServiceUsage(second, None, MIB, at)]
    )
    stale = repo.record_usage([ServiceUsage(first, 0.1, MIB, earlier)])
    unknown = repo.record_usage([ServiceUsage(second + 100, 0.1, MIB, at)])
    services = {s.name: s for s in repo.services_of(execution_id)}

    assert (written, stale, unknown) == (2, 0, 0)
    assert services["lab-0"].cpu_usage == 1.5
    assert services["lab-0"].memory_usage == 64 * MIB
    assert services["lab-0"].usage_time == at
    assert services["lab-1"].cpu_usage is None
    assert services["lab-1"].memory_usage == MIB


def test_a_service_without_samples_has_null_usage_in_get(repo: Repository) -> None:
    execution_id, (first, _) = _two_services(repo)
    at = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
    repo.record_usage([ServiceUsage(first, 0.25, 3 * MIB, at)])

    detail = execution_detail(
        repo.get_execution(execution_id), repo.services_of(execution_id)
    )
    usage = [
        (s["name"], s["cpu_usage"], s["memory_usage"], s["usage_time"])
        for s in detail["services"]
    ]

    assert usage == [
        ("lab-0", 0.25, 3 * MIB, "2026-01-05T10:00:00+00:00"),
        ("lab-1", None, None, None),
    ]


def test_a_negative_usage_is_refused_by_the_schema(repo: Repository) -> None:
    _, (first, _) = _two_services(repo)
    at = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)

    with pytest.raises(psycopg2.errors.CheckViolation):
        repo.record_usage([ServiceUsage(first, -1.0, MIB, at)])
