"""What a simulation records, and the result files (DESIGN.md section 6).

The engine fills an :class:`ExecutionRecord` per execution and a :class:`Timeline`
of the cluster state; nothing here logs. :func:`summarize` reduces both to the
``summary.json`` document; :func:`write_results` writes the three files:

- ``executions.csv``: one row per execution in submission order, floats written
  with ``repr`` so two runs of the same input give byte-identical files;
- ``summary.json``: counts, statistics of ``queue_duration`` and ``turnaround``,
  mean allocated fractions, span, wall-clock figures and the run's parameters;
- ``timeline.csv``: the cluster state at each instant where it changed.
"""

from __future__ import annotations

import csv
import json
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from zoe.core.resources import format_cores

EXECUTION_COLUMNS = (
    "id",
    "submit_time",
    "start_time",
    "full_time",
    "end_time",
    "queue_duration",
    "turnaround",
    "status",
    "reason",
    "services",
    "essential",
    "cores",
    "memory",
    "duration",
)
TIMELINE_COLUMNS = (
    "time",
    "allocated_cores",
    "allocated_memory",
    "queue_length",
    "running",
)


class RecordStatus(StrEnum):
    """How an execution left the simulation."""

    FINISHED = "finished"
    REJECTED = "rejected"
    UNFINISHED = "unfinished"


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """The times of one execution; ``None`` for an instant that never came.

    ``millicores`` and ``memory`` are what all its services reserve together;
    ``duration`` is its work at full allocation, in seconds.
    """

    id: str
    seq: int
    submit_time: float
    start_time: float | None
    full_time: float | None
    end_time: float | None
    status: RecordStatus
    reason: str
    services: int
    essential: int
    millicores: int
    memory: int
    duration: float

    @property
    def queue_duration(self) -> float | None:
        """``start_time - submit_time``, or None if it never started."""
        if self.start_time is None:
            return None
        return self.start_time - self.submit_time

    @property
    def turnaround(self) -> float | None:
        """``end_time - submit_time``, or None if it never ended."""
        if self.end_time is None:
            return None
        return self.end_time - self.submit_time

    def row(self) -> list[str]:
        """The ``executions.csv`` row, in :data:`EXECUTION_COLUMNS` order."""
        return [
            self.id,
            _num(self.submit_time),
            _num(self.start_time),
            _num(self.full_time),
            _num(self.end_time),
            _num(self.queue_duration),
            _num(self.turnaround),
            self.status.value,
            self.reason,
            str(self.services),
            str(self.essential),
            str(format_cores(self.millicores)),
            str(self.memory),
            _num(self.duration),
        ]


def _num(value: float | None) -> str:
    """A float written exactly (``repr``), or empty for None."""
    return "" if value is None else repr(float(value))


class Timeline:
    """The cluster state over simulated time, and its time integrals.

    :meth:`record` is called after every instant where the state may have changed;
    a second call at the same instant replaces the first. With ``step`` > 0 a row
    is kept only when at least ``step`` seconds passed since the last kept row (the
    integrals always use every change, so the mean fractions stay exact).
    """

    def __init__(self, step: float = 0.0) -> None:
        self.step = step
        self.time = array("d")
        self.millicores = array("q")
        self.memory = array("q")
        self.queue_length = array("q")
        self.running = array("q")
        self.first_time: float | None = None
        self.last_time = 0.0
        self.core_seconds = 0.0
        self.memory_seconds = 0.0
        self._millicores = 0
        self._memory = 0

    def record(
        self, time: float, millicores: int, memory: int, queue: int, running: int
    ) -> None:
        """Note the state at ``time`` (not earlier than the last call)."""
        if self.first_time is None:
            self.first_time = time
        else:
            elapsed = time - self.last_time
            self.core_seconds += self._millicores * elapsed
            self.memory_seconds += self._memory * elapsed
        self.last_time = time
        self._millicores = millicores
        self._memory = memory

        rows = self.time
        if rows and rows[-1] == time:
            self._set_last(millicores, memory, queue, running)
        elif not rows or time - rows[-1] >= self.step:
            rows.append(time)
            self.millicores.append(millicores)
            self.memory.append(memory)
            self.queue_length.append(queue)
            self.running.append(running)

    def _set_last(self, millicores: int, memory: int, queue: int, running: int) -> None:
        self.millicores[-1] = millicores
        self.memory[-1] = memory
        self.queue_length[-1] = queue
        self.running[-1] = running

    @property
    def span(self) -> float:
        """Simulated seconds from the first recorded instant to the last."""
        return 0.0 if self.first_time is None else self.last_time - self.first_time

    def rows(self) -> Iterable[list[str]]:
        """The ``timeline.csv`` rows (cores as floats, memory in bytes)."""
        for i, time in enumerate(self.time):
            yield [
                repr(time),
                repr(self.millicores[i] / 1000),
                str(self.memory[i]),
                str(self.queue_length[i]),
                str(self.running[i]),
            ]


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values, interpolated linearly between ranks.

    The same rule as numpy's default: position ``q * (n - 1)`` in the sorted list.
    """
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def statistics(values: Iterable[float]) -> dict[str, float | None]:
    """Mean, median, p90 and p99 of ``values`` (all None when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return {"mean": None, "median": None, "p90": None, "p99": None}
    return {
        "mean": math.fsum(ordered) / len(ordered),
        "median": quantile(ordered, 0.5),
        "p90": quantile(ordered, 0.9),
        "p99": quantile(ordered, 0.99),
    }


def skipped_summary(skipped: object) -> dict[str, Any]:
    """Count the skipped trace lines by reason.

    Takes what the trace reader filled: a skip log with ``counts`` (reason to
    count) and ``examples`` (items with ``line``, ``kind`` and ``message``), or a
    plain sequence of errors or strings (counted by their ``reason`` or text).
    """
    if skipped is None:
        return {"count": 0, "reasons": {}}
    counts = getattr(skipped, "counts", None)
    if isinstance(counts, dict):
        examples = [
            {"line": e.line, "reason": e.kind, "message": e.message}
            for e in getattr(skipped, "examples", ())
        ]
        return {
            "count": sum(counts.values()),
            "reasons": dict(sorted(counts.items())),
            "examples": examples,
        }
    items = list(skipped) if isinstance(skipped, Iterable) else []
    reasons = Counter(str(getattr(item, "reason", item)) for item in items)
    return {"count": len(items), "reasons": dict(sorted(reasons.items()))}


def summarize(
    records: Sequence[ExecutionRecord],
    timeline: Timeline,
    capacity: tuple[int, int],
    wall_clock_seconds: float,
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """The ``summary.json`` document.

    ``capacity`` is the cluster's (millicores, bytes). The mean allocated
    fractions are time-weighted over the simulated span (first arrival to last
    event). ``parameters`` (policy, placement, runtime model, seed, cluster,
    trace...) are copied in as they are.
    """
    counts = Counter(record.status for record in records)
    span = timeline.span
    total_mc, total_memory = capacity
    if span > 0:
        cores_fraction = timeline.core_seconds / (total_mc * span)
        memory_fraction = timeline.memory_seconds / (total_memory * span)
    else:
        cores_fraction = memory_fraction = 0.0
    return {
        "counts": {
            "submitted": len(records),
            "finished": counts[RecordStatus.FINISHED],
            "rejected": counts[RecordStatus.REJECTED],
            "unfinished": counts[RecordStatus.UNFINISHED],
        },
        "queue_duration": statistics(
            r.queue_duration for r in records if r.queue_duration is not None
        ),
        "turnaround": statistics(
            r.turnaround for r in records if r.turnaround is not None
        ),
        "allocated_fraction": {"cores": cores_fraction, "memory": memory_fraction},
        "simulated_span": span,
        "wall_clock_seconds": wall_clock_seconds,
        "executions_per_second": (
            len(records) / wall_clock_seconds if wall_clock_seconds > 0 else None
        ),
        **parameters,
    }


def write_results(
    out_dir: Path,
    records: Sequence[ExecutionRecord],
    timeline: Timeline,
    summary: dict[str, Any],
) -> None:
    """Write ``executions.csv``, ``summary.json`` and ``timeline.csv`` into ``out_dir``.

    Creates ``out_dir`` (and its parents) when missing; overwrites the files.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "executions.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(EXECUTION_COLUMNS)
        writer.writerows(record.row() for record in records)
    with (out_dir / "timeline.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(TIMELINE_COLUMNS)
        writer.writerows(timeline.rows())
    text = json.dumps(summary, indent=2, sort_keys=False, allow_nan=False)
    (out_dir / "summary.json").write_text(text + "\n", encoding="utf-8")
