"""Errors of the master's ZeroMQ protocol, on both ends of the socket.

An error reply carries a type (:class:`ErrorType`), a message that says what to fix
and a details object. The same classes serve the two ends: the master's handler
raises, say, :class:`ConflictError` and the server turns it into an error reply;
the client library turns that reply back into a :class:`ConflictError`::

    ZoeError                          (zoe.core.errors)
    └── ProtocolError                 the protocol could not carry a request
        ├── MasterUnavailable         no reply after every retry; .address, .op,
        │                             .attempts, .timeout_ms
        ├── BadReply                  a reply that breaks the protocol; .reason
        └── RemoteError               an error reply; .type, .message, .details,
            │                         .request_id
            ├── BadRequestError       malformed envelope or arguments
            ├── UnknownOpError        an op the master does not know
            ├── VersionMismatchError  a protocol version the master does not speak
            ├── TooLargeError         a request over the size limit
            ├── UnauthorizedError     a missing or wrong shared token
            ├── NotFoundError         no execution with that id
            ├── ConflictError         the state forbids it, or a request id reused
            ├── InvalidZAppError      the ZApp of a submission is invalid
            ├── UnavailableError      the master cannot serve now (database down)
            └── InternalError         a fault of the master; see its log

An error type this version does not know becomes a plain :class:`RemoteError`, so
a newer master never breaks an older client.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar

from zoe.core.errors import ZoeError


class ErrorType(StrEnum):
    """The ``error.type`` of an error reply."""

    BAD_REQUEST = "BadRequest"
    UNKNOWN_OP = "UnknownOp"
    VERSION_MISMATCH = "VersionMismatch"
    TOO_LARGE = "TooLarge"
    UNAUTHORIZED = "Unauthorized"
    NOT_FOUND = "NotFound"
    CONFLICT = "Conflict"
    INVALID_ZAPP = "InvalidZApp"
    UNAVAILABLE = "Unavailable"
    INTERNAL = "Internal"


class ProtocolError(ZoeError):
    """Root of the errors of the master's protocol."""


class MasterUnavailable(ProtocolError):
    """The master gave no reply to ``op`` in ``attempts`` tries of ``timeout_ms``."""

    def __init__(self, address: str, op: str, attempts: int, timeout_ms: int) -> None:
        self.address = address
        self.op = op
        self.attempts = attempts
        self.timeout_ms = timeout_ms
        super().__init__(
            f"master at {address}: no reply to {op!r} after {attempts} attempt(s) "
            f"of {timeout_ms} ms; check that the master runs and listens on "
            "this address"
        )


class BadReply(ProtocolError):
    """A reply that does not follow the protocol; ``reason`` says how."""

    def __init__(self, reason: str, address: str | None = None) -> None:
        self.address = address
        self.reason = reason
        where = f"master at {address}: " if address else ""
        super().__init__(f"{where}malformed reply: {reason}")


class RemoteError(ProtocolError):
    """An error reply: its ``type``, ``message`` and ``details``.

    Raise a subclass in a request handler to answer with that error; the client
    raises the subclass named by the reply's type. ``request_id`` is the id the
    reply repeated, ``None`` when the master could not read it.
    """

    error_type: ClassVar[str] = ErrorType.INTERNAL.value

    def __init__(
        self,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        request_id: str | None = None,
        error_type: str | None = None,
    ) -> None:
        self.type = error_type or self.error_type
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.request_id = request_id
        super().__init__(f"{self.type}: {message}")


class BadRequestError(RemoteError):
    """The envelope or the arguments are malformed; ``details.path`` says where."""

    error_type = ErrorType.BAD_REQUEST.value


class UnknownOpError(RemoteError):
    """The op is not one the master knows; ``details.valid`` lists the known ones."""

    error_type = ErrorType.UNKNOWN_OP.value


class VersionMismatchError(RemoteError):
    """The protocol version is not spoken; ``details.supported`` lists those spoken."""

    error_type = ErrorType.VERSION_MISMATCH.value


class TooLargeError(RemoteError):
    """The request is over the limit; ``details.limit`` and ``details.size``."""

    error_type = ErrorType.TOO_LARGE.value


class UnauthorizedError(RemoteError):
    """The master requires a shared token and the request lacks the right one."""

    error_type = ErrorType.UNAUTHORIZED.value


class NotFoundError(RemoteError):
    """The execution named does not exist; ``details.kind`` and ``details.key``."""

    error_type = ErrorType.NOT_FOUND.value


class ConflictError(RemoteError):
    """The current state forbids the operation, or a request id was reused."""

    error_type = ErrorType.CONFLICT.value


class InvalidZAppError(RemoteError):
    """The submitted ZApp is invalid; ``details.faults`` lists ``{path, message}``."""

    error_type = ErrorType.INVALID_ZAPP.value


class UnavailableError(RemoteError):
    """The master cannot serve the request now (its database is down); retry later."""

    error_type = ErrorType.UNAVAILABLE.value


class InternalError(RemoteError):
    """A fault inside the master; its log has the cause under the request id."""

    error_type = ErrorType.INTERNAL.value


REMOTE_ERRORS: dict[str, type[RemoteError]] = {
    cls.error_type: cls
    for cls in (
        BadRequestError,
        UnknownOpError,
        VersionMismatchError,
        TooLargeError,
        UnauthorizedError,
        NotFoundError,
        ConflictError,
        InvalidZAppError,
        UnavailableError,
        InternalError,
    )
}


def remote_error(
    error_type: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> RemoteError:
    """The :class:`RemoteError` subclass for ``error_type`` (plain if unknown)."""
    cls = REMOTE_ERRORS.get(error_type, RemoteError)
    return cls(message, details, request_id=request_id, error_type=error_type)
