"""Preemption of elastic services of lower-priority executions (``-preempt``)."""

from __future__ import annotations

import dataclasses

import pytest
from builders import (
    cluster_after,
    execution,
    group,
    node,
    plan_of,
    snapshot,
    sorted_starts,
    stops,
)

PREEMPTIVE = ["elastic-preempt-fifo", "flexible-preempt-fifo", "backfill-preempt-fifo"]


@pytest.mark.parametrize("policy", PREEMPTIVE)
def test_elastics_of_a_lower_priority_execution_make_room(policy: str) -> None:
    # n0: 4 cores, full. H (submitted first, so higher priority under fifo) waits
    # for 2 cores. L runs its essential (0,0) and elastics (1,0), (1,1), (1,2).
    # Candidates, last first: (1,2): 1 core free < 2; (1,1): 2 free -> H fits.
    # Nothing can be given back (n0 is full again), L's essential stays.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution("H", 0, [group(2, 1, 1, 1)]),
            execution(
                "L",
                1,
                [group(1, 1, 1, 1), group(1, 1, 0, 3)],
                submit=1,
                placed=[(0, 0, "n0"), (1, 0, "n0"), (1, 1, "n0"), (1, 2, "n0")],
            ),
        ],
    )
    plan = plan_of(policy, snap)
    assert stops(plan.stops) == {("L", 1, 2), ("L", 1, 1)}
    assert sorted_starts(plan) == [("H", 0, 0, "n0")]
    cluster_after(snap, plan)  # stops then starts stay within capacity


@pytest.mark.parametrize("policy", PREEMPTIVE)
def test_essential_services_are_never_preempted(policy: str) -> None:
    # n0: 4 cores. L holds its essential (2 cores) and 2 elastics (1 core each).
    # H needs 3 cores: taking both elastics frees only 2; L's essential would
    # make it fit but is never a candidate, so nothing is preempted at all.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution("H", 0, [group(3, 1, 1, 1)]),
            execution(
                "L",
                1,
                [group(2, 1, 1, 1), group(1, 1, 0, 2)],
                submit=1,
                placed=[(0, 0, "n0"), (1, 0, "n0"), (1, 1, "n0")],
            ),
        ],
    )
    assert plan_of(policy, snap).is_empty


@pytest.mark.parametrize("policy", PREEMPTIVE)
def test_nothing_is_preempted_when_the_room_is_split_over_nodes(policy: str) -> None:
    # n0, n1: 4 cores each. L: essential (2 cores) on n0; elastics (1,0) on n0
    # (2 cores) and (1,1) on n1 (2 cores); C (essential, 2 cores) on n1. H needs
    # 3 cores on one node: taking both elastics frees 2 on each node: not
    # enough, so both are put back and nothing is preempted.
    snap = snapshot(
        [node("n0", 4, 16), node("n1", 4, 16)],
        [
            execution("H", 0, [group(3, 1, 1, 1)]),
            execution(
                "L",
                1,
                [group(2, 1, 1, 1), group(2, 1, 0, 2)],
                submit=1,
                placed=[(0, 0, "n0"), (1, 0, "n0"), (1, 1, "n1")],
            ),
            execution("C", 2, [group(2, 1, 1, 1)], submit=2, placed=[(0, 0, "n1")]),
        ],
    )
    assert plan_of(policy, snap).is_empty


@pytest.mark.parametrize("policy", PREEMPTIVE)
def test_only_as_many_elastics_as_needed_are_preempted(policy: str) -> None:
    # n0: 3 cores with L's essential and elastics (1,0), (1,1); n1: 2 cores with
    # L's elastic (1,2) and C's essential. All 1 core. H needs 2 cores on a node.
    # Candidates (C has no elastic), last first: (1,2) on n1 -> 1 free in all;
    # (1,1) on n0 -> n0 1, n1 1: H does not fit; (1,0) on n0 -> n0 2: H -> n0.
    # Given back when they still fit: (1,0) no, (1,1) no, (1,2) yes (n1 has 1).
    snap = snapshot(
        [node("n0", 3, 16), node("n1", 2, 16)],
        [
            execution("H", 0, [group(2, 1, 1, 1)]),
            execution(
                "L",
                1,
                [group(1, 1, 1, 1), group(1, 1, 0, 3)],
                submit=1,
                placed=[(0, 0, "n0"), (1, 0, "n0"), (1, 1, "n0"), (1, 2, "n1")],
            ),
            execution("C", 2, [group(1, 1, 1, 1)], submit=2, placed=[(0, 0, "n1")]),
        ],
    )
    plan = plan_of(policy, snap)
    assert stops(plan.stops) == {("L", 1, 0), ("L", 1, 1)}
    assert sorted_starts(plan) == [("H", 0, 0, "n0")]
    cluster_after(snap, plan)


@pytest.mark.parametrize("policy", PREEMPTIVE)
@pytest.mark.parametrize(
    ("m_cores", "expected_stops", "expected_starts"),
    [
        # M needs 1 core: L's elastic is enough, A's is never touched.
        (1, {("L", 1, 0)}, [("M", 0, 0, "n0")]),
        # M needs 2 cores: L's elastic frees 1; A's is not a candidate: nothing.
        (2, set(), []),
    ],
)
def test_elastics_of_a_higher_priority_execution_are_never_taken(
    policy: str,
    m_cores: float,
    expected_stops: set[tuple[str, int, int]],
    expected_starts: list[tuple[str, int, int, str]],
) -> None:
    # n0: 4 cores, full. A (first) and L (last) both run an essential and one
    # elastic of 1 core each; M (in between) waits.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution(
                "A",
                0,
                [group(1, 1, 1, 1), group(1, 1, 0, 1)],
                placed=[(0, 0, "n0"), (1, 0, "n0")],
            ),
            execution("M", 1, [group(m_cores, 1, 1, 1)], submit=1),
            execution(
                "L",
                2,
                [group(1, 1, 1, 1), group(1, 1, 0, 1)],
                submit=2,
                placed=[(0, 0, "n0"), (1, 0, "n0")],
            ),
        ],
    )
    plan = plan_of(policy, snap)
    assert stops(plan.stops) == expected_stops
    assert sorted_starts(plan) == expected_starts


def test_without_preemption_nothing_is_stopped() -> None:
    # the first scenario without -preempt: H does not fit and nothing moves.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution("H", 0, [group(2, 1, 1, 1)]),
            execution(
                "L",
                1,
                [group(1, 1, 1, 1), group(1, 1, 0, 3)],
                submit=1,
                placed=[(0, 0, "n0"), (1, 0, "n0"), (1, 1, "n0"), (1, 2, "n0")],
            ),
        ],
    )
    for policy in ("elastic-fifo", "flexible-fifo", "backfill-fifo"):
        assert plan_of(policy, snap).is_empty


def test_preemption_follows_the_ordering_not_the_submit_time() -> None:
    # under psjf, S (10 s, submitted last) ranks before L (1000 s): S's essential
    # takes L's elastic although L was submitted first.
    snap = snapshot(
        [node("n0", 2, 16)],
        [
            execution(
                "L",
                0,
                [group(1, 1, 1, 1), group(1, 1, 0, 1)],
                placed=[(0, 0, "n0"), (1, 0, "n0")],
                duration=1000.0,
            ),
            execution("S", 1, [group(1, 1, 1, 1)], submit=5, duration=10.0),
        ],
    )
    plan = plan_of("flexible-preempt-psjf", snap)
    assert stops(plan.stops) == {("L", 1, 0)}
    assert sorted_starts(plan) == [("S", 0, 0, "n0")]
    assert plan_of("flexible-preempt-fifo", snap).is_empty


@pytest.mark.parametrize("policy", PREEMPTIVE)
def test_services_on_a_node_left_out_of_the_snapshot_are_not_victims(
    policy: str,
) -> None:
    # The live master leaves unavailable nodes out of a round's snapshot while
    # their services are still placed. L's elastic (1,0) sits on such a node,
    # "down": taking it back frees nothing a waiting execution could use, so
    # the round preempts L's elastic on n0 only and starts H there.
    both = snapshot(
        [node("n0", 4, 16), node("down", 4, 16)],
        [
            execution("H", 0, [group(2, 1, 1, 1)]),
            execution(
                "L",
                1,
                [group(2, 1, 1, 1), group(2, 1, 0, 2)],
                submit=1,
                placed=[(0, 0, "n0"), (1, 0, "down"), (1, 1, "n0")],
            ),
        ],
    )
    snap = dataclasses.replace(both, nodes=both.nodes[:1])
    plan = plan_of(policy, snap)
    assert stops(plan.stops) == {("L", 1, 1)}
    assert sorted_starts(plan) == [("H", 0, 0, "n0")]
