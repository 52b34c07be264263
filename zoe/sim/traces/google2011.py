"""The Google cluster-data 2011 ``task_events`` table.

A line has 13 comma-separated fields: timestamp (microseconds), missing info, job
id, task index, machine id, event type (0 submit, 1 schedule, 2 evict, 3 fail,
4 finish, 5 kill, 6 lost, 7 update pending, 8 update running), user, scheduling
class, priority, CPU request, memory request, disk request, different-machine
constraint. Lines starting with ``#`` are comments; a first line none of whose
fields is a number (a column header) is skipped. Blank lines are ignored.

A job becomes one execution:

- id: the job id; submit time: the job's first SUBMIT, in seconds from the
  earliest event of the file;
- duration: from the first SCHEDULE of any of its tasks to the last FINISH of any
  of its tasks (evictions, failures and re-schedules in between are inside it);
- services: one per task that has a SUBMIT in the file, with the CPU and memory
  requests of its first SUBMIT (requests change in later events of the sample; the
  request at submission is what the user asked for). Normalised requests are scaled
  by options ``machine_cores`` (default 32) and ``machine_memory`` (default
  ``128GiB``); an empty or zero request gets ``min_cores`` (default 0.01) or
  ``min_memory`` (default ``16MiB``). Tasks with equal requests form one service
  group, groups in the order of their first task index;
- option ``essential`` (default ``all``; see :mod:`zoe.sim.traces.swf`): how many of
  the job's services are essential, counted in group order.

Jobs that make no execution are dropped and counted (never an error): no SUBMIT in
the file (submitted before the window), never scheduled, no FINISH of any task
(e.g. all its tasks failed or were killed, or it ran past the window), or a zero
duration. Invalid lines (skippable): a field count other than 13 (the message
names the table or format that has that many fields, e.g. 8 for ``job_events``), a
number field that is not a number, a timestamp above
:data:`~zoe.sim.traces.base.MAX_SECONDS` (1e12 s), an event type outside 0-8, a
negative request.

Jobs span the file, so the reader keeps every job until the end, then yields them
sorted by submit time (ties in order of first appearance). Memory grows with the
number of jobs and tasks in the file (the 2011 trace ships as 500 part-files; read
one at a time or concatenate with care).
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
    number_option,
    service_group,
)
from zoe.sim.traces.skiplog import BadLineError, LineErrors

FIELD_COUNT = 13
SWF_FIELD_COUNT = 18
MAX_MICROSECONDS = round(MAX_SECONDS * 1e6)
"""The largest timestamp accepted: :data:`~zoe.sim.traces.base.MAX_SECONDS`."""
SUBMIT, SCHEDULE, FINISH = 0, 1, 4
_IMAGE = "zoe/google-task"
# a group shape: (millicores, memory, total count, essential count)
_Shape = tuple[tuple[int, int, int, int], ...]


@dataclass(slots=True)
class _Job:
    line: int
    submit: int | None = None
    schedule: int | None = None
    finish: int | None = None
    tasks: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GoogleReader:
    """Reads ``task_events`` files; see the module docstring."""

    OPTIONS: ClassVar[dict[str, str]] = {
        "machine_cores": "cores of the machine that CPU requests are relative to "
        "(default 32)",
        "machine_memory": "memory that memory requests are relative to "
        "(default 128GiB)",
        "min_cores": "cores of a task that requests none (default 0.01)",
        "min_memory": "memory of a task that requests none (default 16MiB)",
        "essential": f"essential services of a job: {ESSENTIAL_HELP} (default all)",
    }

    machine_cores: float = 32.0
    machine_memory: int = 128 * 1024**3
    min_cores: float = 0.01
    min_memory: int = 16 * 1024**2
    essential: Essential = ALL
    _cache: ZAppCache[_Shape] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cache", ZAppCache(_job_zapp))

    @classmethod
    def from_options(cls, **options: object) -> GoogleReader:
        """Build the reader from options given as values or strings."""
        kwargs = converted(
            "google2011 format option",
            options,
            cls.OPTIONS,
            {
                "machine_cores": number_option,
                "min_cores": number_option,
                "machine_memory": memory_option,
                "min_memory": memory_option,
                "essential": essential_option,
            },
        )
        return cls(**kwargs)

    def read(self, path: Path, errors: LineErrors) -> Iterator[TraceEntry]:
        """Yield one execution per complete job, sorted by submit time."""
        jobs, base = self._collect(path, errors)
        entries: list[TraceEntry] = []
        for job_id, job in jobs.items():
            entry = self._entry(job_id, job, base, errors)
            if entry is not None:
                entries.append(entry)
        # sort is stable: equal submit times keep the order of first appearance
        entries.sort(key=lambda entry: entry.submit_time)
        yield from entries

    def _collect(self, path: Path, errors: LineErrors) -> tuple[dict[str, _Job], int]:
        jobs: dict[str, _Job] = {}
        base: int | None = None
        first = True
        for number, text in text_lines(path, errors):
            if not text.strip() or text.startswith("#"):
                continue
            fields = text.rstrip("\r\n").split(",")
            if first and _is_header(fields):
                first = False
                continue
            first = False
            try:
                base = self._add_event(fields, number, jobs, base)
            except BadLineError as exc:
                errors.bad(number, exc)
        return jobs, base or 0

    def _add_event(
        self, fields: list[str], number: int, jobs: dict[str, _Job], base: int | None
    ) -> int:
        if len(fields) != FIELD_COUNT:
            raise BadLineError(
                "wrong field count",
                f"expected {FIELD_COUNT} comma-separated fields, found "
                f"{len(fields)}{_other_table(fields)}",
            )
        time = _integer(fields, 0, "timestamp")
        if time > MAX_MICROSECONDS:
            raise BadLineError(
                "bad value",
                f"timestamp (field 1) is {time} microseconds, above the limit of "
                f"{MAX_SECONDS_TEXT}",
            )
        job_id = str(_integer(fields, 2, "job id"))
        task = _integer(fields, 3, "task index")
        kind = _integer(fields, 5, "event type")
        if kind > 8:
            raise BadLineError(
                "bad value", f"event type (field 6) is {kind}; valid: 0 to 8"
            )
        demand = self._demand(fields) if kind == SUBMIT else None

        job = jobs.get(job_id)
        if job is None:
            job = jobs[job_id] = _Job(number)
        if demand is not None:
            job.submit = time if job.submit is None else min(job.submit, time)
            job.tasks.setdefault(task, demand)
        elif kind == SCHEDULE:
            job.schedule = time if job.schedule is None else min(job.schedule, time)
        elif kind == FINISH:
            job.finish = time if job.finish is None else max(job.finish, time)
        return time if base is None else min(base, time)

    def _demand(self, fields: list[str]) -> tuple[int, int]:
        cpu = _request(fields, 9, "CPU request")
        memory = _request(fields, 10, "memory request")
        millicores = round(cpu * self.machine_cores * 1000)
        nbytes = round(memory * self.machine_memory)
        return (
            millicores if millicores > 0 else max(1, round(self.min_cores * 1000)),
            nbytes if nbytes > 0 else self.min_memory,
        )

    def _entry(
        self, job_id: str, job: _Job, base: int, errors: LineErrors
    ) -> TraceEntry | None:
        times = _times(job)
        if isinstance(times, str):
            errors.dropped(job.line, times, f"job {job_id}: {times}")
            return None
        submit, schedule, finish = times
        try:
            zapp = self._cache.get(self._shape(job))
        except InvalidZApp as exc:
            errors.invalid(job.line, "invalid zapp", f"job {job_id}: {exc}")
            return None
        return TraceEntry(
            job_id, (submit - base) / 1e6, (finish - schedule) / 1e6, zapp
        )

    def _shape(self, job: _Job) -> _Shape:
        counts: dict[tuple[int, int], int] = {}
        for task in sorted(job.tasks):
            demand = job.tasks[task]
            counts[demand] = counts.get(demand, 0) + 1
        left = self.essential.of(len(job.tasks))
        shape = []
        for (millicores, memory), count in counts.items():
            essential = min(left, count)
            left -= essential
            shape.append((millicores, memory, count, essential))
        return tuple(shape)


def _times(job: _Job) -> tuple[int, int, int] | str:
    """(submit, first schedule, last finish), or why the job makes no execution."""
    if job.submit is None or not job.tasks:
        return "job without SUBMIT"
    if job.schedule is None:
        return "job never scheduled"
    if job.finish is None:
        return "job without FINISH"
    if job.finish <= job.schedule:
        return "job of zero duration"
    return job.submit, job.schedule, job.finish


_OTHER_TABLES = {
    6: "the machine_events or task_constraints table of the Google 2011 trace",
    5: "the machine_attributes table of the Google 2011 trace",
    8: "the job_events table of the Google 2011 trace",
    20: "the task_usage table of the Google 2011 trace",
    7: "an Alibaba 2018 batch_task file (use --format alibaba2018)",
    9: "the raw batch_task table of the Alibaba 2018 trace",
}
"""Field counts of other tables, to say what a file of the wrong table looks like."""


def _other_table(fields: list[str]) -> str:
    """A hint naming the table or format a line of the wrong field count is from."""
    line = ",".join(fields).strip()
    if line.startswith("{"):
        guess = "a native trace (use --format native)"
    elif line.startswith(";") or len(line.split()) == SWF_FIELD_COUNT:
        guess = "a Standard Workload Format file (use --format swf)"
    else:
        guess = _OTHER_TABLES.get(len(fields), "")
    if not guess:
        return ""
    return f": this looks like {guess}; give a file of the task_events table"


def _is_header(fields: list[str]) -> bool:
    """A line of column names: no field is a number.

    A data line with one bad field (a letter in its timestamp) still has numbers
    in the others, so it is reported as invalid instead of being taken for names.
    """
    return not any(_is_number(text) for text in fields)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _integer(fields: list[str], index: int, what: str) -> int:
    text = fields[index].strip()
    if not text.isdigit():
        raise BadLineError(
            "not a number",
            f"{what} (field {index + 1}) is {text!r}; expected a whole number >= 0",
        )
    return int(text)


def _request(fields: list[str], index: int, what: str) -> float:
    text = fields[index].strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise BadLineError(
            "not a number", f"{what} (field {index + 1}) is {text!r}, not a number"
        ) from None
    if not (math.isfinite(value) and value >= 0.0):
        raise BadLineError(
            "bad value", f"{what} (field {index + 1}) is {text}; expected a number >= 0"
        )
    return value


def _job_zapp(shape: _Shape) -> dict[str, Any]:
    groups = [
        service_group(f"tasks-{i}", _IMAGE, essential, count, millicores, memory)
        for i, (millicores, memory, count, essential) in enumerate(shape)
    ]
    return {
        "name": "google-job",
        "version": 4,
        "kind": "batch",
        "frameworks": [{"name": "job", "services": groups}],
    }
