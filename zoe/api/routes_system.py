"""Info, health, tokens, ZApp validation, and the cluster and scheduler status."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from zoe import __version__
from zoe.api import schemas
from zoe.api.deps import Reader, State
from zoe.api.errors import unauthorized
from zoe.api.routes_executions import MAX_ZAPP_BYTES, zapp_size
from zoe.api.security import (
    UNKNOWN_USER_HASH,
    new_token,
    token_digest,
    verify_password,
)
from zoe.core.errors import InvalidZApp, NotAZApp, NotFound
from zoe.core.zapp_import import import_zapp
from zoe.live.db import Transaction, UserRecord
from zoe.live.db.accounts import create_token, revoke_token
from zoe.live.db.submissions import check_service_limit
from zoe.live.replies import iso

API_VERSION = 1

router = APIRouter()


@router.get("/info", response_model=schemas.Info, tags=["system"])
async def info(state: State) -> Any:
    """What serves this API; needs no token."""
    return {
        "name": "zoe",
        "version": __version__,
        "api_version": API_VERSION,
        "deployment": state.config.deployment,
    }


@router.get(
    "/health",
    response_model=schemas.Health,
    tags=["system"],
    responses={503: {"model": schemas.Health}},
)
async def health(state: State) -> Any:
    """200 with ``status`` ``ok`` when the database and the master both answer;
    503 with ``degraded`` otherwise, ``database`` and ``master`` saying which."""

    def database(repo: Any) -> bool:
        repo.transaction(lambda tx: tx.cur.execute("SELECT 1"))
        return True

    def master(client: Any) -> bool:
        client.ping()
        return True

    db_ok = await _probe(state.db(database))
    master_ok = await _probe(state.master(master))
    healthy = db_ok and master_ok
    body = {
        "status": "ok" if healthy else "degraded",
        "database": db_ok,
        "master": master_ok,
    }
    return JSONResponse(body, 200 if healthy else 503)


async def _probe(call: Any) -> bool:
    from zoe.core.errors import ZoeError

    try:
        return bool(await call)
    except ZoeError:
        return False


@router.post("/tokens", status_code=201, response_model=schemas.TokenOut, tags=["auth"])
async def login(state: State, body: schemas.TokenIn) -> Any:
    """A new bearer token for a user name and password; 401 if they are wrong."""
    days = body.lifetime_days or state.config.token_lifetime_days
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    token = new_token()

    def work(tx: Transaction) -> UserRecord | None:
        try:
            user = tx.get_user(body.user)
        except NotFound:
            verify_password(body.password, UNKNOWN_USER_HASH)  # same time as a check
            return None
        if not verify_password(body.password, user.password_hash):
            return None
        create_token(tx, user.name, token_digest(token), body.name, expires)
        return user

    user = await state.db(lambda repo: repo.transaction(work))
    if user is None:
        raise unauthorized("wrong user name or password")
    return {
        "token": token,
        "name": body.name,
        "user": user.name,
        "role": user.role,
        "expires_time": iso(expires),
    }


@router.delete("/tokens/current", status_code=204, tags=["auth"])
async def logout(state: State, caller: Reader) -> Response:
    """Revoke the token of this request."""
    digest = caller.token_digest
    await state.db(lambda repo: repo.transaction(lambda tx: revoke_token(tx, digest)))
    return Response(status_code=204)


@router.post("/zapps/validate", response_model=schemas.ValidateOut, tags=["zapps"])
async def validate(
    request: Request,
    state: State,
    caller: Reader,
    document: Annotated[dict[str, Any], Body(description="A ZApp, any version")],
) -> Any:
    """Check a ZApp as a submission would; ``faults`` lists each problem with
    its JSON path, including a size or a number of services over what a
    submission may have."""
    body_size = len(await request.body())
    if body_size > MAX_ZAPP_BYTES:
        return _invalid([_size_fault(body_size, "")])
    try:
        result = import_zapp(document)
    except InvalidZApp as exc:
        faults = [{"path": f.path, "message": f.message} for f in exc.faults]
        return _invalid(faults)
    except NotAZApp as exc:
        return _invalid([{"path": "", "message": str(exc)}])
    size = zapp_size(result.zapp)
    if size > MAX_ZAPP_BYTES:
        return _invalid([_size_fault(size, " as version 4")])
    try:
        check_service_limit(result.zapp, state.config.max_services)
    except InvalidZApp as exc:
        return _invalid([{"path": f.path, "message": f.message} for f in exc.faults])
    return {
        "valid": True,
        "version": result.version,
        "notes": list(result.notes),
        "faults": [],
        "zapp": result.zapp.to_dict(),
    }


def _size_fault(size: int, form: str) -> dict[str, str]:
    message = (
        f"the ZApp has {size} bytes of JSON{form}; a submission may have at most "
        f"{MAX_ZAPP_BYTES}: make it smaller"
    )
    return {"path": "", "message": message}


def _invalid(faults: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "valid": False,
        "version": None,
        "notes": [],
        "faults": faults,
        "zapp": None,
    }


@router.get("/cluster", response_model=schemas.ClusterOut, tags=["status"])
async def cluster(state: State, caller: Reader) -> Any:
    """The nodes, their capacity and what is free on each (from the master)."""
    return await state.master(lambda client: client.cluster())


@router.get("/scheduler", response_model=schemas.SchedulerOut, tags=["status"])
async def scheduler(state: State, caller: Reader) -> Any:
    """The policy and the queue in policy order (from the master).

    A user other than an administrator sees only their own executions in the
    queue; ``queue_length`` counts everyone's.
    """
    result: dict[str, Any] = await state.master(lambda client: client.scheduler())
    if not caller.is_admin:
        name = caller.name

        def own(tx: Transaction) -> set[int]:
            tx.cur.execute(
                "SELECT e.id FROM executions AS e JOIN users AS u ON u.id = e.user_id "
                "WHERE u.name = %s AND e.id = ANY(%s)",
                (name, result["queue"]),
            )
            return {int(row[0]) for row in tx.cur.fetchall()}

        mine = await state.db(lambda repo: repo.transaction(own))
        result["queue"] = [eid for eid in result["queue"] if eid in mine]
    return result
