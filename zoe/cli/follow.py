"""``zoe exec logs --follow``: one service's output as it is written.

Through the REST API only (``GET /services/{id}/logs?follow=true``). The service
is the one named by ``--service``, or the execution's only service; with
several and no name the command refuses and lists the names (their outputs are
not interleaved); a name that is not, and will not be, one of the execution's
services is refused at once. It waits for the service to be created if the
execution is queued, prints the output as it comes, and returns when the service
has ended.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import typer

from zoe.cli.live import (
    FAILED_EXIT,
    FINAL_STATUSES,
    INVALID_EXIT,
    _fail,
    _rest,
    may_have_service,
    no_such_service,
    service_names,
)

WAIT_DURATION = 0.5
INTERRUPTED_EXIT = 130
"""The exit status after Ctrl-C, as a shell reports a process ended by SIGINT."""


def follow_logs(execution_id: int, service: str | None, tail: int | None) -> None:
    """Print the chosen service's output until it ends; Ctrl-C stops quietly.

    Exits 2 when the service must be named, 1 when the execution has no service
    of that name and never will, 130 after Ctrl-C.
    """
    with _rest() as client:
        chosen = _service_to_follow(client, execution_id, service)
        if chosen is None:
            return
        chunks = client.follow_service(chosen["id"], tail=tail)
        try:
            with contextlib.closing(chunks):
                for chunk in chunks:
                    typer.echo(chunk, nl=False)
        except KeyboardInterrupt:
            raise typer.Exit(INTERRUPTED_EXIT) from None


def _service_to_follow(
    client: Any, execution_id: int, name: str | None
) -> dict[str, Any] | None:
    """The service to follow, once it exists; ``None`` for an execution that
    ended without services (nothing to print)."""
    while True:
        record = client.get(execution_id)
        services = record["services"]
        names = ", ".join(s["name"] for s in services)
        if name is None and len(services) > 1:
            raise _fail(
                f"execution {execution_id} has several services ({names}): name "
                "the one to follow with --service",
                INVALID_EXIT,
            )
        found = [s for s in services if name in (None, s["name"])]
        if found:
            chosen: dict[str, Any] = found[0]
            return chosen
        ended = record["status"] in FINAL_STATUSES
        if name is not None and (ended or not may_have_service(record, name)):
            message = no_such_service(execution_id, name, service_names(record))
            raise _fail(message, FAILED_EXIT)
        if ended:
            return None
        time.sleep(WAIT_DURATION)
