"""Execution and service statuses and the transitions both modes share.

Statuses are string-valued enums. :func:`check_execution_transition` and
:func:`check_service_transition` raise :class:`IllegalTransition` naming both
states for any change not listed here.
"""

from __future__ import annotations

from enum import StrEnum

from zoe.core.errors import IllegalTransition


class ExecutionStatus(StrEnum):
    """Where an execution is in its life."""

    SUBMITTED = "submitted"
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    CLEANING_UP = "cleaning up"
    FINISHED = "finished"
    TERMINATED = "terminated"
    REJECTED = "rejected"
    ERROR = "error"

    @property
    def is_final(self) -> bool:
        """True for a status an execution never leaves."""
        return self in _FINAL_EXECUTION


class ServiceStatus(StrEnum):
    """Where one service (one container) is in its life."""

    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"
    FAILED = "failed"
    REMOVED = "removed"


_FINAL_EXECUTION = frozenset(
    {
        ExecutionStatus.FINISHED,
        ExecutionStatus.TERMINATED,
        ExecutionStatus.REJECTED,
        ExecutionStatus.ERROR,
    }
)

_E = ExecutionStatus
EXECUTION_TRANSITIONS: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    _E.SUBMITTED: frozenset({_E.QUEUED, _E.REJECTED, _E.TERMINATED, _E.ERROR}),
    _E.QUEUED: frozenset({_E.STARTING, _E.CLEANING_UP, _E.TERMINATED, _E.ERROR}),
    _E.STARTING: frozenset({_E.RUNNING, _E.QUEUED, _E.CLEANING_UP, _E.ERROR}),
    _E.RUNNING: frozenset({_E.CLEANING_UP, _E.QUEUED, _E.ERROR}),
    _E.CLEANING_UP: frozenset({_E.FINISHED, _E.TERMINATED, _E.ERROR}),
    _E.FINISHED: frozenset(),
    _E.TERMINATED: frozenset(),
    _E.REJECTED: frozenset(),
    _E.ERROR: frozenset(),
}

_S = ServiceStatus
SERVICE_TRANSITIONS: dict[ServiceStatus, frozenset[ServiceStatus]] = {
    _S.CREATED: frozenset({_S.STARTING, _S.REMOVED, _S.FAILED}),
    _S.STARTING: frozenset({_S.RUNNING, _S.EXITED, _S.FAILED, _S.REMOVED}),
    _S.RUNNING: frozenset({_S.EXITED, _S.FAILED, _S.REMOVED}),
    _S.EXITED: frozenset({_S.REMOVED}),
    _S.FAILED: frozenset({_S.REMOVED}),
    _S.REMOVED: frozenset(),
}


def check_execution_transition(
    subject: str, old: ExecutionStatus, new: ExecutionStatus
) -> None:
    """Raise :class:`IllegalTransition` unless ``old -> new`` is allowed."""
    if new not in EXECUTION_TRANSITIONS[old]:
        raise IllegalTransition(subject, old.value, new.value)


def check_service_transition(
    subject: str, old: ServiceStatus, new: ServiceStatus
) -> None:
    """Raise :class:`IllegalTransition` unless ``old -> new`` is allowed."""
    if new not in SERVICE_TRANSITIONS[old]:
        raise IllegalTransition(subject, old.value, new.value)
