"""A submission through the API: the checked write, then the notice to the master.

The checks (the deployment's service limit, the request id, the user's quotas)
and the write happen in one transaction that holds the user's row, so two
submissions of one user are checked one after the other; they are those of the
master's ``submit`` (:mod:`zoe.live.db.submissions`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from zoe.live.config import DEFAULT_MAX_SERVICES
from zoe.live.db.submissions import store_submission
from zoe.live.protocol_errors import (
    BadRequestError,
    ConflictError,
    InvalidZAppError,
    TooLargeError,
)

if TYPE_CHECKING:
    from zoe.core.zapp import ZApp
    from zoe.live.client import MasterClient
    from zoe.live.db import Repository

log = logging.getLogger(__name__)

REFUSALS = (BadRequestError, ConflictError, InvalidZAppError, TooLargeError)
"""What the master answers to a submission it will not take."""


def store(
    repo: Repository,
    user_name: str,
    name: str,
    zapp: ZApp,
    request_id: str,
    *,
    max_services: int = DEFAULT_MAX_SERVICES,
) -> int:
    """Check the limits and quotas and write the execution; return its id.

    Raises :class:`~zoe.core.errors.InvalidZApp` (422) for a ZApp of more than
    ``max_services`` services and ``ConflictError`` (409) for a quota reached or
    a ``request_id`` used already for another submission; nothing is written
    then. Submitting again with the same ``request_id``, name and ZApp returns
    the first id without checking the quotas again.
    """
    return repo.transaction(
        lambda tx: store_submission(
            tx, user_name, name, zapp, request_id, max_services=max_services
        )
    )


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
    once instead of at its next tick. Nothing is submitted twice. A refusal of
    the master (its own limits differ from the API's, say) is raised, to be
    answered with its status; the master ends such an execution at its next
    tick. Any other failure leaves the execution to that tick.
    """
    from zoe.live.protocol_errors import ProtocolError

    try:
        client.submit(name, zapp, user_name, request_id=request_id)
    except REFUSALS:
        raise
    except ProtocolError as exc:
        log.warning("api: master not told of request %s: %s", request_id, exc)
        return False
    return True
