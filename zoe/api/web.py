"""The web interface: server-rendered pages with htmx, on the same state as the API.

A session is a bearer token of the ``tokens`` table (name ``web``, 12 hours) kept
in the ``zoe_session`` cookie: ``HttpOnly``, ``SameSite=Strict``, ``Secure`` over
HTTPS. Every form that changes something carries a CSRF token derived from the
session (the SHA-256 of ``"csrf:" + session token``); a POST without the right one
is refused with 403. The pages only read and call what the REST API offers, with
the same rules: a user sees their own executions, an administrator all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid
from http import HTTPStatus
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from zoe.api.deps import Caller, State
from zoe.api.errors import ApiError
from zoe.api.logstream import OutputTarget, open_output
from zoe.api.routes_executions import (
    MAX_ZAPP_BYTES,
    _owned,
    _owned_service,
    zapp_size,
)
from zoe.api.security import (
    UNKNOWN_USER_HASH,
    new_token,
    token_digest,
    verify_password,
)
from zoe.api.submission import notify, store
from zoe.core.errors import InvalidInput, InvalidZApp, NotAZApp, NotFound, ZoeError
from zoe.core.execution import ExecutionStatus
from zoe.core.zapp_import import load_zapp
from zoe.live.db import Role, Transaction, UserRecord
from zoe.live.db.accounts import create_token, revoke_token, user_of_token
from zoe.live.protocol_errors import ConflictError
from zoe.live.replies import execution_summary, list_page

log = logging.getLogger(__name__)

COOKIE = "zoe_session"
LOGIN_COOKIE = "zoe_login"
SESSION_HOURS = 12
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)

templates = Jinja2Templates(
    directory=str(resources.files("zoe.api").joinpath("templates"))
)
router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """No valid session: the handler sends the browser to the login page."""


def csrf_of(session_token: str) -> str:
    """The CSRF token of a session: known only to whoever holds the session."""
    return hashlib.sha256(f"csrf:{session_token}".encode()).hexdigest()


async def web_caller(request: Request, state: State) -> Caller:
    """The user of the session cookie; :class:`LoginRequired` without one."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequired
    digest = token_digest(token)
    user = await state.db(
        lambda repo: repo.transaction(lambda tx: user_of_token(tx, digest))
    )
    if user is None:
        raise LoginRequired
    return Caller(user, digest)


WebCaller = Annotated[Caller, Depends(web_caller)]


def check_csrf(request: Request, sent: str | None) -> None:
    """403 unless ``sent`` is the CSRF token of the request's session."""
    session = request.cookies.get(COOKIE, "")
    if not sent or not session or not hmac.compare_digest(sent, csrf_of(session)):
        raise ApiError(403, "Forbidden", "missing or wrong CSRF token; reload the page")


def page(
    request: Request,
    template: str,
    caller: Caller | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a template with the caller and the CSRF token of the session."""
    session = request.cookies.get(COOKIE, "")
    context.update(caller=caller, csrf=csrf_of(session) if session else "")
    response = templates.TemplateResponse(
        request, template, context, status_code=status
    )
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    """The login form, with a fresh login token in a cookie and in the form.

    The login form is protected like the others: a POST must carry the token of
    the cookie, which another site can neither read nor set.
    """
    return _login_form(request, 200)


def _login_form(request: Request, status: int, **context: Any) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or new_token()
    response = page(
        request, "login.html", None, status, login_csrf=csrf_of(nonce), **context
    )
    _set_cookie(response, request, LOGIN_COOKIE, nonce, 3600)
    return response


def _login_token_matches(request: Request, sent: str) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    return bool(nonce) and bool(sent) and hmac.compare_digest(sent, csrf_of(nonce))


def _set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.post("/login")
async def login(
    request: Request,
    state: State,
    user: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    login_csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Check the password; open a session and go to the executions."""
    if not _login_token_matches(request, login_csrf):
        error = "The login form expired; please log in again."
        return _login_form(request, 403, error=error, user=user)
    token = new_token()
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=SESSION_HOURS)

    def work(tx: Transaction) -> UserRecord | None:
        try:
            found = tx.get_user(user)
        except NotFound:
            verify_password(password, UNKNOWN_USER_HASH)  # same time as a real check
            return None
        if not verify_password(password, found.password_hash):
            return None
        create_token(tx, found.name, token_digest(token), "web", expires)
        return found

    if "\x00" in user or await state.db(lambda r: r.transaction(work)) is None:
        return _login_form(request, 401, error="Wrong user or password.", user=user)
    response = RedirectResponse("/", status_code=303)
    _set_cookie(response, request, COOKIE, token, SESSION_HOURS * 3600)
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout(
    request: Request, state: State, caller: WebCaller, csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(request, csrf)
    digest = caller.token_digest
    await state.db(lambda r: r.transaction(lambda tx: revoke_token(tx, digest)))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


async def _rows(state: State, caller: Caller) -> list[dict[str, Any]]:
    user = None if caller.is_admin else caller.name

    def work(tx: Transaction) -> Any:
        return list_page(tx, user=user, statuses=None, before_id=None, limit=100)[0]

    records = await state.db(lambda r: r.transaction(work))
    return [execution_summary(r) for r in records]


@router.get("/")
async def executions(request: Request, state: State, caller: WebCaller) -> Response:
    rows = await _rows(state, caller)
    return page(request, "executions.html", caller, executions=rows)


@router.get("/fragments/executions")
async def execution_rows(request: Request, state: State, caller: WebCaller) -> Response:
    rows = await _rows(state, caller)
    return page(request, "_rows.html", caller, executions=rows)


async def _execution_context(
    state: State, caller: Caller, execution_id: int
) -> dict[str, Any]:
    detail = await _owned(state, caller, execution_id)
    return {
        "e": detail,
        "final": ExecutionStatus(detail["status"]).is_final,
        "may_act": caller.user.role is not Role.GUEST,
    }


@router.get("/executions/{execution_id}")
async def execution(
    request: Request, state: State, caller: WebCaller, execution_id: int
) -> Response:
    context = await _execution_context(state, caller, execution_id)
    return page(request, "execution.html", caller, **context)


@router.get("/fragments/executions/{execution_id}")
async def execution_fragment(
    request: Request, state: State, caller: WebCaller, execution_id: int
) -> Response:
    context = await _execution_context(state, caller, execution_id)
    return page(request, "_execution.html", caller, **context)


@router.get("/services/{service_id}/logs")
async def service_logs(
    request: Request,
    state: State,
    caller: WebCaller,
    service_id: int,
    follow: bool = False,
    tail: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> Response:
    """A service's output as text, as the API's, for the execution page."""
    service = await _owned_service(state, caller, service_id)
    target = OutputTarget(service["execution_id"], service["name"], service_id)
    return await open_output(request, state, target, follow=follow, tail=tail)


async def _acted_on(
    request: Request, caller: Caller, state: State, execution_id: int, csrf: str
) -> dict[str, Any]:
    """The page context of an execution the caller acts on: CSRF checked, 404 if
    it is not theirs, 403 for a guest."""
    check_csrf(request, csrf)
    context = await _execution_context(state, caller, execution_id)
    if caller.user.role is Role.GUEST:
        raise ApiError(403, "Forbidden", "guests may only read")
    return context


@router.post("/executions/{execution_id}/terminate")
async def terminate(
    request: Request,
    state: State,
    caller: WebCaller,
    execution_id: int,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    await _acted_on(request, caller, state, execution_id, csrf)
    with contextlib.suppress(ConflictError):  # it ended meanwhile: the page says
        await state.master_as(
            caller.name, lambda client: client.terminate(execution_id)
        )
    return RedirectResponse(f"/executions/{execution_id}", status_code=303)


@router.post("/executions/{execution_id}/delete")
async def delete(
    request: Request,
    state: State,
    caller: WebCaller,
    execution_id: int,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Delete an execution in a final status and go back to the list."""
    context = await _acted_on(request, caller, state, execution_id, csrf)
    if not context["final"]:
        raise ApiError(
            409,
            "Conflict",
            f"execution {execution_id} is {context['e']['status']}: terminate it "
            "first, only executions in a final status are deleted",
        )
    await state.master_as(caller.name, lambda client: client.delete(execution_id))
    return RedirectResponse("/", status_code=303)


@router.get("/submit")
async def submit_page(request: Request, caller: WebCaller) -> Response:
    return page(request, "submit.html", caller)


@router.post("/submit")
async def submit(
    request: Request,
    state: State,
    caller: WebCaller,
    name: Annotated[str, Form(max_length=128)] = "",
    zapp: Annotated[str, Form(max_length=MAX_ZAPP_BYTES)] = "",
    file: UploadFile | None = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Validate, store and notify; on a fault, the form again with the faults."""
    check_csrf(request, csrf)
    if caller.user.role is Role.GUEST:
        raise ApiError(403, "Forbidden", "guests may only read")
    if file is not None and file.filename:
        raw = await file.read(MAX_ZAPP_BYTES + 1)
        if len(raw) > MAX_ZAPP_BYTES:
            error = f"the file has over {MAX_ZAPP_BYTES} bytes: make the ZApp smaller"
            return page(
                request, "submit.html", caller, 413, error=error, name=name, zapp=""
            )
        zapp = raw.decode("utf-8", errors="replace")
    again = {"name": name, "zapp": zapp}
    try:
        if not name.strip():
            raise ZoeError("give the execution a name")
        try:
            parsed = json.loads(zapp)
        except RecursionError:
            raise ZoeError("the JSON is nested too deeply to be a ZApp") from None
        document = load_zapp(parsed)
        if zapp_size(document) > MAX_ZAPP_BYTES:
            raise ZoeError(
                f"the ZApp has over {MAX_ZAPP_BYTES} bytes of JSON as version 4: "
                "make it smaller"
            )
    except InvalidZApp as exc:
        faults = [{"path": f.path, "message": f.message} for f in exc.faults]
        return page(request, "submit.html", caller, 422, faults=faults, **again)
    except (ValueError, NotAZApp, ZoeError) as exc:
        message = f"not valid JSON: {exc}" if isinstance(exc, ValueError) else str(exc)
        return page(request, "submit.html", caller, 422, error=message, **again)
    request_id = uuid.uuid4().hex
    try:
        eid = await state.db(
            lambda r: store(
                r,
                caller.name,
                name,
                document,
                request_id,
                max_services=state.config.max_services,
            )
        )
    except InvalidZApp as exc:
        faults = [{"path": f.path, "message": f.message} for f in exc.faults]
        return page(request, "submit.html", caller, 422, faults=faults, **again)
    except ConflictError as exc:
        return page(request, "submit.html", caller, 409, error=exc.message, **again)
    except InvalidInput as exc:  # text the database cannot store, such as a NUL
        return page(request, "submit.html", caller, 422, error=str(exc), **again)
    body = document.to_dict()
    await state.master(lambda c: notify(c, caller.name, name, body, request_id))
    return RedirectResponse(f"/executions/{eid}", status_code=303)


@router.get("/cluster")
async def cluster(request: Request, state: State, caller: WebCaller) -> Response:
    try:
        nodes = await state.master(lambda client: client.cluster())
        scheduler = await state.master(lambda client: client.scheduler())
    except ZoeError:
        message = "The master cannot be reached now; try again later."
        return page(request, "cluster.html", caller, 503, unavailable=message)
    return page(request, "cluster.html", caller, cluster=nodes, scheduler=scheduler)


async def login_required(request: Request, exc: Exception) -> Response:
    """Send the browser to the login page (htmx: by its redirect header)."""
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": "/login"})
    return RedirectResponse("/login", status_code=303)


def error_page(request: Request, status: int, message: str) -> Response:
    """An error as an HTML page, titled by the status's name (``404 Not Found``)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return page(
        request,
        "error.html",
        None,
        status,
        code=status,
        phrase=phrase,
        message=message,
    )
