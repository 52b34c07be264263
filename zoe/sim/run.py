"""One simulation run: the function the CLI and the experiments runner call.

:func:`simulate` replays trace entries against a policy on a list of nodes and
returns a :class:`SimResult`; given ``out_dir`` it also writes ``executions.csv``,
``summary.json`` and ``timeline.csv`` there (DESIGN.md section 6). Its signature is
a contract: new options are added as keyword arguments with defaults.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoe.core.errors import InvalidInput
from zoe.core.resources import Resources
from zoe.sim.engine import Engine
from zoe.sim.metrics import (
    ExecutionRecord,
    Timeline,
    skipped_summary,
    summarize,
    write_results,
)
from zoe.sim.runtime import RuntimeModel, make_runtime_model
from zoe.sim.traces.base import MAX_SECONDS, MAX_SECONDS_TEXT

if TYPE_CHECKING:
    from zoe.core.cluster import Node
    from zoe.policies.base import Policy
    from zoe.sim.traces.base import TraceEntry


@dataclass(frozen=True, slots=True)
class SimResult:
    """What a run produced.

    ``records``: one per execution that arrived, in submission order.
    ``summary``: the ``summary.json`` document. ``timeline``: the cluster state
    over simulated time (see :class:`~zoe.sim.metrics.Timeline`).
    """

    records: tuple[ExecutionRecord, ...]
    summary: dict[str, Any]
    timeline: Timeline

    def by_id(self) -> dict[str, ExecutionRecord]:
        """The records keyed by execution id."""
        return {record.id: record for record in self.records}


def simulate(
    entries: Iterable[TraceEntry],
    nodes: Sequence[Node],
    policy: Policy,
    *,
    runtime_model: str | RuntimeModel = "linear",
    runtime_options: dict[str, Any] | None = None,
    think_time: float = 0.0,
    out_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
    trace_name: str = "",
    skipped: object = None,
    placement: str | None = None,
    seed: int | None = None,
    cluster: str = "",
    timeline_step: float = 0.0,
    until: float | None = None,
    trace_format: str | None = None,
    trace_options: Mapping[str, object] | None = None,
) -> SimResult:
    """Simulate ``entries`` (trace order) with ``policy`` on ``nodes`` (in order).

    - ``runtime_model``: a registry name (``linear``, ``amdahl``, ``rigid``) built
      with ``runtime_options``, or a model object.
    - ``think_time``: seconds between a round and the application of its plan.
    - ``out_dir``: when given, the three result files are written there.
    - ``progress``: called with the number of executions done (finished or
      rejected) every few hundred executions and once at the end.
    - ``trace_name``, ``placement``, ``seed``, ``cluster`` (and ``until``): copied
      into the summary (``placement`` defaults to the policy's ``placement`` attribute,
      ``cluster`` to a description of ``nodes``).
    - ``trace_format``, ``trace_options``: how the trace was read (the format's
      name, None when unknown, and its options); copied into the summary as
      ``trace_format`` and ``trace_options``, option values as text.
    - ``skipped``: the skip log the trace reader filled (read after the run, since
      the reader fills it while the entries are consumed); summarised by reason.
    - ``timeline_step``: keep a timeline row at most every that many seconds.
    - ``until``: stop the simulated clock there; active executions are then
      ``unfinished`` and entries not yet submitted are not read.

    Raises :class:`InvalidInput` for a bad option (a time above
    :data:`~zoe.sim.traces.base.MAX_SECONDS` among them), an unknown runtime
    model or an ``out_dir`` that cannot be written (checked before the run),
    :class:`~zoe.core.errors.InvalidTrace` for entries out of order or with
    duplicate ids, and whatever the entries' iterator raises.
    """
    _check_options(think_time, timeline_step, until)
    if out_dir is not None:
        prepare_out_dir(Path(out_dir))
    model = (
        make_runtime_model(runtime_model, **(runtime_options or {}))
        if isinstance(runtime_model, str)
        else runtime_model
    )
    engine = Engine(
        nodes,
        policy,
        model,
        think_time=think_time,
        timeline_step=timeline_step,
        progress=progress,
        trace_name=trace_name,
    )

    started = time.perf_counter()
    records = engine.run(entries, until)
    wall_clock = time.perf_counter() - started

    capacity = engine.cluster.capacity
    parameters = {
        "rounds": engine.rounds,
        "policy": getattr(policy, "name", type(policy).__name__),
        "placement": placement if placement is not None else _placement_of(policy),
        "runtime_model": model.name,
        "think_time": think_time,
        "until": until,
        "seed": seed,
        "cluster": cluster or describe_nodes(nodes),
        "trace": trace_name,
        "trace_format": trace_format,
        # as text, like the command line gives them: a summary's numbers are metrics
        "trace_options": {
            name: str(value) for name, value in (trace_options or {}).items()
        },
        "skipped": skipped_summary(skipped),
    }
    summary = summarize(
        records,
        engine.timeline,
        (capacity.millicores, capacity.memory),
        wall_clock,
        parameters,
    )
    if out_dir is not None:
        write_results(Path(out_dir), records, engine.timeline, summary)
    return SimResult(tuple(records), summary, engine.timeline)


def _check_options(
    think_time: float, timeline_step: float, until: float | None
) -> None:
    if not (math.isfinite(think_time) and think_time >= 0):
        raise InvalidInput(
            f"think time must be a number of seconds >= 0, got {think_time!r}"
        )
    if not (math.isfinite(timeline_step) and timeline_step >= 0):
        raise InvalidInput(
            f"timeline step must be a number of seconds >= 0, got {timeline_step!r}"
        )
    # the clock starts at 0: a run has to end after it
    if until is not None and not until > 0:
        raise InvalidInput(f"until must be a time > 0 (seconds), got {until!r}")
    for what, seconds in (
        ("think time", think_time),
        ("timeline step", timeline_step),
        ("until", until),
    ):
        if seconds is not None and seconds > MAX_SECONDS:
            raise InvalidInput(
                f"{what} must be at most {MAX_SECONDS_TEXT}, got {seconds!r}"
            )


def prepare_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` (and its parents) if missing; check that it can be written.

    Raises :class:`InvalidInput` naming the folder when it is a file, cannot be
    created or is not writable, so that a run never ends without its results.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InvalidInput(
            f"output folder {out_dir} is a file; give the path of a folder"
        ) from None
    except OSError as exc:
        raise InvalidInput(
            f"output folder {out_dir} cannot be created ({exc.strerror or exc}); "
            "give a folder that can be written"
        ) from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise InvalidInput(
            f"output folder {out_dir} is not writable; give a folder that can be "
            "written"
        )


def _placement_of(policy: object) -> str:
    placement = getattr(policy, "placement", "")
    if isinstance(placement, str):
        return placement
    return str(getattr(placement, "name", placement))


def describe_nodes(nodes: Sequence[Node]) -> str:
    """A short description: ``25x32c128g`` when all nodes are alike, else a count."""
    if not nodes:
        return "0 nodes"
    first = nodes[0].capacity
    if all(n.capacity == first and not n.labels for n in nodes):
        gib = 1024**3
        if first.memory % gib == 0:
            cores = first.millicores / 1000
            cores_text = f"{cores:g}"
            return f"{len(nodes)}x{cores_text}c{first.memory // gib}g"
    total = sum((n.capacity for n in nodes), Resources())
    return f"{len(nodes)} nodes, {total}"
