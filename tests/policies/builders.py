"""Small builders for hand-written snapshots in policy tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zoe.core.cluster import Cluster, Node, ServiceRef
from zoe.core.resources import Resources
from zoe.core.snapshot import (
    ExecutionView,
    GroupDemand,
    NodeView,
    Placement,
    Plan,
    Snapshot,
)
from zoe.policies.registry import make_policy

GIB = 1024**3


def node(
    name: str, cores: float, memory_gib: float, labels: Sequence[str] = ()
) -> Node:
    """A node of ``cores`` cores and ``memory_gib`` GiB."""
    return Node(
        name, Resources(int(cores * 1000), int(memory_gib * GIB)), frozenset(labels)
    )


def group(
    cores: float,
    memory_gib: float,
    essential: int,
    total: int,
    labels: Sequence[str] = (),
) -> GroupDemand:
    """A service group: per-service cores and GiB, essential and total counts."""
    return GroupDemand(
        int(cores * 1000), int(memory_gib * GIB), frozenset(labels), essential, total
    )


def execution(
    eid: str,
    seq: int,
    groups: Sequence[GroupDemand],
    *,
    submit: float = 0.0,
    placed: Sequence[tuple[int, int, str]] = (),
    admitted: bool = True,
    duration: float | None = None,
    remaining: float | None = None,
    size: float | None = None,
) -> ExecutionView:
    """An execution; ``placed`` lists (group, index, node) of running services."""
    placements = tuple(Placement(eid, g, i, n) for g, i, n in placed)
    essential_running = bool(placements) and all(
        any(p.group == g and p.index == i for p in placements)
        for g, d in enumerate(groups)
        for i in range(d.essential_count)
    )
    return ExecutionView(
        eid,
        seq,
        submit,
        tuple(groups),
        placements,
        essential_running,
        admitted,
        size,
        duration,
        remaining,
    )


def snapshot(
    nodes: Sequence[Node], executions: Sequence[ExecutionView], time: float = 0.0
) -> Snapshot:
    """A snapshot whose node free capacity accounts for the executions' placements."""
    used: dict[str, list[int]] = {n.name: [0, 0, 0] for n in nodes}
    for view in executions:
        for p in view.placements:
            demand = view.groups[p.group]
            used[p.node][0] += demand.millicores
            used[p.node][1] += demand.memory
            used[p.node][2] += 1
    views = tuple(
        NodeView(
            n,
            n.capacity.millicores - used[n.name][0],
            n.capacity.memory - used[n.name][1],
            used[n.name][2],
        )
        for n in nodes
    )
    return Snapshot(time, views, tuple(executions))


def starts(plan_starts: Sequence[Placement]) -> list[tuple[str, int, int, str]]:
    """The plan's starts as plain tuples, in plan order."""
    return [(p.execution_id, p.group, p.index, p.node) for p in plan_starts]


def node_view(
    name: str,
    cores: float,
    memory_gib: float,
    *,
    free_cores: float,
    free_gib: float,
    count: int = 0,
    labels: Sequence[str] = (),
) -> NodeView:
    """A node view with free capacity and service count given by hand."""
    return NodeView(
        node(name, cores, memory_gib, labels),
        int(free_cores * 1000),
        int(free_gib * GIB),
        count,
    )


def stops(plan_stops: Sequence[ServiceRef]) -> set[tuple[str, int, int]]:
    """The plan's stops as a set of plain (execution, group, index) tuples."""
    return {(r.execution_id, r.group, r.index) for r in plan_stops}


def plan_of(
    policy: str,
    snap: Snapshot,
    placement: str = "first-fit",
    **options: Any,
) -> Plan:
    """The plan of a fresh ``policy`` with ``placement`` for ``snap``."""
    return make_policy(policy, placement, **options).plan(snap)


def sorted_starts(plan: Plan) -> list[tuple[str, int, int, str]]:
    """The plan's starts as plain tuples, sorted (their order is no contract)."""
    return sorted(starts(plan.starts))


def cluster_after(snap: Snapshot, plan: Plan) -> Cluster:
    """A :class:`Cluster` holding the snapshot's services, then the plan applied.

    Stops are released before starts are allocated, as a shell applies a plan.
    Raises :class:`~zoe.core.errors.CapacityError` when a start goes over capacity
    or names a service already allocated, and
    :class:`~zoe.core.errors.NotFound` when a stop names a service not allocated.
    """
    cluster = Cluster([view.node for view in snap.nodes])
    views = {view.id: view for view in snap.executions}
    for view in snap.executions:
        for p in view.placements:
            cluster.allocate(p.ref, p.node, _demand(view, p.group))
    for ref in plan.stops:
        cluster.release(ref)
    for p in plan.starts:
        cluster.allocate(p.ref, p.node, _demand(views[p.execution_id], p.group))
    return cluster


def _demand(view: ExecutionView, g: int) -> Resources:
    return Resources(view.groups[g].millicores, view.groups[g].memory)
