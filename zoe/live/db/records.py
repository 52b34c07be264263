"""Rows of the state database as frozen values, and the column lists they come from.

Each record type has a ``*_COLUMNS`` SQL fragment and a ``*_from_row`` function that
reads a row selected with exactly those columns, in that order. Records are copies:
changing the database never changes a record already read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from zoe.core.cluster import Node
from zoe.core.execution import ExecutionStatus, ServiceStatus
from zoe.core.resources import Resources


class Role(StrEnum):
    """What a user may do: everything, their own executions, or only look."""

    ADMIN = "admin"
    USER = "user"
    GUEST = "guest"


class SubjectKind(StrEnum):
    """What an event is about."""

    EXECUTION = "execution"
    SERVICE = "service"
    NODE = "node"


class NodeStatus(StrEnum):
    """The statuses an event of a node records."""

    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user; ``None`` quotas mean no limit; ``password_hash`` may be unset."""

    id: int
    name: str
    role: Role
    password_hash: str | None
    max_executions: int | None
    max_cores_milli: int | None
    max_memory_bytes: int | None
    created_time: datetime


USER_COLUMNS = (
    "id, name, role, password_hash, max_executions, max_cores_milli, "
    "max_memory_bytes, created_time"
)


def user_from_row(row: Sequence[Any]) -> UserRecord:
    """Read a row selected with :data:`USER_COLUMNS`."""
    return UserRecord(
        int(row[0]), row[1], Role(row[2]), row[3], row[4], row[5], row[6], row[7]
    )


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """An execution as stored. ``zapp`` is the version 4 document; do not mutate it.

    ``start_time`` is set when the execution first becomes running, ``end_time``
    when it reaches a final status; ``reason`` is the last reason given.
    """

    id: int
    name: str
    user_id: int
    user_name: str
    zapp: dict[str, Any]
    status: ExecutionStatus
    submit_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    reason: str | None
    size_hint: float | None
    request_id: str | None


EXECUTION_COLUMNS = (
    "e.id, e.name, e.user_id, u.name, e.zapp, e.status, e.submit_time, "
    "e.start_time, e.end_time, e.reason, e.size_hint, e.request_id"
)
EXECUTION_FROM = "executions AS e JOIN users AS u ON u.id = e.user_id"


def execution_from_row(row: Sequence[Any]) -> ExecutionRecord:
    """Read a row of :data:`EXECUTION_COLUMNS` selected from :data:`EXECUTION_FROM`."""
    return ExecutionRecord(
        int(row[0]),
        row[1],
        int(row[2]),
        row[3],
        row[4],
        ExecutionStatus(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
    )


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service to create: instance ``instance_index`` of group ``group_index``.

    Groups are numbered in ZApp order across frameworks, as in
    :func:`zoe.core.snapshot.group_demands`.
    """

    group_index: int
    instance_index: int
    name: str
    essential: bool


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """A service as stored; ``node`` and ``backend_id`` are unset until placed.

    ``cpu_usage`` (cores), ``memory_usage`` (bytes) and ``usage_time`` are the
    latest usage sample of its container, ``None`` until one was taken.
    ``endpoints`` maps ``PORT/PROTO`` to the ``host:port`` where that published
    port answers, ``None`` until the master recorded it (see
    :mod:`zoe.live.backends`).
    """

    id: int
    execution_id: int
    group_index: int
    instance_index: int
    name: str
    essential: bool
    status: ServiceStatus
    node: str | None
    backend_id: str | None
    created_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    exit_code: int | None
    reason: str | None
    cpu_usage: float | None = None
    memory_usage: int | None = None
    usage_time: datetime | None = None
    endpoints: dict[str, str] | None = None


SERVICE_COLUMNS = (
    "id, execution_id, group_index, instance_index, name, essential, status, node, "
    "backend_id, created_time, start_time, end_time, exit_code, reason, "
    "cpu_usage, memory_usage, usage_time, endpoints"
)


def service_from_row(row: Sequence[Any]) -> ServiceRecord:
    """Read a row selected with :data:`SERVICE_COLUMNS`."""
    return ServiceRecord(
        int(row[0]),
        int(row[1]),
        row[2],
        row[3],
        row[4],
        row[5],
        ServiceStatus(row[6]),
        *row[7:18],
    )


@dataclass(frozen=True, slots=True)
class ServiceUsage:
    """A usage sample to store on a service (units of :class:`ServiceRecord`)."""

    service_id: int
    cpu_usage: float | None
    memory_usage: int
    usage_time: datetime


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node as stored: the core's :class:`Node` and whether it takes work."""

    node: Node
    available: bool
    updated_time: datetime


NODE_COLUMNS = "name, cores_milli, memory_bytes, labels, available, updated_time"


def node_from_row(row: Sequence[Any]) -> NodeRecord:
    """Read a row selected with :data:`NODE_COLUMNS`."""
    node = Node(row[0], Resources(int(row[1]), int(row[2])), frozenset(row[3]))
    return NodeRecord(node, bool(row[4]), row[5])


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One status change: of what, from what to what, by whom, when and why.

    ``actor`` is ``"master"``, ``"backend"`` or ``"api:<user>"``; ``old_status``
    is ``None`` for a creation.
    """

    id: int
    time: datetime
    subject_kind: SubjectKind
    subject_id: str
    old_status: str | None
    new_status: str
    actor: str
    reason: str | None


EVENT_COLUMNS = (
    "id, time, subject_kind, subject_id, old_status, new_status, actor, reason"
)


def event_from_row(row: Sequence[Any]) -> EventRecord:
    """Read a row selected with :data:`EVENT_COLUMNS`."""
    return EventRecord(
        int(row[0]), row[1], SubjectKind(row[2]), row[3], row[4], row[5], row[6], row[7]
    )
