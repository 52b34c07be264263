"""Messages of the master's ZeroMQ protocol, version 1: format and validation.

A request is one UTF-8 JSON object::

    {"v": 1, "id": "6f1c...", "op": "get", "args": {"execution_id": "42"},
     "auth": {"user": "alice"}}

and its reply repeats the id::

    {"v": 1, "id": "6f1c...", "ok": true, "result": {...}}
    {"v": 1, "id": "6f1c...", "ok": false,
     "error": {"type": "NotFound", "message": "...", "details": {...}}}

This module turns bytes into a validated :class:`Request` (or raises the
:class:`~zoe.live.protocol_errors.RemoteError` to send back) and values into bytes.
It does no I/O; :mod:`zoe.live.transport` carries the bytes and
:mod:`zoe.live.client` is the client library. ``docs/protocol.md`` is the reference
for everything here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import field
from enum import StrEnum
from typing import Annotated, Any, NoReturn

from pydantic import (
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StrictStr,
    TypeAdapter,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

from zoe.core.errors import (
    IllegalTransition,
    InvalidInput,
    InvalidZApp,
    NotAZApp,
    NotFound,
)
from zoe.core.execution import ExecutionStatus
from zoe.core.zapp import json_path
from zoe.live.errors import DatabaseUnavailable
from zoe.live.output import SECONDS_PATTERN
from zoe.live.protocol_errors import (
    BadReply,
    BadRequestError,
    ConflictError,
    InternalError,
    InvalidZAppError,
    NotFoundError,
    RemoteError,
    TooLargeError,
    UnavailableError,
    UnknownOpError,
    VersionMismatchError,
    remote_error,
)

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)
DEFAULT_PORT = 4850
DEFAULT_ADDRESS = f"tcp://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
"""The soft limit: a larger request gets a ``TooLarge`` reply."""
DEFAULT_HARD_LIMIT_BYTES = 16 * 1024 * 1024
"""The hard cap: libzmq drops a larger frame and the connection, with no reply."""

_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_ENVELOPE_FIELDS = ("v", "id", "op", "args", "auth")


class Op(StrEnum):
    """The operations a request may name."""

    SUBMIT = "submit"
    TERMINATE = "terminate"
    DELETE = "delete"
    GET = "get"
    LIST = "list"
    CLUSTER = "cluster"
    SCHEDULER = "scheduler"
    PING = "ping"
    LOGS = "logs"

    @property
    def changes_state(self) -> bool:
        """True for an op whose reply is kept so that a retry is not executed again."""
        return self in _STATE_CHANGING


_STATE_CHANGING = frozenset({Op.SUBMIT, Op.TERMINATE, Op.DELETE})

_STRICT = ConfigDict(extra="forbid")
Name = Annotated[StrictStr, Field(min_length=1, max_length=128)]
UserName = Annotated[StrictStr, Field(min_length=1, max_length=64)]
ExecutionId = Annotated[StrictInt, Field(ge=1)]
MAX_SINCE = 99_999_999_999
"""The largest ``since`` (UNIX seconds), in the year 5138."""


def _since(value: object) -> float | int | str:
    """A ``since``: a number of UNIX seconds or a string of decimal seconds."""
    if isinstance(value, str) and re.match(SECONDS_PATTERN, value):
        return value
    if isinstance(value, bool):
        value = None  # JSON true and false are not numbers
    if isinstance(value, int | float) and 0 <= value <= MAX_SINCE:
        return value
    raise PydanticCustomError(
        "since",
        f"since is UNIX seconds: a number from 0 to {MAX_SINCE}, or a string of "
        'decimal seconds with up to 9 decimals such as "1767607202.123456789"',
    )


Since = Annotated[float | int | str, PlainValidator(_since)]


@dataclass(frozen=True, slots=True, config=_STRICT)
class SubmitArgs:
    """``submit``: run ``zapp`` (any supported ZApp version) as ``name`` for ``user``.

    The ZApp is only checked to be a JSON object here; the master validates it and
    answers ``InvalidZApp`` with the path of each fault.
    """

    name: Name
    user: UserName
    zapp: dict[str, Any]


@dataclass(frozen=True, slots=True, config=_STRICT)
class ExecutionRef:
    """``terminate``, ``delete``, ``get``: the execution they act on."""

    execution_id: ExecutionId


@dataclass(frozen=True, slots=True, config=_STRICT)
class ListArgs:
    """``list``: filters (all optional) and paging; ``cursor`` is the ``next`` of a
    previous page."""

    user: UserName | None = None
    status: tuple[ExecutionStatus, ...] | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=1000)] = 100
    cursor: Annotated[StrictStr, Field(max_length=256)] | None = None


@dataclass(frozen=True, slots=True, config=_STRICT)
class LogsArgs:
    """``logs``: the output of an execution's containers, or of one ``service``
    (its name, e.g. ``worker-0``); ``tail`` keeps the last lines of each,
    ``since`` those written at or after it: UNIX seconds as a number, or as a
    string of decimal seconds exact to the nanosecond (a reply's ``next_since``).
    """

    execution_id: ExecutionId
    service: Name | None = None
    tail: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = None
    since: Since | None = None


@dataclass(frozen=True, slots=True, config=_STRICT)
class NoArgs:
    """``cluster``, ``scheduler``, ``ping``: no arguments."""


@dataclass(frozen=True, slots=True, config=_STRICT)
class Auth:
    """Who sends the request: ``user`` as the sender states it, and ``token``, the
    shared secret a master may require. The master trusts its peers for ``user``."""

    user: UserName | None = None
    token: Annotated[StrictStr, Field(max_length=1024)] | None = field(
        default=None, repr=False
    )


Args = SubmitArgs | ExecutionRef | ListArgs | LogsArgs | NoArgs

OP_ARGS: dict[Op, type[Any]] = {
    Op.SUBMIT: SubmitArgs,
    Op.TERMINATE: ExecutionRef,
    Op.DELETE: ExecutionRef,
    Op.GET: ExecutionRef,
    Op.LIST: ListArgs,
    Op.CLUSTER: NoArgs,
    Op.SCHEDULER: NoArgs,
    Op.PING: NoArgs,
    Op.LOGS: LogsArgs,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """A validated request. ``args`` is the :data:`OP_ARGS` class of ``op``.

    ``fingerprint`` digests the op and arguments: a retry under the same id must
    carry the same fingerprint, or it is a reused id.
    """

    id: str
    op: Op
    args: Args
    auth: Auth
    fingerprint: str = field(repr=False)

    @property
    def user(self) -> str | None:
        """The user the sender states in ``auth``, if any."""
        return self.auth.user


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """A decoded reply: ``result`` when it succeeded, ``error`` otherwise."""

    id: str | None
    result: dict[str, Any] | None
    error: RemoteError | None


def decode_request(frame: bytes, max_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> Request:
    """Validate one request frame and return the :class:`Request`.

    Raises the :class:`RemoteError` to reply with: ``TooLarge`` over ``max_bytes``,
    ``BadRequest`` for anything malformed (the message names the field or the JSON
    path), ``VersionMismatch``, ``UnknownOp``. The error's ``request_id`` is the
    request's id when it could be read, else ``None``.
    """
    if len(frame) > max_bytes:
        raise TooLargeError(
            f"request of {len(frame)} bytes is over the limit of {max_bytes} bytes; "
            "send a smaller request",
            {"limit": max_bytes, "size": len(frame)},
        )
    document = _load_object(frame)
    request_id = _readable_id(document)
    try:
        return _decode_envelope(document)
    except RemoteError as exc:
        exc.request_id = request_id
        raise


def _load_object(frame: bytes) -> dict[str, Any]:
    try:
        text = frame.decode("utf-8")
        document = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise BadRequestError(
            f"request is not UTF-8 text (byte {exc.start}); send UTF-8 JSON"
        ) from None
    except RecursionError:
        raise BadRequestError("request JSON is nested too deeply") from None
    except ValueError as exc:
        raise BadRequestError(f"request is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequestError(
            f"a request is a JSON object; got a JSON {_json_kind(document)}"
        )
    return document


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _readable_id(document: Mapping[str, Any]) -> str | None:
    value = document.get("id")
    return value if isinstance(value, str) and _ID_RE.match(value) else None


def _decode_envelope(document: dict[str, Any]) -> Request:
    _check_version(document)
    unknown = [key for key in document if key not in _ENVELOPE_FIELDS]
    if unknown:
        raise BadRequestError(
            f"unknown field {unknown[0]!r} in the request; valid fields are: "
            f"{', '.join(_ENVELOPE_FIELDS)}",
            {"path": unknown[0]},
        )
    request_id = _check_id(document.get("id"))
    op = _check_op(document.get("op"))
    raw_args = _object_field(document, "args")
    args = _validate(OP_ARGS[op], raw_args, "args")
    auth = _validate(Auth, _object_field(document, "auth"), "auth")
    return Request(request_id, op, args, auth, _fingerprint(op, raw_args))


def _check_version(document: Mapping[str, Any]) -> None:
    if "v" not in document:
        raise BadRequestError(
            f"required field 'v' is missing; set it to {PROTOCOL_VERSION}",
            {"path": "v"},
        )
    version = document["v"]
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise VersionMismatchError(
            f"protocol version {_short(version)} is not supported; this master speaks "
            f"version(s) {', '.join(map(str, SUPPORTED_VERSIONS))}",
            {"supported": list(SUPPORTED_VERSIONS), "got": version},
        )


def _check_id(value: object) -> str:
    if value is None:
        raise BadRequestError(
            "required field 'id' is missing; set it to a unique string such as a "
            "uuid4 hex",
            {"path": "id"},
        )
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise BadRequestError(
            "field 'id' must be a string of 1 to 128 letters, digits, '_', '.', "
            f"':' or '-'; got {_short(value)}",
            {"path": "id"},
        )
    return value


def _check_op(value: object) -> Op:
    valid = [op.value for op in Op]
    if value is None:
        raise BadRequestError(
            f"required field 'op' is missing; valid ops: {', '.join(valid)}",
            {"path": "op", "valid": valid},
        )
    if not isinstance(value, str):
        raise BadRequestError(
            f"field 'op' must be a string; got {_short(value)}",
            {"path": "op", "valid": valid},
        )
    try:
        return Op(value)
    except ValueError:
        raise UnknownOpError(
            f"unknown op {_short(value)}; valid ops: {', '.join(valid)}",
            {"op": value[:64], "valid": valid},
        ) from None


def _object_field(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequestError(
            f"field {name!r} must be a JSON object; got a JSON {_json_kind(value)}",
            {"path": name},
        )
    return value


def _validate(cls: type[Any], value: dict[str, Any], where: str) -> Any:
    try:
        return _adapter(cls).validate_python(value)
    except PydanticValidationError as exc:
        faults = [_fault(error, cls, where) for error in exc.errors(include_url=False)]
        message = "; ".join(f"{f['path']}: {f['message']}" for f in faults)
        raise BadRequestError(
            message, {"path": faults[0]["path"], "faults": faults}
        ) from None


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def _fault(error: Any, cls: type[Any], where: str) -> dict[str, str]:
    path = json_path((where, *error["loc"]))
    kind = error["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        valid = ", ".join(cls.__dataclass_fields__) or "none"
        return {"path": path, "message": f"unknown field; valid fields: {valid}"}
    if kind in ("missing", "missing_argument"):
        return {"path": path, "message": "required field is missing"}
    return {"path": path, "message": f"{error['msg']}; got {_short(error['input'])}"}


def _fingerprint(op: Op, args: Mapping[str, Any]) -> str:
    canonical = json.dumps([op.value, args], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _json_kind(value: object) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def _short(value: object) -> str:
    text = json.dumps(value) if _is_json(value) else repr(value)
    return text if len(text) <= 64 else text[:61] + "..."


def _is_json(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)


def encode_request(
    request_id: str,
    op: Op | str,
    args: Mapping[str, Any] | None = None,
    auth: Mapping[str, Any] | None = None,
) -> bytes:
    """The bytes of a request frame. Values must be JSON-serialisable."""
    document: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": request_id, "op": op}
    document["args"] = dict(args or {})
    if auth:
        document["auth"] = dict(auth)
    return _dump(document)


def encode_result(request_id: str, result: Mapping[str, Any]) -> bytes:
    """The bytes of a success reply. Raises ``TypeError`` or ``ValueError`` if
    ``result`` is not JSON-serialisable (NaN and infinities are refused)."""
    return _dump(
        {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result}
    )


def encode_error(request_id: str | None, error: RemoteError) -> bytes:
    """The bytes of an error reply; ``request_id`` is ``None`` when unreadable.

    Details that are not JSON-serialisable are replaced by their ``repr``.
    """
    body = {"type": error.type, "message": error.message, "details": error.details}
    document = {"v": PROTOCOL_VERSION, "id": request_id, "ok": False, "error": body}
    try:
        return _dump(document)
    except (TypeError, ValueError):
        body["details"] = {key: repr(value) for key, value in error.details.items()}
        return _dump(document)


def _dump(document: Mapping[str, Any]) -> bytes:
    text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def decode_reply(frame: bytes) -> Reply:
    """Decode a reply frame. Raises :class:`BadReply` saying what is wrong."""
    try:
        document = json.loads(frame.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadReply(f"not UTF-8 JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("v") not in SUPPORTED_VERSIONS:
        raise BadReply("not a JSON object of a supported protocol version")
    reply_id = document.get("id")
    if reply_id is not None and not isinstance(reply_id, str):
        raise BadReply(f"'id' must be a string or null; got {_short(reply_id)}")
    ok = document.get("ok")
    if ok is True and isinstance(document.get("result"), dict):
        return Reply(reply_id, document["result"], None)
    if ok is False and isinstance(document.get("error"), dict):
        return Reply(reply_id, None, _error_of(document["error"], reply_id))
    raise BadReply(
        "expected 'ok': true with a 'result' object or 'ok': false with "
        "an 'error' object"
    )


def _error_of(body: Mapping[str, Any], reply_id: str | None) -> RemoteError:
    error_type, message = body.get("type"), body.get("message")
    details = body.get("details") or {}
    if not isinstance(error_type, str) or not isinstance(message, str):
        raise BadReply("'error' needs a string 'type' and a string 'message'")
    if not isinstance(details, dict):
        raise BadReply("'error.details' must be an object")
    return remote_error(error_type, message, details, reply_id)


def error_for_exception(exc: Exception, request: Request | None = None) -> RemoteError:
    """The error reply for an exception raised while handling ``request``.

    A :class:`RemoteError` stands for itself; the core's errors map to their types
    (``InvalidZApp`` and ``NotAZApp`` to ``InvalidZApp`` with the faults,
    ``NotFound`` to ``NotFound``, ``IllegalTransition`` to ``Conflict``,
    other ``InvalidInput`` to ``BadRequest``) and ``DatabaseUnavailable`` to
    ``Unavailable``; anything else is ``Internal``,
    whose message names the request id to look for in the master's log and never
    carries the exception's text.
    """
    if isinstance(exc, RemoteError):
        return exc
    if isinstance(exc, InvalidZApp):
        faults = [{"path": f.path, "message": f.message} for f in exc.faults]
        return InvalidZAppError(str(exc), {"faults": faults})
    if isinstance(exc, NotAZApp):
        return InvalidZAppError(str(exc), {"faults": []})
    if isinstance(exc, NotFound):
        return NotFoundError(str(exc), {"kind": exc.kind, "key": exc.key})
    if isinstance(exc, IllegalTransition):
        details = {"subject": exc.subject, "old": exc.old, "new": exc.new}
        return ConflictError(str(exc), details)
    if isinstance(exc, InvalidInput):
        return BadRequestError(str(exc))
    if isinstance(exc, DatabaseUnavailable):
        return UnavailableError(f"{exc}; retry later")
    where = f"request {request.id} ({request.op.value})" if request else "a request"
    return InternalError(
        f"internal error of the master while handling {where}; its log has the "
        "cause under this request id"
    )
