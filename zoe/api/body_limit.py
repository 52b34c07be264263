"""A bound on the size of every request body, enforced while it is read.

:class:`BodyLimit` wraps the routes: a body whose declared length is over the
limit is refused at its first read, and one sent without a length (chunked) as
soon as what came in passes it, so an oversized request never sits whole in
memory. The refusal is an HTTP 413 raised where the body is read, so the
application's own handlers answer it (the JSON error of the API, a page of the
web interface). Routes keep their own, tighter limits (a ZApp, a specification).

It must sit inside any middleware that reads the body in a task group of its own
(Starlette's ``BaseHTTPMiddleware``): an exception raised there reaches the route
wrapped in an exception group, which FastAPI answers 400.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 2_000_000
"""The most bytes of any request body: a ZApp of the largest size a submission
takes (1,000,000 bytes of JSON), sent as JSON, a form or a file, fits."""


class BodyLimit:
    """ASGI middleware refusing (413) a request body over ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared is not None and declared > self.limit:
                raise self._too_large(declared)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._too_large(received)
            return message

        await self.app(scope, limited, send)

    def _too_large(self, size: int) -> HTTPException:
        return HTTPException(
            413,
            f"the request body has {size} bytes or more; at most {self.limit} are "
            "accepted: send less",
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None
