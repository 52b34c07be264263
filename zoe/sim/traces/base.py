"""What a trace reader yields: one :class:`TraceEntry` per execution, in trace order."""

from __future__ import annotations

from dataclasses import dataclass

from zoe.core.zapp import ZApp


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One execution of a trace.

    ``submit_time`` is in seconds from the trace start; ``duration`` is the work in
    seconds at full allocation (all services placed). ``serial_fraction`` is only
    read by the ``amdahl`` runtime model (None: the model's default).
    """

    id: str
    submit_time: float
    duration: float
    zapp: ZApp
    serial_fraction: float | None = None
