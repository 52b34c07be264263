"""What the REST API and the web pages do with experiments, in one place.

Submitting checks the specification (:mod:`zoe.api.experiment_specs`), stores it
queued in PostgreSQL and wakes the worker (:mod:`zoe.api.experiment_worker`).
Reading an experiment, its results, figures or report follows the rule of
executions: a user reaches their own, an administrator all, and another user's
experiment is a 404 as if it did not exist. Results, figures and the report exist
once the experiment is ``done``; before, they are a 409. Files are read only from
the folder the server chose, by names it listed itself. Blocking work (checking,
pandas, the file system) runs in worker threads.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from anyio import to_thread
from fastapi import Depends, Request
from fastapi.responses import FileResponse

from zoe.api.errors import ApiError, not_found
from zoe.api.experiment_specs import check_spec
from zoe.api.experiment_worker import ExperimentWorker
from zoe.core.errors import InvalidSpec, NotFound
from zoe.live.db.experiments import (
    ExperimentRecord,
    ExperimentStatus,
    cancel_experiment,
    create_experiment,
    delete_experiment,
    get_experiment,
)
from zoe.live.replies import iso

if TYPE_CHECKING:
    from zoe.api.deps import Caller
    from zoe.api.state import ApiState
    from zoe.live.db import Transaction

log = logging.getLogger(__name__)

FIGURE_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}
REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
RESULT_COLUMNS = (
    "trace", "cluster", "placement", "policy", "load", "runs",
    "turnaround_mean", "turnaround_mean_ci", "turnaround_p90", "turnaround_p90_ci",
    "queue_mean", "rejected", "cores_pct", "memory_pct",
)  # fmt: skip


def get_worker(request: Request) -> ExperimentWorker:
    """The application's :class:`ExperimentWorker`."""
    worker: ExperimentWorker = request.app.state.experiments
    return worker


Worker = Annotated[ExperimentWorker, Depends(get_worker)]


def spec_error(exc: InvalidSpec, prefix: str = "spec") -> ApiError:
    """422 naming the fault's key path (under ``prefix``, the body's field)."""
    path = f"{prefix}.{exc.path}" if exc.path else prefix
    return ApiError(
        422,
        "InvalidSpec",
        f"invalid specification: {path}: {exc.reason}",
        {"faults": [{"path": path, "message": exc.reason}]},
    )


async def submit(
    state: ApiState, worker: ExperimentWorker, caller: Caller, text: str, name: str
) -> ExperimentRecord:
    """Check ``text`` and queue it under ``name`` (the spec's name if empty).

    Raises :class:`InvalidSpec` for every fault of the specification.
    """
    config = state.config
    checked = await to_thread.run_sync(
        lambda: check_spec(
            text, config.experiment_traces_dir, config.max_experiment_runs
        )
    )
    title = name or checked.spec.name
    record = await state.db(
        lambda repo: repo.transaction(
            lambda tx: create_experiment(
                tx, caller.name, title, text, checked.runs_total
            )
        )
    )
    worker.wake()
    log.info("experiment %d: submitted by %s", record.id, caller.name)
    return record


async def owned(
    state: ApiState, caller: Caller, experiment_id: int
) -> ExperimentRecord:
    """The experiment, if the caller may see it; 404 otherwise."""
    try:
        record = await state.db(
            lambda repo: repo.transaction(lambda tx: get_experiment(tx, experiment_id))
        )
    except NotFound:
        raise not_found("experiment", experiment_id) from None
    if not caller.may_see(record.user_name):
        raise not_found("experiment", experiment_id)
    return record


def summary(record: ExperimentRecord) -> dict[str, Any]:
    """The public view of an experiment, without its specification."""
    return {
        "id": record.id,
        "name": record.name,
        "user": record.user_name,
        "status": record.status.value,
        "progress": {
            "done": record.runs_done,
            "failed": record.runs_failed,
            "total": record.runs_total,
        },
        "submit_time": iso(record.submit_time),
        "start_time": iso(record.start_time),
        "end_time": iso(record.end_time),
        "error": record.error,
    }


def detail(record: ExperimentRecord) -> dict[str, Any]:
    """:func:`summary` with the specification's text."""
    return {**summary(record), "spec": record.spec}


def _require_done(record: ExperimentRecord) -> None:
    if record.status is not ExperimentStatus.DONE:
        raise ApiError(
            409,
            "Conflict",
            f"experiment {record.id} is {record.status}; results, figures and the "
            "report exist once it is done",
            {"status": record.status.value},
        )


async def results(worker: ExperimentWorker, record: ExperimentRecord) -> list[Any]:
    """The summary table of :mod:`zoe.experiments.report`, one dict a row."""
    _require_done(record)
    folder = worker.folder_of(record.id)
    return await to_thread.run_sync(lambda: _summary_rows(folder, record.id))


def _summary_rows(folder: Path, experiment_id: int) -> list[dict[str, Any]]:
    from zoe.experiments.report import summary_table
    from zoe.experiments.results import read_table

    if not (folder / "runs.parquet").is_file() and not (folder / "runs.csv").is_file():
        raise not_found("results of experiment", experiment_id)
    table = summary_table(read_table(folder))
    return [
        {column: _plain(row[column]) for column in RESULT_COLUMNS}
        for row in table.to_dict("records")
    ]


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars become Python ones, NaN becomes ``None``."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


async def figures(worker: ExperimentWorker, record: ExperimentRecord) -> list[str]:
    """The names of the experiment's figure files (PNG and SVG), sorted."""
    _require_done(record)
    folder = worker.folder_of(record.id) / "figures"

    def names() -> list[str]:
        if not folder.is_dir():
            return []
        return sorted(
            p.name for p in folder.iterdir() if p.is_file() and p.suffix in FIGURE_TYPES
        )

    return await to_thread.run_sync(names)


async def figure_file(
    worker: ExperimentWorker, record: ExperimentRecord, name: str
) -> tuple[Path, str]:
    """The path and media type of figure ``name``: one of :func:`figures` only."""
    if name not in await figures(worker, record):
        raise not_found("figure", name)
    path = worker.folder_of(record.id) / "figures" / name
    return path, FIGURE_TYPES[path.suffix]


async def report_response(
    worker: ExperimentWorker, record: ExperimentRecord
) -> FileResponse:
    """The experiment's HTML report, under :data:`REPORT_POLICY`; 404 if it was
    not written."""
    _require_done(record)
    path = worker.folder_of(record.id) / "report.html"
    if not await to_thread.run_sync(path.is_file):
        raise not_found("report of experiment", record.id)
    response = FileResponse(path, media_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = REPORT_POLICY
    return response


async def cancel(state: ApiState, record: ExperimentRecord) -> ExperimentStatus:
    """Cancel a queued or running experiment; 409 if it ended already."""

    def work(tx: Transaction) -> tuple[bool, ExperimentStatus]:
        cancelled = cancel_experiment(tx, record.id)
        return cancelled, get_experiment(tx, record.id).status

    cancelled, status = await state.db(lambda repo: repo.transaction(work))
    if not cancelled:
        raise ApiError(
            409,
            "Conflict",
            f"experiment {record.id} has ended already ({status})",
            {"status": status.value},
        )
    log.info("experiment %d: cancelled", record.id)
    return status


async def delete(
    state: ApiState, worker: ExperimentWorker, record: ExperimentRecord
) -> None:
    """Delete a final experiment and its folder; 409 if it is not final."""

    def work(tx: Transaction) -> ExperimentStatus | None:
        if delete_experiment(tx, record.id):
            return None
        return get_experiment(tx, record.id).status

    status = await state.db(lambda repo: repo.transaction(work))
    if status is not None:
        raise ApiError(
            409,
            "Conflict",
            f"experiment {record.id} is {status}; cancel it first, only "
            "experiments in a final status are deleted",
            {"status": status.value},
        )
    folder = worker.folder_of(record.id)
    await to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
    log.info("experiment %d: deleted", record.id)
