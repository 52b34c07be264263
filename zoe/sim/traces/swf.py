"""The Standard Workload Format of the Parallel Workloads Archive.

A data line has 18 whitespace-separated numeric fields (``-1``: unknown); lines that
start with ``;`` are header comments, blank lines are ignored. Fields used, 1-based:
2 submit time, 4 run time, 5 allocated processors, 7 used memory, 8 requested
processors, 10 requested memory (memory in KB per processor). Every field must be
a number; the status (field 11) and the others are not used.

A job becomes one execution:

- id: the job number (field 1) as written; submit time: field 2, in seconds as the
  file gives them (not shifted to start at 0); duration: the run time;
- its ZApp has one framework ``job`` with one service group ``proc`` of ``p``
  one-core services, ``p`` = allocated processors, or requested ones when the
  allocated count is unknown;
- option ``essential`` (default ``all``): how many of the ``p`` services are
  essential, the rest elastic: ``all``, a whole number (at most ``p``), or a
  fraction written with a point (``0.25``: a quarter of ``p`` rounded up, at least 1);
- memory per service: the requested memory per processor if known, else the used
  memory per processor, else option ``memory`` (default ``1GiB``).

Invalid lines (skippable): a field count other than 18, a field that is not a
number, a run time <= 0 (jobs that never ran, e.g. cancelled ones), a submit or
run time above :data:`~zoe.sim.traces.base.MAX_SECONDS` (1e12 s), no processor
count (<= 0 in both fields), and a submit time before the previous job's (SWF files
are sorted by submit time; an unsorted one is refused rather than reordered), and
a job number seen before.

ZApps are cached by shape (processors, essential count, memory), so a trace builds
each distinct ZApp once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from zoe.core.errors import InvalidZApp
from zoe.sim.traces.base import MAX_SECONDS, MAX_SECONDS_TEXT, TraceEntry
from zoe.sim.traces.lines import text_lines
from zoe.sim.traces.options import (
    ALL,
    ESSENTIAL_HELP,
    Essential,
    ZAppCache,
    converted,
    essential_option,
    memory_option,
    service_group,
)
from zoe.sim.traces.skiplog import BadLineError, LineErrors, SubmitOrder

FIELD_COUNT = 18
_IMAGE = "zoe/swf-job"


@dataclass(frozen=True, slots=True)
class SwfReader:
    """Reads SWF files; see the module docstring for the mapping and the options."""

    OPTIONS: ClassVar[dict[str, str]] = {
        "essential": f"essential services of a job: {ESSENTIAL_HELP} (default all)",
        "memory": "memory per service when the file gives none (default 1GiB)",
    }

    essential: Essential = ALL
    memory: int = 1024**3
    _cache: ZAppCache[tuple[int, int, int]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cache", ZAppCache(_job_zapp))

    @classmethod
    def from_options(cls, **options: object) -> SwfReader:
        """Build the reader from options given as values or strings."""
        kwargs = converted(
            "swf format option",
            options,
            cls.OPTIONS,
            {"essential": essential_option, "memory": memory_option},
        )
        return cls(**kwargs)

    def read(self, path: Path, errors: LineErrors) -> Iterator[TraceEntry]:
        """Yield one execution per job, in file order."""
        order = SubmitOrder(errors, "job", "sort the file by submit time (field 2)")
        for number, text in text_lines(path, errors):
            fields = text.split()
            if not fields or fields[0].startswith(";"):
                continue
            try:
                entry = self._entry(fields)
            except BadLineError as exc:
                errors.bad(number, exc)
                continue
            if order.accepts(number, entry):
                yield entry

    def _entry(self, fields: list[str]) -> TraceEntry:
        values = _numbers(fields)
        run_time = values[3]
        if run_time <= 0:
            raise BadLineError(
                "no run time", f"run time (field 4) is {fields[3]}; need > 0"
            )
        for index, what in ((1, "submit time"), (3, "run time")):
            if values[index] > MAX_SECONDS:
                raise BadLineError(
                    "bad value",
                    f"{what} (field {index + 1}) is {fields[index]} s, above the "
                    f"limit of {MAX_SECONDS_TEXT}",
                )
        processors = int(values[4]) if values[4] > 0 else int(values[7])
        if processors <= 0:
            raise BadLineError(
                "no processors",
                f"allocated (field 5) and requested (field 8) processors are "
                f"{fields[4]} and {fields[7]}; need one of them > 0",
            )
        per_processor_kb = values[9] if values[9] > 0 else values[6]
        memory = int(per_processor_kb * 1024) if per_processor_kb > 0 else self.memory
        shape = (processors, self.essential.of(processors), memory)
        try:
            zapp = self._cache.get(shape)
        except InvalidZApp as exc:
            raise BadLineError("invalid zapp", str(exc)) from None
        return TraceEntry(fields[0], values[1], run_time, zapp)


def _numbers(fields: list[str]) -> list[float]:
    if len(fields) != FIELD_COUNT:
        raise BadLineError(
            "wrong field count",
            f"expected {FIELD_COUNT} whitespace-separated fields, found {len(fields)}",
        )
    values = []
    for index, text in enumerate(fields, 1):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise BadLineError(
                "not a number", f"field {index} is {text!r}, not a number"
            )
        values.append(value)
    return values


def _job_zapp(shape: tuple[int, int, int]) -> dict[str, Any]:
    processors, essential, memory = shape
    group = service_group("proc", _IMAGE, essential, processors, 1000, memory)
    return {
        "name": f"swf-p{processors}",
        "version": 4,
        "kind": "batch",
        "frameworks": [{"name": "job", "services": [group]}],
    }
