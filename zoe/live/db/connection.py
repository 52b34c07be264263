"""One PostgreSQL connection bound to one deployment, with retries.

:class:`Database` owns a single psycopg2 connection (the master does its database
work on one thread) whose ``search_path`` is the deployment's schema, so that the
SQL of the repository never names a schema. Work is handed over as a whole
transaction (a function of a cursor) so that it can be retried safely when the
connection is lost: the transaction either committed or did not, and the function
runs again on a fresh connection.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from zoe.live.errors import DatabaseUnavailable, InvalidDeployment

if TYPE_CHECKING:
    from psycopg2.extensions import connection, cursor

log = logging.getLogger(__name__)

T = TypeVar("T")

DEPLOYMENT_PATTERN = r"^[a-z][a-z0-9_]{0,30}$"
SCHEMA_PREFIX = "zoe_"
_DEPLOYMENT_RE = re.compile(DEPLOYMENT_PATTERN)

# Errors after which the same transaction may simply be run again.
_TRANSIENT = (psycopg2.OperationalError, psycopg2.InterfaceError)


def schema_name(deployment: str) -> str:
    """Return the schema that holds ``deployment``'s state: ``zoe_<deployment>``.

    Raises :class:`InvalidDeployment` unless the name matches
    :data:`DEPLOYMENT_PATTERN`; the prefix keeps deployments apart from
    ``public`` and PostgreSQL's own schemas.
    """
    if not isinstance(deployment, str) or not _DEPLOYMENT_RE.fullmatch(deployment):
        raise InvalidDeployment(str(deployment), DEPLOYMENT_PATTERN)
    return SCHEMA_PREFIX + deployment


class Database:
    """A connection to ``dsn`` working in the schema of ``deployment``.

    :meth:`run` executes a transaction and retries it with exponential backoff
    (``first_backoff_duration`` doubling up to ``max_backoff_duration``) while the
    server cannot be reached, for at most ``give_up_duration`` seconds, then raises
    :class:`DatabaseUnavailable`. ``on_connect`` runs on each new connection,
    after its ``search_path`` is set (the master takes its lock there); what it
    raises closes the connection and propagates. Not thread-safe: one owner at a
    time.
    """

    def __init__(
        self,
        dsn: str,
        deployment: str,
        *,
        give_up_duration: float = 60.0,
        first_backoff_duration: float = 0.1,
        max_backoff_duration: float = 2.0,
        connect_timeout_duration: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_connect: Callable[[cursor], None] | None = None,
    ) -> None:
        self.schema = schema_name(deployment)
        self.deployment = deployment
        self._dsn = dsn
        self._give_up_duration = give_up_duration
        self._first_backoff_duration = first_backoff_duration
        self._max_backoff_duration = max_backoff_duration
        self._connect_timeout_duration = connect_timeout_duration
        self._sleep = sleep
        self._clock = clock
        self._on_connect = on_connect
        self._conn: connection | None = None

    def run(self, work: Callable[[cursor], T]) -> T:
        """Run ``work`` in one transaction, commit, and return what it returned.

        ``work`` may run more than once: it must act only through the cursor. If
        the connection breaks, even during the commit, ``work`` runs again on a new
        connection, so a transaction whose commit succeeded unseen is repeated;
        the repository makes its writes idempotent or conditional for that reason.
        Other database errors roll back and propagate.
        """
        started = self._clock()
        backoff = self._first_backoff_duration
        while True:
            try:
                return self._attempt(work)
            except _TRANSIENT as exc:
                self._discard_connection()
                waited = self._clock() - started
                if waited + backoff > self._give_up_duration:
                    log.error("database: giving up after %.1fs: %s", waited, exc)
                    raise DatabaseUnavailable(waited, _first_line(exc)) from exc
                if isinstance(exc, psycopg2.errors.TransactionRollbackError):
                    # A deadlock or serialisation failure: the server is fine.
                    log.warning("database: %s, retrying in %.1fs", exc.pgcode, backoff)
                else:
                    log.warning("database: connection lost, retrying in %.1fs", backoff)
                log.debug("database: cause: %s", _first_line(exc))
                self._sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_duration)

    def close(self) -> None:
        """Close the connection; the next :meth:`run` opens a new one."""
        self._discard_connection()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _attempt(self, work: Callable[[cursor], T]) -> T:
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                result = work(cur)
            conn.commit()
        except Exception:
            if not conn.closed:
                conn.rollback()
            raise
        return result

    def _connection(self) -> connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg2.connect(
                self._dsn, connect_timeout=self._connect_timeout_duration
            )
            try:
                with conn.cursor() as cur:
                    cur.execute(
                        sql.SQL("SET search_path TO {}").format(
                            sql.Identifier(self.schema)
                        )
                    )
                    if self._on_connect is not None:
                        self._on_connect(cur)
                conn.commit()
            except Exception:
                conn.close()
                raise
            if self._conn is not None:
                log.info("database: connection restored")
            self._conn = conn
        return self._conn

    def _discard_connection(self) -> None:
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.close()
            except psycopg2.Error:
                log.debug("database: error while closing a broken connection")
        # Keep the closed object so that the next connection is logged as a
        # restoration rather than a first connection.


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
