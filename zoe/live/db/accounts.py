"""The SQL of users, roles and bearer tokens, for the REST API.

Functions of an open :class:`~zoe.live.db.transaction.Transaction`; like its
methods they never commit. Tokens are stored as digests only (see migration
``0002_tokens.sql``): whoever calls :func:`create_token` hashes the token first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from zoe.core.errors import InvalidInput, NotFound
from zoe.core.execution import ExecutionStatus
from zoe.live.db.records import USER_COLUMNS, Role, UserRecord, user_from_row

if TYPE_CHECKING:
    from zoe.live.db.transaction import Transaction

_FINAL = [s.value for s in ExecutionStatus if s.is_final]


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A bearer token as stored: whose it is, its name and its times."""

    id: int
    user_name: str
    name: str
    created_time: datetime
    expires_time: datetime


def create_user(
    tx: Transaction, name: str, role: Role, password_hash: str | None
) -> UserRecord:
    """Create the user ``name``; raise :class:`InvalidInput` if it exists already."""
    tx.cur.execute(
        "INSERT INTO users (name, role, password_hash) VALUES (%s, %s, %s) "
        "ON CONFLICT (name) DO NOTHING RETURNING id",
        (name, Role(role).value, password_hash),
    )
    if tx.cur.fetchone() is None:
        raise InvalidInput(f"user {name!r} exists already; choose another name")
    return tx.get_user(name)


def list_users(tx: Transaction) -> list[UserRecord]:
    """Every user, by name."""
    tx.cur.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY name")
    return [user_from_row(row) for row in tx.cur.fetchall()]


def set_role(tx: Transaction, name: str, role: Role) -> None:
    """Give ``name`` the role ``role``; raise :class:`NotFound` for no such user."""
    tx.cur.execute("UPDATE users SET role = %s WHERE name = %s", (role.value, name))
    if tx.cur.rowcount == 0:
        raise NotFound("user", name)


def lock_user(tx: Transaction, name: str) -> UserRecord:
    """Read ``name`` and hold its row until the transaction ends.

    Two submissions of one user thus check the quota one after the other.
    """
    tx.cur.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE name = %s FOR UPDATE", (name,)
    )
    row = tx.cur.fetchone()
    if row is None:
        raise NotFound("user", name)
    return user_from_row(row)


def active_zapps(tx: Transaction, name: str) -> list[dict[str, Any]]:
    """The ZApp documents of the executions of ``name`` not in a final status."""
    tx.cur.execute(
        "SELECT e.zapp FROM executions AS e JOIN users AS u ON u.id = e.user_id "
        "WHERE u.name = %s AND e.status <> ALL(%s) ORDER BY e.id",
        (name, _FINAL),
    )
    return [row[0] for row in tx.cur.fetchall()]


def create_token(
    tx: Transaction, user_name: str, digest: str, name: str, expires_time: datetime
) -> TokenRecord:
    """Store the digest of a new token of ``user_name``, valid till ``expires_time``.

    The user's expired tokens are forgotten at the same time, so the table does
    not grow with every login. Raises :class:`NotFound` for an unknown user.
    """
    user = tx.get_user(user_name)
    tx.cur.execute(
        "DELETE FROM tokens WHERE user_id = %s AND expires_time <= now()", (user.id,)
    )
    tx.cur.execute(
        "INSERT INTO tokens (user_id, digest, name, expires_time) "
        "VALUES (%s, %s, %s, %s) RETURNING id, created_time, expires_time",
        (user.id, digest, name, expires_time),
    )
    row = tx.cur.fetchone()
    if row is None:  # pragma: no cover - INSERT ... RETURNING always returns a row
        raise NotFound("token", name)
    return TokenRecord(int(row[0]), user_name, name, row[1], row[2])


def user_of_token(tx: Transaction, digest: str) -> UserRecord | None:
    """The user owning the unexpired token of ``digest``, or ``None``."""
    columns = ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))
    tx.cur.execute(
        f"SELECT {columns} FROM tokens AS t JOIN users AS u ON u.id = t.user_id "
        "WHERE t.digest = %s AND t.expires_time > now()",
        (digest,),
    )
    row = tx.cur.fetchone()
    return None if row is None else user_from_row(row)


def revoke_token(tx: Transaction, digest: str) -> bool:
    """Forget the token of ``digest``; False if there was none."""
    tx.cur.execute("DELETE FROM tokens WHERE digest = %s", (digest,))
    return bool(tx.cur.rowcount)


def revoke_user_tokens(
    tx: Transaction, user_name: str, keep_digest: str | None = None
) -> int:
    """Forget every token of ``user_name`` but the one of ``keep_digest``.

    Returns how many were forgotten; raises :class:`NotFound` for an unknown user.
    """
    user = tx.get_user(user_name)
    tx.cur.execute(
        "DELETE FROM tokens WHERE user_id = %s AND digest IS DISTINCT FROM %s",
        (user.id, keep_digest),
    )
    return int(tx.cur.rowcount)


def lock_admins(tx: Transaction) -> list[str]:
    """The administrators who can log in (have a password), by name, their rows
    held until the transaction ends so that two demotions are checked in turn."""
    tx.cur.execute(
        "SELECT name FROM users WHERE role = %s AND password_hash IS NOT NULL "
        "ORDER BY name FOR UPDATE",
        (Role.ADMIN.value,),
    )
    return [str(row[0]) for row in tx.cur.fetchall()]


def count_admins(tx: Transaction) -> int:
    """How many administrators can log in (have a password)."""
    tx.cur.execute(
        "SELECT count(*) FROM users WHERE role = %s AND password_hash IS NOT NULL",
        (Role.ADMIN.value,),
    )
    row = tx.cur.fetchone()
    return int(row[0]) if row else 0
