"""What a trace reader yields: one :class:`TraceEntry` per execution, in trace order.

:data:`MAX_SECONDS` bounds every time and duration the simulator is given: submit
times and durations read from traces, the parameters of workload models and the
times of ``zoe sim run`` (``--think-time``, ``--until``, ``--timeline-step``).
"""

from __future__ import annotations

from dataclasses import dataclass

from zoe.core.zapp import ZApp

MAX_SECONDS = 1e12
"""The largest time or duration accepted as input, in seconds (about 31,700 years).

Far above any real trace, and low enough that sums of such times stay exact to
well under a millisecond and never overflow to infinity (a duration of 1e308 would
turn the statistics of a run into NaN). Readers refuse a line above it as invalid;
options and flags above it are bad input.
"""
MAX_SECONDS_TEXT = f"{MAX_SECONDS:g} s (about {MAX_SECONDS / 31_557_600:,.0f} years)"
""":data:`MAX_SECONDS` as error messages write it."""


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
