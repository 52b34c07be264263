"""Orderings, each on a queue whose order is worked out by hand.

The plan checks use ``rigid`` on one node of 4 cores where every execution asks 3
cores: only the first in the order starts, so the plan names it.
"""

from __future__ import annotations

import math

import pytest
from builders import execution, group, node, plan_of, snapshot

from zoe.core.snapshot import ExecutionView
from zoe.policies.orderings import Estimates, make_ordering

ONE = (group(3, 1, 1, 1),)  # one service of 3 cores, 1 GiB


def first_started(policy: str, views: list[ExecutionView], time: float) -> str:
    """The execution ``policy`` starts on one 4-core node (only one fits)."""
    plan = plan_of(policy, snapshot([node("n0", 4, 16)], views, time))
    started = {p.execution_id for p in plan.starts}
    assert len(started) == 1
    return started.pop()


def order(name: str, views: list[ExecutionView], time: float, **kw: float) -> list[str]:
    """The ids of ``views`` in the order of ordering ``name``."""
    estimates = Estimates(kw.get("sigma", 0.0), int(kw.get("seed", 0)))
    return [v.id for v in make_ordering(name).sort(views, time, estimates)]


def test_fifo_sorts_by_submit_time_then_submission_order() -> None:
    # c and b were submitted at 5, c with the lower seq; a at 10.
    views = [
        execution("a", 2, ONE, submit=10),
        execution("b", 3, ONE, submit=5),
        execution("c", 1, ONE, submit=5),
    ]
    assert order("fifo", views, 100) == ["c", "b", "a"]
    assert first_started("rigid-fifo", views, 100) == "c"


def test_size_smallest_hint_first_and_unknown_last() -> None:
    views = [
        execution("a", 0, ONE, size=300.0),
        execution("b", 1, ONE, size=100.0, submit=1),
        execution("c", 2, ONE, submit=2),  # no hint: last
    ]
    assert order("size", views, 10) == ["b", "a", "c"]
    assert order("size1d", views, 10) == ["b", "a", "c"]
    assert first_started("rigid-size", views, 10) == "b"


def test_size_2d_multiplies_by_the_number_of_services() -> None:
    # a: 300 x 1 service = 300; b: 100 x 4 services = 400 -> a first (1d: b).
    views = [
        execution("a", 0, ONE, size=300.0),
        execution("b", 1, (group(1, 1, 1, 4),), submit=1, size=100.0),
    ]
    assert order("size2d", views, 10) == ["a", "b"]
    assert first_started("rigid-size1d", views, 10) == "b"


def test_size_3d_multiplies_by_cores_times_gib() -> None:
    # a: 100 x (1 service x 2 cores x 4 GiB) = 800; b: 300 x (1 x 1 x 2) = 600.
    views = [
        execution("a", 0, (group(2, 4, 1, 1),), size=100.0),
        execution("b", 1, (group(1, 2, 1, 1),), submit=1, size=300.0),
    ]
    assert order("size3d", views, 10) == ["b", "a"]
    assert order("size", views, 10) == ["a", "b"]


def test_psjf_uses_the_duration_then_the_size_hint() -> None:
    # a: duration 50; b: no duration, size hint 40; c: neither (inf, last).
    views = [
        execution("a", 0, ONE, duration=50.0),
        execution("b", 1, ONE, submit=1, size=40.0),
        execution("c", 2, ONE, submit=2),
    ]
    assert order("psjf", views, 10) == ["b", "a", "c"]
    assert first_started("rigid-psjf", views, 10) == "b"


def test_psjf_2d_weights_by_service_count() -> None:
    # a: 50 x 1 = 50; b: 20 x 3 = 60 -> a first in 2d, b first in 1d.
    views = [
        execution("a", 0, ONE, duration=50.0),
        execution("b", 1, (group(1, 1, 1, 3),), submit=1, duration=20.0),
    ]
    assert order("psjf2d", views, 10) == ["a", "b"]
    assert order("psjf", views, 10) == ["b", "a"]


def test_srpt_uses_remaining_work_else_duration() -> None:
    # a: remaining 80; b: no remaining, duration 60; c: remaining 10 (of 1000).
    views = [
        execution("a", 0, ONE, duration=100.0, remaining=80.0),
        execution("b", 1, ONE, submit=1, duration=60.0),
        execution("c", 2, ONE, submit=2, duration=1000.0, remaining=10.0),
    ]
    assert order("srpt", views, 10) == ["c", "b", "a"]
    assert first_started("rigid-srpt", views, 10) == "c"
    # psjf reads the full durations instead: b (60), a (100), c (1000)
    assert order("psjf", views, 10) == ["b", "a", "c"]


def test_srpt_3d() -> None:
    # a: 80 x (1 x 3 cores x 1 GiB) = 240; b: 60 x (2 x 2 cores x 2 GiB) = 480.
    views = [
        execution("a", 0, ONE, duration=100.0, remaining=80.0),
        execution("b", 1, (group(2, 2, 2, 2),), submit=1, remaining=60.0),
    ]
    assert order("srpt3d", views, 10) == ["a", "b"]
    assert order("srpt", views, 10) == ["b", "a"]


def test_hrrn_highest_response_ratio_first() -> None:
    # at 1000: a waited 1000 with S 1000 -> ratio 2; b waited 100 with S 50 ->
    # ratio 3; c has no duration: ratio 1.
    views = [
        execution("a", 0, ONE, submit=0, duration=1000.0),
        execution("b", 1, ONE, submit=900, duration=50.0),
        execution("c", 2, ONE, submit=500),
    ]
    assert order("hrrn", views, 1000) == ["b", "a", "c"]
    assert first_started("rigid-hrrn", views, 1000) == "b"


def test_hrrn_3d_measures_size_in_cores_times_gib() -> None:
    # a: S = 1000 x (1 x 1 core x 1 GiB) = 1000, waited 1000 -> ratio 2.
    # b: S = 50 x (2 x 2 cores x 4 GiB) = 800, waited 100 -> ratio 1.125.
    views = [
        execution("a", 0, (group(1, 1, 1, 1),), duration=1000.0),
        execution("b", 1, (group(2, 4, 2, 2),), submit=900, duration=50.0),
    ]
    assert order("hrrn3d", views, 1000) == ["a", "b"]
    assert order("hrrn", views, 1000) == ["b", "a"]


def test_hrrn_2d() -> None:
    # a: S = 100 x 1, waited 100 -> 2; b: S = 10 x 20 = 200, waited 100 -> 1.5.
    views = [
        execution("a", 0, ONE, submit=0, duration=100.0),
        execution("b", 1, (group(0.1, 0.1, 1, 20),), submit=0, duration=10.0),
    ]
    assert order("hrrn2d", views, 100) == ["a", "b"]
    assert order("hrrn", views, 100) == ["b", "a"]


# dynsize: key = size x 2 ** (-waiting / 3600). B (size 4000) waits since 0; a
# newcomer S (size 1000) arrives at T: at T its key is 1000 and B's is
# 4000 x 2 ** (-T / 3600), equal at T = 2 x 3600 = 7200 (tie: B, submitted first).
@pytest.mark.parametrize(
    ("arrival", "first"),
    [(0.0, "S"), (7199.0, "S"), (7200.0, "B"), (7201.0, "B"), (20000.0, "B")],
)
def test_dynsize_old_big_execution_passes_newcomers_after_enough_waiting(
    arrival: float, first: str
) -> None:
    views = [
        execution("B", 0, ONE, submit=0.0, size=4000.0),
        execution("S", 1, ONE, submit=arrival, size=1000.0),
    ]
    assert order("dynsize", views, arrival)[0] == first
    assert first_started("rigid-dynsize", views, arrival) == first


@pytest.mark.parametrize("time", [14400.0, 15600.0, 100000.0])
def test_dynsize_order_of_two_waiting_executions_never_changes(time: float) -> None:
    # S arrives at 14400 (4 h), when B's key is 4000 / 16 = 250 < 1000. From then
    # on B = 4000 x 2 ** (-t / 3600) and S = 1000 x 2 ** (4 - t / 3600) = 16000 x
    # 2 ** (-t / 3600): both shrink alike and B stays first for ever.
    views = [
        execution("B", 0, ONE, submit=0.0, size=4000.0),
        execution("S", 1, ONE, submit=14400.0, size=1000.0),
    ]
    assert order("dynsize", views, time) == ["B", "S"]


def test_dynsize_2d_uses_the_2d_size() -> None:
    # at 3600 B (waited one hour) has 4000 / 2 = 2000 and S (just in, size 600,
    # 4 services) 600 in 1d: S first. In 2d: B 2000 x 1 = 2000, S 600 x 4 = 2400:
    # B first.
    views = [
        execution("B", 0, ONE, submit=0.0, size=4000.0),
        execution("S", 1, (group(0.5, 1, 1, 4),), submit=3600.0, size=600.0),
    ]
    assert order("dynsize2d", views, 3600.0) == ["B", "S"]
    assert order("dynsize", views, 3600.0) == ["S", "B"]


def test_estimation_error_zero_changes_nothing() -> None:
    estimates = Estimates(0.0, seed=42)
    assert estimates.factor("x") == 1.0
    views = [
        execution("a", 0, ONE, duration=50.0),
        execution("b", 1, ONE, submit=1, duration=40.0),
    ]
    assert order("psjf", views, 10, sigma=0.0, seed=42) == ["b", "a"]
    snap = snapshot([node("n0", 4, 16)], views, 10)
    assert plan_of("rigid-psjf", snap, estimate_error=0.0, seed=3) == plan_of(
        "rigid-psjf", snap
    )


def test_estimation_error_is_fixed_per_execution_and_seed() -> None:
    one, two = Estimates(0.8, seed=5), Estimates(0.8, seed=5)
    assert one.factor("e1") == two.factor("e1") == one.factor("e1")
    assert one.factor("e1") != one.factor("e2")
    assert one.factor("e1") != Estimates(0.8, seed=6).factor("e1")
    assert one.factor("e1") > 0
    assert one.factor("e1") != 1.0
    view = execution("e1", 0, ONE, duration=100.0, remaining=30.0)
    assert math.isclose(one.duration(view), 100.0 * one.factor("e1"))
    assert math.isclose(one.remaining(view), 30.0 * one.factor("e1"))


def test_estimation_error_reorders_by_the_erred_durations() -> None:
    # a (100 s) and b (110 s): with sigma 1 the erred durations decide, and over
    # 40 seeds both orders occur; each agrees with its factors and repeats.
    views = [
        execution("a", 0, ONE, duration=100.0),
        execution("b", 1, ONE, submit=1, duration=110.0),
    ]
    seen = set()
    for seed in range(40):
        estimates = Estimates(1.0, seed)
        expected = (
            "a"
            if 100.0 * estimates.factor("a") <= 110.0 * estimates.factor("b")
            else "b"
        )
        got = order("psjf", views, 0, sigma=1.0, seed=seed)[0]
        assert got == expected
        snap = snapshot([node("n0", 4, 16)], views, 0)
        plan = plan_of("rigid-psjf", snap, estimate_error=1.0, seed=seed)
        assert [p.execution_id for p in plan.starts] == [expected]
        seen.add(got)
    assert seen == {"a", "b"}


def test_estimates_refuse_a_negative_sigma() -> None:
    with pytest.raises(ValueError, match="sigma"):
        Estimates(-0.1)


def test_every_ordering_breaks_ties_by_submit_time_then_seq() -> None:
    # identical executions but for seq: every ordering keeps seq order.
    views = [
        execution(e, s, ONE, duration=10.0, size=10.0) for e, s in [("y", 1), ("x", 0)]
    ]
    for name in ("fifo", "size", "dynsize", "psjf", "srpt", "hrrn", "hrrn3d"):
        assert order(name, views, 5) == ["x", "y"]


@pytest.mark.parametrize(
    ("name", "views", "time", "expected"),
    [
        # psjf3d: a 50 x (2 cores x 4 GiB) = 400; b 100 x (1 x 2) = 200.
        (
            "psjf3d",
            [
                execution("a", 0, (group(2, 4, 1, 1),), duration=50.0),
                execution("b", 1, (group(1, 2, 1, 1),), submit=1, duration=100.0),
            ],
            10.0,
            ["b", "a"],
        ),
        # srpt2d: a 30 x 4 services = 120; b 100 x 1 = 100.
        (
            "srpt2d",
            [
                execution("a", 0, (group(1, 1, 1, 4),), remaining=30.0),
                execution("b", 1, ONE, submit=1, remaining=100.0),
            ],
            10.0,
            ["b", "a"],
        ),
        # dynsize3d at 3600: B 1000 x (1 x 1) / 2 = 500; S (just in) 100 x
        # (2 x 4) / 1 = 800.
        (
            "dynsize3d",
            [
                execution("B", 0, (group(1, 1, 1, 1),), submit=0.0, size=1000.0),
                execution("S", 1, (group(2, 4, 1, 1),), submit=3600.0, size=100.0),
            ],
            3600.0,
            ["B", "S"],
        ),
    ],
)
def test_more_dimensions(
    name: str, views: list[ExecutionView], time: float, expected: list[str]
) -> None:
    assert order(name, views, time) == expected
    # in 1d the other one comes first
    assert order(name[:-2], views, time) == expected[::-1]
