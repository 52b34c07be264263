"""Execution and service state machines."""

from __future__ import annotations

import pytest

from zoe.core.errors import IllegalTransition
from zoe.core.execution import (
    ExecutionStatus,
    ServiceStatus,
    check_execution_transition,
    check_service_transition,
)

E = ExecutionStatus
S = ServiceStatus


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (E.SUBMITTED, E.QUEUED),
        (E.SUBMITTED, E.REJECTED),
        (E.QUEUED, E.STARTING),
        (E.STARTING, E.RUNNING),
        (E.RUNNING, E.CLEANING_UP),
        (E.CLEANING_UP, E.FINISHED),
        (E.CLEANING_UP, E.TERMINATED),
        (E.RUNNING, E.ERROR),
        (E.STARTING, E.QUEUED),  # its essential services could not all start
    ],
)
def test_legal_execution_transitions(
    old: ExecutionStatus, new: ExecutionStatus
) -> None:
    check_execution_transition("execution e1", old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (E.SUBMITTED, E.RUNNING),
        (E.QUEUED, E.RUNNING),
        (E.QUEUED, E.FINISHED),
        (E.RUNNING, E.FINISHED),  # it cleans up first
        (E.RUNNING, E.STARTING),
        (E.FINISHED, E.QUEUED),
        (E.REJECTED, E.QUEUED),
        (E.TERMINATED, E.RUNNING),
        (E.ERROR, E.CLEANING_UP),
        (E.RUNNING, E.RUNNING),
    ],
)
def test_illegal_execution_transitions_name_both_states(
    old: ExecutionStatus, new: ExecutionStatus
) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_execution_transition("execution e1", old, new)

    assert (caught.value.subject, caught.value.old, caught.value.new) == (
        "execution e1",
        old.value,
        new.value,
    )
    assert str(caught.value) == (
        f"execution e1: illegal transition from {old.value!r} to {new.value!r}"
    )


def test_cleaning_up_is_named_with_a_space() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_execution_transition("e2", E.CLEANING_UP, E.RUNNING)

    assert str(caught.value) == "e2: illegal transition from 'cleaning up' to 'running'"


def test_final_statuses() -> None:
    final = {status for status in ExecutionStatus if status.is_final}

    assert final == {E.FINISHED, E.TERMINATED, E.REJECTED, E.ERROR}
    for status in final:
        for new in ExecutionStatus:
            with pytest.raises(IllegalTransition):
                check_execution_transition("e1", status, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.CREATED, S.STARTING),
        (S.STARTING, S.RUNNING),
        (S.RUNNING, S.EXITED),
        (S.RUNNING, S.FAILED),
        (S.EXITED, S.REMOVED),
        (S.CREATED, S.REMOVED),
    ],
)
def test_legal_service_transitions(old: ServiceStatus, new: ServiceStatus) -> None:
    check_service_transition("service e1/worker0", old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.CREATED, S.RUNNING),
        (S.EXITED, S.RUNNING),
        (S.FAILED, S.STARTING),
        (S.REMOVED, S.CREATED),
        (S.RUNNING, S.STARTING),
    ],
)
def test_illegal_service_transitions_name_both_states(
    old: ServiceStatus, new: ServiceStatus
) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_service_transition("service e1/worker0", old, new)

    assert str(caught.value) == (
        f"service e1/worker0: illegal transition from {old.value!r} to {new.value!r}"
    )


def test_statuses_are_strings() -> None:
    assert isinstance(E.CLEANING_UP, str)
    assert str(E.CLEANING_UP) == "cleaning up"
    assert str(S.EXITED) == "exited"
    assert ExecutionStatus("queued") is E.QUEUED
