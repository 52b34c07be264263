"""The client library of the master's protocol: timeouts, reconnection, retries.

:class:`MasterClient` follows ZeroMQ's "lazy pirate" pattern on a DEALER socket:
send the request, wait ``timeout_ms`` for its reply; on silence close the socket
(dropping whatever it still holds), open a new one and send the *same* request,
with the same id, again; after ``retries`` such retries raise
:class:`~zoe.live.protocol_errors.MasterUnavailable`. The master executes a request
id once, so a retry is safe for every op. A call thus takes at most
``(retries + 1) * timeout_ms``.

An error reply is raised as the :class:`~zoe.live.protocol_errors.RemoteError`
subclass of its type, with its message and details.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import zmq

from zoe.core.errors import InvalidInput
from zoe.core.execution import ExecutionStatus
from zoe.live.protocol import (
    DEFAULT_ADDRESS,
    DEFAULT_MAX_REQUEST_BYTES,
    Op,
    Reply,
    decode_reply,
    encode_request,
)
from zoe.live.protocol_errors import BadReply, MasterUnavailable, TooLargeError

log = logging.getLogger(__name__)


def new_request_id() -> str:
    """A fresh request id: 32 hexadecimal digits of a random UUID."""
    return uuid.uuid4().hex


class MasterClient:
    """A connection to the master at ``address``. Not thread-safe: one per thread.

    ``timeout_ms`` is how long one attempt waits for its reply; ``retries`` how
    many attempts follow a silent one. ``user`` and ``token`` go into each
    request's ``auth``. A request over ``max_request_bytes`` raises
    :class:`TooLargeError` without being sent. Each call returns the reply's
    ``result`` object (its shape per op is in ``docs/protocol.md``) and raises
    :class:`MasterUnavailable`, :class:`BadReply` or a ``RemoteError`` subclass.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout_ms: int = 2500,
        retries: int = 3,
        user: str | None = None,
        token: str | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        if timeout_ms < 1 or retries < 0:
            raise InvalidInput(
                f"timeout_ms must be 1 or more and retries 0 or more; got "
                f"{timeout_ms} and {retries}"
            )
        self.address = address
        self.timeout_ms = timeout_ms
        self.retries = retries
        self._auth = {k: v for k, v in (("user", user), ("token", token)) if v}
        self._max_request_bytes = max_request_bytes
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket[bytes] | None = None

    def call(
        self,
        op: Op | str,
        args: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Send ``op`` with ``args`` and return the result, retrying on silence.

        ``request_id`` defaults to a fresh id; pass the id of an earlier call to
        retry that call (the master then answers without executing it again).
        """
        request_id = request_id or new_request_id()
        payload = encode_request(request_id, op, args, self._auth)
        if len(payload) > self._max_request_bytes:
            raise TooLargeError(
                f"request of {len(payload)} bytes is over the limit of "
                f"{self._max_request_bytes} bytes; send a smaller request",
                {"limit": self._max_request_bytes, "size": len(payload)},
                request_id=request_id,
            )
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            reply = self._attempt(request_id, payload)
            if reply is not None:
                return _outcome(reply)
            log.warning(
                "master %s: no reply to %s %s in %d ms (attempt %d of %d)",
                self.address,
                op,
                request_id,
                self.timeout_ms,
                attempt,
                attempts,
            )
            self._disconnect()
        raise MasterUnavailable(self.address, str(op), attempts, self.timeout_ms)

    def ping(self) -> dict[str, Any]:
        """``{"pong": true, "version", "protocol", "time"}`` from the master."""
        return self.call(Op.PING)

    def submit(
        self,
        name: str,
        zapp: Mapping[str, Any],
        user: str,
        *,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Submit ``zapp`` as ``name`` owned by ``user``; ``{"execution_id": N}``."""
        args = {"name": name, "user": user, "zapp": dict(zapp)}
        return self.call(Op.SUBMIT, args, request_id=request_id)

    def terminate(
        self, execution_id: int, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """Terminate an execution; ``{"execution_id", "status"}``, the status after."""
        args = {"execution_id": execution_id}
        return self.call(Op.TERMINATE, args, request_id=request_id)

    def delete(
        self, execution_id: int, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """Delete a record in a final status; ``{"execution_id", "deleted": true}``."""
        args = {"execution_id": execution_id}
        return self.call(Op.DELETE, args, request_id=request_id)

    def get(self, execution_id: int) -> dict[str, Any]:
        """The record of one execution, with its services."""
        return self.call(Op.GET, {"execution_id": execution_id})

    def logs(
        self,
        execution_id: int,
        *,
        service: str | None = None,
        tail: int | None = None,
        since: float | str | None = None,
    ) -> dict[str, Any]:
        """Container output: ``{"execution_id", "services": [...]}``.

        Each service is ``{"name", "logs", "missing", "last_time", "next_since",
        "ended"}``; pass ``next_since`` as ``since`` to read what follows (see the
        ``logs`` op in docs/protocol.md).
        """
        args: dict[str, Any] = {"execution_id": execution_id}
        options = {"service": service, "tail": tail, "since": since}
        args.update({k: v for k, v in options.items() if v is not None})
        return self.call(Op.LOGS, args)

    def list_executions(
        self,
        *,
        user: str | None = None,
        status: Iterable[ExecutionStatus | str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of executions, newest first: ``{"executions": [...], "next"}``.

        Filters left ``None`` are not applied; pass ``next`` as ``cursor`` to read
        the following page.
        """
        args: dict[str, Any] = {"user": user, "limit": limit, "cursor": cursor}
        if status is not None:
            args["status"] = [str(s) for s in status]
        return self.call(Op.LIST, {k: v for k, v in args.items() if v is not None})

    def cluster(self) -> dict[str, Any]:
        """The nodes with their capacity, free resources, labels and availability."""
        return self.call(Op.CLUSTER)

    def scheduler(self) -> dict[str, Any]:
        """The policy, the placement, the queue and the time of the last round."""
        return self.call(Op.SCHEDULER)

    def close(self) -> None:
        """Close the socket; the next call opens a new one."""
        self._disconnect()

    def __enter__(self) -> MasterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _attempt(self, request_id: str, payload: bytes) -> Reply | None:
        """Send once and wait for the reply to ``request_id``; ``None`` on silence."""
        socket = self._connected()
        try:
            socket.send_multipart([b"", payload], zmq.NOBLOCK)
        except zmq.Again:
            time.sleep(self.timeout_ms / 1000)
            return None
        deadline = time.monotonic() + self.timeout_ms / 1000
        while (remaining := deadline - time.monotonic()) > 0:
            if not socket.poll(max(1, round(remaining * 1000)), zmq.POLLIN):
                return None
            reply = self._read(socket.recv_multipart(), request_id)
            if reply is not None:
                return reply
        return None

    def _read(self, frames: list[bytes], request_id: str) -> Reply | None:
        """The reply in ``frames`` if it answers ``request_id``; ``None`` if stale."""
        body = frames[1:] if frames and frames[0] == b"" else frames
        try:
            if len(body) != 1:
                raise BadReply(f"expected one JSON frame, got {len(body)}")
            reply = decode_reply(body[0])
        except BadReply as exc:
            self._disconnect()
            raise BadReply(exc.reason, self.address) from None
        # an error without id answers the one request in flight on this socket
        if reply.id == request_id or (reply.id is None and reply.error is not None):
            return reply
        log.debug("master %s: stale reply to %s dropped", self.address, reply.id)
        return None

    def _connected(self) -> zmq.Socket[bytes]:
        if self._socket is None:
            socket = self._context.socket(zmq.DEALER)
            socket.setsockopt(zmq.LINGER, 0)
            try:
                socket.connect(self.address)
            except zmq.ZMQError as exc:
                socket.close(linger=0)
                raise InvalidInput(
                    f"master address {self.address!r}: {exc}; use tcp://HOST:PORT, "
                    "ipc://PATH or inproc://NAME"
                ) from exc
            self._socket = socket
        return self._socket

    def _disconnect(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None


def _outcome(reply: Reply) -> dict[str, Any]:
    if reply.error is not None:
        raise reply.error
    return reply.result or {}
