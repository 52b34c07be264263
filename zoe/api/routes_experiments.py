"""``/api/v1/experiments``: submit a specification, follow it, read what it made.

An experiment is a grid of simulations described by a TOML specification (see
``experiments/quick.toml``). The API checks it, queues it in PostgreSQL and runs
it in a child process (:mod:`zoe.api.experiment_worker`); its results table, its
figures and its HTML report can be read once it is ``done``. A user reaches their
own experiments, an administrator all; a guest reads only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from zoe.api import experiments
from zoe.api.deps import Reader, State, Writer
from zoe.api.experiment_specs import MAX_NAME_CHARS, MAX_SPEC_CHARS
from zoe.api.experiments import Worker
from zoe.api.paging import one_page
from zoe.core.errors import InvalidSpec
from zoe.live.db.experiments import (
    ExperimentStatus,
    list_experiments,
)

router = APIRouter(tags=["experiments"])
MAX_ID = 2**63 - 1
ExperimentId = Annotated[int, Path(ge=1, le=MAX_ID)]
FigureName = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[^/\\]+$")]


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: str = Field(
        min_length=1,
        max_length=MAX_SPEC_CHARS,
        description="The specification, TOML text (see experiments/quick.toml). "
        "Files are named relative to the server's traces folder; 'out' is ignored.",
    )
    name: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="Default: the spec's name.",
    )


class Progress(BaseModel):
    done: int = Field(description="Runs finished well (resumed ones included).")
    failed: int
    total: int


class ExperimentSummary(BaseModel):
    id: int
    name: str
    user: str
    status: ExperimentStatus
    progress: Progress
    submit_time: str
    start_time: str | None
    end_time: str | None
    error: str | None


class ExperimentDetail(ExperimentSummary):
    spec: str


class ExperimentPage(BaseModel):
    experiments: list[ExperimentSummary]
    next: str | None = Field(description="Pass as `cursor` for the next page.")


class ResultRow(BaseModel):
    """One cell of the grid across seeds; times in seconds, CIs are 95 % half-widths."""

    trace: str
    cluster: str
    placement: str
    policy: str
    load: float
    runs: int
    turnaround_mean: float | None
    turnaround_mean_ci: float | None
    turnaround_p90: float | None
    turnaround_p90_ci: float | None
    queue_mean: float | None
    rejected: float | None
    cores_pct: float | None
    memory_pct: float | None


class ResultsOut(BaseModel):
    experiment_id: int
    rows: list[ResultRow]


class FigureOut(BaseModel):
    name: str
    media_type: Literal["image/png", "image/svg+xml"]
    url: str


class CancelOut(BaseModel):
    id: int
    status: ExperimentStatus


class DeleteOut(BaseModel):
    id: int
    deleted: bool


@router.post("/experiments", status_code=202, response_model=ExperimentDetail)
async def submit(
    state: State, worker: Worker, caller: Writer, body: ExperimentIn
) -> Any:
    """Check a specification and queue it; 422 names the key path of a fault.

    Refused too: a file outside the server's traces folder, and a grid of more
    runs than the server allows.
    """
    try:
        record = await experiments.submit(
            state, worker, caller, body.spec, body.name or ""
        )
    except InvalidSpec as exc:
        raise experiments.spec_error(exc) from None
    return experiments.detail(record)


@router.get("/experiments", response_model=ExperimentPage)
async def list_all(
    state: State,
    caller: Reader,
    status: Annotated[list[ExperimentStatus] | None, Query()] = None,
    user: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> Any:
    """Experiments newest first; a user sees their own, an administrator all."""
    return await one_page(
        state,
        caller,
        "experiments",
        list_experiments,
        experiments.summary,
        user=user,
        statuses=status,
        limit=limit,
        cursor=cursor,
    )


@router.get("/experiments/{experiment_id}", response_model=ExperimentDetail)
async def get_experiment(
    state: State, caller: Reader, experiment_id: ExperimentId
) -> Any:
    """Status, progress (runs done, failed, total), times, error, specification."""
    return experiments.detail(await experiments.owned(state, caller, experiment_id))


@router.get("/experiments/{experiment_id}/results", response_model=ResultsOut)
async def results(
    state: State, worker: Worker, caller: Reader, experiment_id: ExperimentId
) -> Any:
    """The summary table: one row per trace, cluster, placement, policy and load."""
    record = await experiments.owned(state, caller, experiment_id)
    rows = await experiments.results(worker, record)
    return {"experiment_id": record.id, "rows": rows}


@router.get("/experiments/{experiment_id}/figures", response_model=list[FigureOut])
async def figures(
    state: State, worker: Worker, caller: Reader, experiment_id: ExperimentId
) -> Any:
    """The figures, each as PNG and as SVG."""
    record = await experiments.owned(state, caller, experiment_id)
    base = f"/api/v1/experiments/{record.id}/figures"
    return [
        {
            "name": name,
            "media_type": experiments.FIGURE_TYPES[name[name.rfind(".") :]],
            "url": f"{base}/{name}",
        }
        for name in await experiments.figures(worker, record)
    ]


@router.get(
    "/experiments/{experiment_id}/figures/{name}",
    response_class=Response,
    responses={
        200: {
            "description": "The figure",
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/svg+xml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def figure(
    state: State,
    worker: Worker,
    caller: Reader,
    experiment_id: ExperimentId,
    name: FigureName,
) -> Response:
    """One figure file, by a name of the list (never a path)."""
    record = await experiments.owned(state, caller, experiment_id)
    path, media_type = await experiments.figure_file(worker, record, name)
    return FileResponse(path, media_type=media_type)


@router.get(
    "/experiments/{experiment_id}/report",
    response_class=Response,
    responses={
        200: {
            "description": "The self-contained HTML report",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
async def report(
    state: State, worker: Worker, caller: Reader, experiment_id: ExperimentId
) -> Response:
    """The HTML report: tables and figures in one self-contained page."""
    record = await experiments.owned(state, caller, experiment_id)
    return await experiments.report_response(worker, record)


@router.post(
    "/experiments/{experiment_id}/cancel", status_code=202, response_model=CancelOut
)
async def cancel(state: State, caller: Writer, experiment_id: ExperimentId) -> Any:
    """Cancel a queued or running experiment (its process is stopped); 409 if ended."""
    record = await experiments.owned(state, caller, experiment_id)
    status = await experiments.cancel(state, record)
    return {"id": record.id, "status": status}


@router.delete("/experiments/{experiment_id}", response_model=DeleteOut)
async def delete(
    state: State, worker: Worker, caller: Writer, experiment_id: ExperimentId
) -> Any:
    """Delete an experiment in a final status and its files; 409 otherwise."""
    record = await experiments.owned(state, caller, experiment_id)
    await experiments.delete(state, worker, record)
    return {"id": record.id, "deleted": True}
