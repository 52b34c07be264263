"""The master's in-memory mirror of the active part of the state database.

The master is the only writer of execution statuses and services, so it keeps
what it wrote: every change is committed to PostgreSQL first and mirrored here
after the commit. Snapshots are built from this mirror, never by re-reading the
whole database each round. :mod:`zoe.live.recovery` fills it from the database
at start and after a lost connection.

Service rows and policy instances: a policy names a service by (group, index)
with ``index < total_count``. A service that ended (failed, preempted) may be
started again; since the database keeps one row per (group, instance_index), a
new attempt gets the row ``instance_index = index + attempt * total_count``
(:func:`row_instance_index`); ``attempt`` 0 is the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from zoe.core.execution import ExecutionStatus, ServiceStatus
from zoe.core.snapshot import GroupDemand, group_demands
from zoe.core.zapp import ServiceGroup, ZApp, parse_zapp

if TYPE_CHECKING:
    from zoe.live.db import ExecutionRecord, ServiceRecord

HOLDING = frozenset(
    {ServiceStatus.CREATED, ServiceStatus.STARTING, ServiceStatus.RUNNING}
)
"""Statuses of a service that holds resources on its node."""


def row_instance_index(index: int, attempt: int, total_count: int) -> int:
    """The database's ``instance_index`` of try ``attempt`` of instance ``index``."""
    return index + attempt * total_count


def service_name(group: str, index: int, attempt: int) -> str:
    """``worker-3`` for a first attempt, ``worker-3-r2`` for the second retry."""
    return f"{group}-{index}" if attempt == 0 else f"{group}-{index}-r{attempt}"


@dataclass(slots=True)
class LiveService:
    """One service row, mirrored; ``index`` is the policy's instance index.

    ``endpoints_recorded`` is True once its row holds the endpoints of its
    published ports, so that the master asks the backend no more.
    """

    id: int
    group: int
    index: int
    attempt: int
    name: str
    essential: bool
    status: ServiceStatus
    node: str | None = None
    backend_id: str | None = None
    endpoints_recorded: bool = False

    @property
    def holding(self) -> bool:
        """True while it holds resources on its node."""
        return self.node is not None and self.status in HOLDING


@dataclass(slots=True)
class LiveExecution:
    """One active execution with its services, mirrored."""

    id: int
    name: str
    user: str
    status: ExecutionStatus
    zapp: ZApp
    submit_time: float
    groups: tuple[GroupDemand, ...] = ()
    group_specs: tuple[ServiceGroup, ...] = ()
    framework_of: tuple[str, ...] = ()
    services: dict[int, LiveService] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.groups = group_demands(self.zapp)
        pairs = list(self.zapp.groups())
        self.group_specs = tuple(group for _, group in pairs)
        self.framework_of = tuple(framework.name for framework, _ in pairs)

    @classmethod
    def of(
        cls, record: ExecutionRecord, services: list[ServiceRecord]
    ) -> LiveExecution:
        """Mirror a record read from the database (its ZApp is version 4)."""
        live = cls(
            record.id,
            record.name,
            record.user_name,
            record.status,
            parse_zapp(record.zapp),
            _seconds(record.submit_time),
        )
        for service in services:
            live.add(service)
        return live

    def add(self, record: ServiceRecord) -> LiveService:
        """Mirror a service row read from the database."""
        total = self.groups[record.group_index].total_count
        service = LiveService(
            record.id,
            record.group_index,
            record.instance_index % total,
            record.instance_index // total,
            record.name,
            record.essential,
            record.status,
            record.node,
            record.backend_id,
            record.endpoints is not None,
        )
        self.services[service.id] = service
        return service

    def holding(self) -> list[LiveService]:
        """Services that hold resources, in (group, index) order."""
        found = [s for s in self.services.values() if s.holding]
        found.sort(key=lambda s: (s.group, s.index))
        return found

    def essential_placed(self) -> bool:
        """True when every essential service holds resources."""
        count = sum(1 for s in self.services.values() if s.holding and s.essential)
        return count == sum(g.essential_count for g in self.groups)

    def next_attempt(self, group: int, index: int) -> int:
        """The attempt number a new row of (group, index) gets."""
        tried = [
            s.attempt
            for s in self.services.values()
            if s.group == group and s.index == index
        ]
        return max(tried) + 1 if tried else 0

    @property
    def work_duration(self) -> float | None:
        """The ZApp's size hint."""
        return self.zapp.size


def _seconds(moment: datetime) -> float:
    return moment.timestamp()
