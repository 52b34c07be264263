"""A service's output as a stream of text, for the API and the web interface.

:func:`open_output` makes the first read (so that a refusal, such as the 409 of
a backend without output, is an ordinary error reply), then the response streams
:func:`output_chunks`: the text of that read, then, while following, what the
master returns when asked again every ``poll_duration`` seconds with the
``next_since`` of the read before (see the ``logs`` op in docs/protocol.md). The
stream ends when the service has ended and its last text is sent, when the
client goes away, or when the execution is deleted. While the master cannot be
reached the stream waits and asks again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from fastapi.responses import StreamingResponse

from zoe.core.errors import NotFound
from zoe.live.protocol_errors import (
    MasterUnavailable,
    NotFoundError,
    UnavailableError,
)

if TYPE_CHECKING:
    from fastapi import Request

    from zoe.api.state import ApiState

log = logging.getLogger(__name__)

POLL_DURATION = 0.5
MEDIA_TYPE = "text/plain; charset=utf-8"
OPENAPI_TEXT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The service's output as it is written (chunked), then "
        "the end of the stream once the service has ended (at once without "
        "follow).",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}
"""The documented 200 reply of an output stream."""


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """The service whose output is streamed: its execution and its name."""

    execution_id: int
    service: str
    service_id: int


async def read_output(
    state: ApiState,
    target: OutputTarget,
    *,
    tail: int | None = None,
    since: str | None = None,
) -> dict[str, Any]:
    """One read of the service's output through the master (its ``logs`` entry).

    Raises what the master answers (``ConflictError`` for a backend without
    output, ``NotFoundError`` for a deleted execution) and ``NotFound`` when the
    execution no longer has the service.
    """
    result = await state.master(
        lambda client: client.logs(
            target.execution_id, service=target.service, tail=tail, since=since
        )
    )
    for entry in result["services"]:
        if entry["name"] == target.service:
            found: dict[str, Any] = entry
            return found
    raise NotFound("service", str(target.service_id))


async def open_output(
    request: Request,
    state: ApiState,
    target: OutputTarget,
    *,
    follow: bool,
    tail: int | None,
) -> StreamingResponse:
    """The streaming response of a service's output, after a first read."""
    first = await read_output(state, target, tail=tail)
    chunks = output_chunks(request, state, target, first, follow=follow)
    return StreamingResponse(chunks, media_type=MEDIA_TYPE)


async def output_chunks(
    request: Request,
    state: ApiState,
    target: OutputTarget,
    first: dict[str, Any],
    *,
    follow: bool,
    poll_duration: float = POLL_DURATION,
) -> AsyncIterator[bytes]:
    """The text of ``first``, then, if ``follow``, what follows it, until the end."""
    entry: dict[str, Any] | None = first
    since: str | None = None
    while entry is not None:
        if entry["logs"]:
            yield entry["logs"].encode("utf-8")
        if not follow or entry["ended"]:
            return
        since = entry["next_since"] or since
        entry = await _next_read(request, state, target, since, poll_duration)


async def _next_read(
    request: Request,
    state: ApiState,
    target: OutputTarget,
    since: str | None,
    poll_duration: float,
) -> dict[str, Any] | None:
    """The next read after a pause, or ``None`` when the stream must end."""
    while True:
        await anyio.sleep(poll_duration)
        if await request.is_disconnected():
            return None
        try:
            return await read_output(state, target, since=since)
        except (MasterUnavailable, UnavailableError):
            continue  # the master restarts or lost its database: ask again
        except (NotFound, NotFoundError):
            log.info(
                "service %d: output stream ended, its execution is gone",
                target.service_id,
            )
            return None
