"""Small builders for hand-written snapshots in policy tests."""

from __future__ import annotations

from collections.abc import Sequence

from zoe.core.cluster import Node
from zoe.core.resources import Resources
from zoe.core.snapshot import ExecutionView, GroupDemand, NodeView, Placement, Snapshot

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
