"""Retries when the database goes away, and the embedded server."""

from __future__ import annotations

import logging
import socket

import psycopg2
import pytest
from psycopg2.extensions import make_dsn, parse_dsn

from zoe.core.errors import NotFound
from zoe.core.zapp import parse_zapp
from zoe.live.db import Database, EmbeddedPostgres, Repository
from zoe.live.errors import DatabaseUnavailable

ZAPP = parse_zapp(
    {
        "name": "one",
        "frameworks": [
            {
                "name": "f",
                "services": [
                    {
                        "name": "s",
                        "image": "busybox",
                        "essential_count": 1,
                        "total_count": 1,
                        "resources": {"cores": 1, "memory": 1024},
                    }
                ],
            }
        ],
    }
)


def closed_port_dsn() -> str:
    """An address on loopback where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return make_dsn(host="127.0.0.1", port=port, user="nobody", dbname="none")


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, duration: float) -> None:
        self.sleeps.append(duration)
        self.now += duration

    def clock(self) -> float:
        return self.now


def test_an_unreachable_database_is_retried_with_backoff_then_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeTime()
    db = Database(
        closed_port_dsn(),
        "prod",
        give_up_duration=1.0,
        first_backoff_duration=0.1,
        max_backoff_duration=0.4,
        sleep=fake.sleep,
        clock=fake.clock,
    )

    with (
        caplog.at_level(logging.WARNING, "zoe.live.db"),
        pytest.raises(DatabaseUnavailable) as caught,
    ):
        db.run(lambda cur: cur.execute("SELECT 1"))

    # Waits 0.1, 0.2, 0.4 (0.7 in all); the next wait of 0.4 would pass 1.0.
    assert fake.sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert caught.value.waited_duration == pytest.approx(0.7)
    assert "check that PostgreSQL is running" in str(caught.value)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "database: connection lost, retrying in 0.1s",
        "database: connection lost, retrying in 0.2s",
        "database: connection lost, retrying in 0.4s",
    ]


@pytest.mark.integration
def test_errors_that_are_not_about_the_connection_are_not_retried(
    postgres_dsn: str, deployment: str
) -> None:
    fake = FakeTime()
    db = Database(postgres_dsn, deployment, sleep=fake.sleep, clock=fake.clock)

    with pytest.raises(psycopg2.errors.UndefinedTable):
        db.run(lambda cur: cur.execute("SELECT * FROM no_such_table"))

    assert fake.sleeps == []
    assert db.run(lambda cur: cur.execute("SELECT 1")) is None
    db.close()


@pytest.mark.integration
def test_a_restarted_server_is_survived_without_losing_a_submission(
    throwaway_server: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeTime()
    restarted_on_sleep = 3

    def sleep_while_the_server_is_down(duration: float) -> None:
        fake.sleep(duration)
        if len(fake.sleeps) == restarted_on_sleep:
            throwaway_server.start()

    db = Database(
        throwaway_server.dsn,
        "prod",
        first_backoff_duration=0.1,
        sleep=sleep_while_the_server_is_down,
        clock=fake.clock,
    )
    repo = Repository(db)
    repo.migrate()
    repo.ensure_user("alice")
    eid = repo.submit_execution("alice", "before", ZAPP, request_id="r1")

    throwaway_server.stop()
    with caplog.at_level(logging.INFO, "zoe.live.db"):
        record = repo.get_execution(eid)

    assert record.name == "before"
    assert fake.sleeps == pytest.approx([0.1, 0.2, 0.4])
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("database: connection lost, retrying in 0.1s") == 1
    assert "database: connection restored" in messages
    assert repo.submit_execution("alice", "before", ZAPP, request_id="r1") == eid
    with pytest.raises(NotFound):
        repo.get_execution(eid + 1)
    db.close()


@pytest.mark.integration
def test_the_embedded_server_wants_its_password_and_is_adopted_when_running(
    throwaway_server: EmbeddedPostgres,
) -> None:
    settings = parse_dsn(throwaway_server.dsn)

    assert settings["host"] == "127.0.0.1"
    assert len(settings["password"]) >= 24
    wrong = make_dsn(throwaway_server.dsn, password="postgres")
    with pytest.raises(psycopg2.OperationalError, match="password authentication"):
        psycopg2.connect(wrong).close()

    again = EmbeddedPostgres(
        throwaway_server.data_folder, bin_dir=throwaway_server.bin_dir
    )
    assert again.start() == throwaway_server.dsn
    connection = psycopg2.connect(again.dsn)
    with connection.cursor() as cur:
        cur.execute("SHOW listen_addresses")
        assert cur.fetchone() == ("127.0.0.1",)
        cur.execute("SHOW unix_socket_directories")
        assert cur.fetchone() == ("",)
    connection.close()

    again.stop()  # it adopted the server: the object that started it stops it
    assert throwaway_server.is_running()
    throwaway_server.stop()
    assert not throwaway_server.is_running()
