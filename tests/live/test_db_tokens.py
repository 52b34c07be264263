"""Tokens in PostgreSQL: a new token of a user clears that user's expired ones."""

from __future__ import annotations

import datetime as dt

import pytest

from zoe.live.db import Repository, Role, Transaction
from zoe.live.db.accounts import create_token, user_of_token

pytestmark = pytest.mark.integration


def _count(tx: Transaction) -> int:
    tx.cur.execute("SELECT count(*) FROM tokens")
    row = tx.cur.fetchone()
    assert row is not None
    return int(row[0])


def test_a_new_token_forgets_the_users_expired_ones(repo: Repository) -> None:
    repo.ensure_user("ann", Role.USER)
    repo.ensure_user("bob", Role.USER)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)

    def setup(tx: Transaction) -> None:
        create_token(tx, "ann", "d-ann-old", "old", past)
        create_token(tx, "bob", "d-bob-old", "old", past)

    repo.transaction(setup)
    repo.transaction(lambda tx: create_token(tx, "ann", "d-ann-new", "new", future))

    # ann's expired token is gone, bob's stays until bob logs in again
    assert repo.transaction(_count) == 2
    assert repo.transaction(lambda tx: user_of_token(tx, "d-ann-new")) is not None
