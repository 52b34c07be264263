"""Versioned migrations of a deployment's schema.

Migrations are the files ``zoe/live/db/migrations/NNNN_name.sql`` shipped with the
package, numbered from 0001 without gaps. :func:`migrate` applies every pending one
in order, all in one transaction, and records each in the ``schema_version`` table
of the deployment's schema. A transaction-scoped advisory lock keyed by the schema
name lets two processes migrate at once: the second waits, then finds nothing to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from psycopg2 import sql

from zoe.live.errors import DatabaseError, MasterRunning, SchemaTooNew

if TYPE_CHECKING:
    from psycopg2.extensions import cursor

    from zoe.live.db.connection import Database

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# First key of the advisory locks Zoe takes; the second is a hash of the schema.
ADVISORY_LOCK_CLASS = 0x5A6F65
MASTER_LOCK_CLASS = ADVISORY_LOCK_CLASS + 1
"""The first key of the lock a master holds on its schema for as long as it runs."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration: its number, its name and its SQL text."""

    version: int
    name: str
    text: str


@cache
def available_migrations() -> tuple[Migration, ...]:
    """Return the shipped migrations in order.

    Raises :class:`DatabaseError` if a file is misnamed or the numbers are not
    1, 2, 3... without gaps: that is a packaging fault, not a user's.
    """
    folder = resources.files("zoe.live.db").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_RE.fullmatch(entry.name)
        if match is None:
            raise DatabaseError(f"migration file {entry.name!r}: name it NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise DatabaseError(
            f"migrations must be numbered 1..N without gaps: {versions}"
        )
    return tuple(found)


def latest_version() -> int:
    """The version a schema has once every shipped migration is applied."""
    return len(available_migrations())


def migrate(db: Database) -> list[int]:
    """Bring ``db``'s schema up to date; return the versions applied (maybe none).

    Creates the schema if needed. Raises :class:`SchemaTooNew` if the schema has
    a version this code does not know, and applies nothing then.
    """
    migrations = available_migrations()

    def work(cur: cursor) -> list[int]:
        _lock_schema(cur, db.schema)
        current = _current_version(cur, db.schema)
        if current > len(migrations):
            raise SchemaTooNew(db.schema, current, len(migrations))
        applied = []
        for migration in migrations[current:]:
            cur.execute(migration.text)
            cur.execute(
                "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied.append(migration.version)
        return applied

    return db.run(work)


def schema_version(db: Database) -> int:
    """The version of ``db``'s schema: 0 if it has none yet."""

    def work(cur: cursor) -> int:
        cur.execute("SELECT to_regclass('schema_version') IS NOT NULL")
        row = cur.fetchone()
        if row is None or not row[0]:
            return 0
        cur.execute("SELECT coalesce(max(version), 0) FROM schema_version")
        found = cur.fetchone()
        return int(found[0]) if found else 0

    return db.run(work)


def drop_deployment(db: Database) -> None:
    """Remove ``db``'s schema with everything in it. For tests and uninstalling."""

    def work(cur: cursor) -> None:
        _lock_schema(cur, db.schema)
        cur.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(db.schema)
            )
        )

    db.run(work)


def _lock_schema(cur: cursor, schema: str) -> None:
    cur.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (ADVISORY_LOCK_CLASS, schema)
    )


def _current_version(cur: cursor, schema: str) -> int:
    cur.execute(
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
    )
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.schema_version ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " applied_time timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(schema))
    )
    cur.execute("SELECT coalesce(max(version), 0) FROM schema_version")
    row = cur.fetchone()
    return int(row[0]) if row else 0


def master_lock(schema: str) -> Callable[[cursor], None]:
    """What a master runs on each new connection: take the lock that makes it the
    one master of ``schema``, held by the session until the connection closes.

    The function raises :class:`~zoe.live.errors.MasterRunning` when another
    session holds it. A master whose connection broke takes it again on the next
    one, unless another master took it in between.
    """

    def take(cur: cursor) -> None:
        cur.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (MASTER_LOCK_CLASS, schema)
        )
        row = cur.fetchone()
        if row is None or not row[0]:
            raise MasterRunning(schema)

    return take
