"""Snapshots (what a policy sees) and plans (what it decides).

Both are values: a policy receives a :class:`Snapshot`, never mutates it, and
returns a :class:`Plan`. The shells build snapshots from their own state (the
simulator from its in-memory cluster, the master from PostgreSQL) and apply plans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from zoe.core.cluster import Node, ServiceRef
from zoe.core.zapp import ZApp


class GroupDemand(NamedTuple):
    """What the scheduler needs of one service group, in exact units."""

    millicores: int
    memory: int
    labels: frozenset[str]
    essential_count: int
    total_count: int


def group_demands(zapp: ZApp) -> tuple[GroupDemand, ...]:
    """The demands of ``zapp``'s service groups, in ZApp order."""
    return tuple(
        GroupDemand(
            group.resources.cores.min,
            group.resources.memory.min,
            frozenset(group.labels),
            group.essential_count,
            group.total_count,
        )
        for _, group in zapp.groups()
    )


class Placement(NamedTuple):
    """Service ``index`` of group ``group`` of an execution, on ``node``."""

    execution_id: str
    group: int
    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose
    node: str

    @property
    def ref(self) -> ServiceRef:
        """The service this placement is of."""
        return ServiceRef(self.execution_id, self.group, self.index)


class Rejection(NamedTuple):
    """An execution refused at admission, with the reason."""

    execution_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExecutionView:
    """One active execution as a policy sees it.

    ``seq`` is the submission order (trace order in a simulation), the last key of
    every ordering. ``placements`` lists its services that hold resources now.
    ``admitted`` is False for an execution that arrived since the last round: the
    policy decides its admission. ``duration`` and ``remaining`` are the estimated
    duration and remaining work at full allocation, in seconds, where known
    (the simulator knows them; the master uses the ZApp's size hint).
    """

    id: str
    seq: int
    submit_time: float
    groups: tuple[GroupDemand, ...]
    placements: tuple[Placement, ...] = ()
    essential_running: bool = False
    admitted: bool = True
    size: float | None = None
    duration: float | None = None
    remaining: float | None = None
    service_count: int = field(init=False)
    essential_count: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "service_count", sum(g.total_count for g in self.groups)
        )
        object.__setattr__(
            self, "essential_count", sum(g.essential_count for g in self.groups)
        )

    @property
    def in_queue(self) -> bool:
        """True while some of its services are not placed (DESIGN.md: the queue)."""
        return len(self.placements) < self.service_count


@dataclass(frozen=True, slots=True)
class NodeView:
    """A node with its free capacity and the number of services it holds."""

    node: Node
    free_millicores: int
    free_memory: int
    service_count: int = 0

    @property
    def name(self) -> str:
        """The node's name."""
        return self.node.name


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The read-only view a policy receives.

    ``nodes`` are in the cluster's order (the order first-fit tries).
    ``executions`` are the active ones (queued or running), in any order.
    """

    time: float
    nodes: tuple[NodeView, ...]
    executions: tuple[ExecutionView, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """What a policy decides for one round.

    ``starts`` are services to place (essential and elastic), ``stops`` elastic
    services to take back (preemption: never an essential service), and
    ``rejections`` executions refused at admission. Applying ``stops`` before
    ``starts`` never goes over capacity.
    """

    starts: tuple[Placement, ...] = ()
    stops: tuple[ServiceRef, ...] = ()
    rejections: tuple[Rejection, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the plan changes nothing."""
        return not (self.starts or self.stops or self.rejections)

    @classmethod
    def of(
        cls,
        starts: Iterable[Placement] = (),
        stops: Iterable[ServiceRef] = (),
        rejections: Iterable[Rejection] = (),
    ) -> Plan:
        """Build a plan from any iterables."""
        return cls(tuple(starts), tuple(stops), tuple(rejections))
