"""The engine on small hand-worked traces: exact times, rounds, admission, think time.

The expected times are worked out by hand in the comments, from DESIGN.md section 4.
The FIFO first-fit policies used here are written in this file (short and obvious);
the registry's policies are checked on the same traces in test_engine_policies.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sim_builders import nodes, zapp

from zoe.core.errors import BackendError, InvalidTrace
from zoe.core.snapshot import ExecutionView, Placement, Plan, Rejection, Snapshot
from zoe.core.zapp import ZApp
from zoe.sim.metrics import RecordStatus
from zoe.sim.run import simulate
from zoe.sim.traces.base import TraceEntry


def entry(eid: str, submit: float, duration: float, app: ZApp) -> TraceEntry:
    return TraceEntry(eid, submit, duration, app)


class FifoFirstFit:
    """A minimal rigid or elastic FIFO policy with first-fit placement.

    Rejects at admission what does not fit on the empty cluster (all services
    under rigid, the essential ones under elastic).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.name = f"{mode}-fifo"
        self.snapshots: list[Snapshot] = []

    def plan(self, snapshot: Snapshot) -> Plan:
        self.snapshots.append(snapshot)
        free = [[n.free_millicores, n.free_memory] for n in snapshot.nodes]
        starts: list[Placement] = []
        rejections: list[Rejection] = []
        queue = sorted(
            (e for e in snapshot.executions if e.in_queue),
            key=lambda e: (e.submit_time, e.seq),
        )
        for e in queue:
            missing = _missing(e)
            essential = [s for s in missing if s[1] < e.groups[s[0]].essential_count]
            elastic = [s for s in missing if s not in essential]
            first = missing if self.mode == "rigid" else essential
            if not e.admitted and not self._fits_empty(snapshot, e, first):
                rejections.append(Rejection(e.id, "does not fit the empty cluster"))
                continue
            placed = _place_all(e, first, free)
            if placed is None:
                break
            starts += placed
            if self.mode == "elastic":
                for service in elastic:
                    starts += _place_all(e, [service], free) or []
        return Plan.of(starts, (), rejections)

    @staticmethod
    def _fits_empty(
        snapshot: Snapshot, e: ExecutionView, services: list[tuple[int, int]]
    ) -> bool:
        empty = [
            [n.node.capacity.millicores, n.node.capacity.memory] for n in snapshot.nodes
        ]
        return _place_all(e, services, empty) is not None


def _missing(e: ExecutionView) -> list[tuple[int, int]]:
    placed = {(p.group, p.index) for p in e.placements}
    return [
        (g, i)
        for g, demand in enumerate(e.groups)
        for i in range(demand.total_count)
        if (g, i) not in placed
    ]


def _place_all(
    e: ExecutionView, services: list[tuple[int, int]], free: list[list[int]]
) -> list[Placement] | None:
    """Place every service first-fit on ``free`` (changed only on success)."""
    trial = [row[:] for row in free]
    placements = []
    for g, i in services:
        demand = e.groups[g]
        for n, row in enumerate(trial):
            if demand.millicores <= row[0] and demand.memory <= row[1]:
                row[0] -= demand.millicores
                row[1] -= demand.memory
                placements.append(Placement(e.id, g, i, f"node-{n}"))
                break
        else:
            return None
    free[:] = trial
    return placements


def times(result: object, eid: str) -> tuple[object, ...]:
    record = result.by_id()[eid]  # type: ignore[attr-defined]
    return (record.start_time, record.full_time, record.end_time)


# A: 1 essential + 3 elastic services of 1 core, D=100. B: 2 essential of 1 core, D=50.
APP_A = zapp((1, 4, 1, 1))
APP_B = zapp((2, 2, 1, 1))


def test_rigid_fifo_head_waits_for_whole_cluster() -> None:
    # One node of 4 cores. A (t=0) takes all 4 cores at once: start=full=0, rate 1,
    # ends at 100. B (t=10) needs 2 cores, none free until A ends at 100: starts
    # at 100, runs exactly 50, ends at 150; queue 90, turnaround 140.
    trace = [entry("A", 0, 100, APP_A), entry("B", 10, 50, APP_B)]
    result = simulate(trace, nodes(1, 4), FifoFirstFit("rigid"))
    assert times(result, "A") == (0.0, 0.0, 100.0)
    assert times(result, "B") == (100.0, 100.0, 150.0)
    b = result.by_id()["B"]
    assert (b.queue_duration, b.turnaround) == (90.0, 140.0)
    assert result.summary["counts"]["finished"] == 2


def test_elastic_fifo_linear_rate_changes_mid_run() -> None:
    # One node of 4 cores. B (t=0, 2 essential) starts at 0 and ends at 50.
    # A (t=10) finds 2 free cores: its essential service and 1 elastic one start,
    # placed 2 of 4, rate 0.5. At t=50 B ends and A gets its 2 other elastic
    # services: full at 50. Work done 10..50 at 0.5 is 20, so 80 remain at rate 1:
    # A ends at 130.
    trace = [entry("B", 0, 50, APP_B), entry("A", 10, 100, APP_A)]
    policy = FifoFirstFit("elastic")
    result = simulate(trace, nodes(1, 4), policy)
    assert times(result, "B") == (0.0, 0.0, 50.0)
    assert times(result, "A") == (10.0, 50.0, 130.0)

    # the views the policy saw: at t=50 A has 80 s of work left at full allocation
    at_50 = next(s for s in policy.snapshots if s.time == 50.0)
    (view,) = at_50.executions
    assert (view.id, view.remaining, view.duration, len(view.placements)) == (
        "A",
        80.0,
        100.0,
        2,
    )


def test_rigid_fifo_same_trace_waits_for_all_services() -> None:
    # As above under rigid: A needs 4 cores at t=10 and has 2; it starts at 50
    # when B ends, with everything, and ends at 150.
    trace = [entry("B", 0, 50, APP_B), entry("A", 10, 100, APP_A)]
    result = simulate(trace, nodes(1, 4), FifoFirstFit("rigid"))
    assert times(result, "A") == (50.0, 50.0, 150.0)


def test_rejection_at_admission_is_listed_and_counted() -> None:
    # Node of 4 cores. "big" needs 5 essential cores: rejected at its arrival
    # under both modes. "wide" has 2 essential + 8 elastic 1-core services: it
    # can never be placed whole (rigid rejects it) but its essential part fits
    # (elastic admits it and runs 4 of 10: rate 0.4, D=40 -> ends at 100).
    trace = [
        entry("big", 0, 10, zapp((5, 5, 1, 1))),
        entry("wide", 0, 40, zapp((2, 10, 1, 1))),
    ]
    rigid = simulate(trace, nodes(1, 4), FifoFirstFit("rigid"))
    assert rigid.summary["counts"] == {
        "submitted": 2,
        "finished": 0,
        "rejected": 2,
        "unfinished": 0,
    }
    big = rigid.by_id()["big"]
    assert (big.status, big.start_time, big.end_time) == (
        RecordStatus.REJECTED,
        None,
        None,
    )
    assert big.reason == "does not fit the empty cluster"

    elastic = simulate(trace, nodes(1, 4), FifoFirstFit("elastic"))
    assert elastic.by_id()["big"].status == RecordStatus.REJECTED
    assert times(elastic, "wide") == (0.0, None, 100.0)
    assert elastic.summary["counts"]["rejected"] == 1


def test_one_round_per_instant_completions_before_arrivals() -> None:
    # 1 node of 2 cores. X (t=0, 2 cores, D=10) ends at 10; Y arrives at 10 and
    # must see the 2 cores free in the same round: rounds at 0 and 10 only
    # (and at 15 when Y ends); Y starts at 10 and ends at 15.
    x, y = zapp((2, 2, 1, 1)), zapp((2, 2, 1, 1))
    policy = FifoFirstFit("rigid")
    result = simulate([entry("X", 0, 10, x), entry("Y", 10, 5, y)], nodes(1, 2), policy)
    assert [s.time for s in policy.snapshots] == [0.0, 10.0, 15.0]
    at_10 = policy.snapshots[1]
    assert [(v.id, v.admitted) for v in at_10.executions] == [("Y", False)]
    assert at_10.nodes[0].free_millicores == 2000
    assert times(result, "Y") == (10.0, 10.0, 15.0)
    assert result.summary["rounds"] == 3


def test_arrivals_at_one_instant_share_one_round() -> None:
    trace = [entry(f"e{i}", 5, 1, zapp((1, 1, 1, 1))) for i in range(3)]
    policy = FifoFirstFit("rigid")
    simulate(trace, nodes(1, 1), policy)
    # round at 5 with all three; then one per completion at 6, 7 and 8
    assert [s.time for s in policy.snapshots] == [5.0, 6.0, 7.0, 8.0]
    assert [v.id for v in policy.snapshots[0].executions] == ["e0", "e1", "e2"]


def test_trace_is_pulled_lazily() -> None:
    pulled: list[str] = []

    def entries() -> Iterator[TraceEntry]:
        for i in range(4):
            pulled.append(f"e{i}")
            yield entry(f"e{i}", 10 * i, 1, zapp((1, 1, 1, 1)))

    class Watch(FifoFirstFit):
        def __init__(self, mode: str) -> None:
            super().__init__(mode)
            self.seen: list[int] = []

        def plan(self, snapshot: Snapshot) -> Plan:
            self.seen.append(len(pulled))
            return super().plan(snapshot)

    policy = Watch("rigid")
    simulate(entries(), nodes(1, 1), policy)
    # at t=0 the engine holds e0 and has read e1 (waiting for t=10), no more
    assert policy.seen[0] == 2


def test_think_time_delays_plans_and_defers_rounds() -> None:
    # Node of 8 cores, think time 5. A (t=0, 4 cores, D=100): round at 0, plan
    # applied at 5 -> A runs 5..105. C (t=2, 1 core, D=10) arrives while the
    # scheduler is busy: its round runs at 5 once A's plan is applied, and that
    # plan is applied at 10 -> C runs 10..20.
    trace = [
        entry("A", 0, 100, zapp((4, 4, 1, 1))),
        entry("C", 2, 10, zapp((1, 1, 1, 1))),
    ]
    policy = FifoFirstFit("rigid")
    result = simulate(trace, nodes(1, 8), policy, think_time=5.0)
    assert times(result, "A") == (5.0, 5.0, 105.0)
    assert times(result, "C") == (10.0, 10.0, 20.0)
    assert [s.time for s in policy.snapshots][:2] == [0.0, 5.0]


def test_submit_times_going_back_are_refused() -> None:
    trace = [entry("a", 10, 1, APP_B), entry("b", 5, 1, APP_B)]
    with pytest.raises(InvalidTrace, match="'b' is submitted at 5"):
        simulate(trace, nodes(1, 4), FifoFirstFit("rigid"), trace_name="t.jsonl")


def test_duplicate_ids_are_refused() -> None:
    trace = [entry("a", 0, 1, APP_B), entry("a", 5, 1, APP_B)]
    with pytest.raises(InvalidTrace, match="appears twice"):
        simulate(trace, nodes(1, 4), FifoFirstFit("rigid"))


def test_plan_starting_part_of_the_essential_services_is_refused() -> None:
    class Half:
        name = "half"

        def plan(self, snapshot: Snapshot) -> Plan:
            (e,) = snapshot.executions
            return Plan.of(
                [Placement(e.id, 0, 0, "node-0")] if e.admitted is False else []
            )

    with pytest.raises(BackendError, match="1 of 2 essential services"):
        simulate([entry("B", 0, 50, APP_B)], nodes(1, 4), Half())


def test_until_leaves_active_executions_unfinished() -> None:
    trace = [entry("A", 0, 100, APP_A), entry("B", 10, 50, APP_B)]
    result = simulate(trace, nodes(1, 4), FifoFirstFit("rigid"), until=60.0)
    assert result.summary["counts"] == {
        "submitted": 2,
        "finished": 0,
        "rejected": 0,
        "unfinished": 2,
    }
    assert times(result, "A") == (0.0, 0.0, None)


def test_fast_view_copy_equals_replace() -> None:
    import dataclasses

    from zoe.core.snapshot import group_demands
    from zoe.sim.views import with_remaining

    view = ExecutionView(
        "A", 3, 1.5, group_demands(APP_A), (Placement("A", 0, 0, "node-0"),), True,
        True, 7.0, 100.0, 40.0,
    )  # fmt: skip
    copy = with_remaining(view, 12.5)
    assert copy == dataclasses.replace(view, remaining=12.5)
    assert (copy.service_count, copy.essential_count, view.remaining) == (4, 1, 40.0)
