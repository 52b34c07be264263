"""The API's experiment worker: a queue in PostgreSQL, each run in a child process.

:class:`ExperimentWorker` keeps ``experiment_workers`` threads. Each claims the
oldest queued experiment (:func:`~zoe.live.db.experiments.claim_experiment`),
writes its specification into the folder the server chose for it, and starts
``python -m zoe.api.experiment_child`` in a session of its own. Why a child
process started with :mod:`subprocess` rather than :mod:`multiprocessing`: the
runner starts its own pool of worker processes, and a session of its own puts
them all in one process group, which one ``killpg`` stops at once on a cancel,
where terminating a ``multiprocessing`` child would leave its pool running; and
its progress comes back as JSON lines on a pipe, whose end also tells the child
that the API went away.

While the child runs, the thread writes the counts of runs done and failed to
the database as each run settles, and a heartbeat every ``heartbeat_duration``.
When the row is no longer this runner's (cancelled, or deleted after a cancel),
it kills the child's process group. When the API stops, running experiments are
stopped and put back in the queue. A ``running`` experiment whose heartbeat is
older than ``stale_duration`` (its API process died) is claimed again by any
idle worker, or put back in the queue by a busy one at its heartbeat, and
resumed: the runner keeps the runs already done in the folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from zoe.core.errors import NotFound, ZoeError
from zoe.live.db import Database, Repository, Transaction
from zoe.live.db.experiments import (
    ExperimentRecord,
    ExperimentStatus,
    claim_experiment,
    finish_experiment,
    get_experiment,
    record_progress,
    release_experiment,
    requeue_stale_experiments,
)

if TYPE_CHECKING:
    from zoe.api.config import ApiConfig

log = logging.getLogger(__name__)

HEARTBEAT_DURATION = 1.0
STALE_DURATION = 30.0
POLL_DURATION = 2.0


@dataclass(slots=True)
class _Progress:
    """What a child told so far."""

    done: int = 0
    failed: int = 0
    ended: bool = False
    error: str | None = None


class ExperimentWorker:
    """Runs the queued experiments of one deployment; :meth:`start`, :meth:`stop`.

    The worker owns its threads, their database connections and the child
    processes; it never touches a folder but those under :meth:`folder_of`.
    """

    def __init__(
        self,
        config: ApiConfig,
        *,
        heartbeat_duration: float = HEARTBEAT_DURATION,
        stale_duration: float = STALE_DURATION,
        poll_duration: float = POLL_DURATION,
    ) -> None:
        self.config = config
        # absolute: the child runs in the experiment's folder
        self.root = (config.data_dir / "experiments" / config.deployment).absolute()
        self.traces_dir = config.experiment_traces_dir.absolute()
        self.runner_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._heartbeat = heartbeat_duration
        self._stale = stale_duration
        self._poll = poll_duration
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def folder_of(self, experiment_id: int) -> Path:
        """The folder of experiment ``experiment_id`` (the server's choice only)."""
        return self.root / str(int(experiment_id))

    def start(self) -> None:
        """Start the worker threads."""
        for i in range(self.config.experiment_workers):
            thread = threading.Thread(
                target=self._loop, name=f"zoe-experiments-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Look for queued experiments now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the children, put their experiments back in the queue, join."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        config = self.config
        with Database(
            config.database_url, config.deployment, give_up_duration=10.0
        ) as db:
            repo = Repository(db)
            while not self._stopping.is_set():
                claimed = self._claim(repo)
                if claimed is None:
                    self._wake.wait(self._poll)
                    self._wake.clear()
                    continue
                try:
                    self._run(repo, claimed)
                except ZoeError as exc:  # the database went away meanwhile
                    log.error("experiment %d: given up: %s", claimed.id, exc)
                except Exception:
                    # the thread must outlive one bad experiment; a stale
                    # heartbeat lets it be claimed again later
                    log.exception("experiment %d: given up", claimed.id)

    def _claim(self, repo: Repository) -> ExperimentRecord | None:
        try:
            return repo.transaction(
                lambda tx: claim_experiment(tx, self.runner_id, self._stale)
            )
        except ZoeError as exc:
            log.warning("experiments: cannot reach the database: %s", exc)
            return None

    def _run(self, repo: Repository, record: ExperimentRecord) -> None:
        folder = self.folder_of(record.id)
        log.info("experiment %d: running (%d runs)", record.id, record.runs_total)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            spec = folder / "spec.toml"
            spec.write_text(record.spec, encoding="utf-8")
            with (folder / "runner.log").open("ab") as stderr:
                process = self._spawn(spec, folder, stderr)
        except OSError as exc:
            log.error("experiment %d: cannot start: %s", record.id, exc)
            self._finish(repo, record.id, _Progress(error=exc.strerror), -1)
            return
        with process:  # closes its pipes
            progress, ours = self._follow(repo, record.id, process)
        if ours and self._stopping.is_set():
            repo.transaction(
                lambda tx: release_experiment(tx, record.id, self.runner_id)
            )
            log.info(
                "experiment %d: stopped with the API; back in the queue", record.id
            )
        elif ours:
            self._finish(repo, record.id, progress, process.returncode)
        else:
            log.info("experiment %d: stopped (cancelled)", record.id)
            self._forget_if_deleted(repo, record.id)

    def _spawn(
        self, spec: Path, folder: Path, stderr: IO[bytes]
    ) -> subprocess.Popen[bytes]:
        config = self.config
        command = [
            sys.executable, "-m", "zoe.api.experiment_child", str(spec), str(folder),
            "--traces", str(self.traces_dir),
            "--max-runs", str(config.max_experiment_runs),
            "--workers", str(config.experiment_processes),
        ]  # fmt: skip
        return subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=folder,
            start_new_session=True,
        )

    def _follow(
        self, repo: Repository, experiment_id: int, process: subprocess.Popen[bytes]
    ) -> tuple[_Progress, bool]:
        """Relay the child's progress until it ends; whether the row is still ours."""
        lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        reader = threading.Thread(
            target=_read_lines, args=(process.stdout, lines), daemon=True
        )
        reader.start()
        progress = _Progress()
        ours = True
        while True:
            with contextlib.suppress(queue.Empty):
                event = lines.get(timeout=self._heartbeat)
                if event is None:
                    break
                _apply(progress, event)
            if _exited(process):
                # the child ended (killed, maybe): its worker processes would
                # run on and hold the pipe open, so its end would never come
                _kill(process)
            ours = self._beat(repo, experiment_id, progress)
            if not ours or self._stopping.is_set():
                _kill(process)
                break
        process.wait()
        reader.join(self._heartbeat)
        return progress, ours

    def _beat(self, repo: Repository, experiment_id: int, progress: _Progress) -> bool:
        """Write the heartbeat and requeue the stale experiments; whether ours."""
        runner, done, failed = self.runner_id, progress.done, progress.failed

        def work(tx: Transaction) -> tuple[bool, list[int]]:
            ours = record_progress(tx, experiment_id, runner, done, failed)
            return ours, requeue_stale_experiments(tx, self._stale)

        try:
            ours, requeued = repo.transaction(work)
        except ZoeError as exc:
            log.warning("experiment %d: no heartbeat: %s", experiment_id, exc)
            return True
        for stale_id in requeued:
            log.info(
                "experiment %d: its process went away; back in the queue", stale_id
            )
        return ours

    def _finish(
        self, repo: Repository, experiment_id: int, progress: _Progress, code: int
    ) -> None:
        status, error = _verdict(progress, code)
        runner = self.runner_id

        def work(tx: Transaction) -> bool:
            record_progress(tx, experiment_id, runner, progress.done, progress.failed)
            return finish_experiment(tx, experiment_id, runner, status, error)

        if repo.transaction(work):
            log.info("experiment %d: %s", experiment_id, status)
        else:  # cancelled as it ended
            self._forget_if_deleted(repo, experiment_id)

    def _forget_if_deleted(self, repo: Repository, experiment_id: int) -> None:
        """Remove the folder of an experiment deleted while its child still ran."""
        try:
            repo.transaction(lambda tx: get_experiment(tx, experiment_id))
        except NotFound:
            shutil.rmtree(self.folder_of(experiment_id), ignore_errors=True)


def _read_lines(stream: IO[bytes] | None, lines: queue.Queue[Any]) -> None:
    """Put each JSON line of ``stream`` on ``lines``, then ``None`` at its end."""
    if stream is not None:
        for raw in stream:
            with contextlib.suppress(ValueError):
                event = json.loads(raw)
                if isinstance(event, dict):
                    lines.put(event)
    lines.put(None)


def _apply(progress: _Progress, event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind in ("start", "run", "end"):
        progress.done = int(event.get("done", progress.done))
        progress.failed = int(event.get("failed", progress.failed))
    if kind == "end":
        progress.ended = True
        progress.error = event.get("error")
    elif kind == "error":
        progress.error = str(event.get("message"))


def _verdict(progress: _Progress, code: int) -> tuple[ExperimentStatus, str | None]:
    """The final status of a child that ended with ``code`` after ``progress``."""
    if progress.ended and code == 0:
        if progress.done > 0:
            return ExperimentStatus.DONE, None
        return ExperimentStatus.FAILED, f"every run failed; the first: {progress.error}"
    if progress.error:
        return ExperimentStatus.FAILED, progress.error
    return ExperimentStatus.FAILED, f"the experiment's process stopped (status {code})"


def _exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the child has ended, left unreaped: while it is a zombie its id
    cannot be reused, so killing its process group reaches its own only."""
    try:
        status = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped already
        return True
    return status is not None


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the child and its worker processes (its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
