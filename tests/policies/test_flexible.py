"""Hand-worked rounds of ``flexible`` (DESIGN.md section 4, steps 1 to 6)."""

from __future__ import annotations

from builders import (
    execution,
    group,
    node,
    plan_of,
    snapshot,
    sorted_starts,
)


def _later_essentials_state() -> object:
    # n0: 8 cores, 64 GiB. A: essential (1 core, 1 GiB) and 6 elastic services of
    # 1 core, 1 GiB. B: essential 2 cores, 4 GiB. C: essential 1 core, 2 GiB.
    # D: essential 1 core, 1 GiB (the same size as A's elastic services).
    # E: essential 0.5 core, 0.5 GiB.
    return snapshot(
        [node("n0", 8, 64)],
        [
            execution("A", 0, [group(1, 1, 1, 1), group(1, 1, 0, 6)]),
            execution("B", 1, [group(2, 4, 1, 1)], submit=1),
            execution("C", 2, [group(1, 2, 1, 1)], submit=2),
            execution("D", 3, [group(1, 1, 1, 1)], submit=3),
            execution("E", 4, [group(0.5, 0.5, 1, 1)], submit=4),
        ],
    )


def test_flexible_later_essentials_win_over_earlier_elastics_until_a_swap() -> None:
    # noted: 8 cores, 64 GiB.
    # A: essential -> 7c/63G; fill A's 6 elastics -> 1c/57G; went down: note.
    # B: remove A's 6 -> 7c/63G; B -> 5c/59G; fill A: 5 -> 0c/54G; went down.
    # C: remove A's 5 -> 5c/59G; C -> 4c/57G; fill A: 4 -> 0c/53G; memory went
    #    down (53 < 54): go on.
    # D: remove A's 4 -> 4c/57G; D -> 3c/56G; fill A: 3 -> 0c/53G; neither cores
    #    (0) nor memory (53) went down: restore (A keeps 4 elastics, D out), stop;
    #    E is never tried although it would have fitted in D's place.
    plan = plan_of("flexible-fifo", _later_essentials_state())
    assert sorted_starts(plan) == [
        ("A", 0, 0, "n0"),
        ("A", 1, 0, "n0"),
        ("A", 1, 1, "n0"),
        ("A", 1, 2, "n0"),
        ("A", 1, 3, "n0"),
        ("B", 0, 0, "n0"),
        ("C", 0, 0, "n0"),
    ]


def test_elastic_on_the_same_state_keeps_earlier_elastics() -> None:
    # elastic: A takes its essential and 6 elastics (1 core left); B's 2 cores do
    # not fit: stop. This is where flexible differs.
    plan = plan_of("elastic-fifo", _later_essentials_state())
    assert sorted_starts(plan) == [("A", 0, 0, "n0")] + [
        ("A", 1, i, "n0") for i in range(6)
    ]


def test_flexible_equal_sized_swap_restores_the_state_and_stops() -> None:
    # n0: 4 cores, 16 GiB. A: essential + 3 elastics (1 core, 1 GiB each): fills
    # n0; noted 0c/12G. B (1 core, 1 GiB): remove A's 3 -> 3c/15G; B -> 2c/14G;
    # fill A: 2 -> 0c/12G: no change, restore and stop. C (1 core, 2 GiB) would
    # have made memory go down but the round has ended.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution("A", 0, [group(1, 1, 1, 1), group(1, 1, 0, 3)]),
            execution("B", 1, [group(1, 1, 1, 1)], submit=1),
            execution("C", 2, [group(1, 2, 1, 1)], submit=2),
        ],
    )
    assert sorted_starts(plan_of("flexible-fifo", snap)) == [
        ("A", 0, 0, "n0"),
        ("A", 1, 0, "n0"),
        ("A", 1, 1, "n0"),
        ("A", 1, 2, "n0"),
    ]


def test_flexible_essentials_that_do_not_fit_end_the_round() -> None:
    # n0: 4 cores, R holds 2. A's 3 essential services of 1 core do not fit:
    # the placements of the round are put back as they were, and the round ends,
    # so B (1 core) waits.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution("R", 0, [group(2, 1, 1, 1)], placed=[(0, 0, "n0")]),
            execution("A", 1, [group(1, 1, 3, 3)], submit=1),
            execution("B", 2, [group(1, 1, 1, 1)], submit=2),
        ],
    )
    assert plan_of("flexible-fifo", snap).is_empty


def test_flexible_running_execution_with_no_fitting_elastic_ends_the_round() -> None:
    # R runs (1 core on n0) and lacks one elastic of 5 cores, larger than n0.
    # R is first: step 5 places nothing, free totals are unchanged, the round
    # ends and Q (1 core, it would fit) is not started. (elastic-fifo starts Q:
    # see test_rigid_elastic.)
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution(
                "R", 0, [group(1, 1, 1, 1), group(5, 1, 0, 1)], placed=[(0, 0, "n0")]
            ),
            execution("Q", 1, [group(1, 1, 1, 1)], submit=1),
        ],
    )
    assert plan_of("flexible-fifo", snap).is_empty


def test_flexible_multi_group_elastic_in_instance_order_across_groups() -> None:
    # n0: 6 cores. Essentials (0,0) 2c -> 4 left, (1,0) 1c -> 3 left. Elastic in
    # instance order: (0,1) 2c -> 1 left; (0,2) 2c does not fit; (1,1) 1c -> 0
    # left; (1,2) does not fit. (Group 1 first would have given (1,1), (1,2) and
    # then (0,1).)
    snap = snapshot(
        [node("n0", 6, 64)],
        [execution("A", 0, [group(2, 1, 1, 3), group(1, 1, 1, 3)])],
    )
    expected = [("A", 0, 0, "n0"), ("A", 0, 1, "n0"), ("A", 1, 0, "n0")]
    expected.append(("A", 1, 1, "n0"))
    for policy in ("flexible-fifo", "elastic-fifo"):
        assert sorted_starts(plan_of(policy, snap)) == sorted(expected)


def test_flexible_rebuilds_elastics_on_several_nodes_in_first_fit_order() -> None:
    # Nodes n0 2c, n1 4c, n2 4c (16 GiB each). A: essential 3 cores, 5 elastic
    # services of 1 core. B: essential 2 cores.
    # A: essential -> n1 (n0 too small), free n0 2, n1 1, n2 4; elastics ->
    #    n0, n0, n1, n2, n2; free 0/0/2 (2 cores in all).
    # B: remove A's elastics (n0 2, n1 1, n2 4); B -> n0 (first that fits);
    #    fill A: n1, n2, n2, n2, n2 -> 0 cores free in all (went down): go on.
    snap = snapshot(
        [node("n0", 2, 16), node("n1", 4, 16), node("n2", 4, 16)],
        [
            execution("A", 0, [group(3, 1, 1, 1), group(1, 1, 0, 5)]),
            execution("B", 1, [group(2, 1, 1, 1)], submit=1),
        ],
    )
    assert sorted_starts(plan_of("flexible-fifo", snap)) == [
        ("A", 0, 0, "n1"),
        ("A", 1, 0, "n1"),
        ("A", 1, 1, "n2"),
        ("A", 1, 2, "n2"),
        ("A", 1, 3, "n2"),
        ("A", 1, 4, "n2"),
        ("B", 0, 0, "n0"),
    ]


def test_flexible_running_execution_grows_and_later_essentials_still_win() -> None:
    # n0: 4 cores, 16 GiB. R runs its essential (1 core) and lacks 3 elastics of
    # 1 core, 1 GiB. Q: essential 1 core, 2 GiB.
    # R: fill 3 -> 0c/12G: went down, note. Q: remove R's 3 -> 3c/15G; Q -> 2c/13G;
    # fill R: 2 -> 0c/11G: memory went down: Q starts and R gets 2 elastics.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution("R", 0, [group(1, 1, 1, 4)], placed=[(0, 0, "n0")]),
            execution("Q", 1, [group(1, 2, 1, 1)], submit=1),
        ],
    )
    assert sorted_starts(plan_of("flexible-fifo", snap)) == [
        ("Q", 0, 0, "n0"),
        ("R", 0, 1, "n0"),
        ("R", 0, 2, "n0"),
    ]
