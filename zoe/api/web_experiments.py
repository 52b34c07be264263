"""The experiments pages of the web interface: start one, watch it, read its report.

Same sessions, CSRF tokens and rules as :mod:`zoe.api.web`: a user sees their own
experiments, an administrator all, a guest may only read. The list and an
experiment's page update themselves with htmx; an experiment's page stops
polling once the experiment is final, and then shows the summary table, the
figures and a link to the full report, all served under the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from zoe.api import experiments
from zoe.api.deps import Caller, State
from zoe.api.errors import ApiError
from zoe.api.experiment_specs import MAX_SPEC_CHARS
from zoe.api.experiments import Worker
from zoe.api.web import WebCaller, check_csrf, page
from zoe.core.errors import InvalidInput, InvalidSpec
from zoe.live.db import Role, Transaction
from zoe.live.db.experiments import ExperimentStatus, list_experiments

router = APIRouter(include_in_schema=False)


async def _rows(state: State, caller: Caller) -> list[dict[str, Any]]:
    user = None if caller.is_admin else caller.name

    def work(tx: Transaction) -> Any:
        return list_experiments(
            tx, user=user, statuses=None, before_id=None, limit=100
        )[0]

    records = await state.db(lambda r: r.transaction(work))
    return [experiments.summary(r) for r in records]


def _may_act(caller: Caller) -> bool:
    return caller.user.role is not Role.GUEST


@router.get("/experiments")
async def experiments_page(
    request: Request, state: State, caller: WebCaller
) -> Response:
    rows = await _rows(state, caller)
    return page(
        request, "experiments.html", caller, rows=rows, may_act=_may_act(caller)
    )


@router.get("/fragments/experiments")
async def experiment_rows(
    request: Request, state: State, caller: WebCaller
) -> Response:
    rows = await _rows(state, caller)
    return page(request, "_experiment_rows.html", caller, rows=rows)


@router.post("/experiments")
async def submit(
    request: Request,
    state: State,
    worker: Worker,
    caller: WebCaller,
    name: Annotated[str, Form(max_length=128)] = "",
    spec: Annotated[str, Form(max_length=MAX_SPEC_CHARS)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Check and queue; on a fault, the form again with the fault beside it."""
    check_csrf(request, csrf)
    if not _may_act(caller):
        raise ApiError(403, "Forbidden", "guests may only read")
    try:
        record = await experiments.submit(state, worker, caller, spec, name.strip())
    except InvalidSpec as exc:
        faults = [{"path": exc.path, "message": exc.reason}]
        return await _form_again(request, state, caller, name, spec, faults=faults)
    except InvalidInput as exc:  # text the database cannot store, such as a NUL
        return await _form_again(request, state, caller, name, spec, error=str(exc))
    return RedirectResponse(f"/experiments/{record.id}", status_code=303)


async def _form_again(
    request: Request,
    state: State,
    caller: Caller,
    name: str,
    spec: str,
    **fault: Any,
) -> Response:
    """The experiments page with the caller's input and its fault (422)."""
    rows = await _rows(state, caller)
    return page(
        request,
        "experiments.html",
        caller,
        422,
        rows=rows,
        may_act=True,
        name=name,
        spec=spec,
        **fault,
    )


async def _context(
    state: State, worker: Worker, caller: Caller, experiment_id: int
) -> dict[str, Any]:
    record = await experiments.owned(state, caller, experiment_id)
    context: dict[str, Any] = {
        "x": experiments.summary(record),
        "final": record.status.is_final,
        "may_act": _may_act(caller),
    }
    if record.status is ExperimentStatus.DONE:
        folder = worker.folder_of(record.id)
        headers, cells = await to_thread.run_sync(lambda: _table(folder))
        names = await experiments.figures(worker, record)
        context.update(
            headers=headers,
            cells=cells,
            figures=[n for n in names if n.endswith(".png")],
            svgs=set(names),
        )
    return context


def _table(folder: Path) -> tuple[list[str], list[list[str]]]:
    """The summary table as the report formats it (text cells)."""
    from zoe.experiments.report import formatted_rows, summary_table
    from zoe.experiments.results import read_table

    if not (folder / "runs.parquet").is_file() and not (folder / "runs.csv").is_file():
        return [], []
    return formatted_rows(summary_table(read_table(folder)))


@router.get("/experiments/{experiment_id}")
async def experiment_page(
    request: Request,
    state: State,
    worker: Worker,
    caller: WebCaller,
    experiment_id: int,
) -> Response:
    context = await _context(state, worker, caller, experiment_id)
    return page(request, "experiment.html", caller, **context)


@router.get("/fragments/experiments/{experiment_id}")
async def experiment_fragment(
    request: Request,
    state: State,
    worker: Worker,
    caller: WebCaller,
    experiment_id: int,
) -> Response:
    context = await _context(state, worker, caller, experiment_id)
    return page(request, "_experiment.html", caller, **context)


@router.get("/experiments/{experiment_id}/figures/{name}")
async def figure(
    state: State, worker: Worker, caller: WebCaller, experiment_id: int, name: str
) -> Response:
    record = await experiments.owned(state, caller, experiment_id)
    path, media_type = await experiments.figure_file(worker, record, name)
    return FileResponse(path, media_type=media_type)


@router.get("/experiments/{experiment_id}/report")
async def report(
    state: State, worker: Worker, caller: WebCaller, experiment_id: int
) -> Response:
    record = await experiments.owned(state, caller, experiment_id)
    return await experiments.report_response(worker, record)


@router.post("/experiments/{experiment_id}/cancel")
async def cancel(
    request: Request,
    state: State,
    caller: WebCaller,
    experiment_id: int,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    record = await experiments.owned(state, caller, experiment_id)
    if not _may_act(caller):
        raise ApiError(403, "Forbidden", "guests may only read")
    if not record.status.is_final:
        try:
            await experiments.cancel(state, record)
        except ApiError as exc:
            if exc.status != 409:  # it ended meanwhile: the page says so
                raise
    return RedirectResponse(f"/experiments/{experiment_id}", status_code=303)


@router.post("/experiments/{experiment_id}/delete")
async def delete(
    request: Request,
    state: State,
    worker: Worker,
    caller: WebCaller,
    experiment_id: int,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    record = await experiments.owned(state, caller, experiment_id)
    if not _may_act(caller):
        raise ApiError(403, "Forbidden", "guests may only read")
    await experiments.delete(state, worker, record)
    return RedirectResponse("/experiments", status_code=303)
