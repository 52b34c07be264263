"""The discrete-event simulation engine.

One SimPy environment drives three kinds of event:

- *arrivals*, produced by ONE process that pulls trace entries lazily from the
  iterator it is given (the trace is never scheduled up front);
- *completions*, one event per execution (never one per service), carrying a
  version number: a change of rate bumps the version and schedules a new event, so
  stale events are ignored;
- *settles*, scheduled at a priority below every other event of the same instant,
  that carry out DESIGN.md section 4 "Rounds": first the completions of that
  instant (by execution id), then its arrivals (in trace order), then ONE
  scheduling round. No other round runs.

A round builds a :class:`~zoe.core.snapshot.Snapshot`, asks the policy for a plan
and applies it to an in-memory :class:`~zoe.core.cluster.Cluster`: stops before
starts, then rejections. With a think time ``T`` > 0 the plan is applied ``T``
seconds after the round; the scheduler is busy meanwhile, and a round asked for
while it is busy runs when the plan has been applied.

Progress is kept as remaining work in seconds at full allocation, brought up to
date only when the rate changes, and the completion instant is recomputed from it
then, so times do not drift. Views given to the policy are kept per execution and
rebuilt only when the execution changed or progressed. Nothing is logged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, cast

import simpy
from simpy.events import NORMAL, Event, EventPriority

from zoe.core.cluster import Cluster, Node, ServiceRef
from zoe.core.errors import BackendError, InvalidTrace
from zoe.core.resources import Resources
from zoe.core.snapshot import (
    ExecutionView,
    GroupDemand,
    NodeView,
    Placement,
    Plan,
    Snapshot,
)
from zoe.sim.metrics import ExecutionRecord, RecordStatus, Timeline
from zoe.sim.views import shape_of, with_remaining

if TYPE_CHECKING:
    from zoe.policies.base import Policy
    from zoe.sim.runtime import RuntimeModel
    from zoe.sim.traces.base import TraceEntry

#: Priority of settle and plan-application events: after every arrival and
#: completion of the same instant (SimPy's own priorities are 0 and 1).
LATE = EventPriority(2)
#: Progress at or above ``1 - DONE_EPSILON`` counts as done.
DONE_EPSILON = 1e-12


class _Scheduled(Event):
    """An event that fires ``delay`` seconds from now at ``priority``.

    Like :class:`simpy.Timeout`, but with a chosen priority and a payload.
    """

    def __init__(
        self,
        env: simpy.Environment,
        delay: float,
        priority: EventPriority,
        callback: Callable[[_Scheduled], None],
        payload: object = None,
        version: int = 0,
    ) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        self.payload = payload
        #: the execution's version for a completion, its sequence for an arrival
        self.version = version
        self.callbacks.append(callback)
        env.schedule(self, priority, delay)


class _Run:
    """The mutable state of one execution inside the engine."""

    __slots__ = (
        "admitted",
        "demands",
        "duration",
        "end_time",
        "entry",
        "essential_placed",
        "essential_running",
        "essential_total",
        "full",
        "full_time",
        "groups",
        "id",
        "last_time",
        "placements",
        "rate",
        "remaining",
        "seq",
        "start_time",
        "total",
        "version",
        "view_time",
    )

    def __init__(self, entry: TraceEntry, seq: int) -> None:
        self.entry = entry
        self.id = entry.id
        self.seq = seq
        self.groups, self.demands, self.total, self.essential_total = shape_of(
            entry.zapp
        )
        self.duration = float(entry.duration)
        self.remaining = self.duration
        self.placements: dict[ServiceRef, Placement] = {}
        self.essential_placed = 0
        self.essential_running = False
        self.full = False
        self.admitted = False
        self.rate = 0.0
        self.last_time = 0.0
        self.version = 0
        self.start_time: float | None = None
        self.full_time: float | None = None
        self.end_time: float | None = None
        self.view_time = -math.inf

    def remaining_at(self, now: float) -> float:
        """Remaining work at ``now`` at the current rate, never below 0."""
        if not self.rate:
            return self.remaining
        return max(0.0, self.remaining - self.rate * (now - self.last_time))

    def view(self, now: float, with_remaining: bool = True) -> ExecutionView:
        """The policy's view of this execution at ``now``.

        Without ``with_remaining`` the view's ``remaining`` is None: for policies
        that never read it, so that it need not be refreshed every round.
        """
        return ExecutionView(
            self.id,
            self.seq,
            self.entry.submit_time,
            self.groups,
            tuple(self.placements.values()),
            self.essential_running,
            self.admitted,
            self.entry.zapp.size,
            self.duration,
            self.remaining_at(now) if with_remaining else None,
        )

    def _sized(self) -> Iterator[tuple[Resources, GroupDemand]]:
        return zip(self.demands, self.groups, strict=True)

    def record(self, status: RecordStatus, reason: str = "") -> ExecutionRecord:
        """The metrics record of this execution as it stands."""
        return ExecutionRecord(
            self.id,
            self.seq,
            self.entry.submit_time,
            self.start_time,
            self.full_time,
            self.end_time,
            status,
            reason,
            self.total,
            self.essential_total,
            sum(d.millicores * g.total_count for d, g in self._sized()),
            sum(d.memory * g.total_count for d, g in self._sized()),
            self.duration,
        )


class Engine:
    """Replays trace entries against a policy on a cluster of ``nodes``.

    Build one per run: :meth:`run` consumes the entries and returns the records.
    The engine owns its cluster; the policy only reads snapshots. A plan that
    breaks the contract of :class:`~zoe.core.snapshot.Plan` (stops an essential
    service, starts part of the essential services, over capacity) raises
    :class:`BackendError` or :class:`CapacityError`.
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        policy: Policy,
        runtime_model: RuntimeModel,
        *,
        think_time: float = 0.0,
        timeline_step: float = 0.0,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 500,
        trace_name: str = "",
    ) -> None:
        self.env = simpy.Environment()
        self.cluster = Cluster(nodes)
        self.policy = policy
        # refreshing every running execution's remaining work each round is the
        # engine's largest cost; skip it for policies that never read it
        self._track_remaining: bool = getattr(policy, "reads_remaining", True)
        self.model = runtime_model
        self.think_time = think_time
        self.timeline = Timeline(timeline_step)
        self.rounds = 0
        self._progress = progress
        self._progress_every = max(1, progress_every)
        self._trace_name = trace_name or "trace"

        self._active: dict[str, _Run] = {}
        self._views: dict[str, ExecutionView] = {}
        self._stale: dict[_Run, None] = {}
        self._progressing: dict[_Run, None] = {}
        self._unadmitted: list[_Run] = []
        self._node_views = [NodeView(node, 0, 0) for node in self.cluster.nodes]
        self._dirty_nodes = set(range(len(self.cluster.nodes)))
        self._records: list[ExecutionRecord] = []
        self._entries: Iterator[TraceEntry] = iter(())
        self._seen: set[str] = set()
        self._done = 0

        self._completed: list[_Run] = []
        self._arrived: list[_Run] = []
        self._settle_pending = False
        self._busy = False
        self._wanted = False
        self._alloc_millicores = 0
        self._alloc_memory = 0
        self._running = 0
        self._full = 0

    # -- driving ---------------------------------------------------------------

    def run(
        self, entries: Iterable[TraceEntry], until: float | None = None
    ) -> list[ExecutionRecord]:
        """Simulate ``entries`` (in trace order, submit times never decreasing).

        Stops when no event is left, or at ``until``. Returns one record per
        execution that arrived, in submission order; those still active at the
        end are ``unfinished``. Raises :class:`InvalidTrace` for a submit time that
        goes backwards or is negative, or an id seen before.
        """
        self._entries = iter(entries)
        self._pull()
        self.env.run(until)
        for run in self._active.values():
            self._records.append(run.record(RecordStatus.UNFINISHED))
        if self._progress is not None:
            self._progress(self._done)
        self._records.sort(key=lambda record: record.seq)
        return self._records

    def _pull(self) -> None:
        """Read the next entry and schedule its arrival: the one arrival process.

        A chain of events, each scheduling the next, rather than a SimPy process:
        errors of the iterator then reach the caller unchanged.
        """
        entry = next(self._entries, None)
        if entry is None:
            return
        delay = entry.submit_time - self.env.now
        if delay < 0 or entry.id in self._seen:
            raise self._bad_entry(entry, self._seen)
        self._seen.add(entry.id)
        seq = len(self._seen) - 1
        _Scheduled(self.env, delay, NORMAL, self._on_arrival, entry, seq)

    def _on_arrival(self, event: _Scheduled) -> None:
        run = _Run(cast("TraceEntry", event.payload), event.version)
        run.last_time = self.env.now
        self._arrived.append(run)
        self._ensure_settle()
        self._pull()

    def _bad_entry(self, entry: TraceEntry, seen: set[str]) -> InvalidTrace:
        if entry.id in seen:
            problem = "appears twice; execution ids must be unique"
        elif entry.submit_time < 0:
            problem = f"has a negative submit time {entry.submit_time!r}"
        else:
            problem = (
                f"is submitted at {entry.submit_time!r}, before the execution before "
                f"it ({self.env.now!r}); sort the trace by submit time"
            )
        return InvalidTrace(self._trace_name, 0, f"execution {entry.id!r} {problem}")

    def _ensure_settle(self) -> None:
        if not self._settle_pending:
            self._settle_pending = True
            _Scheduled(self.env, 0, LATE, self._settle)

    def _on_completion(self, event: _Scheduled) -> None:
        run = cast(_Run, event.payload)
        if run.version != event.version or run.end_time is not None:
            return
        run.end_time = self.env.now
        self._completed.append(run)
        self._ensure_settle()

    def _settle(self, _event: _Scheduled) -> None:
        self._settle_pending = False
        now = self.env.now
        if self._completed:
            self._completed.sort(key=lambda run: run.id)
            for run in self._completed:
                self._finish(run)
            self._completed.clear()
        for run in self._arrived:
            self._active[run.id] = run
            self._stale[run] = None
            self._unadmitted.append(run)
        self._arrived.clear()

        if self._busy:
            self._wanted = True
        else:
            self._wanted = False
            self._round(now)
        self._record(now)

    def _on_apply(self, event: _Scheduled) -> None:
        now = self.env.now
        plan = cast(Plan, event.payload)
        self._apply(plan, now)
        self._busy = False
        if self._wanted and not self._settle_pending:
            self._wanted = False
            self._round(now)
        self._record(now)

    def _round(self, now: float) -> None:
        snapshot = self._snapshot(now)
        self.rounds += 1
        plan = self.policy.plan(snapshot)
        for run in self._unadmitted:
            run.admitted = True
            self._stale[run] = None
        self._unadmitted.clear()
        if self.think_time > 0:
            self._busy = True
            _Scheduled(self.env, self.think_time, LATE, self._on_apply, plan)
        else:
            self._apply(plan, now)

    def _record(self, now: float) -> None:
        self.timeline.record(
            now,
            self._alloc_millicores,
            self._alloc_memory,
            len(self._active) - self._full,
            self._running,
        )

    # -- snapshots -------------------------------------------------------------

    def _snapshot(self, now: float) -> Snapshot:
        cluster = self.cluster
        for i in self._dirty_nodes:
            self._node_views[i] = NodeView(
                cluster.nodes[i],
                cluster.free_millicores[i],
                cluster.free_memory[i],
                cluster.service_counts[i],
            )
        self._dirty_nodes.clear()

        views, tracked = self._views, self._track_remaining
        for run in self._stale:
            views[run.id] = run.view(now, tracked)
            run.view_time = now
        self._stale.clear()
        if tracked:
            for run in self._progressing:
                if run.view_time != now:
                    remaining = run.remaining_at(now)
                    views[run.id] = with_remaining(views[run.id], remaining)
                    run.view_time = now
        return Snapshot(now, tuple(self._node_views), tuple(views.values()))

    # -- applying plans ----------------------------------------------------------

    def _apply(self, plan: Plan, now: float) -> None:
        # TODO(#4): rigid-fifo runs in about 55x the time of the heapq floor of
        # benchmarks/sim_bench.py, where the goal is 3x. SimPy and the rounds
        # alone take 2x (simpy-rounds), placing each service first-fit 11x
        # (heapq-services); applying a plan one service at a time is the largest
        # cost after the policy's. Remove when plans carry alike instances of a
        # group in bulk and the goal is met.
        touched: dict[_Run, None] = {}
        for ref in plan.stops:
            run = self._active.get(ref.execution_id)
            if run is not None and run.end_time is None:
                self._stop(run, ref)
                touched[run] = None
        for placement in plan.starts:
            run = self._active.get(placement.execution_id)
            if run is not None and run.end_time is None:
                self._start(run, placement)
                touched[run] = None
        for run in touched:
            self._retime(run, now)
        for rejection in plan.rejections:
            run = self._active.get(rejection.execution_id)
            if run is not None and run.end_time is None:
                self._reject(run, rejection.reason)

    def _stop(self, run: _Run, ref: ServiceRef) -> None:
        if ref.index < run.groups[ref.group].essential_count:
            raise BackendError(f"plan stops essential service {ref}; only elastic ones")
        placement = run.placements.pop(ref, None)
        if placement is None:
            raise BackendError(f"plan stops service {ref}, which is not placed")
        demand = self.cluster.release(ref)
        self._alloc_millicores -= demand.millicores
        self._alloc_memory -= demand.memory
        self._dirty_nodes.add(self.cluster.index[placement.node])

    def _start(self, run: _Run, placement: Placement) -> None:
        group, index = placement.group, placement.index
        if not (
            0 <= group < len(run.groups) and 0 <= index < run.groups[group].total_count
        ):
            raise BackendError(f"plan starts unknown service {placement}")
        ref = ServiceRef(run.id, group, index)
        demand = run.demands[group]
        self.cluster.allocate(ref, placement.node, demand)
        run.placements[ref] = placement
        if index < run.groups[group].essential_count:
            run.essential_placed += 1
        self._alloc_millicores += demand.millicores
        self._alloc_memory += demand.memory
        self._dirty_nodes.add(self.cluster.index[placement.node])

    def _retime(self, run: _Run, now: float) -> None:
        """Bring ``run`` up to ``now`` after its placements changed; reschedule."""
        if run.essential_placed not in (0, run.essential_total) or (
            run.essential_running and run.essential_placed == 0
        ):
            raise BackendError(
                f"execution {run.id}: plan leaves {run.essential_placed} of "
                f"{run.essential_total} essential services placed; all or none"
            )
        run.remaining = run.remaining_at(now)
        run.last_time = now
        self._stale[run] = None
        started = not run.essential_running and run.essential_placed > 0
        if started:
            run.essential_running = True
            run.start_time = now
            self._running += 1
        self._note_fullness(run, now)
        if not run.essential_running:
            return

        rate = self.model.rate(
            len(run.placements), run.total, run.entry.serial_fraction
        )
        if rate != run.rate or started:
            run.rate = rate
            run.version += 1
            if rate <= 0:
                self._progressing.pop(run, None)
                return
            self._progressing[run] = None
            if run.remaining <= DONE_EPSILON * run.duration:
                delay = 0.0
            else:
                delay = run.remaining / rate
            _Scheduled(self.env, delay, NORMAL, self._on_completion, run, run.version)

    def _note_fullness(self, run: _Run, now: float) -> None:
        full = len(run.placements) == run.total
        if full and not run.full:
            self._full += 1
            if run.full_time is None:
                run.full_time = now
        elif run.full and not full:
            self._full -= 1
        run.full = full

    # -- leaving -----------------------------------------------------------------

    def _finish(self, run: _Run) -> None:
        self._release_all(run)
        run.remaining = 0.0
        self._records.append(run.record(RecordStatus.FINISHED))
        self._leave(run)

    def _reject(self, run: _Run, reason: str) -> None:
        if run.essential_running:
            raise BackendError(f"plan rejects execution {run.id}, which is running")
        self._release_all(run)
        self._records.append(run.record(RecordStatus.REJECTED, reason))
        self._leave(run)

    def _release_all(self, run: _Run) -> None:
        cluster = self.cluster
        for ref, placement in run.placements.items():
            demand = cluster.release(ref)
            self._alloc_millicores -= demand.millicores
            self._alloc_memory -= demand.memory
            self._dirty_nodes.add(cluster.index[placement.node])
        run.placements.clear()

    def _leave(self, run: _Run) -> None:
        del self._active[run.id]
        self._views.pop(run.id, None)
        self._stale.pop(run, None)
        self._progressing.pop(run, None)
        if run.essential_running:
            self._running -= 1
        if run.full:
            self._full -= 1
        run.rate = 0.0
        self._done += 1
        if self._progress is not None and self._done % self._progress_every == 0:
            self._progress(self._done)
