"""Lists a page at a time: the rules every list endpoint shares.

Rows come newest first, ``limit`` at a time; ``cursor`` is the ``next`` of the
page before (an id: the rows older than it follow). A user sees their own rows;
an administrator sees everyone's, or one user's with ``user``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from zoe.api.deps import Caller
from zoe.api.errors import ApiError
from zoe.api.state import ApiState
from zoe.live.db import Transaction

R = TypeVar("R")

Lister = Callable[..., tuple[list[R], int | None]]
"""``lister(tx, user=, statuses=, before_id=, limit=)``: a page and the next id."""


async def one_page(
    state: ApiState,
    caller: Caller,
    key: str,
    lister: Lister[R],
    summary: Callable[[R], dict[str, Any]],
    *,
    user: str | None,
    statuses: Sequence[str] | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """``{key: [summary of each row], "next": cursor or None}`` for ``caller``.

    ``user`` naming another user is 403 for anyone but an administrator, whether
    that user exists or not.
    """
    if not caller.is_admin:
        if user is not None and user != caller.name:
            raise ApiError(
                403,
                "Forbidden",
                f"only an administrator may list another user's {key}; leave out "
                "user to list your own",
            )
        user = caller.name
    before = None if cursor is None else int(cursor)
    wanted = None if statuses is None else tuple(statuses)

    def work(tx: Transaction) -> tuple[list[R], int | None]:
        return lister(tx, user=user, statuses=wanted, before_id=before, limit=limit)

    records, more = await state.db(lambda repo: repo.transaction(work))
    return {
        key: [summary(r) for r in records],
        "next": None if more is None else str(more),
    }
