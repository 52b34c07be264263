"""The master's end of the protocol: a ZeroMQ ROUTER socket served without threads.

The master's loop is single-threaded; it calls :meth:`ProtocolServer.poll` between
scheduling rounds and answers each :class:`~zoe.live.protocol.Request` it returns
with :meth:`~ProtocolServer.reply` or :meth:`~ProtocolServer.reply_error` (or
lets :meth:`~ProtocolServer.serve_once` do both with a handler). ``poll`` answers
by itself everything that needs no master: malformed messages, unknown ops, wrong
versions, oversized requests, a missing token, ``ping``, and retries of requests
already answered. Nothing a peer sends makes ``poll`` raise.

Framing: a request is ``[empty delimiter, JSON]`` as a REQ socket sends it, or one
``[JSON]`` frame from a DEALER that sends no delimiter; the reply has the same
shape. The ROUTER prepends the peer's routing id, which this module keeps apart.

Retries: a request id is answered once. While a request is pending, a retry of it
waits for the same reply; once answered, the reply of a state-changing op
(``submit``, ``terminate``, ``delete``) is kept in a bounded LRU so a retry gets
it again without a second execution, unless it was ``Unavailable`` or
``Internal`` (a retry may then succeed). Read-only ops are executed again. The
LRU dies with the process: the master's handler also looks the request id up in
its database (the id is :attr:`Request.id`) so that dedup survives a restart.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import zmq

from zoe import __version__
from zoe.core.errors import InvalidInput
from zoe.live.protocol import (
    DEFAULT_ADDRESS,
    DEFAULT_HARD_LIMIT_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    PROTOCOL_VERSION,
    Op,
    Request,
    decode_request,
    encode_error,
    encode_result,
    error_for_exception,
)
from zoe.live.protocol_errors import (
    BadRequestError,
    ConflictError,
    ErrorType,
    InternalError,
    ProtocolError,
    RemoteError,
    UnauthorizedError,
)

log = logging.getLogger(__name__)

Route = tuple[bytes, ...]
"""The frames that address a reply: the peer's routing id and, if it sent one, the
empty delimiter."""
Handler = Callable[[Request], Mapping[str, Any]]
"""Executes a request and returns its result; raises to answer with an error."""

_UNCACHED_ERRORS = frozenset({ErrorType.UNAVAILABLE.value, ErrorType.INTERNAL.value})
_LOCAL_SCHEMES = ("ipc", "inproc")


@dataclasses.dataclass(frozen=True, slots=True)
class ServerConfig:
    """Settings of the master's protocol socket.

    ``address`` is a ZeroMQ endpoint; ``tcp://127.0.0.1:*`` binds a free port.
    Only loopback TCP, ``ipc://`` and ``inproc://`` are bound unless
    ``allow_remote``. ``token``, when set, must be in every request's
    ``auth.token``. A request over ``max_request_bytes`` gets a ``TooLarge`` reply;
    a frame over ``hard_limit_bytes`` is dropped by libzmq with its connection and
    gets no reply. ``dedup_capacity`` replies are kept for retries (0: none);
    ``max_batch`` bounds the messages one ``poll`` reads.
    """

    address: str = DEFAULT_ADDRESS
    allow_remote: bool = False
    token: str | None = dataclasses.field(default=None, repr=False)
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    hard_limit_bytes: int = DEFAULT_HARD_LIMIT_BYTES
    dedup_capacity: int = 4096
    max_batch: int = 100

    def __post_init__(self) -> None:
        if self.max_request_bytes < 64:
            raise InvalidInput(
                f"max_request_bytes must be at least 64; got {self.max_request_bytes}"
            )
        if self.hard_limit_bytes < self.max_request_bytes:
            raise InvalidInput(
                f"hard_limit_bytes ({self.hard_limit_bytes}) must be at least "
                f"max_request_bytes ({self.max_request_bytes})"
            )
        if self.dedup_capacity < 0 or self.max_batch < 1:
            raise InvalidInput(
                "dedup_capacity must be 0 or more and max_batch 1 or more; got "
                f"{self.dedup_capacity} and {self.max_batch}"
            )
        if self.token == "":
            raise InvalidInput("token must not be empty; leave it unset for none")


def check_bindable(address: str, allow_remote: bool) -> None:
    """Raise :class:`InvalidInput` unless the master may bind ``address``.

    Without ``allow_remote`` only loopback TCP addresses (``127.0.0.0/8``,
    ``::1``, ``localhost``, the ``lo`` interface), ``ipc://`` and ``inproc://`` are
    accepted. Other transports than these three are always refused.
    """
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("tcp", *_LOCAL_SCHEMES):
        raise InvalidInput(
            f"master address {address!r}: use tcp://HOST:PORT, ipc://PATH or "
            "inproc://NAME"
        )
    if scheme in _LOCAL_SCHEMES or allow_remote:
        return
    host = rest.rpartition(":")[0].strip("[]")
    if not _is_loopback(host):
        raise InvalidInput(
            f"master address {address!r} is not a loopback address; bind "
            "127.0.0.1 (the API and clients on this host reach it), or set "
            "allow_remote to expose the master to the network"
        )


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "lo"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass(slots=True)
class _Pending:
    fingerprint: str
    routes: list[Route]


class ProtocolServer:
    """The master's bound ROUTER socket, its size limits and its dedup of retries.

    Not thread-safe: one thread polls and replies. Every request returned by
    :meth:`poll` must be answered exactly once, by :meth:`reply` or
    :meth:`reply_error`. ``clock`` gives the ``time`` of ``ping`` replies
    (seconds since the epoch, sent as ISO 8601 in UTC). Raises
    :class:`InvalidInput` for an address it must not bind and
    :class:`ProtocolError` when binding fails.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or ServerConfig()
        check_bindable(self.config.address, self.config.allow_remote)
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._done: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._socket = self._bind(context or zmq.Context.instance())
        endpoint = self._socket.getsockopt(zmq.LAST_ENDPOINT)
        self.address = endpoint.decode() if isinstance(endpoint, bytes) else ""
        log.info("master protocol: listening on %s", self.address)

    def _bind(self, context: zmq.Context[zmq.Socket[bytes]]) -> zmq.Socket[bytes]:
        socket = context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, self.config.hard_limit_bytes)
        try:
            socket.bind(self.config.address)
        except zmq.ZMQError as exc:
            socket.close(linger=0)
            raise ProtocolError(
                f"cannot bind the master to {self.config.address}: {exc}; is another "
                "master running there? choose another address or port"
            ) from exc
        return socket

    @property
    def pending_count(self) -> int:
        """How many requests returned by :meth:`poll` await their reply."""
        return len(self._pending)

    def poll(self, timeout_ms: int) -> list[Request]:
        """Wait up to ``timeout_ms`` (0: do not wait) and return the new requests.

        Reads at most ``max_batch`` messages. Answers by itself, and leaves out of
        the list, every message that is invalid, unauthorised, a ``ping``, or a
        retry of a request pending or answered.
        """
        requests: list[Request] = []
        if not self._socket.poll(timeout_ms, zmq.POLLIN):
            return requests
        for _ in range(self.config.max_batch):
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            request = self._accept(frames)
            if request is not None:
                requests.append(request)
        return requests

    def reply(self, request: Request, result: Mapping[str, Any]) -> None:
        """Answer ``request`` with ``result`` (a JSON-serialisable mapping).

        A result that cannot be serialised is answered as ``Internal`` and logged.
        Raises :class:`ProtocolError` if ``request`` is not pending here.
        """
        pending = self._take_pending(request)
        try:
            payload = encode_result(request.id, result)
        except (TypeError, ValueError) as exc:
            log.error(
                "request %s (%s): result is not JSON-serialisable",
                request.id,
                request.op.value,
                exc_info=exc,
            )
            self._deliver(request, pending, error_for_exception(exc, request))
            return
        self._deliver(request, pending, payload)

    def reply_error(self, request: Request, exc: Exception) -> None:
        """Answer ``request`` with the error reply for ``exc``.

        See :func:`~zoe.live.protocol.error_for_exception` for the mapping; an
        exception that maps to ``Internal`` is logged with its traceback.
        Raises :class:`ProtocolError` if ``request`` is not pending here.
        """
        pending = self._take_pending(request)
        error = error_for_exception(exc, request)
        if isinstance(error, InternalError) and error is not exc:
            log.error(
                "request %s (%s): failed", request.id, request.op.value, exc_info=exc
            )
        self._deliver(request, pending, error)

    def serve_once(self, handler: Handler, timeout_ms: int) -> int:
        """Poll once and answer each new request with ``handler``; return how many.

        An exception raised by ``handler`` becomes the error reply of its request
        and never escapes: one request cannot stop the master.
        """
        requests = self.poll(timeout_ms)
        for request in requests:
            try:
                result = handler(request)
            except Exception as exc:  # answered as an error reply, and logged
                self.reply_error(request, exc)
                continue
            self.reply(request, result)
        return len(requests)

    def close(self) -> None:
        """Close the socket at once; replies not yet sent are dropped."""
        self._socket.close(linger=0)

    def __enter__(self) -> ProtocolServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self, frames: list[bytes]) -> Request | None:
        route, body = _split(frames)
        try:
            if body is None:
                raise BadRequestError(
                    "a request is one frame of JSON, after an optional empty "
                    f"delimiter frame; got {len(frames) - 1} frame(s) in all"
                )
            request = decode_request(body, self.config.max_request_bytes)
            self._check_token(request)
        except RemoteError as exc:
            log.debug("request %s: refused: %s", exc.request_id, exc)
            self._send(route, encode_error(exc.request_id, exc))
            return None
        return self._admit(request, route)

    def _check_token(self, request: Request) -> None:
        expected = self.config.token
        if expected is None:
            return
        given = request.auth.token or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise UnauthorizedError(
                "this master requires a shared token: set auth.token to the token "
                "of the master's configuration",
                request_id=request.id,
            )

    def _admit(self, request: Request, route: Route) -> Request | None:
        done = self._done.get(request.id)
        if done is not None:
            self._done.move_to_end(request.id)
            fingerprint, payload = done
            if fingerprint != request.fingerprint:
                payload = encode_error(request.id, _reused(request))
            log.debug("request %s: retry answered from the cache", request.id)
            self._send(route, payload)
            return None
        pending = self._pending.get(request.id)
        if pending is not None:
            if pending.fingerprint == request.fingerprint:
                pending.routes.append(route)
            else:
                self._send(route, encode_error(request.id, _reused(request)))
            return None
        self._pending[request.id] = _Pending(request.fingerprint, [route])
        if request.op is Op.PING:
            self.reply(request, self._pong())
            return None
        return request

    def _pong(self) -> dict[str, Any]:
        return {
            "pong": True,
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "time": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
        }

    def _take_pending(self, request: Request) -> _Pending:
        pending = self._pending.pop(request.id, None)
        if pending is None:
            raise ProtocolError(
                f"request {request.id}: not pending here (already answered, or "
                "not returned by this server's poll)"
            )
        return pending

    def _deliver(
        self, request: Request, pending: _Pending, answer: bytes | RemoteError
    ) -> None:
        if isinstance(answer, RemoteError):
            cacheable = answer.type not in _UNCACHED_ERRORS
            payload = encode_error(request.id, answer)
        else:
            cacheable, payload = True, answer
        for route in pending.routes:
            self._send(route, payload)
        if cacheable and request.op.changes_state:
            self._remember(request.id, pending.fingerprint, payload)

    def _remember(self, request_id: str, fingerprint: str, payload: bytes) -> None:
        if self.config.dedup_capacity == 0:
            return
        self._done[request_id] = (fingerprint, payload)
        while len(self._done) > self.config.dedup_capacity:
            self._done.popitem(last=False)

    def _send(self, route: Route, payload: bytes) -> None:
        try:
            self._socket.send_multipart([*route, payload], zmq.NOBLOCK)
        except zmq.Again:
            log.warning("master protocol: reply dropped, the peer's queue is full")


def _split(frames: list[bytes]) -> tuple[Route, bytes | None]:
    """The reply route of a ROUTER message and its one body frame (``None`` if the
    message has another shape)."""
    identity, rest = frames[0], frames[1:]
    if rest and rest[0] == b"":
        route: Route = (identity, b"")
        rest = rest[1:]
    else:
        route = (identity,)
    return route, rest[0] if len(rest) == 1 else None


def _reused(request: Request) -> ConflictError:
    return ConflictError(
        f"request id {request.id} was already used for a different request; use a "
        "new id for each new request and the same id only to retry it",
        {"path": "id"},
        request_id=request.id,
    )
