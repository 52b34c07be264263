"""A submission: quotas, the durable write, and the notice to the master.

The quotas of a user bound what their executions not yet in a final status may
hold at once: how many there are, and the cores and memory of *every* service of
their ZApps (essential and elastic, at the reserved ``min``), since the master
may give an execution all its elastic services. The check and the write happen
in one transaction that holds the user's row, so two submissions of one user are
checked one after the other.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from zoe.core.resources import Resources, format_cores, format_memory
from zoe.core.zapp import parse_zapp
from zoe.live.db.accounts import active_zapps, lock_user
from zoe.live.protocol_errors import ConflictError

if TYPE_CHECKING:
    from zoe.core.zapp import ZApp
    from zoe.live.client import MasterClient
    from zoe.live.db import Repository, Transaction, UserRecord

log = logging.getLogger(__name__)


def held(zapp: ZApp) -> Resources:
    """What an execution of ``zapp`` holds with all its services placed."""
    total = Resources(0, 0)
    for _framework, group in zapp.groups():
        total = total + group.demand * group.total_count
    return total


def check_quota(user: UserRecord, active: list[ZApp], new: ZApp) -> None:
    """Raise :class:`ConflictError` if ``new`` would take ``user`` over a quota."""
    count = len(active) + 1
    if user.max_executions is not None and count > user.max_executions:
        raise ConflictError(
            f"quota reached: {user.name} may have {user.max_executions} executions "
            "not yet ended; wait for one to end or terminate one",
            {"quota": "executions", "limit": user.max_executions, "wanted": count},
        )
    total = held(new)
    for zapp in active:
        total = total + held(zapp)
    if user.max_cores_milli is not None and total.millicores > user.max_cores_milli:
        limit = format_cores(user.max_cores_milli)
        raise ConflictError(
            f"quota reached: {user.name} may hold {limit} cores and this submission "
            f"would bring it to {format_cores(total.millicores)}",
            {
                "quota": "cores",
                "limit": limit,
                "wanted": format_cores(total.millicores),
            },
        )
    if user.max_memory_bytes is not None and total.memory > user.max_memory_bytes:
        raise ConflictError(
            f"quota reached: {user.name} may hold "
            f"{format_memory(user.max_memory_bytes)} of memory and this submission "
            "would bring it to "
            f"{format_memory(total.memory)}",
            {"quota": "memory", "limit": user.max_memory_bytes, "wanted": total.memory},
        )


def store(
    repo: Repository, user_name: str, name: str, zapp: ZApp, request_id: str
) -> int:
    """Check the quotas and write the execution; return its id.

    Submitting again with the same ``request_id`` returns the first id without
    checking the quotas again.
    """

    def work(tx: Transaction) -> int:
        user = lock_user(tx, user_name)
        existing = _by_request(tx, user.id, request_id)
        if existing is not None:
            return existing
        if _has_quota(user):
            active = [parse_zapp(doc) for doc in active_zapps(tx, user_name)]
            check_quota(user, active, zapp)
        return tx.submit_execution(user_name, name, zapp, request_id)

    return repo.transaction(work)


def _has_quota(user: UserRecord) -> bool:
    limits = (user.max_executions, user.max_cores_milli, user.max_memory_bytes)
    return any(limit is not None for limit in limits)


def _by_request(tx: Transaction, user_id: int, request_id: str) -> int | None:
    tx.cur.execute(
        "SELECT id FROM executions WHERE user_id = %s AND request_id = %s",
        (user_id, request_id),
    )
    row = tx.cur.fetchone()
    return None if row is None else int(row[0])


def notify(
    client: MasterClient,
    user_name: str,
    name: str,
    zapp: dict[str, Any],
    request_id: str,
) -> bool:
    """Tell the master about a stored submission; False if it cannot be reached.

    The notice is the protocol's ``submit`` with the request id of the stored
    execution: the master finds the execution already written and takes it up at
    once instead of at its next tick. Nothing is submitted twice.
    """
    from zoe.live.protocol_errors import ProtocolError

    try:
        client.submit(name, zapp, user_name, request_id=request_id)
    except ProtocolError as exc:
        log.warning("api: master not told of request %s: %s", request_id, exc)
        return False
    return True
