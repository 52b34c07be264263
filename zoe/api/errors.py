"""Errors of the REST API and how each becomes a JSON reply.

Every error reply has the body ``{"error": {"type", "message", "details"}}`` and
never a stack trace. :func:`install_handlers` maps:

=================================  ======  ==============
raised                             status  ``type``
=================================  ======  ==============
:class:`ApiError`                  its own its own
an HTTP error of Starlette         its own ``BadRequest``, ``NotFound``,
                                           ``MethodNotAllowed``, ...
request validation (FastAPI)       422     ``Invalid``
:class:`~zoe.core.errors.InvalidZApp`  422  ``InvalidZApp``
other :class:`InvalidInput`        422     ``Invalid``
the master's ``BadRequestError``   422     ``Invalid``
:class:`NotFound`, ``NotFoundError``  404  ``NotFound``
``ConflictError``                  409     ``Conflict``
the master's ``TooLargeError``     413     ``TooLarge``
database or master unreachable     503     ``Unavailable``
anything else                      500     ``Internal`` (logged, not shown)
=================================  ======  ==============
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from zoe.core.errors import InvalidInput, InvalidZApp, NotFound, ZoeError
from zoe.core.zapp import json_path
from zoe.live.errors import DatabaseUnavailable
from zoe.live.protocol_errors import (
    BadRequestError,
    ConflictError,
    InvalidZAppError,
    MasterUnavailable,
    NotFoundError,
    TooLargeError,
    UnavailableError,
)

log = logging.getLogger(__name__)

PageError = Callable[[Request, int, str], Response]

_HTTP_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "TooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    503: "Unavailable",
}


class ApiError(Exception):
    """An error reply: HTTP ``status``, a ``type``, a message that says what to do."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


def unauthorized(message: str) -> ApiError:
    """401 with the header that tells a client to send a bearer token."""
    return ApiError(
        401, "Unauthorized", message, headers={"WWW-Authenticate": "Bearer"}
    )


def not_found(kind: str, key: object) -> ApiError:
    """404 for an object that does not exist or that the caller may not see."""
    return ApiError(
        404, "NotFound", f"{kind} {str(key)!r} not found", {"kind": kind, "key": key}
    )


def error_body(type_: str, message: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of an error reply."""
    return {"error": {"type": type_, "message": message, "details": dict(details)}}


def _reply(
    status: int,
    type_: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(type_, message, details or {}), status, headers=dict(headers or {})
    )


def _for(request: Request, reply: Response) -> Response:
    """``reply``, or for a page of the web interface the same error as HTML."""
    render: PageError | None = getattr(request.app.state, "page_error", None)
    if render is None or request.url.path.startswith("/api/"):
        return reply
    if not isinstance(reply, JSONResponse):  # pragma: no cover - all are JSON
        return reply
    message = json.loads(bytes(reply.body))["error"]["message"]
    return render(request, reply.status_code, message)


def zapp_faults_reply(exc: InvalidZApp, prefix: str = "") -> JSONResponse:
    """422 listing every fault of a ZApp with its JSON path."""
    faults = [
        {
            "path": f"{prefix}{f.path}" if f.path else prefix.rstrip("."),
            "message": f.message,
        }
        for f in exc.faults
    ]
    message = "invalid ZApp: " + "; ".join(
        f"{f['path']}: {f['message']}" for f in faults
    )
    return _reply(422, "InvalidZApp", message, {"faults": faults})


async def _api_error_json(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiError):  # registered for ApiError only
        raise exc
    return _reply(exc.status, exc.type, exc.message, exc.details, exc.headers)


async def _http_error_json(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # registered for it only
        raise exc
    type_ = _HTTP_TYPES.get(exc.status_code, "Error")
    return _reply(exc.status_code, type_, str(exc.detail), {}, exc.headers)


async def _validation_error_json(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for it only
        raise exc
    faults = [
        {"path": json_path(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    message = "; ".join(f"{f['path']}: {f['message']}" for f in faults)
    return _reply(422, "Invalid", message or "invalid request", {"faults": faults})


async def _zoe_error_json(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidZApp):
        return zapp_faults_reply(exc, "zapp.")
    if isinstance(exc, InvalidZAppError):
        return _reply(422, "InvalidZApp", exc.message, exc.details)
    if isinstance(exc, NotFound):
        return _reply(404, "NotFound", str(exc), {"kind": exc.kind, "key": exc.key})
    if isinstance(exc, NotFoundError):
        return _reply(404, "NotFound", exc.message, exc.details)
    if isinstance(exc, ConflictError):
        return _reply(409, "Conflict", exc.message, exc.details)
    if isinstance(exc, TooLargeError):
        return _reply(413, "TooLarge", exc.message, exc.details)
    if isinstance(exc, BadRequestError):
        return _reply(422, "Invalid", exc.message, exc.details)
    if isinstance(exc, InvalidInput):
        return _reply(422, "Invalid", str(exc))
    if isinstance(exc, DatabaseUnavailable):
        return _reply(503, "Unavailable", "the database cannot be reached; retry later")
    if isinstance(exc, (MasterUnavailable, UnavailableError)):
        return _reply(503, "Unavailable", "the master cannot be reached; retry later")
    return await _internal_error_json(_request, exc)


async def _internal_error_json(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "api: %s %s failed: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return _reply(500, "Internal", "an internal error; the server's log has the cause")


def _either(json_handler: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        return _for(request, await json_handler(request, exc))

    return handler


Handler = Callable[[Request, Exception], Awaitable[Response]]


def install_handlers(app: FastAPI, page_error: PageError | None = None) -> None:
    """Register the handlers that turn every error into a JSON error reply.

    With ``page_error``, an error outside ``/api/`` is rendered by it instead.
    """
    app.state.page_error = page_error
    app.add_exception_handler(ApiError, _either(_api_error_json))
    app.add_exception_handler(StarletteHTTPException, _either(_http_error_json))
    app.add_exception_handler(RequestValidationError, _either(_validation_error_json))
    app.add_exception_handler(ZoeError, _either(_zoe_error_json))
    app.add_exception_handler(Exception, _either(_internal_error_json))
