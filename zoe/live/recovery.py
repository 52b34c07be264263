"""Taking up the state at start, and again after the database came back.

:func:`recover` rebuilds the scheduler's mirror from the database and reconciles
it with what the backend reports, matching containers to service rows by their
labels (deployment, execution, service id):

- the backend's nodes are written to the nodes table (capacity and labels);
- executions not yet admitted or queued are simply scheduled by the next round;
- a container of a service the state does not know, or of a service or
  execution that ended, is removed;
- a container the state knows is adopted: its id is recorded, and what happened
  while nobody watched is applied as backend events (it runs, it exited);
- a service the state expects but the backend lacks: if it was never started
  (``created``) its container is created again; if it was started it is handled
  as a service that exited without a code, i.e. failed, with the reason
  ``lost``: an essential one ends its execution in ``error``, an elastic one is
  replaced by a later round;
- an execution found ``cleaning up`` is cleaned up again and ends ``error`` if
  one of its essential services failed, ``finished`` if one exited, else
  ``terminated`` (a user's termination is the only other way in);
- an execution still alive with an essential service that exited or failed (the
  master stopped between recording the exit and ending the execution) is
  cleaned up and ends ``finished`` or ``error`` in the same way.

Nothing is started twice: a service whose row says ``starting`` or ``running``
is never started again, only adopted or handled as exited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zoe.core.execution import ExecutionStatus, ServiceStatus
from zoe.live.backends import (
    LABEL_DEPLOYMENT,
    LABEL_EXECUTION,
    LABEL_SERVICE,
    BackendService,
    ServiceEvent,
    ServiceEventKind,
    ServiceState,
    service_labels,
)
from zoe.live.state import LiveExecution, LiveService

if TYPE_CHECKING:
    from zoe.live.db import ExecutionRecord
    from zoe.live.scheduler import Scheduler

log = logging.getLogger(__name__)

LOST_REASON = "lost: the backend no longer has its container"


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What :func:`recover` found: counts for the log and for tests."""

    executions: int
    adopted: int
    removed: int
    lost: int
    recreated: int


def recover(
    scheduler: Scheduler,
    screen: Callable[[list[ExecutionRecord]], list[ExecutionRecord]] | None = None,
) -> RecoveryReport:
    """Rebuild ``scheduler``'s mirror from the database and the backend.

    ``screen`` gets the active executions read and returns those to take up
    (the master ends the others). Raises
    :class:`~zoe.live.errors.DatabaseUnavailable` if the database cannot be
    reached; the mirror is then left as it was.
    """
    repo, backend = scheduler.repo, scheduler.backend
    nodes = backend.nodes()
    repo.upsert_nodes(nodes)
    records = {r.node.name: r for r in repo.list_nodes()}
    active = repo.active_executions()
    if screen is not None:
        kept = {record.id for record in screen([record for record, _ in active])}
        active = [pair for pair in active if pair[0].id in kept]
    mirror = {
        record.id: LiveExecution.of(record, services) for record, services in active
    }
    scheduler.nodes = nodes
    scheduler.unavailable = {n for n, r in records.items() if not r.available}
    scheduler.executions = mirror
    scheduler.ending = {
        e.id: final_status_of(e)
        for e in mirror.values()
        if e.status is ExecutionStatus.CLEANING_UP
    }

    _end_after_essential_exits(scheduler)
    adopted, removed, events = _match_containers(scheduler, backend.list_services())
    lost, recreated = _missing_containers(scheduler, adopted, events)
    for event in events:
        scheduler.on_event(event)
    for execution in list(scheduler.executions.values()):
        if execution.id not in scheduler.ending and execution.holding():
            scheduler.launch(execution)
            scheduler.mark_running(execution)
    scheduler.wanted = True
    report = RecoveryReport(len(mirror), len(adopted), removed, lost, recreated)
    log.info(
        "master: took up %d active executions (%d containers adopted, %d removed, "
        "%d services lost, %d re-created)",
        *(report.executions, len(adopted), removed, lost, recreated),
    )
    return report


def _end_after_essential_exits(scheduler: Scheduler) -> None:
    """End the executions whose essential service ended before the master could.

    The exit of a service and the move of its execution to ``cleaning up`` are
    two steps; a master stopped between them leaves an execution that still
    looks alive with an essential service that exited or failed.
    """
    ended = (ServiceStatus.EXITED, ServiceStatus.FAILED)
    for execution in scheduler.executions.values():
        if execution.id in scheduler.ending:
            continue
        for service in execution.services.values():
            if service.essential and service.status in ended:
                ok = service.status is ServiceStatus.EXITED
                final = ExecutionStatus.FINISHED if ok else ExecutionStatus.ERROR
                reason = f"service {service.name}: {service.status.value}"
                scheduler.begin_cleanup(execution, final, reason)
                break


def final_status_of(execution: LiveExecution) -> ExecutionStatus:
    """The status an execution found cleaning up ends in (see the module doc)."""
    essentials = [s for s in execution.services.values() if s.essential]
    if any(s.status is ServiceStatus.FAILED for s in essentials):
        return ExecutionStatus.ERROR
    if any(s.status is ServiceStatus.EXITED for s in essentials):
        return ExecutionStatus.FINISHED
    return ExecutionStatus.TERMINATED


def _service_for(
    scheduler: Scheduler, container: BackendService
) -> tuple[LiveExecution, LiveService] | None:
    labels = container.labels
    if labels.get(LABEL_DEPLOYMENT) != scheduler.deployment:
        return None
    try:
        execution = scheduler.executions[int(labels.get(LABEL_EXECUTION, ""))]
        service = execution.services[int(labels.get(LABEL_SERVICE, ""))]
    except (KeyError, ValueError):
        return None
    if not service.holding or execution.id in scheduler.ending:
        return None
    return execution, service


def _match_containers(
    scheduler: Scheduler, containers: list[BackendService]
) -> tuple[set[int], int, list[ServiceEvent]]:
    """Adopt the containers the state knows, remove the others."""
    adopted: set[int] = set()
    removed = 0
    events: list[ServiceEvent] = []
    for container in containers:
        found = _service_for(scheduler, container)
        if found is None:
            scheduler.backend.remove(container.backend_id)
            removed += 1
            log.info(
                "master: removed container %s, unknown to the state", container.name
            )
            continue
        service = found[1]
        if service.backend_id != container.backend_id:
            scheduler.repo.assign_service(service.id, backend_id=container.backend_id)
            service.backend_id = container.backend_id
        adopted.add(service.id)
        events.extend(_catch_up(scheduler, service, container))
    return adopted, removed, events


def _catch_up(
    scheduler: Scheduler, service: LiveService, container: BackendService
) -> list[ServiceEvent]:
    """The events that bring ``service`` to what ``container`` says."""
    if container.state is ServiceState.CREATED:
        if service.status is ServiceStatus.STARTING:
            scheduler.backend.start(container.backend_id)  # it never ran
        return []
    if service.status is ServiceStatus.CREATED:
        scheduler.repo.set_service_status(
            service.id, ServiceStatus.CREATED, ServiceStatus.STARTING, "master"
        )
        service.status = ServiceStatus.STARTING
    running = ServiceEvent(
        container.backend_id, ServiceEventKind.RUNNING, container.labels
    )
    if container.state is ServiceState.RUNNING:
        return [running]
    exited = ServiceEvent(
        container.backend_id,
        ServiceEventKind.EXITED,
        container.labels,
        container.exit_code,
        container.reason,
    )
    return [running, exited]


def _missing_containers(
    scheduler: Scheduler, adopted: set[int], events: list[ServiceEvent]
) -> tuple[int, int]:
    """Handle holding services without a container: re-create or count as lost."""
    lost, recreated = 0, 0
    for execution in scheduler.executions.values():
        if execution.id in scheduler.ending:
            continue
        for service in execution.holding():
            if service.id in adopted:
                continue
            if service.status is ServiceStatus.CREATED:
                service.backend_id = None
                recreated += 1
                continue
            lost += 1
            labels = service_labels(
                scheduler.deployment, execution.id, service.id, service.name
            )
            kind = ServiceEventKind.EXITED
            events.append(ServiceEvent("", kind, labels, None, LOST_REASON))
    return lost, recreated
