"""Run an experiment's grid: in local worker processes or on a Dask cluster.

Layout of the output folder ``DIR``::

    DIR/runs/<run_id>/     params.json, summary.json, executions.csv, timeline.csv
    DIR/runs.parquet       the tidy table (also runs.csv)
    DIR/failures.json      the runs that failed: parameters and error ([] if none)
    DIR/provenance.json    versions, git revision, spec text, times, cores
    DIR/figures/           PNG and SVG figures
    DIR/report.html, DIR/report.md

A run is written into ``runs/.tmp-<run_id>-<random>/`` and renamed into place when
complete, so a folder ``runs/<run_id>`` is always whole. A run counts as done when
its folder holds ``summary.json`` and a ``params.json`` whose fingerprint is the
run's: rerunning a grid runs only what is missing or changed (all with ``force``).
The runner only writes files in the parent process; workers return bytes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zoe.experiments.grid import Run, expand
from zoe.experiments.provenance import provenance
from zoe.experiments.worker import RunOutcome, execute_run, trace_entries

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from zoe.experiments.spec import ExperimentSpec

log = logging.getLogger(__name__)

Executor = Literal["local", "dask"]


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    """How to run a grid. ``workers`` None: one per core (local) or per Dask default."""

    out_dir: Path
    force: bool = False
    workers: int | None = None
    executor: Executor = "local"
    scheduler: str | None = None
    figures: bool = True


@dataclass(slots=True)
class ExperimentResult:
    """What :func:`run_experiment` did: run ids executed, reused and failed."""

    out_dir: Path
    runs: list[Run]
    executed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    table: pd.DataFrame | None = None
    report: Path | None = None


def run_experiment(
    spec: ExperimentSpec,
    options: RunnerOptions,
    *,
    console: Console | None = None,
    on_run: Callable[[str, bool], None] | None = None,
) -> ExperimentResult:
    """Run every run of ``spec`` not yet done, then write the table, figures, report.

    A failed run is recorded and reported; the others go on. ``on_run`` is called
    with the run id and whether it succeeded as each run is settled (stored or
    recorded as failed), in this process. Raises only for problems of the whole
    experiment (a bad spec, an unreachable Dask scheduler; an output folder that
    cannot be written is an :class:`~zoe.core.errors.InvalidInput`, and a malformed
    trace file an :class:`~zoe.core.errors.InvalidTrace` (see :func:`check_traces`),
    both before any run).
    """
    from zoe.sim.run import prepare_out_dir

    started = datetime.now(UTC)
    out_dir = options.out_dir
    runs_dir = out_dir / "runs"
    prepare_out_dir(out_dir)
    prepare_out_dir(runs_dir)
    remove_partial(runs_dir)

    runs = expand(spec)
    todo = [r for r in runs if options.force or not is_done(runs_dir, r)]
    check_traces(todo)
    result = ExperimentResult(out_dir, runs)
    pending = {r.run_id for r in todo}
    result.reused = [r.run_id for r in runs if r.run_id not in pending]
    _execute(todo, options, result, console, len(runs), on_run)

    _write_json(out_dir / "failures.json", result.failures)
    finish(spec, result, options, console)
    record = provenance(spec, options, started, len(runs), result)
    _write_json(out_dir / "provenance.json", record)
    return result


def finish(
    spec: ExperimentSpec,
    result: ExperimentResult,
    options: RunnerOptions,
    console: Console | None,
) -> None:
    """Write the tidy table; then the figures and the report when there are results."""
    from zoe.experiments.results import tidy_rows, write_table

    out_dir = result.out_dir
    result.table = write_table(tidy_rows(result.runs, out_dir / "runs"), out_dir)
    if result.table.empty or not options.figures:
        return
    if console is not None:
        console.print("[bold]drawing figures and writing the report[/bold]")
    result.report = draw_and_report(out_dir, result.table, spec.name, spec.description)


def draw_and_report(out_dir: Path, table: pd.DataFrame, name: str, intro: str) -> Path:
    """Redraw every figure and rewrite both reports from ``table``; the HTML path."""
    from zoe.experiments.plots import draw_figures
    from zoe.experiments.report import paired_table, summary_table, write_report

    figures = draw_figures(out_dir, table)
    return write_report(
        out_dir,
        summary_table(table),
        figures,
        title=f"Experiment {name}",
        intro=intro,
        paired=paired_table(table),
    )


def check_traces(runs: Sequence[Run]) -> list[str]:
    """Read each trace file of ``runs`` once, as a run reads it; return their names.

    Every line is parsed and validated by the trace's reader with the trace's
    format, options, ``skip_invalid`` and ``limit``, so a fault that would fail
    every run of the trace raises :class:`~zoe.core.errors.InvalidTrace` (file,
    line, message) here, before any run starts. Generated traces are not checked.

    Cost: one read of each distinct trace file, whatever the number of runs that
    use it: the reading and parsing time of one run without its simulation, in the
    memory the reader needs (streaming, except google2011, which holds the jobs of
    the file as every run of it does).
    """
    from zoe.sim.traces import SkipLog

    first: dict[str, Run] = {}
    for run in runs:
        if run.trace.kind != "generator":
            first.setdefault(run.trace.name, run)
    for run in first.values():
        with ExitStack() as stack:
            for _ in trace_entries(run, stack, SkipLog()):
                pass
    return list(first)


def is_done(runs_dir: Path, run: Run) -> bool:
    """Whether ``run``'s folder is complete and was made with the same parameters."""
    folder = runs_dir / run.run_id
    if not (folder / "summary.json").is_file():
        return False
    try:
        params = json.loads((folder / "params.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(params, dict) and params.get("fingerprint") == run.fingerprint


def remove_partial(runs_dir: Path) -> None:
    """Delete the temporary folders an interrupted runner left behind."""
    for path in runs_dir.glob(".tmp-*"):
        log.info("experiment: removing partial run folder %s", path)
        shutil.rmtree(path, ignore_errors=True)


def store_run(runs_dir: Path, run: Run, outcome: RunOutcome) -> None:
    """Write ``outcome``'s files and params.json, then rename the folder into place.

    Raises :class:`ValueError` when the simulation returned no ``summary.json``.
    """
    if "summary.json" not in outcome.files:
        raise ValueError("the simulation wrote no summary.json")
    tmp = runs_dir / f".tmp-{run.run_id}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    for name, data in outcome.files.items():
        (tmp / name).write_bytes(data)
    params = {
        **run.params(),
        "fingerprint": run.fingerprint,
        "wall_duration": outcome.wall_duration,
    }
    _write_json(tmp / "params.json", params)
    final = runs_dir / run.run_id
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def _execute(
    todo: Sequence[Run],
    options: RunnerOptions,
    result: ExperimentResult,
    console: Console | None,
    total: int,
    on_run: Callable[[str, bool], None] | None = None,
) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    by_id = {run.run_id: run for run in todo}
    progress = Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        # a bar redrawn into a file or a pipe is noise: only on a terminal
        disable=console is None or not console.is_terminal,
    )
    with progress:
        task = progress.add_task("runs", total=total, completed=total - len(todo))
        for outcome in outcomes(todo, options):
            run = by_id[outcome.run_id]
            shown = progress.console if console is not None else None
            failed = len(result.failures)
            _settle(run, outcome, options.out_dir / "runs", result, shown)
            progress.advance(task)
            if on_run is not None:
                on_run(run.run_id, len(result.failures) == failed)


def _settle(
    run: Run,
    outcome: RunOutcome,
    runs_dir: Path,
    result: ExperimentResult,
    console: Any,
) -> None:
    if outcome.ok:
        try:
            store_run(runs_dir, run, outcome)
        except (OSError, ValueError) as exc:
            outcome = RunOutcome(
                run.run_id, error=str(exc), error_type=type(exc).__name__
            )
    if outcome.ok:
        result.executed.append(run.run_id)
        return
    result.failures.append(
        {
            "run_id": run.run_id,
            "params": run.params(),
            "error_type": outcome.error_type,
            "error": outcome.error,
            "traceback": outcome.traceback,
        }
    )
    if console is None:
        log.error("run %s: failed: %s", run.run_id, outcome.error)
    else:
        from rich.text import Text

        console.print(
            Text.assemble(
                (f"run {run.run_id} failed", "red"),
                f": {outcome.error_type}: {outcome.error}",
            )
        )


def outcomes(todo: Sequence[Run], options: RunnerOptions) -> Iterator[RunOutcome]:
    """The outcomes of ``todo`` in completion order, by the chosen executor."""
    if not todo:
        return iter(())
    runner: Callable[[Sequence[Run], RunnerOptions], Iterator[RunOutcome]] = (
        dask_outcomes if options.executor == "dask" else local_outcomes
    )
    return runner(todo, options)


def local_outcomes(todo: Sequence[Run], options: RunnerOptions) -> Iterator[RunOutcome]:
    """Run ``todo`` in a pool of worker processes (forkserver, else spawn)."""
    workers = min(options.workers or os.cpu_count() or 1, len(todo))
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in methods else "spawn"
    )
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    completed = False
    try:
        futures = {pool.submit(execute_run, run): run for run in todo}
        for future in as_completed(futures):
            yield _outcome_of(futures[future], future.result)
        completed = True
    finally:
        # on an interrupt, drop the queued runs instead of waiting for them all
        pool.shutdown(wait=completed, cancel_futures=not completed)


def dask_outcomes(todo: Sequence[Run], options: RunnerOptions) -> Iterator[RunOutcome]:
    """Run ``todo`` on the Dask scheduler at ``options.scheduler``.

    Without an address, a local Dask cluster of ``options.workers`` processes is
    started for the experiment and closed after it.
    """
    import distributed

    dist: Any = distributed  # its functions are untyped
    cluster = None
    if options.scheduler is None:
        cluster = dist.LocalCluster(
            n_workers=options.workers or os.cpu_count() or 1, threads_per_worker=1
        )
    client = dist.Client(cluster if cluster is not None else options.scheduler)
    try:
        futures = {
            client.submit(
                execute_run, run, key=f"zoe-run-{run.run_id}-{uuid.uuid4().hex[:8]}"
            ): run
            for run in todo
        }
        for future in dist.as_completed(list(futures)):
            yield _outcome_of(futures[future], future.result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _outcome_of(run: Run, result: Callable[[], RunOutcome]) -> RunOutcome:
    """The outcome of a finished future; a worker that died becomes a failure."""
    try:
        return result()
    except Exception as exc:
        return RunOutcome(
            run.run_id,
            error=str(exc) or type(exc).__name__,
            error_type=type(exc).__name__,
        )


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
