"""Hand-worked rounds of ``rigid`` and ``elastic`` (DESIGN.md section 4)."""

from __future__ import annotations

from builders import (
    execution,
    group,
    node,
    plan_of,
    snapshot,
    sorted_starts,
)


def _head_blocks_state() -> object:
    # n0: 4 cores; R holds 2 of them. A needs 3 cores in all (1 essential and 2
    # elastic services of 1 core), B needs 1 core.
    return snapshot(
        [node("n0", 4, 16)],
        [
            execution("R", 0, [group(2, 1, 1, 1)], placed=[(0, 0, "n0")]),
            execution("A", 1, [group(1, 1, 1, 3)], submit=1),
            execution("B", 2, [group(1, 1, 1, 1)], submit=2),
        ],
    )


def test_rigid_head_blocks_an_execution_behind_that_would_fit() -> None:
    # rigid wants all 3 of A's services (3 cores) with 2 free: A is not placed,
    # the round stops there and B, which would fit in 1 core, is not started.
    plan = plan_of("rigid-fifo", _head_blocks_state())
    assert plan.is_empty


def test_elastic_places_essentials_then_the_elastic_services_that_fit() -> None:
    # elastic: A's essential (1 core) fits, then its elastic (0,1) takes the last
    # free core and (0,2) is skipped; B's essential then does not fit: stop.
    plan = plan_of("elastic-fifo", _head_blocks_state())
    assert sorted_starts(plan) == [("A", 0, 0, "n0"), ("A", 0, 1, "n0")]


def test_rigid_places_all_services_across_nodes_in_first_fit_order() -> None:
    # A: (0,0) 1 core -> n0 (n0 has 1 left); (1,0) 2 cores -> n1 (2 left);
    # (1,1) 2 cores -> n1 (0 left). B: 1 core -> n0 (0 left). C: 1 core, no node
    # has a core left: the round stops and D is never tried.
    snap = snapshot(
        [node("n0", 2, 16), node("n1", 4, 16)],
        [
            execution("A", 0, [group(1, 1, 1, 1), group(2, 1, 1, 2)]),
            execution("B", 1, [group(1, 1, 1, 1)], submit=1),
            execution("C", 2, [group(1, 1, 1, 1)], submit=2),
            execution("D", 3, [group(0.5, 1, 1, 1)], submit=3),
        ],
    )
    assert sorted_starts(plan_of("rigid-fifo", snap)) == [
        ("A", 0, 0, "n0"),
        ("A", 1, 0, "n1"),
        ("A", 1, 1, "n1"),
        ("B", 0, 0, "n0"),
    ]


def test_rigid_blocks_on_memory_too() -> None:
    # n0: 8 cores, 4 GiB. A takes 3 GiB; B asks 2 GiB with 1 GiB free: it does
    # not fit on memory although cores are free, so C (1 GiB) waits behind it.
    snap = snapshot(
        [node("n0", 8, 4)],
        [
            execution("A", 0, [group(1, 3, 1, 1)]),
            execution("B", 1, [group(1, 2, 1, 1)], submit=1),
            execution("C", 2, [group(1, 1, 1, 1)], submit=2),
        ],
    )
    assert sorted_starts(plan_of("rigid-fifo", snap)) == [("A", 0, 0, "n0")]


def test_elastic_skips_elastic_services_that_do_not_fit_in_instance_order() -> None:
    # n0: 4 cores. A: essential (0,0) 1 core -> 3 free. Elastic in instance order:
    # group 1's (1,0) needs 4 cores: skipped; group 2's (2,0), (2,1) of 1 core
    # fit -> 1 free. B's essential needs 2 cores: it does not fit, the round
    # stops, and C (1 core, would fit) is not started.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution(
                "A", 0, [group(1, 1, 1, 1), group(4, 1, 0, 1), group(1, 1, 0, 2)]
            ),
            execution("B", 1, [group(2, 1, 1, 1)], submit=1),
            execution("C", 2, [group(1, 1, 1, 1)], submit=2),
        ],
    )
    assert sorted_starts(plan_of("elastic-fifo", snap)) == [
        ("A", 0, 0, "n0"),
        ("A", 2, 0, "n0"),
        ("A", 2, 1, "n0"),
    ]


def test_elastic_essentials_are_all_or_none() -> None:
    # A has 3 essential services of 1 core and 2 cores are free: none is placed
    # and the round stops, so B (1 core) waits.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution("R", 0, [group(2, 1, 1, 1)], placed=[(0, 0, "n0")]),
            execution("A", 1, [group(1, 1, 3, 3)], submit=1),
            execution("B", 2, [group(1, 1, 1, 1)], submit=2),
        ],
    )
    assert plan_of("elastic-fifo", snap).is_empty


def test_elastic_gives_a_running_execution_its_missing_elastic_services() -> None:
    # R runs with its essential (0,0) and elastic (0,1) on n0 (2 cores); its
    # (0,2) and (0,3) are missing. R comes first: (0,2) -> n0 (1 core left),
    # (0,3) -> n1 (3 left). Q's essential (2 cores) -> n1 (1 left); its elastic
    # (0,1) (2 cores) fits nowhere.
    snap = snapshot(
        [node("n0", 3, 16), node("n1", 4, 16)],
        [
            execution("R", 0, [group(1, 1, 1, 4)], placed=[(0, 0, "n0"), (0, 1, "n0")]),
            execution("Q", 1, [group(2, 1, 1, 2)], submit=1),
        ],
    )
    assert sorted_starts(plan_of("elastic-fifo", snap)) == [
        ("Q", 0, 0, "n1"),
        ("R", 0, 2, "n0"),
        ("R", 0, 3, "n1"),
    ]


def test_elastic_goes_on_past_a_running_execution_whose_elastics_do_not_fit() -> None:
    # R runs on n0 (1 core) and lacks an elastic service of 5 cores that fits
    # nowhere; elastic mode skips it and starts Q (1 core) in the 3 free cores.
    snap = snapshot(
        [node("n0", 4, 16)],
        [
            execution(
                "R", 0, [group(1, 1, 1, 1), group(5, 1, 0, 1)], placed=[(0, 0, "n0")]
            ),
            execution("Q", 1, [group(1, 1, 1, 1)], submit=1),
        ],
    )
    assert sorted_starts(plan_of("elastic-fifo", snap)) == [("Q", 0, 0, "n0")]
