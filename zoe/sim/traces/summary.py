"""Figures that describe a trace: counts, span, work and offered load."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from zoe.core.zapp import ZApp
from zoe.sim.traces.base import TraceEntry

_CACHE_LIMIT = 8192


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """What ``zoe trace inspect`` prints.

    ``span_duration`` runs from the first to the last submit time;
    ``work_core_seconds`` sums, over executions, duration times the cores of all
    services (the reserved ``min``), i.e. the core-seconds used at full allocation.
    """

    executions: int
    services: int
    essential_services: int
    elastic_services: int
    first_submit_time: float
    last_submit_time: float
    work_core_seconds: float
    total_duration: float

    @property
    def span_duration(self) -> float:
        """Seconds from the first to the last submit time (0 when empty)."""
        return self.last_submit_time - self.first_submit_time

    @property
    def mean_interarrival(self) -> float | None:
        """Mean seconds between consecutive submits; None below two executions."""
        if self.executions < 2:
            return None
        return self.span_duration / (self.executions - 1)

    @property
    def mean_duration(self) -> float | None:
        """Mean duration of an execution; None for an empty trace."""
        return self.total_duration / self.executions if self.executions else None

    def offered_load(self, cluster_cores: float) -> float | None:
        """Work over what the cluster offers during the span: core-seconds of work
        / (``cluster_cores`` x span). None when the span is zero."""
        if self.span_duration <= 0 or cluster_cores <= 0:
            return None
        return self.work_core_seconds / (cluster_cores * self.span_duration)


def summarize(entries: Iterable[TraceEntry]) -> TraceSummary:
    """Consume ``entries`` (streamed, in bounded memory) and sum them up."""
    shapes: dict[int, tuple[ZApp, int, int, float]] = {}
    executions = services = essential = 0
    first = last = 0.0
    work = total_duration = 0.0
    for entry in entries:
        shape = shapes.get(id(entry.zapp))
        if shape is None:
            shape = _shape(entry.zapp)
            if len(shapes) >= _CACHE_LIMIT:
                shapes.clear()
            shapes[id(entry.zapp)] = shape
        _, count, essential_count, cores = shape
        if executions == 0:
            first = entry.submit_time
        last = entry.submit_time
        executions += 1
        services += count
        essential += essential_count
        work += entry.duration * cores
        total_duration += entry.duration
    return TraceSummary(
        executions,
        services,
        essential,
        services - essential,
        first,
        last,
        work,
        total_duration,
    )


def _shape(zapp: ZApp) -> tuple[ZApp, int, int, float]:
    # the ZApp is kept in the tuple so that its id() is not reused while cached
    millicores = sum(g.total_count * g.resources.cores.min for _, g in zapp.groups())
    return zapp, zapp.service_count, zapp.essential_count, millicores / 1000
