"""Deployment names, migrations and schema isolation, on a real PostgreSQL."""

from __future__ import annotations

import threading

import psycopg2
import pytest

from zoe.core.execution import ExecutionStatus, ServiceStatus
from zoe.live.db import (
    Database,
    Repository,
    drop_deployment,
    latest_version,
    migrate,
    schema_name,
    schema_version,
)
from zoe.live.db.schema import available_migrations
from zoe.live.errors import InvalidDeployment, SchemaTooNew


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Prod",
        "1prod",
        "_prod",
        "prod-1",
        "prod;drop schema public",
        'a"b',
        "a" * 32,
        "prod ",
        "pröd",
    ],
)
def test_bad_deployment_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidDeployment, match="invalid deployment name"):
        schema_name(name)


def test_good_deployment_names_get_a_prefixed_schema() -> None:
    assert schema_name("prod") == "zoe_prod"
    assert schema_name("a") == "zoe_a"
    assert schema_name("t_2024_x") == "zoe_t_2024_x"
    assert schema_name("a" * 31) == "zoe_" + "a" * 31


def test_database_refuses_a_bad_deployment_before_connecting() -> None:
    with pytest.raises(InvalidDeployment):
        Database("host=127.0.0.1 port=1", "Bad-Name")


def test_shipped_migrations_are_numbered_from_one() -> None:
    migrations = available_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"
    assert latest_version() == len(migrations)


def _tables(db: Database) -> set[str]:
    def work(cur: psycopg2.extensions.cursor) -> set[str]:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (db.schema,),
        )
        return {row[0] for row in cur.fetchall()}

    return db.run(work)


@pytest.mark.integration
def test_migrations_apply_once_then_nothing(db: Database) -> None:
    assert schema_version(db) == 0

    assert migrate(db) == list(range(1, latest_version() + 1))
    assert schema_version(db) == latest_version()
    assert _tables(db) == {
        "schema_version",
        "users",
        "executions",
        "services",
        "nodes",
        "events",
        "requests",
        "tokens",
        "experiments",
    }

    assert migrate(db) == []
    assert schema_version(db) == latest_version()


@pytest.mark.integration
def test_a_schema_newer_than_the_code_is_refused(db: Database) -> None:
    migrate(db)
    too_new = latest_version() + 1
    db.run(
        lambda cur: cur.execute(
            "INSERT INTO schema_version (version, name) VALUES (%s, 'future')",
            (too_new,),
        )
    )

    with pytest.raises(SchemaTooNew) as caught:
        migrate(db)

    assert caught.value.database_version == too_new
    assert caught.value.code_version == latest_version()
    assert db.schema in str(caught.value)


@pytest.mark.integration
def test_two_deployments_do_not_see_each_others_rows(
    repo: Repository, other_repo: Repository
) -> None:
    repo.ensure_user("alice")
    other_repo.ensure_user("bob")
    other_repo.ensure_user("carol")

    assert repo.get_user("alice").id == 1
    assert other_repo.get_user("bob").id == 1
    assert other_repo.get_user("carol").id == 2
    with pytest.raises(Exception, match="user 'bob' not found"):
        repo.get_user("bob")
    with pytest.raises(Exception, match="user 'alice' not found"):
        other_repo.get_user("alice")


@pytest.mark.integration
def test_dropping_a_deployment_removes_its_schema(db: Database) -> None:
    migrate(db)
    drop_deployment(db)
    assert _tables(db) == set()
    assert schema_version(db) == 0


def _insert_status(db: Database, table: str, status: str) -> None:
    """Try one status value against the CHECK constraint of ``table``."""

    def work(cur: psycopg2.extensions.cursor) -> None:
        cur.execute("INSERT INTO users (name, role) VALUES ('u', 'user')")
        cur.execute(
            "INSERT INTO executions (name, user_id, zapp, status) "
            "VALUES ('e', currval('users_id_seq'), '{}', %s)",
            (status if table == "executions" else "queued",),
        )
        if table == "services":
            cur.execute(
                "INSERT INTO services (execution_id, group_index, instance_index, "
                "name, essential, status) "
                "VALUES (currval('executions_id_seq'), 0, 0, 's', true, %s)",
                (status,),
            )
        cur.execute("ROLLBACK")

    db.run(work)


@pytest.mark.integration
def test_status_checks_accept_exactly_the_core_statuses(repo: Repository) -> None:
    for status in ExecutionStatus:
        _insert_status(repo.db, "executions", status.value)
    for service_status in ServiceStatus:
        _insert_status(repo.db, "services", service_status.value)

    with pytest.raises(psycopg2.errors.CheckViolation):
        _insert_status(repo.db, "executions", "paused")
    with pytest.raises(psycopg2.errors.CheckViolation):
        _insert_status(repo.db, "services", "paused")


@pytest.mark.integration
def test_two_processes_migrating_at_once_apply_each_migration_once(
    postgres_dsn: str, deployment: str
) -> None:
    barrier = threading.Barrier(2)
    results: list[list[int]] = []

    def migrate_in_own_connection() -> None:
        with Database(postgres_dsn, deployment, give_up_duration=5) as own:
            barrier.wait(timeout=10)
            results.append(migrate(own))

    threads = [threading.Thread(target=migrate_in_own_connection) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [[], list(range(1, latest_version() + 1))]
