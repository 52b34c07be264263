"""The SQL of experiments submitted through the REST API (migration 0004).

Functions of an open :class:`~zoe.live.db.transaction.Transaction`; like its
methods they never commit, and they move a row only from the status the caller
saw (``UPDATE ... WHERE status = ...``), so two writers never both move one.

Lifecycle: ``queued`` -> ``running`` (claimed by one API process, its
``runner``) -> ``done`` or ``failed``; ``queued`` or ``running`` -> ``cancelled``
by the user. A runner writes ``heartbeat_time`` while it runs an experiment; a
``running`` experiment whose heartbeat is older than the stale duration is
claimed again by any runner (its previous process went away), and the experiment
runner resumes the grid where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from zoe.core.errors import NotFound
from zoe.live.db.transaction import newest_first_page

if TYPE_CHECKING:
    from collections.abc import Sequence

    from zoe.live.db.transaction import Transaction


class ExperimentStatus(StrEnum):
    """Where an experiment is in its lifecycle (see the module docstring)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True for the statuses an experiment never leaves."""
        return self not in (ExperimentStatus.QUEUED, ExperimentStatus.RUNNING)


_FINAL = [s.value for s in ExperimentStatus if s.is_final]


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    """An experiment as stored. ``spec`` is the TOML text as submitted.

    ``runs_done`` counts the runs finished well (including those an earlier
    attempt finished), ``runs_failed`` those that failed; ``error`` says why a
    ``failed`` experiment failed as a whole.
    """

    id: int
    name: str
    user_name: str
    spec: str
    status: ExperimentStatus
    runs_total: int
    runs_done: int
    runs_failed: int
    submit_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    heartbeat_time: datetime | None
    runner: str | None
    error: str | None


_COLUMNS = (
    "x.id, x.name, u.name, x.spec, x.status, x.runs_total, x.runs_done, "
    "x.runs_failed, x.submit_time, x.start_time, x.end_time, x.heartbeat_time, "
    "x.runner, x.error"
)
_FROM = "experiments AS x JOIN users AS u ON u.id = x.user_id"


def _record(row: Sequence[Any]) -> ExperimentRecord:
    return ExperimentRecord(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        ExperimentStatus(row[4]),
        int(row[5]),
        int(row[6]),
        int(row[7]),
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
    )


def create_experiment(
    tx: Transaction, user_name: str, name: str, spec: str, runs_total: int
) -> ExperimentRecord:
    """Queue a new experiment of ``user_name``; raise :class:`NotFound` for no user."""
    user = tx.get_user(user_name)
    tx.cur.execute(
        "INSERT INTO experiments (name, user_id, spec, runs_total) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        (name, user.id, spec, runs_total),
    )
    row = tx.cur.fetchone()
    if row is None:  # pragma: no cover - INSERT ... RETURNING always returns a row
        raise NotFound("experiment", name)
    return get_experiment(tx, int(row[0]))


def get_experiment(tx: Transaction, experiment_id: int) -> ExperimentRecord:
    """The experiment ``experiment_id``; raise :class:`NotFound` if there is none."""
    tx.cur.execute(f"SELECT {_COLUMNS} FROM {_FROM} WHERE x.id = %s", (experiment_id,))
    row = tx.cur.fetchone()
    if row is None:
        raise NotFound("experiment", str(experiment_id))
    return _record(row)


def list_experiments(
    tx: Transaction,
    *,
    user: str | None,
    statuses: Sequence[ExperimentStatus] | None,
    before_id: int | None,
    limit: int,
) -> tuple[list[ExperimentRecord], int | None]:
    """One page of experiments, newest first, and the id to continue before.

    ``user`` None: every user's; ``statuses`` None: every status.
    """
    return newest_first_page(
        tx,
        (_COLUMNS, _FROM, "x"),
        _record,
        user=user,
        statuses=statuses,
        before_id=before_id,
        limit=limit,
    )


def claim_experiment(
    tx: Transaction, runner: str, stale_seconds: float
) -> ExperimentRecord | None:
    """Take the oldest queued experiment, or a running one gone stale, for ``runner``.

    A running experiment is stale when its heartbeat is older than
    ``stale_seconds``: the process that ran it went away. Rows another
    transaction holds are skipped, so concurrent runners never claim one twice.
    ``None`` when there is nothing to run.
    """
    tx.cur.execute(
        "SELECT id FROM experiments WHERE status = 'queued' OR (status = 'running' "
        "AND (heartbeat_time IS NULL OR "
        "heartbeat_time < now() - make_interval(secs => %s))) "
        "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
        (stale_seconds,),
    )
    row = tx.cur.fetchone()
    if row is None:
        return None
    tx.cur.execute(
        "UPDATE experiments SET status = 'running', runner = %s, "
        "heartbeat_time = now(), start_time = coalesce(start_time, now()) "
        "WHERE id = %s",
        (runner, row[0]),
    )
    return get_experiment(tx, int(row[0]))


def record_progress(
    tx: Transaction,
    experiment_id: int,
    runner: str,
    done: int | None = None,
    failed: int | None = None,
) -> bool:
    """Write the heartbeat (and the counts given); False if no longer ``runner``'s.

    False means the experiment was cancelled, deleted or taken over: the runner
    must stop it.
    """
    tx.cur.execute(
        "UPDATE experiments SET heartbeat_time = now(), "
        "runs_done = coalesce(%s, runs_done), runs_failed = coalesce(%s, runs_failed) "
        "WHERE id = %s AND status = 'running' AND runner = %s",
        (done, failed, experiment_id, runner),
    )
    return bool(tx.cur.rowcount)


def finish_experiment(
    tx: Transaction,
    experiment_id: int,
    runner: str,
    status: ExperimentStatus,
    error: str | None = None,
) -> bool:
    """Move ``runner``'s running experiment to final ``status``; False if not its."""
    if not status.is_final:
        raise ValueError(f"{status} is not a final status")
    tx.cur.execute(
        "UPDATE experiments SET status = %s, error = %s, end_time = now() "
        "WHERE id = %s AND status = 'running' AND runner = %s",
        (status.value, error, experiment_id, runner),
    )
    return bool(tx.cur.rowcount)


def requeue_stale_experiments(tx: Transaction, stale_seconds: float) -> list[int]:
    """Put back in the queue the running experiments whose heartbeat is older than
    ``stale_seconds`` (their process went away); their ids.

    So an experiment no process runs is told ``queued``, not ``running``, while
    every runner is busy; the oldest is claimed first as before.
    """
    tx.cur.execute(
        "UPDATE experiments SET status = 'queued', runner = NULL, "
        "heartbeat_time = NULL WHERE status = 'running' AND (heartbeat_time IS NULL "
        "OR heartbeat_time < now() - make_interval(secs => %s)) RETURNING id",
        (stale_seconds,),
    )
    return sorted(int(row[0]) for row in tx.cur.fetchall())


def release_experiment(tx: Transaction, experiment_id: int, runner: str) -> bool:
    """Put ``runner``'s running experiment back in the queue (its process stops)."""
    tx.cur.execute(
        "UPDATE experiments SET status = 'queued', runner = NULL, "
        "heartbeat_time = NULL WHERE id = %s AND status = 'running' AND runner = %s",
        (experiment_id, runner),
    )
    return bool(tx.cur.rowcount)


def cancel_experiment(tx: Transaction, experiment_id: int) -> bool:
    """Cancel a queued or running experiment; False if it is final already.

    Raises :class:`NotFound` when there is no such experiment. Its runner sees
    the status at its next heartbeat and stops the process.
    """
    tx.cur.execute(
        "UPDATE experiments SET status = 'cancelled', end_time = now() "
        "WHERE id = %s AND status IN ('queued', 'running')",
        (experiment_id,),
    )
    if tx.cur.rowcount == 0:
        get_experiment(tx, experiment_id)
        return False
    return True


def delete_experiment(tx: Transaction, experiment_id: int) -> bool:
    """Delete an experiment in a final status; False if it is not final.

    Raises :class:`NotFound` when there is no such experiment.
    """
    tx.cur.execute(
        "DELETE FROM experiments WHERE id = %s AND status = ANY(%s)",
        (experiment_id, _FINAL),
    )
    if tx.cur.rowcount == 0:
        get_experiment(tx, experiment_id)
        return False
    return True
