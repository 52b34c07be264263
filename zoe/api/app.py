"""The FastAPI application: routers, error handlers, security headers, lifespan.

Read top to bottom, :func:`create_app` is the whole stack: the state (pools of
database connections and master sockets) and the experiment worker, opened in
the lifespan, the bound on request bodies (:mod:`zoe.api.body_limit`), the
security headers on every reply, the handlers that turn every error into JSON, and
the routers under ``/api/v1``, then the web interface (:mod:`zoe.api.web`,
:mod:`zoe.api.web_experiments`) and its static files. The OpenAPI document is
``/api/v1/openapi.json``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any

from anyio import to_thread
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from zoe import __version__
from zoe.api import (
    routes_executions,
    routes_experiments,
    routes_system,
    routes_users,
    schemas,
    web,
    web_experiments,
)
from zoe.api.body_limit import BodyLimit
from zoe.api.errors import install_handlers
from zoe.api.experiment_worker import ExperimentWorker
from zoe.api.state import ApiState

if TYPE_CHECKING:
    from zoe.api.config import ApiConfig

PREFIX = "/api/v1"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.ErrorBody, "description": description}
    for status, description in {
        401: "No token, or a wrong or expired one",
        403: "The caller's role does not allow it",
        404: "No such object (or not the caller's)",
        409: "The state forbids it: a quota, a name taken, the last administrator",
        422: "Invalid input; details.faults lists each fault with its path",
        503: "The database or the master cannot be reached",
    }.items()
}


def create_app(config: ApiConfig) -> FastAPI:
    """The application of one API process; it connects when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ApiState(config)
        await to_thread.run_sync(state.migrate)
        app.state.api = state
        worker = ExperimentWorker(config)
        app.state.experiments = worker
        worker.start()
        try:
            yield
        finally:
            await to_thread.run_sync(worker.stop)
            state.close()

    app = FastAPI(
        title="Zoe",
        version=__version__,
        description="Schedule container-based analytic applications (ZApps).",
        lifespan=lifespan,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(BodyLimit)  # inside the next (see zoe.api.body_limit)
    app.middleware("http")(_security_headers)
    install_handlers(app, web.error_page)
    app.add_exception_handler(web.LoginRequired, web.login_required)
    for router in (
        routes_system.router,
        routes_executions.router,
        routes_users.router,
        routes_experiments.router,
    ):
        app.include_router(router, prefix=PREFIX, responses=_ERRORS)
    app.include_router(web.router)
    app.include_router(web_experiments.router)
    static = resources.files("zoe.api").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
