"""The Alibaba cluster-trace v2018 ``batch_task`` table, in the sample's layout.

A line has 7 comma-separated fields and no header: arrival (seconds), job id, task
name, duration (seconds), plan_cpu (hundredths of a core: 50 is half a core),
plan_mem (memory normalised to a machine, 0 to 100), instance count. Blank lines
and lines starting with ``#`` are ignored.

A job becomes one execution, a task one framework with one service group of
``instance count`` services:

- id: the job id; submit time: its arrival;
- task names ``<letters><n>[_<d>...]`` (e.g. ``M5_3_4``) are task ``n`` depending on
  tasks ``d``: the framework ``t<n>`` gets ``depends_on`` ``t<d>``. Any other name
  (``task_<id>``) is an independent task, framework ``i<k>`` (k-th such task of the
  job). Frameworks are listed in a dependency order (a task after those it depends
  on; otherwise in file order);
- duration: the critical path of the DAG, the longest chain of task durations
  (tasks of one chain run one after the other, independent chains in parallel).
  The trace's resolution is one second and 546 jobs of the sample last 0 s: the
  duration is at least option ``min_duration`` (default 1 s; 0 makes such jobs
  invalid);
- cores per service: plan_cpu / 100; memory: plan_mem / 100 x option
  ``machine_memory`` (default ``128GiB``, the machine of the default cluster);
- option ``essential`` (default ``1``; same values as in :mod:`zoe.sim.traces.swf`,
  applied to each task): the instances of a batch task are identical workers of one
  program, so the task can progress with one of them and speeds up with more, which
  is what elastic services are for; one instance per task is essential, the rest
  elastic. ``all`` makes every job rigid.

Grouping: rows of a job must be together or at least share one arrival time; the
reader keeps the jobs of the current arrival second open and yields them when a
later arrival starts, in order of first appearance. Memory: the rows of one arrival
second, plus the set of job ids already yielded (to refuse a job whose rows come
back later). Invalid lines (skippable): a field count other than 7, a bad number, a
non-positive plan_cpu, plan_mem or instance count, an arrival or duration above
:data:`~zoe.sim.traces.base.MAX_SECONDS` (1e12 s), an arrival before the previous
one, the rows of a job split by a later arrival. Invalid jobs (skippable, reported
at the line to blame): two tasks with one number, a dependency on a task the job
does not have, a dependency cycle, a zero duration with ``min_duration`` 0, a
critical path above ``MAX_SECONDS``.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from zoe.core.errors import InvalidZApp
from zoe.sim.traces.base import MAX_SECONDS, MAX_SECONDS_TEXT, TraceEntry
from zoe.sim.traces.lines import text_lines
from zoe.sim.traces.options import (
    ESSENTIAL_HELP,
    ONE,
    Essential,
    ZAppCache,
    converted,
    essential_option,
    memory_option,
    seconds_option,
    service_group,
)
from zoe.sim.traces.skiplog import BadLineError, LineErrors

FIELD_COUNT = 7
_DAG_NAME = re.compile(r"^[A-Za-z]+([0-9]+)((?:_[0-9]+)*)$")
_IMAGE = "zoe/alibaba-task"
# a framework shape: (name, depends_on, millicores, memory, total, essential)
_Shape = tuple[tuple[str, tuple[str, ...], int, int, int, int], ...]


@dataclass(frozen=True, slots=True)
class _Task:
    line: int
    name: str  # framework name, t<n> or i<k>
    depends_on: tuple[str, ...]
    duration: float
    millicores: int
    memory: int
    instances: int


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    job_id: str
    arrival: float
    task_name: str
    duration: float
    millicores: int
    memory: int
    instances: int


@dataclass(slots=True)
class _Job:
    line: int
    arrival: float
    rows: list[_Row] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AlibabaReader:
    """Reads ``batch_task`` files in the sample's layout; see the module docstring."""

    OPTIONS: ClassVar[dict[str, str]] = {
        "machine_memory": "memory that plan_mem is relative to (default 128GiB)",
        "essential": f"essential instances of each task: {ESSENTIAL_HELP} (default 1)",
        "min_duration": "least duration of a job, seconds (default 1)",
    }

    machine_memory: int = 128 * 1024**3
    essential: Essential = ONE
    min_duration: float = 1.0
    _cache: ZAppCache[_Shape] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cache", ZAppCache(_job_zapp))

    @classmethod
    def from_options(cls, **options: object) -> AlibabaReader:
        """Build the reader from options given as values or strings."""
        kwargs = converted(
            "alibaba2018 format option",
            options,
            cls.OPTIONS,
            {
                "machine_memory": memory_option,
                "essential": essential_option,
                "min_duration": partial(seconds_option, inclusive=True),
            },
        )
        return cls(**kwargs)

    def read(self, path: Path, errors: LineErrors) -> Iterator[TraceEntry]:
        """Yield one execution per job, in arrival order."""
        open_jobs: dict[str, _Job] = {}
        done: set[str] = set()
        current = -math.inf
        for number, text in text_lines(path, errors):
            if not text.strip() or text.startswith("#"):
                continue
            try:
                row = self._row(number, text)
                if row.arrival > current:
                    yield from self._flush(open_jobs, done, errors)
                    current = row.arrival
                _add_row(open_jobs, done, row, current)
            except BadLineError as exc:
                errors.bad(number, exc)
        yield from self._flush(open_jobs, done, errors)

    def _flush(
        self, open_jobs: dict[str, _Job], done: set[str], errors: LineErrors
    ) -> Iterator[TraceEntry]:
        for job_id, job in open_jobs.items():
            done.add(job_id)
            try:
                yield self._entry(job_id, job)
            except BadLineError as exc:
                errors.bad(job.line, exc)
        open_jobs.clear()

    def _entry(self, job_id: str, job: _Job) -> TraceEntry:
        tasks = _tasks(job_id, job)
        ordered = _dependency_order(job_id, tasks)
        duration = max(_critical_path(ordered), self.min_duration)
        if duration <= 0:
            raise BadLineError(
                "no duration",
                f"job {job_id}: every task lasts 0 s; give min_duration > 0",
                job.line,
            )
        if duration > MAX_SECONDS:
            raise BadLineError(
                "bad value",
                f"job {job_id}: its longest chain of tasks lasts {duration:g} s, "
                f"above the limit of {MAX_SECONDS_TEXT}",
                job.line,
            )
        shape = tuple(
            (
                task.name,
                task.depends_on,
                task.millicores,
                task.memory,
                task.instances,
                self.essential.of(task.instances),
            )
            for task in ordered
        )
        try:
            zapp = self._cache.get(shape)
        except InvalidZApp as exc:
            raise BadLineError(
                "invalid zapp", f"job {job_id}: {exc}", job.line
            ) from None
        return TraceEntry(job_id, job.arrival, duration, zapp)

    def _row(self, number: int, text: str) -> _Row:
        fields = text.rstrip("\r\n").split(",")
        if len(fields) != FIELD_COUNT:
            raise BadLineError(
                "wrong field count",
                f"expected {FIELD_COUNT} comma-separated fields, found {len(fields)}",
            )
        if not fields[1] or not fields[2]:
            raise BadLineError(
                "missing value", "job id (field 2) and task name (field 3) are needed"
            )
        arrival = _seconds(fields, 0, "arrival")
        duration = _seconds(fields, 3, "duration")
        plan_cpu = _value(fields, 4, "plan_cpu", minimum=None)
        plan_mem = _value(fields, 5, "plan_mem", minimum=None)
        instances = _value(fields, 6, "instance count", minimum=None)
        if not instances.is_integer():
            raise BadLineError(
                "bad value",
                f"instance count (field 7) is {fields[6]!r}; need a whole number",
            )
        return _Row(
            number,
            fields[1],
            arrival,
            fields[2],
            duration,
            max(1, round(plan_cpu * 10)),
            max(1, round(plan_mem / 100 * self.machine_memory)),
            int(instances),
        )


def _tasks(job_id: str, job: _Job) -> list[_Task]:
    """The tasks of a job with framework names and dependencies from their names."""
    tasks: list[_Task] = []
    numbers: dict[str, int] = {}
    independent = 0
    for row in job.rows:
        match = _DAG_NAME.match(row.task_name)
        depends_on: tuple[str, ...]
        if match is None:
            name, depends_on = f"i{independent}", ()
            independent += 1
        else:
            name = f"t{int(match[1])}"
            depends_on = tuple(
                dict.fromkeys(f"t{int(d)}" for d in match[2].split("_")[1:])
            )
            if name in numbers:
                raise BadLineError(
                    "duplicate task",
                    f"task {row.task_name!r} of job {job_id} has the number of the "
                    f"task on line {numbers[name]}; task numbers must be unique",
                    row.line,
                )
            numbers[name] = row.line
        tasks.append(
            _Task(
                row.line,
                name,
                depends_on,
                row.duration,
                row.millicores,
                row.memory,
                row.instances,
            )
        )
    return tasks


def _add_row(
    open_jobs: dict[str, _Job], done: set[str], row: _Row, current: float
) -> None:
    if row.arrival < current:
        raise BadLineError(
            "out of order",
            f"arrival {row.arrival:g} is before the previous row's {current:g}; sort "
            "the file by arrival (field 1)",
        )
    job = open_jobs.get(row.job_id)
    if job is None:
        if row.job_id in done:
            raise BadLineError(
                "job split",
                f"job {row.job_id} comes back after rows of a later arrival; keep the "
                "rows of a job together",
            )
        job = open_jobs[row.job_id] = _Job(row.line, row.arrival)
    job.rows.append(row)


def _value(fields: list[str], index: int, what: str, *, minimum: float | None) -> float:
    """Field ``index`` as a finite number, >= ``minimum`` (None: > 0)."""
    text = fields[index]
    try:
        value = float(text)
    except ValueError:
        raise BadLineError(
            "not a number", f"{what} (field {index + 1}) is {text!r}, not a number"
        ) from None
    low_ok = value > 0 if minimum is None else value >= minimum
    if not (math.isfinite(value) and low_ok):
        bound = "> 0" if minimum is None else f">= {minimum:g}"
        raise BadLineError(
            "bad value", f"{what} (field {index + 1}) is {text}; need {bound}"
        )
    return value


def _seconds(fields: list[str], index: int, what: str) -> float:
    """Field ``index`` as seconds: a number in [0, MAX_SECONDS]."""
    value = _value(fields, index, what, minimum=0.0)
    if value > MAX_SECONDS:
        raise BadLineError(
            "bad value",
            f"{what} (field {index + 1}) is {fields[index]} s, above the limit of "
            f"{MAX_SECONDS_TEXT}",
        )
    return value


def _dependency_order(job_id: str, tasks: list[_Task]) -> list[_Task]:
    """Tasks with each after those it depends on, else in file order (Kahn)."""
    index = {task.name: i for i, task in enumerate(tasks)}
    waiting = [0] * len(tasks)
    users: list[list[int]] = [[] for _ in tasks]
    for i, task in enumerate(tasks):
        for name in task.depends_on:
            if name not in index:
                raise BadLineError(
                    "unknown dependency",
                    f"job {job_id}: task {task.name[1:]} depends on task {name[1:]}, "
                    "which the job does not have",
                    task.line,
                )
            waiting[i] += 1
            users[index[name]].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    ordered: list[_Task] = []
    while ready:
        i = heapq.heappop(ready)
        ordered.append(tasks[i])
        for user in users[i]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(ordered) < len(tasks):
        stuck = sorted(task.name[1:] for i, task in enumerate(tasks) if waiting[i])
        raise BadLineError(
            "dependency cycle",
            f"job {job_id}: tasks {', '.join(stuck)} depend on each other in a cycle",
            tasks[0].line,
        )
    return ordered


def _critical_path(ordered: list[_Task]) -> float:
    """The longest chain of durations; ``ordered`` lists dependencies first."""
    finish: dict[str, float] = {}
    for task in ordered:
        start = max((finish[name] for name in task.depends_on), default=0.0)
        finish[task.name] = start + task.duration
    return max(finish.values(), default=0.0)


def _job_zapp(shape: _Shape) -> dict[str, Any]:
    frameworks = [
        {
            "name": name,
            "depends_on": list(depends_on),
            "services": [
                service_group(name, _IMAGE, essential, total, millicores, memory)
            ],
        }
        for name, depends_on, millicores, memory, total, essential in shape
    ]
    return {
        "name": "alibaba-job",
        "version": 4,
        "kind": "batch",
        "frameworks": frameworks,
    }
