"""One run of the grid, as carried out in a worker process or on a Dask worker.

:func:`execute_run` is a top-level function of picklable arguments: it builds the
trace, the cluster and the policy, simulates into a private temporary folder, and
returns the result files as bytes. It never writes into the experiment's folder, so
a run on a remote machine needs no shared file system (except for trace files given
by path, which must exist at the same path on the workers).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import itertools
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoe.core.cluster import Node
    from zoe.experiments.grid import Run
    from zoe.sim.traces import SkipLog
    from zoe.sim.traces.base import TraceEntry


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a run returns: its files (name -> bytes) or the error that stopped it."""

    run_id: str
    files: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    wall_duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the simulation finished and its files are here."""
        return self.error is None


def execute_run(run: Run) -> RunOutcome:
    """Simulate ``run`` and return its files; an exception becomes a failed outcome.

    Only :class:`Exception` is caught: an interrupt still stops the worker.
    """
    started = time.perf_counter()
    try:
        files = _simulate(run)
    except Exception as exc:
        return RunOutcome(
            run_id=run.run_id,
            error=str(exc) or type(exc).__name__,
            error_type=type(exc).__name__,
            traceback=traceback.format_exc(),
            wall_duration=time.perf_counter() - started,
        )
    return RunOutcome(
        run_id=run.run_id, files=files, wall_duration=time.perf_counter() - started
    )


def _simulate(run: Run) -> dict[str, bytes]:
    from zoe.policies.registry import make_policy
    from zoe.sim.run import simulate
    from zoe.sim.traces import SkipLog

    nodes = build_nodes(run)
    policy = make_policy(run.policy, run.placement, seed=run.seed)
    skipped = SkipLog()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="zoe-run-") as tmp:
        entries = scaled(trace_entries(run, stack, skipped), run.load)
        simulate(
            entries,
            nodes,
            policy,
            runtime_model=run.runtime_model,
            think_time=run.think_time,
            out_dir=Path(tmp),
            trace_name=run.trace.name,
            trace_format=None if run.trace.kind == "generator" else run.trace.format,
            trace_options=run.trace.options,
            skipped=skipped,
            placement=run.placement,
            seed=run.seed,
            cluster=run.cluster.name,
        )
        return {
            path.name: path.read_bytes()
            for path in sorted(Path(tmp).iterdir())
            if path.is_file()
        }


def build_nodes(run: Run) -> list[Node]:
    """The run's nodes, from the shorthand or the cluster document."""
    from zoe.core.cluster import nodes_from_document, parse_cluster

    if run.cluster.shorthand is not None:
        return parse_cluster(run.cluster.shorthand)
    return nodes_from_document(run.cluster.document, source=run.cluster.name)


def trace_entries(run: Run, stack: ExitStack, skipped: SkipLog) -> Iterator[TraceEntry]:
    """The run's executions in trace order, before load scaling.

    A package resource is opened as a file for as long as ``stack`` lives.
    """
    trace = run.trace
    if trace.generator is not None:
        from zoe.sim.generators import generate

        return generate(
            trace.generator, seed=run.seed, apps=trace.apps or 0, **trace.params
        )
    from zoe.sim.traces import read_trace

    if trace.file is not None:
        path = Path(trace.file)
    else:
        resource = importlib.resources.files(trace.package or "").joinpath(
            trace.resource or ""
        )
        path = stack.enter_context(importlib.resources.as_file(resource))
    entries = read_trace(
        path,
        trace.format,
        skip_invalid=trace.skip_invalid,
        skipped=skipped,
        **trace.options,
    )
    return entries if trace.limit is None else itertools.islice(entries, trace.limit)


def scaled(entries: Iterator[TraceEntry], load: float) -> Iterator[TraceEntry]:
    """Divide every submit time by ``load``: load 2 makes arrivals twice as dense."""
    if load == 1.0:
        yield from entries
        return
    for entry in entries:
        yield dataclasses.replace(entry, submit_time=entry.submit_time / load)
