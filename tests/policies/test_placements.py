"""Placement rules on hand-made multi-node states."""

from __future__ import annotations

from random import Random

import pytest
from builders import (
    GIB,
    execution,
    group,
    node,
    node_view,
    plan_of,
    snapshot,
    sorted_starts,
)

from zoe.core.snapshot import NodeView
from zoe.policies.registry import make_placement
from zoe.policies.workstate import WorkState

NO_LABELS: frozenset[str] = frozenset()
GPU = frozenset({"gpu"})


def choose(
    rule: str,
    views: list[NodeView],
    cores: float,
    memory_gib: float,
    labels: frozenset[str] = NO_LABELS,
    seed: int = 0,
) -> str | None:
    """The node ``rule`` picks for one service, or None."""
    state = WorkState(tuple(views))
    index = make_placement(rule).choose(
        state, int(cores * 1000), int(memory_gib * GIB), labels, Random(seed)
    )
    return None if index < 0 else state.names[index]


def _scored_nodes() -> list[NodeView]:
    # All 8 cores, 32 GiB. For a service of 2 cores, 4 GiB:
    # s:  1 core free: does not fit (it would win spread: 0 services, first).
    # n0: 3c/8G free, 2 services; best-fit score 1/8 + 4/32 = 0.25
    # n1: 6c/24G free, 0 services; 4/8 + 20/32 = 1.125
    # n2: 2c/4G free, 1 service;   0 + 0 = 0
    # n3: 4c/16G free, 5 services; 2/8 + 12/32 = 0.625
    return [
        node_view("s", 8, 32, free_cores=1, free_gib=30, count=0),
        node_view("n0", 8, 32, free_cores=3, free_gib=8, count=2),
        node_view("n1", 8, 32, free_cores=6, free_gib=24, count=0),
        node_view("n2", 8, 32, free_cores=2, free_gib=4, count=1),
        node_view("n3", 8, 32, free_cores=4, free_gib=16, count=5),
    ]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("first-fit", "n0"),  # the first that fits in cluster order
        ("spread", "n1"),  # fewest services among those that fit
        ("pack", "n3"),  # most services
        ("best-fit", "n2"),  # least free capacity left
    ],
)
def test_each_rule_picks_its_node(rule: str, expected: str) -> None:
    assert choose(rule, _scored_nodes(), 2, 4) == expected


@pytest.mark.parametrize("rule", ["first-fit", "spread", "pack", "best-fit", "random"])
def test_no_node_fits(rule: str) -> None:
    # 7 cores: no node has them free; 1 core but 40 GiB: nor that.
    assert choose(rule, _scored_nodes(), 7, 1) is None
    assert choose(rule, _scored_nodes(), 1, 40) is None


def test_memory_alone_can_rule_a_node_out() -> None:
    # 2 cores, 10 GiB: n0 (8G) and n2 (4G) are out on memory; first-fit -> n1.
    assert choose("first-fit", _scored_nodes(), 2, 10) == "n1"
    # best-fit: n3 keeps 2/8 + 6/32 = 0.44, n1 keeps 4/8 + 14/32 = 0.94
    assert choose("best-fit", _scored_nodes(), 2, 10) == "n3"


def test_best_fit_measures_fractions_of_the_node() -> None:
    # a (4c/16G) keeps 0 cores and 4 GiB: 0 + 4/16 = 0.25; b (64c/256G) keeps 1
    # core and 4 GiB: 1/64 + 4/256 = 0.03125: b, though it keeps more cores.
    views = [
        node_view("a", 4, 16, free_cores=2, free_gib=8),
        node_view("b", 64, 256, free_cores=3, free_gib=8),
    ]
    assert choose("best-fit", views, 2, 4) == "b"


@pytest.mark.parametrize("rule", ["spread", "pack", "best-fit"])
def test_ties_go_to_the_first_node_in_cluster_order(rule: str) -> None:
    views = [node_view(f"n{i}", 4, 16, free_cores=4, free_gib=16) for i in range(3)]
    assert choose(rule, views, 1, 1) == "n0"


def test_random_is_seeded_and_draws_among_fitting_nodes() -> None:
    # fitting: n0..n3 (s is too small); each seed repeats its choice, and over
    # 100 seeds every fitting node is drawn.
    drawn = set()
    for seed in range(100):
        first = choose("random", _scored_nodes(), 2, 4, seed=seed)
        assert first == choose("random", _scored_nodes(), 2, 4, seed=seed)
        drawn.add(first)
    assert drawn == {"n0", "n1", "n2", "n3"}


def _labelled_nodes(g_free: float = 8) -> list[NodeView]:
    # g {gpu} first, p (no labels), gs {gpu, ssd}; 8 cores, 32 GiB each.
    # Service counts: g 3, p 2, gs 0.
    return [
        node_view("g", 8, 32, free_cores=g_free, free_gib=32, count=3, labels=["gpu"]),
        node_view("p", 8, 32, free_cores=8, free_gib=32, count=2),
        node_view("gs", 8, 32, free_cores=8, free_gib=32, labels=["gpu", "ssd"]),
    ]


@pytest.mark.parametrize("rule", ["first-fit", "spread", "pack", "best-fit", "random"])
def test_a_service_with_labels_goes_only_to_nodes_with_them(rule: str) -> None:
    # gpu: g carries exactly {gpu}: every rule takes it (spread would otherwise
    # prefer gs with 0 services; gs has an extra label, so it comes last).
    assert choose(rule, _labelled_nodes(), 1, 1, GPU) == "g"
    # g is full: gs is the only other node with gpu; p never.
    assert choose(rule, _labelled_nodes(g_free=0), 1, 1, GPU) == "gs"
    # no node has {tpu}
    assert choose(rule, _labelled_nodes(), 1, 1, frozenset({"tpu"})) is None


@pytest.mark.parametrize("rule", ["spread", "pack", "best-fit", "random"])
def test_nodes_with_extra_labels_are_used_last(rule: str) -> None:
    # a service without labels: p (no labels) first, whatever the scores say.
    for seed in range(20):
        assert choose(rule, _labelled_nodes(), 1, 1, seed=seed) == "p"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("spread", "gs"), ("pack", "g"), ("best-fit", "g")],
)
def test_labelled_nodes_are_used_when_the_plain_ones_are_full(
    rule: str, expected: str
) -> None:
    # p is full: among g (3 services, 2 cores free) and gs (0 services, 8 free)
    # spread takes gs, pack g, best-fit g (1/8 + 31/32 < 7/8 + 31/32).
    views = _labelled_nodes(g_free=2)
    views[1] = node_view("p", 8, 32, free_cores=0, free_gib=32, count=2)
    assert choose(rule, views, 1, 1) == expected


def test_first_fit_keeps_the_cluster_order_with_labels() -> None:
    # first-fit does not put labelled nodes last: g comes first and fits.
    assert choose("first-fit", _labelled_nodes(), 1, 1) == "g"


def test_spread_and_first_fit_in_a_whole_round() -> None:
    # three empty nodes of 4 cores. A: essential + 5 elastics of 1 core.
    # spread: counts 0,0,0 -> n0; then n1, n2 (0 services), n0, n1 (ties to the
    # first). first-fit: n0 until it is full (4), then n1.
    snap = snapshot(
        [node(f"n{i}", 4, 16) for i in range(3)],
        [execution("A", 0, [group(1, 1, 1, 6)])],
    )
    spread = ["n0", "n1", "n2", "n0", "n1", "n2"]
    first = ["n0", "n0", "n0", "n0", "n1", "n1"]
    for rule, nodes in (("spread", spread), ("first-fit", first)):
        assert sorted_starts(plan_of("flexible-fifo", snap, rule)) == [
            ("A", 0, i, n) for i, n in enumerate(nodes)
        ]


def test_random_placement_in_a_round_repeats_for_a_seed() -> None:
    snap = snapshot(
        [node(f"n{i}", 4, 16) for i in range(4)],
        [execution("A", 0, [group(1, 1, 1, 8)])],
    )
    plans = {
        seed: plan_of("flexible-fifo", snap, "random", seed=seed) for seed in (1, 2)
    }
    for seed, plan in plans.items():
        assert plan == plan_of("flexible-fifo", snap, "random", seed=seed)
        assert len(plan.starts) == 8
    # 8 services over 4 nodes, two seeds: the same draws are a 4^-8 chance
    assert plans[1] != plans[2]
