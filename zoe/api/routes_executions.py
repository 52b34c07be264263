"""``/api/v1/executions`` and ``/api/v1/services``: submit, read, terminate, delete.

Reads go to PostgreSQL directly; terminations and deletions go through the
master, which owns the containers. An execution (or service) of another user is
answered 404 to anyone but an administrator, as if it did not exist.

A submission's body, and its ZApp once converted to version 4, may have at most
:data:`MAX_ZAPP_BYTES` bytes of JSON (the master's protocol refuses a larger
request): a larger one is answered 413 and nothing is stored.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from zoe.api import schemas
from zoe.api.deps import Caller, Reader, State, Writer
from zoe.api.errors import ApiError, not_found
from zoe.api.logstream import OPENAPI_TEXT, OutputTarget, open_output
from zoe.api.paging import one_page
from zoe.api.submission import notify, store
from zoe.core.errors import NotAZApp, NotFound
from zoe.core.execution import ExecutionStatus
from zoe.core.zapp import ZApp
from zoe.core.zapp_import import load_zapp
from zoe.live.db import ExecutionRecord, Repository, ServiceRecord, Transaction
from zoe.live.output import SECONDS_PATTERN
from zoe.live.replies import execution_detail, execution_summary, list_page

log = logging.getLogger(__name__)

router = APIRouter(tags=["executions"])
MAX_ID = 2**63 - 1
ExecutionId = Annotated[int, Path(ge=1, le=MAX_ID)]
ServiceId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_ZAPP_BYTES = 1_000_000
"""The most bytes of a submission's body, and of its ZApp as version 4 JSON."""


def zapp_size(zapp: ZApp) -> int:
    """The bytes of ``zapp`` as compact version 4 JSON, as sent to the master."""
    document = json.dumps(zapp.to_dict(), separators=(",", ":"), ensure_ascii=False)
    return len(document.encode("utf-8"))


def too_large(what: str, size: int) -> ApiError:
    """413 for a ZApp submission of ``size`` bytes, over :data:`MAX_ZAPP_BYTES`."""
    return ApiError(
        413,
        "TooLarge",
        f"{what} has {size} bytes of JSON; at most {MAX_ZAPP_BYTES} are accepted: "
        "make the ZApp smaller",
        {"limit": MAX_ZAPP_BYTES, "size": size},
    )


async def limited_body(request: Request) -> None:
    """Refuse (413) a ZApp submission whose body is over :data:`MAX_ZAPP_BYTES`.

    The body is read already, to parse it; one over
    :data:`~zoe.api.body_limit.MAX_BODY_BYTES` was refused while it came in.
    """
    size = len(await request.body())
    if size > MAX_ZAPP_BYTES:
        raise too_large("the request", size)


LimitedBody = Depends(limited_body)


async def _owned(state: State, caller: Caller, execution_id: int) -> Any:
    """The detail of an execution the caller may see; 404 otherwise."""

    def work(tx: Transaction) -> tuple[ExecutionRecord, list[ServiceRecord]]:
        record = tx.get_execution(execution_id)
        return record, tx.services_of([execution_id]).get(execution_id, [])

    try:
        record, services = await state.db(lambda repo: repo.transaction(work))
    except NotFound:
        raise not_found("execution", execution_id) from None
    if not caller.may_see(record.user_name):
        raise not_found("execution", execution_id)
    detail = execution_detail(record, services)
    for service in detail["services"]:
        service["execution_id"] = execution_id
    return detail


@router.get("/executions", response_model=schemas.ExecutionPage)
async def list_executions(
    state: State,
    caller: Reader,
    status: Annotated[list[ExecutionStatus] | None, Query()] = None,
    user: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> Any:
    """Executions newest first; a user sees their own, an administrator all.

    ``user`` naming another user is 403 for anyone but an administrator.
    """
    return await one_page(
        state,
        caller,
        "executions",
        list_page,
        execution_summary,
        user=user,
        statuses=status,
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/executions",
    status_code=202,
    response_model=schemas.SubmitOut,
    dependencies=[LimitedBody],
    responses={413: {"model": schemas.ErrorBody, "description": "Over 1,000,000 B"}},
)
async def submit(state: State, caller: Writer, body: schemas.SubmitIn) -> Any:
    """Store a submission, then tell the master; 409 if a quota is reached.

    The reply says whether the master was told; if not, the execution waits in
    the database and the master takes it up when it runs again. The same
    ``request_id`` again answers the execution it made, with its status now.
    """
    try:
        zapp = load_zapp(body.zapp)
    except NotAZApp as exc:
        fault = {"path": "zapp", "message": str(exc)}
        raise ApiError(
            422, "InvalidZApp", f"invalid ZApp: zapp: {exc}", {"faults": [fault]}
        ) from None
    size = zapp_size(zapp)
    if size > MAX_ZAPP_BYTES:
        raise too_large("the ZApp, as version 4,", size)
    request_id = body.request_id or uuid.uuid4().hex

    def write(repo: Repository) -> tuple[int, ExecutionStatus]:
        execution_id = store(
            repo,
            caller.name,
            body.name,
            zapp,
            request_id,
            max_services=state.config.max_services,
        )
        record = repo.transaction(lambda tx: tx.get_execution(execution_id))
        return execution_id, ExecutionStatus(record.status)

    execution_id, status = await state.db(write)
    document = zapp.to_dict()
    told = await state.master(
        lambda client: notify(client, caller.name, body.name, document, request_id)
    )
    log.info("execution %d: submitted by %s through the API", execution_id, caller.name)
    message = (
        "submitted; the master has it"
        if told
        else "submitted and stored; the master cannot be reached now and will take "
        "it up when it runs"
    )
    return {
        "id": execution_id,
        "status": status,
        "master": "notified" if told else "unreachable",
        "message": message,
    }


@router.get("/executions/{execution_id}", response_model=schemas.ExecutionDetail)
async def get_execution(state: State, caller: Reader, execution_id: ExecutionId) -> Any:
    """One execution with its ZApp and services."""
    return await _owned(state, caller, execution_id)


@router.get(
    "/executions/{execution_id}/endpoints", response_model=list[schemas.Endpoint]
)
async def endpoints(state: State, caller: Reader, execution_id: ExecutionId) -> Any:
    """The ports of the execution's services, with their addresses and URLs.

    ``address`` (``host:port``) and ``url`` are ``null`` until the backend
    gave the address of a running service, and once the service ended.
    """
    detail = await _owned(state, caller, execution_id)
    return [
        {
            "service": s["name"],
            "port": p["name"],
            "address": p["address"],
            "url": p["url"],
        }
        for s in detail["services"]
        for p in s["ports"]
    ]


@router.post(
    "/executions/{execution_id}/terminate",
    status_code=202,
    response_model=schemas.TerminateOut,
)
async def terminate(state: State, caller: Writer, execution_id: ExecutionId) -> Any:
    """Ask the master to terminate; 409 if the execution has ended already."""
    await _owned(state, caller, execution_id)
    result = await state.master_as(
        caller.name, lambda client: client.terminate(execution_id)
    )
    return {"id": execution_id, "status": result["status"]}


@router.get("/executions/{execution_id}/logs", response_model=schemas.LogsOut)
async def logs(
    state: State,
    caller: Reader,
    execution_id: ExecutionId,
    service: Annotated[str | None, Query(max_length=64)] = None,
    tail: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    since: Annotated[
        str | None,
        Query(
            pattern=SECONDS_PATTERN,
            description="Only what was written at or after it: UNIX seconds, "
            "such as the `next_since` of an earlier read.",
        ),
    ] = None,
) -> Any:
    """The output of the execution's containers, read once through the master.

    409 when the backend keeps no container output (the simulated one). To
    follow a service's output as it is written, see ``/services/{id}/logs``.
    """
    await _owned(state, caller, execution_id)
    return await state.master(
        lambda client: client.logs(
            execution_id, service=service, tail=tail, since=since
        )
    )


@router.delete("/executions/{execution_id}", response_model=schemas.DeleteOut)
async def delete(state: State, caller: Writer, execution_id: ExecutionId) -> Any:
    """Delete an execution in a final status; 409 otherwise."""
    detail = await _owned(state, caller, execution_id)
    if not ExecutionStatus(detail["status"]).is_final:
        raise ApiError(
            409,
            "Conflict",
            f"execution {execution_id} is {detail['status']}; terminate it first, "
            "only executions in a final status are deleted",
            {"status": detail["status"]},
        )
    await state.master_as(caller.name, lambda client: client.delete(execution_id))
    return {"id": execution_id, "deleted": True}


async def _owned_service(state: State, caller: Caller, service_id: int) -> Any:
    """One service of an execution the caller may see; 404 otherwise."""

    def work(tx: Transaction) -> int:
        return tx.get_service(service_id).execution_id

    try:
        execution_id = await state.db(lambda repo: repo.transaction(work))
        detail = await _owned(state, caller, execution_id)
    except (NotFound, ApiError):
        raise not_found("service", service_id) from None
    for service in detail["services"]:
        if service["id"] == service_id:
            return service
    raise not_found("service", service_id)


@router.get("/services/{service_id}", response_model=schemas.ServiceOut)
async def get_service(state: State, caller: Reader, service_id: ServiceId) -> Any:
    """One service: status, node, ports, resources, exit code and reason."""
    return await _owned_service(state, caller, service_id)


@router.get(
    "/services/{service_id}/logs",
    response_class=Response,  # its media type is set by the 200 of OPENAPI_TEXT
    responses=OPENAPI_TEXT,
)
async def service_logs(
    request: Request,
    state: State,
    caller: Reader,
    service_id: ServiceId,
    follow: Annotated[
        bool, Query(description="Go on as the service writes, until it ends.")
    ] = False,
    tail: Annotated[
        int | None, Query(ge=1, le=100_000, description="Start with the last N lines.")
    ] = None,
) -> Response:
    """The service's output (stdout and stderr) as text, streamed as it is written.

    409 (JSON, before any text) when the backend keeps no container output.
    """
    service = await _owned_service(state, caller, service_id)
    target = OutputTarget(service["execution_id"], service["name"], service_id)
    return await open_output(request, state, target, follow=follow, tail=tail)
