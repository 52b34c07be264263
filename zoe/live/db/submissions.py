"""The checks of a submission and its write, shared by the API and the master.

A submission is refused, with nothing written, when its ZApp has more services
than the deployment runs per execution, when its user is unknown, when its
request id was used for another submission, or when it would take its user over
a quota. The quotas bound what a user's executions not yet in a final status
hold at once: how many there are, and the cores and memory of *every* service of
their ZApps (essential and elastic, at the reserved ``min``), since the master
may give an execution all its elastic services.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from zoe.core.errors import Fault, InvalidInput, InvalidZApp
from zoe.core.resources import Resources, format_cores, format_memory
from zoe.core.zapp import parse_zapp
from zoe.live.db.accounts import active_zapps, lock_user
from zoe.live.protocol_errors import ConflictError

if TYPE_CHECKING:
    from zoe.core.zapp import ZApp
    from zoe.live.db.records import UserRecord
    from zoe.live.db.transaction import Transaction

USER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
"""What a user name may be (the rule of the API and of the master's ``submit``)."""


def check_user_name(name: str) -> None:
    """Raise :class:`InvalidInput` unless ``name`` follows :data:`USER_NAME_PATTERN`."""
    if re.fullmatch(USER_NAME_PATTERN, name) is None:
        raise InvalidInput(
            f"user name {name[:80]!r} is not valid: use 1 to 64 letters, digits, "
            "'_', '.', '@' or '-', starting with a letter or a digit"
        )


def check_service_limit(zapp: ZApp, max_services: int) -> None:
    """Raise :class:`InvalidZApp` if an execution of ``zapp`` has over
    ``max_services`` services (a deployment's ``max_services``)."""
    count = zapp.service_count
    if count > max_services:
        raise InvalidZApp(
            [
                Fault(
                    "frameworks",
                    f"the ZApp has {count} services (the sum of every group's "
                    f"total_count); this deployment runs at most {max_services} "
                    "services per execution (max_services): lower total_count",
                )
            ]
        )


def held(zapp: ZApp) -> Resources:
    """What an execution of ``zapp`` holds with all its services placed."""
    total = Resources(0, 0)
    for _framework, group in zapp.groups():
        total = total + group.demand * group.total_count
    return total


def check_quota(user: UserRecord, active: list[ZApp], new: ZApp) -> None:
    """Raise :class:`ConflictError` if ``new`` would take ``user`` over a quota.

    ``active`` are the ZApps of the user's executions not in a final status.
    """
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


def store_submission(
    tx: Transaction,
    user_name: str,
    name: str,
    zapp: ZApp,
    request_id: str,
    *,
    max_services: int,
    actor: str | None = None,
) -> int:
    """Check a submission and write it in ``tx``; return the execution's id.

    In order: the deployment's ``max_services`` (:func:`check_service_limit`);
    the user's row, locked until ``tx`` ends so that two submissions of one
    user are checked one after the other (:class:`NotFound` if there is none);
    an execution stored already for ``request_id``, returned as it is, without
    checking the quotas again (:class:`ConflictError` if its name or ZApp
    differ); the quotas (:func:`check_quota`); then the write. Nothing is
    written when a check fails.
    """
    check_service_limit(zapp, max_services)
    user = lock_user(tx, user_name)
    existing = tx.execution_of_request(user.id, request_id, name, zapp)
    if existing is not None:
        return existing
    limits = (user.max_executions, user.max_cores_milli, user.max_memory_bytes)
    if any(limit is not None for limit in limits):
        active = [parse_zapp(doc) for doc in active_zapps(tx, user_name)]
        check_quota(user, active, zapp)
    return tx.submit_execution(user_name, name, zapp, request_id, actor)
