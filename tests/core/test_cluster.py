"""Cluster accounting, the cluster shorthand and cluster documents."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoe.core.cluster import (
    Cluster,
    Node,
    ServiceRef,
    fits,
    nodes_from_document,
    parse_cluster,
)
from zoe.core.errors import CapacityError, InvalidCluster, NotFound
from zoe.core.resources import Resources

GiB = 1024**3


def two_nodes() -> Cluster:
    return Cluster(
        [
            Node("a", Resources(4000, 8 * GiB)),
            Node("b", Resources(2000, 4 * GiB), frozenset({"gpu"})),
        ]
    )


def state(cluster: Cluster) -> tuple[object, ...]:
    """Everything observable about a cluster's accounting."""
    return (
        list(cluster.free_millicores),
        list(cluster.free_memory),
        list(cluster.service_counts),
        list(cluster.allocations()),
    )


def test_allocate_and_release() -> None:
    cluster = two_nodes()
    ref = ServiceRef("e1", 0, 0)

    cluster.allocate(ref, "a", Resources(1500, 3 * GiB))

    assert cluster.free("a") == Resources(2500, 5 * GiB)
    assert cluster.free("b") == Resources(2000, 4 * GiB)
    assert cluster.node_of(ref) == "a"
    assert cluster.service_counts == [1, 0]
    assert cluster.allocated == Resources(1500, 3 * GiB)
    assert cluster.capacity == Resources(6000, 12 * GiB)

    assert cluster.release(ref) == Resources(1500, 3 * GiB)
    assert cluster.free("a") == Resources(4000, 8 * GiB)
    assert cluster.node_of(ref) is None
    assert cluster.service_counts == [0, 0]


def test_allocation_filling_a_node_exactly_is_allowed() -> None:
    cluster = two_nodes()

    cluster.allocate(ServiceRef("e1", 0, 0), "b", Resources(2000, 4 * GiB))

    assert cluster.free("b") == Resources(0, 0)


@pytest.mark.parametrize(
    "demand",
    [Resources(4001, 1), Resources(1, 8 * GiB + 1), Resources(5000, 9 * GiB)],
)
def test_over_capacity_is_refused_and_leaves_the_cluster_unchanged(
    demand: Resources,
) -> None:
    cluster = two_nodes()
    cluster.allocate(ServiceRef("e0", 0, 0), "a", Resources(0, 0))
    before = state(cluster)

    with pytest.raises(CapacityError, match="does not fit on a"):
        cluster.allocate(ServiceRef("e1", 0, 0), "a", demand)

    assert state(cluster) == before


def test_over_capacity_after_earlier_allocations() -> None:
    cluster = two_nodes()
    cluster.allocate(ServiceRef("e1", 0, 0), "a", Resources(3000, GiB))
    before = state(cluster)

    with pytest.raises(CapacityError):
        cluster.allocate(ServiceRef("e1", 0, 1), "a", Resources(1001, GiB))

    assert state(cluster) == before


def test_double_allocation_is_refused_even_on_another_node() -> None:
    cluster = two_nodes()
    ref = ServiceRef("e1", 0, 0)
    cluster.allocate(ref, "a", Resources(1000, GiB))
    before = state(cluster)

    with pytest.raises(CapacityError, match="already allocated"):
        cluster.allocate(ref, "b", Resources(1000, GiB))

    assert state(cluster) == before


def test_negative_demand_is_refused() -> None:
    cluster = two_nodes()

    with pytest.raises(CapacityError, match="negative demand"):
        cluster.allocate(ServiceRef("e1", 0, 0), "a", Resources(-1000, GiB))

    assert cluster.free("a") == Resources(4000, 8 * GiB)


def test_releasing_an_unknown_service_is_refused() -> None:
    cluster = two_nodes()
    cluster.allocate(ServiceRef("e1", 0, 0), "a", Resources(1000, GiB))
    before = state(cluster)

    with pytest.raises(NotFound) as caught:
        cluster.release(ServiceRef("e1", 0, 1))

    assert caught.value.kind == "service allocation"
    assert state(cluster) == before


def test_releasing_twice_is_refused() -> None:
    cluster = two_nodes()
    ref = ServiceRef("e1", 0, 0)
    cluster.allocate(ref, "a", Resources(1000, GiB))
    cluster.release(ref)

    with pytest.raises(NotFound):
        cluster.release(ref)


def test_unknown_node_is_refused() -> None:
    cluster = two_nodes()

    with pytest.raises(NotFound, match="node 'c' not found"):
        cluster.allocate(ServiceRef("e1", 0, 0), "c", Resources(1, 1))
    with pytest.raises(NotFound):
        cluster.free("c")


def test_node_names_must_be_unique() -> None:
    with pytest.raises(InvalidCluster, match="unique"):
        Cluster([Node("a", Resources(1, 1)), Node("a", Resources(1, 1))])


def test_allocate_all_undoes_everything_on_a_refusal() -> None:
    cluster = two_nodes()
    before = state(cluster)
    items = [
        (ServiceRef("e1", 0, 0), "a", Resources(3000, GiB)),
        (ServiceRef("e1", 0, 1), "b", Resources(2000, GiB)),
        (ServiceRef("e1", 1, 0), "a", Resources(1001, GiB)),  # 1000 left on a
    ]

    with pytest.raises(CapacityError):
        cluster.allocate_all(items)

    assert state(cluster) == before


def test_allocate_all_places_everything_when_it_fits() -> None:
    cluster = two_nodes()
    items = [
        (ServiceRef("e1", 0, 0), "a", Resources(3000, GiB)),
        (ServiceRef("e1", 0, 1), "b", Resources(2000, GiB)),
        (ServiceRef("e1", 1, 0), "a", Resources(1000, GiB)),
    ]

    cluster.allocate_all(items)

    assert cluster.free("a") == Resources(0, 6 * GiB)
    assert cluster.free("b") == Resources(0, 3 * GiB)
    assert list(cluster.allocations()) == items


def test_fits_checks_capacity_and_labels() -> None:
    node = Node("b", Resources(2000, 4 * GiB), frozenset({"gpu", "ssd"}))
    free = Resources(1000, GiB)

    assert fits(Resources(1000, GiB), frozenset({"gpu"}), free, node)
    assert fits(Resources(1000, GiB), frozenset(), free, node)
    assert not fits(Resources(1000, GiB), frozenset({"fpga"}), free, node)
    assert not fits(Resources(1001, GiB), frozenset(), free, node)


# --- the NxCcMg shorthand ---------------------------------------------------------


def test_parse_cluster_shorthand() -> None:
    nodes = parse_cluster("25x32c128g")

    assert len(nodes) == 25
    assert [n.name for n in nodes[:3]] == ["node-0", "node-1", "node-2"]
    assert nodes[24].name == "node-24"
    assert all(n.capacity == Resources(32_000, 128 * GiB) for n in nodes)
    assert all(n.labels == frozenset() for n in nodes)


def test_parse_cluster_fractions() -> None:
    nodes = parse_cluster(" 2x0.5c1.5g ")

    assert [n.capacity for n in nodes] == [Resources(500, 1_610_612_736)] * 2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "25x32c",
        "x32c128g",
        "25x32c128",
        "25X32C128G",
        "25 x 32c128g",
        "-1x4c8g",
        "2x4c8gb",
        "25x32c128g,2x4c8g",
    ],
)
def test_parse_cluster_refuses_malformed_text(text: str) -> None:
    with pytest.raises(InvalidCluster, match="write NxCcMg"):
        parse_cluster(text)


@pytest.mark.parametrize("text", ["0x4c8g", "2x0c8g", "2x4c0g"])
def test_parse_cluster_refuses_empty_nodes(text: str) -> None:
    with pytest.raises(InvalidCluster, match="must have nodes with cores and memory"):
        parse_cluster(text)


# --- cluster documents ------------------------------------------------------------


def test_nodes_from_document() -> None:
    nodes = nodes_from_document(
        {
            "nodes": [
                {"name": "n1", "cores": 16, "memory": "64GiB", "labels": ["gpu"]},
                {"name": "n2", "cores": 0.5, "memory": 1024},
            ]
        }
    )

    assert nodes == [
        Node("n1", Resources(16_000, 64 * GiB), frozenset({"gpu"})),
        Node("n2", Resources(500, 1024), frozenset()),
    ]


def _entry(**changes: object) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "n1", "cores": 4, "memory": "8GiB"}
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], 'c.json: expected an object {"nodes": [...]}'),
        ({"node": []}, 'c.json: expected an object {"nodes": [...]}'),
        ({"nodes": {}}, 'c.json: expected an object {"nodes": [...]}'),
        ({"nodes": []}, "c.json: nodes is empty"),
        ({"nodes": ["n1"]}, "c.json: nodes[0]: expected an object"),
        ({"nodes": [_entry(gpus=1)]}, "c.json: nodes[0]: unknown field(s) ['gpus']"),
        ({"nodes": [_entry(name="")]}, "c.json: nodes[0].name: a non-empty string"),
        ({"nodes": [_entry(name=None)]}, "c.json: nodes[0].name: a non-empty string"),
        ({"nodes": [_entry(labels="gpu")]}, "c.json: nodes[0].labels: expected a list"),
        ({"nodes": [_entry(memory="8G")]}, "c.json: nodes[0]: memory '8G'"),
        ({"nodes": [_entry(cores="four")]}, "c.json: nodes[0]: cores must be a"),
        ({"nodes": [_entry(cores=0)]}, "c.json: nodes[0]: cores and memory must be"),
        ({"nodes": [_entry(memory=-1)]}, "c.json: nodes[0]: memory must not be neg"),
        (
            {"nodes": [_entry(), _entry(name="n2"), _entry(cores=2)]},
            "c.json: duplicate node names ['n1']",
        ),
    ],
)
def test_nodes_from_document_errors(document: object, message: str) -> None:
    with pytest.raises(InvalidCluster) as caught:
        nodes_from_document(document, "c.json")

    assert str(caught.value).startswith(message)


# --- properties ------------------------------------------------------------------

CAPACITIES = [Resources(4000, 4096), Resources(2500, 8192), Resources(1000, 1000)]
demands = st.builds(
    Resources, st.integers(0, 3000), st.integers(0, 6000)
)  # some fit, some do not
refs = st.builds(
    ServiceRef, st.sampled_from(["e1", "e2"]), st.integers(0, 1), st.integers(0, 2)
)
allocations = st.tuples(st.just("allocate"), refs, st.integers(0, 2), demands)
releases = st.tuples(st.just("release"), refs, st.just(0), st.just(Resources()))
operations = st.lists(st.one_of(allocations, releases), max_size=30)


def fresh_cluster() -> Cluster:
    return Cluster([Node(f"n{i}", c) for i, c in enumerate(CAPACITIES)])


def apply(cluster: Cluster, operation: tuple[str, ServiceRef, int, Resources]) -> None:
    action, ref, node, demand = operation
    try:
        if action == "allocate":
            cluster.allocate(ref, f"n{node}", demand)
        else:
            cluster.release(ref)
    except (CapacityError, NotFound):
        pass  # a refusal is allowed; the invariants must hold either way


def check_invariants(cluster: Cluster) -> None:
    held = [Resources()] * len(cluster.nodes)
    for _, name, demand in cluster.allocations():
        i = cluster.index[name]
        held[i] = held[i] + demand
    for i, node in enumerate(cluster.nodes):
        free = cluster.free(node.name)
        assert not free.is_negative()
        assert free.fits_in(node.capacity)
        assert free == node.capacity - held[i]


@settings(max_examples=150, deadline=None)
@given(operations)
def test_free_is_never_negative_nor_over_capacity(
    ops: list[tuple[str, ServiceRef, int, Resources]],
) -> None:
    cluster = fresh_cluster()
    for operation in ops:
        apply(cluster, operation)
        check_invariants(cluster)


@settings(max_examples=100, deadline=None)
@given(operations, refs, st.integers(0, 2), demands)
def test_allocate_then_release_is_the_identity(
    ops: list[tuple[str, ServiceRef, int, Resources]],
    ref: ServiceRef,
    node: int,
    demand: Resources,
) -> None:
    cluster = fresh_cluster()
    for operation in ops:
        apply(cluster, operation)
    new_ref = ServiceRef("fresh", ref.group, ref.index)
    before = state(cluster)

    try:
        cluster.allocate(new_ref, f"n{node}", demand)
    except CapacityError:
        assert state(cluster) == before
        return
    assert cluster.release(new_ref) == demand

    assert state(cluster) == before


# an execution: for each group, the demand of one instance, its essential count and
# the nodes its instances go to, in turn
executions = st.lists(
    st.tuples(
        demands, st.integers(1, 3), st.lists(st.integers(0, 2), min_size=1, max_size=3)
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(operations, executions)
def test_allocate_all_of_essential_services_places_all_or_none(
    ops: list[tuple[str, ServiceRef, int, Resources]],
    groups: list[tuple[Resources, int, list[int]]],
) -> None:
    cluster = fresh_cluster()
    for operation in ops:
        apply(cluster, operation)
    items = [
        (ServiceRef("x", g, i), f"n{nodes[i % len(nodes)]}", demand)
        for g, (demand, essential, nodes) in enumerate(groups)
        for i in range(essential)
    ]
    before = state(cluster)

    try:
        cluster.allocate_all(items)
    except CapacityError:
        assert state(cluster) == before
        return

    assert [cluster.node_of(ref) for ref, _, _ in items] == [n for _, n, _ in items]
    check_invariants(cluster)
