"""Hand-worked rounds of ``backfill`` (rules in zoe/policies/modes/backfill.py)."""

from __future__ import annotations

import dataclasses

import pytest
from builders import execution, group, node, plan_of, snapshot, sorted_starts, stops

from zoe.core.snapshot import Snapshot


def _reservation_state(
    c_duration: float | None,
    c_groups: tuple[tuple[float, float, int, int], ...] = ((2, 1, 1, 1),),
    r_remaining: float | None = 100.0,
) -> Snapshot:
    # Time 0, n0: 4 cores. R runs on 2 of them, 100 s of work left, all its
    # services placed (rate 1): it is expected to end at 100. B (first in the
    # queue) needs 4 cores: it is blocked and reserves n0 from 100 on.
    # C (behind B) asks 2 cores, which are free now.
    return snapshot(
        [node("n0", 4, 16)],
        [
            execution(
                "R",
                0,
                [group(2, 1, 1, 1)],
                placed=[(0, 0, "n0")],
                duration=r_remaining,
                remaining=r_remaining,
            ),
            execution("B", 1, [group(4, 1, 1, 1)], submit=1, duration=50.0),
            execution(
                "C", 2, [group(*g) for g in c_groups], submit=2, duration=c_duration
            ),
        ],
    )


@pytest.mark.parametrize("c_duration", [10.0, 100.0])
def test_backfill_short_execution_uses_the_reserved_room(c_duration: float) -> None:
    # C is expected to end at 0 + duration / 1 <= 100, the reserved instant
    # (100: it ends as B's reservation begins), so it may take n0's 2 free cores.
    plan = plan_of("backfill-fifo", _reservation_state(c_duration))
    assert sorted_starts(plan) == [("C", 0, 0, "n0")]


def test_backfill_long_execution_may_not_delay_the_reservation() -> None:
    # C would end at 200 > 100: on the guarded view n0 has 2 - 4 = -2 cores free,
    # so C does not fit; its own reservation (n0 after R ends, on the guarded
    # view: -2 + 2 = 0 < 2 cores) cannot be promised: the round ends, empty.
    assert plan_of("backfill-fifo", _reservation_state(200.0)).is_empty


def test_backfill_judges_an_elastic_execution_at_its_essential_rate() -> None:
    # C: 1 essential (2 cores) and 1 elastic service (1 core), 80 s of work. At
    # the rate of its essentials alone (1/2) it ends at 160 > 100: restricted,
    # so nothing of it starts although it would end at 80 with both services.
    state = _reservation_state(80.0, ((2, 1, 1, 1), (1, 1, 0, 1)))
    assert plan_of("backfill-fifo", state).is_empty


def test_backfill_with_unknown_durations_ends_like_flexible() -> None:
    # R's remaining work is unknown: no instant can be promised to B, so the
    # round ends at B as in flexible, and C (which fits) is not started.
    state = _reservation_state(10.0, r_remaining=None)
    assert plan_of("backfill-fifo", state).is_empty
    assert plan_of("flexible-fifo", state).is_empty


def test_flexible_stops_at_the_blocked_execution_where_backfill_goes_on() -> None:
    # the same state as the short case: flexible ends the round at B.
    assert plan_of("flexible-fifo", _reservation_state(10.0)).is_empty


def test_backfill_passes_over_a_running_execution_whose_elastics_do_not_fit() -> None:
    # R runs (1 core on n0) and lacks an elastic service of 5 cores that fits
    # nowhere: flexible ends the round there (test_flexible), backfill passes it
    # over and starts Q (1 core) without any reservation.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution(
                "R", 0, [group(1, 1, 1, 1), group(5, 1, 0, 1)], placed=[(0, 0, "n0")]
            ),
            execution("Q", 1, [group(1, 1, 1, 1)], submit=1),
        ],
    )
    assert sorted_starts(plan_of("backfill-fifo", snap)) == [("Q", 0, 0, "n0")]


def test_backfill_reservation_holds_only_the_reserved_node() -> None:
    # n0 and n1: 4 cores each. R runs 2 cores on n0 (ends at 100); S runs 4 cores
    # on n1 with unknown work (never ends as far as the policy knows). B needs 4
    # cores: it reserves n0 at 100. C needs 2 cores for 500 s: on the guarded
    # view n0 has -2 free and n1 0: it may not start. D needs 2 cores for 50 s:
    # it ends before 100, takes n0's 2 free cores.
    snap = snapshot(
        [node("n0", 4, 16), node("n1", 4, 16)],
        [
            execution(
                "R", 0, [group(2, 1, 1, 1)], placed=[(0, 0, "n0")], remaining=100.0
            ),
            execution("S", 1, [group(4, 1, 1, 1)], placed=[(0, 0, "n1")]),
            execution("B", 2, [group(4, 1, 1, 1)], submit=1, duration=10.0),
            execution("C", 3, [group(2, 1, 1, 1)], submit=2, duration=500.0),
            execution("D", 4, [group(2, 1, 1, 1)], submit=3, duration=50.0),
        ],
    )
    # C gets no reservation either (guarded n0 after R: -2 + 2 = 0 < 2; n1 never
    # frees), which ends the round before D: D is not started.
    assert plan_of("backfill-fifo", snap).is_empty
    # Without C in the way, D is backfilled.
    without_c = snapshot(
        [n.node for n in snap.nodes], [v for v in snap.executions if v.id != "C"]
    )
    assert sorted_starts(plan_of("backfill-fifo", without_c)) == [("D", 0, 0, "n0")]


def test_backfill_releases_everything_that_ends_at_the_same_instant() -> None:
    # n0, n1: 4 cores. R1 (4 cores on n1) and R2 (2 cores on n0) both end at 100.
    # B needs 4 cores: at 100 both have ended, so first-fit on the cluster as it
    # will be then reserves n0 (the first node), whatever the order in which
    # the snapshot lists R1 and R2. C (2 cores, 500 s) would delay B on n0 and
    # n1 is full until 100: C may not start (it reserves n1 at 100 in turn).
    views = [
        execution("R1", 0, [group(4, 1, 1, 1)], placed=[(0, 0, "n1")], remaining=100.0),
        execution("R2", 1, [group(2, 1, 1, 1)], placed=[(0, 0, "n0")], remaining=100.0),
        execution("B", 2, [group(4, 1, 1, 1)], submit=1, duration=10.0),
        execution("C", 3, [group(2, 1, 1, 1)], submit=2, duration=500.0),
    ]
    nodes = [node("n0", 4, 16), node("n1", 4, 16)]
    assert plan_of("backfill-fifo", snapshot(nodes, views)).is_empty
    assert plan_of("backfill-fifo", snapshot(nodes, views[::-1])).is_empty


def test_backfill_preempt_reserves_without_the_services_it_preempted() -> None:
    # n0: 4 cores, full: S (1 core, unknown work, never expected to end) and L
    # (essential + 2 elastics of 1 core, 100 s left). n1: 1 core, free. Order
    # (fifo): S, H, B, L, D.
    # H (2 cores) preempts L's (1,1) then (1,0) and starts on n0.
    # B (3 cores) is blocked and nothing more can be preempted. L now runs its
    # essential alone: rate 1/3, it ends at 300 and frees 1 core of n0: n0 would
    # have 1 core, not 3; S never ends: no instant can be promised, the round
    # ends. (Counting L's preempted services would promise n0 at 100 and let D,
    # 1000 s, start on n1.)
    views = [
        execution("S", 0, [group(1, 1, 1, 1)], placed=[(0, 0, "n0")]),
        execution("H", 1, [group(2, 1, 1, 1)], submit=1),
        execution("B", 2, [group(3, 1, 1, 1)], submit=2, duration=10.0),
        execution(
            "L",
            3,
            [group(1, 1, 1, 1), group(1, 1, 0, 2)],
            submit=3,
            placed=[(0, 0, "n0"), (1, 0, "n0"), (1, 1, "n0")],
            remaining=100.0,
        ),
        execution("D", 4, [group(1, 1, 1, 1)], submit=4, duration=1000.0),
    ]
    snap = snapshot([node("n0", 4, 16), node("n1", 1, 16)], views)
    plan = plan_of("backfill-preempt-fifo", snap)
    assert stops(plan.stops) == {("L", 1, 0), ("L", 1, 1)}
    assert sorted_starts(plan) == [("H", 0, 0, "n0")]


def test_backfill_ignores_what_runs_on_a_node_left_out_of_the_snapshot() -> None:
    # The live master leaves unavailable nodes out of a round's snapshot. R runs
    # on n0 (2 cores, ends at 100) and on "down" (elastic). B needs 4 cores and
    # reserves n0 from 100 on, counting only what R frees on n0; C (2 cores,
    # ends at 10) backfills the 2 free cores of n0 as in the plain case.
    both = snapshot(
        [node("n0", 4, 16), node("down", 4, 16)],
        [
            execution(
                "R",
                0,
                [group(2, 1, 1, 1), group(1, 1, 0, 1)],
                placed=[(0, 0, "n0"), (1, 0, "down")],
                duration=100.0,
                remaining=100.0,
            ),
            execution("B", 1, [group(4, 1, 1, 1)], submit=1, duration=50.0),
            execution("C", 2, [group(2, 1, 1, 1)], submit=2, duration=10.0),
        ],
    )
    snap = dataclasses.replace(both, nodes=both.nodes[:1])
    assert sorted_starts(plan_of("backfill-fifo", snap)) == [("C", 0, 0, "n0")]
