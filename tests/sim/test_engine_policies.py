"""The registry's reference policies in the engine: exact times worked out by hand.

Each case is worked out on paper from DESIGN.md section 4 (rounds, first-fit, the
three modes, the linear runtime model) in the comments above it.
"""

from __future__ import annotations

import pytest
from sim_builders import nodes, zapp

from zoe.core.cluster import Node
from zoe.policies.registry import make_policy
from zoe.sim.metrics import RecordStatus
from zoe.sim.run import SimResult, simulate
from zoe.sim.traces.base import TraceEntry


def one_node(cores: int, memory_gib: int = 16) -> list[Node]:
    return nodes(1, cores, memory_gib)


def times(result: SimResult) -> dict[str, tuple[float | None, ...]]:
    return {r.id: (r.start_time, r.full_time, r.end_time) for r in result.records}


def run(policy: str, trace: list[TraceEntry], nodes: list[Node]) -> SimResult:
    return simulate(trace, nodes, make_policy(policy, "first-fit"))


# A: 1 essential + 3 elastic services (1 core, 1 GiB each), D=100.
APP_A = zapp((1, 4, 1, 1))
# B: 2 essential services (1 core, 1 GiB each), D=50.
APP_B = zapp((2, 2, 1, 1))
# W: 2 essential services of 1 core and 2 GiB, D=50.
APP_W = zapp((2, 2, 1, 2))


# One node of 4 cores. A at t=0, B at t=10.
# - rigid: A takes all 4 cores at 0, ends at 100; B waits and runs 100..150.
# - elastic: A's essential and its 3 elastic services fit at 0: the same times.
# - flexible: at 10 the queue is [B]; B's essentials do not fit, free capacity
#   does not go down, the round stops: the same times again.
CASE_SEQUENTIAL = {
    "A": (0.0, 0.0, 100.0),
    "B": (100.0, 100.0, 150.0),
}


@pytest.mark.parametrize("policy", ["rigid-fifo", "elastic-fifo", "flexible-fifo"])
def test_a_then_b_runs_in_sequence(policy: str) -> None:
    trace = [TraceEntry("A", 0, 100, APP_A), TraceEntry("B", 10, 50, APP_B)]
    assert times(run(policy, trace, one_node(4))) == CASE_SEQUENTIAL


# One node of 4 cores. B at t=0 (ends at 50 under every mode), A at t=10.
# - rigid: A needs 4 free cores, has 2 until 50: runs 50..150 with everything.
# - elastic and flexible: at 10 A's essential service and 1 elastic one start
#   (2 of 4 placed, rate 0.5); at 50 its 2 other elastic ones start (full). Work
#   done by 50: 40 * 0.5 = 20, so 80 s remain at rate 1: A ends at 130.
@pytest.mark.parametrize(
    ("policy", "expected_a"),
    [
        ("rigid-fifo", (50.0, 50.0, 150.0)),
        ("elastic-fifo", (10.0, 50.0, 130.0)),
        ("flexible-fifo", (10.0, 50.0, 130.0)),
    ],
)
def test_linear_rate_changes_when_elastic_services_join(
    policy: str, expected_a: tuple[float, float, float]
) -> None:
    trace = [TraceEntry("B", 0, 50, APP_B), TraceEntry("A", 10, 100, APP_A)]
    result = run(policy, trace, one_node(4))
    assert times(result) == {"B": (0.0, 0.0, 50.0), "A": expected_a}


# One node of 4 cores and 16 GiB. A and W both at t=0, A first in trace order.
# - rigid and elastic: A gets all 4 cores at 0 (ends at 100); W's essentials do
#   not fit, the round stops; W runs 100..150.
# - flexible: e=A places A's essential and 3 elastic (free 0 cores, 12 GiB).
#   e=W: the 3 elastic placements of this round are removed, W's 2 essentials
#   placed (2 cores, 4 GiB), then A's elastic services as fit: 1. Free is now
#   0 cores and 10 GiB: memory went down, so this is kept. Plan: A essential + 1
#   elastic (rate 2/4), W essentials. W ends at 50. At 50, A gets its 2 missing
#   elastic services (full at 50); work done by then 50 * 0.5 = 25, so A ends at
#   50 + 75 = 125.
@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("rigid-fifo", {"A": (0.0, 0.0, 100.0), "W": (100.0, 100.0, 150.0)}),
        ("elastic-fifo", {"A": (0.0, 0.0, 100.0), "W": (100.0, 100.0, 150.0)}),
        ("flexible-fifo", {"A": (0.0, 50.0, 125.0), "W": (0.0, 0.0, 50.0)}),
    ],
)
def test_flexible_lets_later_essentials_win_over_earlier_elastic(
    policy: str, expected: dict[str, tuple[float, ...]]
) -> None:
    trace = [TraceEntry("A", 0, 100, APP_A), TraceEntry("W", 0, 50, APP_W)]
    assert times(run(policy, trace, one_node(4))) == expected


# One node of 4 cores: "big" (5 essential cores) is rejected by every mode;
# "wide" (2 essential + 8 elastic of 1 core, D=40) never fits whole: rigid
# rejects it, elastic and flexible run it with 4 of 10 services (rate 0.4), so it
# ends at 40 / 0.4 = 100.
@pytest.mark.parametrize(
    ("policy", "wide"),
    [
        ("rigid-fifo", (RecordStatus.REJECTED, None, None)),
        ("elastic-fifo", (RecordStatus.FINISHED, 0.0, 100.0)),
        ("flexible-fifo", (RecordStatus.FINISHED, 0.0, 100.0)),
    ],
)
def test_rejection_at_admission(policy: str, wide: tuple[object, ...]) -> None:
    trace = [
        TraceEntry("big", 0, 10, zapp((5, 5, 1, 1))),
        TraceEntry("wide", 0, 40, zapp((2, 10, 1, 1))),
    ]
    result = run(policy, trace, one_node(4))
    records = result.by_id()
    assert (records["big"].status, records["big"].start_time) == (
        RecordStatus.REJECTED,
        None,
    )
    assert records["big"].reason
    w = records["wide"]
    assert (w.status, w.start_time, w.end_time) == wide
    assert result.summary["counts"]["rejected"] == (2 if policy == "rigid-fifo" else 1)
