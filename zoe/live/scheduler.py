"""The master's scheduling: snapshots from the mirrored state, plans applied.

:class:`Scheduler` owns the mirror of the active executions
(:mod:`zoe.live.state`) and the backend. A round builds a
:class:`~zoe.core.snapshot.Snapshot`, asks the policy for a plan, records the
whole plan in ONE transaction (admissions, rejections, preemptions, new service
rows with their nodes, executions that start) and only then acts on the backend.
A crash between the two leaves rows the backend lacks; recovery creates them.

Services start in dependency order: a service of a group starts once every
essential service of the groups it depends on (its ``depends_on`` and every group
of the frameworks its framework depends on) runs.

Lifecycle rules, applied to backend events (:meth:`Scheduler.on_event`):

- an essential service that exits ends its execution: with exit code 0 it ends
  ``finished``, otherwise ``error`` with the reason; the execution is cleaned up
  (its containers removed) first, through ``cleaning up``;
- an elastic service that exits or fails no longer holds resources: the policy
  places its instance again in a later round, as a new service row;
- an execution runs (``running``) once all its essential services run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from zoe.core.execution import ExecutionStatus, ServiceStatus
from zoe.core.snapshot import ExecutionView, NodeView, Plan, Snapshot
from zoe.live.backends import (
    LABEL_DEPLOYMENT,
    LABEL_EXECUTION,
    LABEL_SERVICE,
    ExecutionInfo,
    ServiceEvent,
    ServiceEventKind,
    ServiceLaunch,
    service_labels,
)
from zoe.live.db import ServiceSpec
from zoe.live.state import (
    LiveExecution,
    LiveService,
    row_instance_index,
    service_name,
)

if TYPE_CHECKING:
    from zoe.core.cluster import Node
    from zoe.core.snapshot import Placement
    from zoe.core.zapp import ZApp
    from zoe.live.backends import Backend
    from zoe.live.db import Repository, Transaction
    from zoe.policies.base import Policy

log = logging.getLogger(__name__)

ACTOR = "master"
SCHEDULABLE = frozenset(
    {
        ExecutionStatus.SUBMITTED,
        ExecutionStatus.QUEUED,
        ExecutionStatus.STARTING,
        ExecutionStatus.RUNNING,
    }
)
_E = ExecutionStatus
_S = ServiceStatus


def group_needs(zapp: ZApp) -> list[frozenset[int]]:
    """For each group (ZApp order), the indices of the groups it depends on."""
    pairs = list(zapp.groups())
    index = {group.name: i for i, (_, group) in enumerate(pairs)}
    of_framework: dict[str, list[int]] = defaultdict(list)
    for i, (framework, _) in enumerate(pairs):
        of_framework[framework.name].append(i)
    needs = []
    for framework, group in pairs:
        wanted = {index[name] for name in group.depends_on}
        for other in framework.depends_on:
            wanted.update(of_framework[other])
        needs.append(frozenset(wanted))
    return needs


def execution_view(execution: LiveExecution) -> ExecutionView:
    """The policy's view: ``duration`` is the ZApp's size hint, ``remaining`` None."""
    return ExecutionView(
        str(execution.id),
        execution.id,
        execution.submit_time,
        execution.groups,
        tuple(_placement(execution, s) for s in execution.holding()),
        execution.essential_placed(),
        execution.status is not ExecutionStatus.SUBMITTED,
        execution.zapp.size,
        execution.zapp.size,
        None,
    )


def _placement(execution: LiveExecution, service: LiveService) -> Placement:
    from zoe.core.snapshot import Placement

    return Placement(
        str(execution.id), service.group, service.index, service.node or ""
    )


def build_snapshot(
    executions: Iterable[LiveExecution], nodes: Iterable[Node], now: float
) -> Snapshot:
    """A snapshot of ``executions`` on ``nodes`` (in order).

    Every execution's services count against the nodes' free capacity; only the
    schedulable ones (not cleaning up) are in the snapshot's executions.
    """
    every = list(executions)
    listed = [e for e in every if e.status in SCHEDULABLE]
    used: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for execution in every:
        for service in execution.holding():
            demand = execution.groups[service.group]
            tally = used[service.node or ""]
            tally[0] += demand.millicores
            tally[1] += demand.memory
            tally[2] += 1
    views = []
    for node in nodes:
        cores, memory, count = used.get(node.name, (0, 0, 0))
        free_cores = node.capacity.millicores - cores
        views.append(NodeView(node, free_cores, node.capacity.memory - memory, count))
    return Snapshot(now, tuple(views), tuple(execution_view(e) for e in listed))


def peers_of(execution: LiveExecution) -> tuple[str, ...]:
    """The instance names of every service of ``execution`` (``worker-0``...)."""
    return tuple(
        f"{g.name}-{i}" for g in execution.group_specs for i in range(g.total_count)
    )


class Scheduler:
    """Applies plans and backend events to the state database and the backend.

    ``executions`` mirrors every active execution (see :mod:`zoe.live.state`);
    ``nodes`` are the backend's nodes in cluster order, ``unavailable`` the names
    the database marks unavailable. Every method may raise
    :class:`~zoe.live.errors.DatabaseUnavailable`; the mirror then holds only
    what was committed before, and the master recovers from the database.
    """

    def __init__(
        self,
        repo: Repository,
        backend: Backend,
        policy: Policy,
        *,
        deployment: str,
        default_work_duration: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.backend = backend
        self.policy = policy
        self.deployment = deployment
        self.default_work_duration = default_work_duration
        self.clock = clock
        self.executions: dict[int, LiveExecution] = {}
        self.nodes: list[Node] = []
        self.unavailable: set[str] = set()
        self.ending: dict[int, ExecutionStatus] = {}
        self.rounds = 0
        self.last_round_time: float | None = None
        self.last_round_duration: float | None = None
        self.wanted = True

    # -- rounds ------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The snapshot of a round taken now."""
        nodes = [n for n in self.nodes if n.name not in self.unavailable]
        return build_snapshot(self.executions.values(), nodes, self.clock())

    def snapshot_all_nodes(self) -> Snapshot:
        """A snapshot that also lists the unavailable nodes (for ``cluster``)."""
        return build_snapshot(self.executions.values(), self.nodes, self.clock())

    def run_round(self) -> Plan:
        """One scheduling round: decide, record, then act on the backend."""
        self.wanted = False
        started = time.perf_counter()
        snapshot = self.snapshot()
        plan = self._judged_on_every_node(self.policy.plan(snapshot), snapshot)
        unadmitted = [v.id for v in snapshot.executions if not v.admitted]
        stopped = [self._service_of(int(r.execution_id), r) for r in plan.stops]
        created = self.repo.transaction(
            lambda tx: self._record(tx, plan, unadmitted, stopped)
        )
        self._mirror_plan(plan, unadmitted, created, stopped)
        for service in stopped:
            self.backend.remove(service.backend_id or "")
        for execution_id in {int(p.execution_id) for p in plan.starts}:
            self.launch(self.executions[execution_id])
        self.rounds += 1
        self.last_round_time = snapshot.time
        self.last_round_duration = time.perf_counter() - started
        return plan

    def _judged_on_every_node(self, plan: Plan, snapshot: Snapshot) -> Plan:
        """``plan`` whose rejections are judged again on every node, up or down.

        The round's snapshot leaves the unavailable nodes out, so the policy
        rejects an execution that fits only with them. Its admission is decided
        again on the whole cluster: one that fits there is not rejected but
        queued, and waits for the nodes to come back.
        """
        if not plan.rejections or not self.unavailable:
            return plan
        rejected = {r.execution_id for r in plan.rejections}
        views = tuple(v for v in snapshot.executions if v.id in rejected)
        whole = build_snapshot((), self.nodes, snapshot.time)
        judged = self.policy.plan(dataclasses.replace(whole, executions=views))
        kept = {r.execution_id for r in judged.rejections}
        for execution_id in sorted(rejected - kept):
            log.info(
                "execution %s: waits for unavailable nodes: it fits only with them",
                execution_id,
            )
        return dataclasses.replace(plan, rejections=judged.rejections)

    def _record(
        self,
        tx: Transaction,
        plan: Plan,
        unadmitted: list[str],
        stopped: list[LiveService],
    ) -> dict[int, list[Any]]:
        """Write the whole plan in one transaction; return the new rows by execution."""
        rejected = {r.execution_id for r in plan.rejections}
        for rejection in plan.rejections:
            tx.set_execution_status(
                int(rejection.execution_id),
                _E.SUBMITTED,
                _E.REJECTED,
                ACTOR,
                rejection.reason,
            )
        for execution_id in unadmitted:
            if execution_id not in rejected:
                tx.set_execution_status(
                    int(execution_id), _E.SUBMITTED, _E.QUEUED, ACTOR
                )
        for service in stopped:
            tx.set_service_status(
                service.id, service.status, _S.REMOVED, ACTOR, "preempted"
            )
        created: dict[int, list[Any]] = {}
        by_execution: dict[int, list[Placement]] = defaultdict(list)
        for placement in plan.starts:
            by_execution[int(placement.execution_id)].append(placement)
        for eid, placements in by_execution.items():
            created[eid] = self._record_starts(tx, eid, placements)
        return created

    def _record_starts(
        self, tx: Transaction, execution_id: int, placements: list[Placement]
    ) -> list[Any]:
        execution = self.executions[execution_id]
        specs, nodes = [], {}
        for p in placements:
            attempt = execution.next_attempt(p.group, p.index)
            total = execution.groups[p.group].total_count
            instance = row_instance_index(p.index, attempt, total)
            group = execution.group_specs[p.group]
            name = service_name(group.name, p.index, attempt)
            essential = p.index < execution.groups[p.group].essential_count
            specs.append(ServiceSpec(p.group, instance, name, essential))
            nodes[(p.group, instance)] = p.node
        rows = tx.create_services(execution_id, specs, ACTOR)
        fresh = [r for r in rows if (r.group_index, r.instance_index) in nodes]
        for row in fresh:
            tx.assign_service(row.id, node=nodes[(row.group_index, row.instance_index)])
        if not execution.essential_placed():
            old = execution.status
            if old is _E.SUBMITTED:
                old = _E.QUEUED
            tx.set_execution_status(execution_id, old, _E.STARTING, ACTOR)
        return [(row, nodes[(row.group_index, row.instance_index)]) for row in fresh]

    def _mirror_plan(
        self,
        plan: Plan,
        unadmitted: list[str],
        created: dict[int, list[Any]],
        stopped: list[LiveService],
    ) -> None:
        rejected = {}
        for rejection in plan.rejections:
            rejected[int(rejection.execution_id)] = rejection.reason
        for execution_id in map(int, unadmitted):
            if execution_id in rejected:
                self.executions.pop(execution_id)
                log.info(
                    "execution %d: rejected: %s", execution_id, rejected[execution_id]
                )
            else:
                self.executions[execution_id].status = _E.QUEUED
        for service in stopped:
            service.status = _S.REMOVED
            log.info("service %s: preempted", service.name)
        for execution_id, rows in created.items():
            execution = self.executions[execution_id]
            starting = not execution.essential_placed()
            for row, node in rows:
                execution.add(row).node = node
            if starting and execution.essential_placed():
                execution.status = _E.STARTING
                placed = sorted({s.node or "" for s in execution.holding()})
                log.info("execution %d: started on %s", execution_id, ", ".join(placed))

    def _service_of(self, execution_id: int, ref: Any) -> LiveService:
        execution = self.executions[execution_id]
        for service in execution.services.values():
            if service.holding and (service.group, service.index) == (
                ref.group,
                ref.index,
            ):
                return service
        raise LookupError(f"execution {execution_id}: no service {ref}")

    # -- launching ---------------------------------------------------------------------

    def launch(self, execution: LiveExecution) -> None:
        """Create the containers of its placed services, then start those ready."""
        made = {}
        peers = peers_of(execution)
        for service in execution.holding():
            if service.backend_id is None:
                made[service.id] = self.backend.create(
                    self.launch_of(execution, service, peers)
                )
        if made:
            self.repo.transaction(lambda tx: _assign_all(tx, made))
            for service_id, backend_id in made.items():
                execution.services[service_id].backend_id = backend_id
        self.start_ready(execution)

    def launch_of(
        self,
        execution: LiveExecution,
        service: LiveService,
        peers: tuple[str, ...] | None = None,
    ) -> ServiceLaunch:
        """What the backend needs to create ``service``'s container.

        ``peers`` is :func:`peers_of` the execution, computed here if not given;
        the launches of one execution share it.
        """
        group = execution.group_specs[service.group]
        command = group.command
        batch = execution.zapp.kind == "batch"
        work = (execution.zapp.size or self.default_work_duration) if batch else None
        info = ExecutionInfo(
            execution.id,
            execution.zapp.kind,
            work,
            execution.zapp.service_count,
            execution.zapp.essential_count,
        )
        return ServiceLaunch(
            f"zoe-{self.deployment}-{execution.id}-{service.name}",
            service.node or "",
            group.image,
            tuple(command) if isinstance(command, list) else command,
            dict(group.environment),
            group.resources.cores.min,
            group.resources.memory.min,
            group.resources.cores.max,
            group.resources.memory.max,
            service.essential,
            service_labels(self.deployment, execution.id, service.id, service.name),
            info,
            tuple((p.port, p.protocol) for p in group.ports),
            tuple((v.source, v.target, v.read_only) for v in group.volumes),
            execution.user,
            execution.name,
            peers_of(execution) if peers is None else peers,
        )

    def start_ready(self, execution: LiveExecution) -> None:
        """Start every created service whose dependencies run (dependency order)."""
        needs = group_needs(execution.zapp)
        holding = execution.holding()
        waiting = {
            s.group for s in holding if s.essential and s.status is not _S.RUNNING
        }
        ready = [
            s
            for s in holding
            if s.status is _S.CREATED
            and s.backend_id is not None
            and not (needs[s.group] & waiting)
        ]
        if not ready:
            return
        self.repo.transaction(lambda tx: _set_all(tx, ready, _S.CREATED, _S.STARTING))
        for service in ready:
            service.status = _S.STARTING
            self.backend.start(service.backend_id or "")
            log.debug(
                "service %s of execution %d: starting", service.name, execution.id
            )

    # -- backend events ----------------------------------------------------------------

    def on_event(self, event: ServiceEvent) -> None:
        """Apply one backend event; events of unknown or ended services are ignored."""
        found = self._find(event)
        if found is None:
            log.debug("backend event of unknown service %s ignored", event.backend_id)
            return
        execution, service = found
        if event.kind is ServiceEventKind.RUNNING:
            self._on_running(execution, service)
        else:
            self._on_exit(execution, service, event.exit_code, event.reason)

    def _find(self, event: ServiceEvent) -> tuple[LiveExecution, LiveService] | None:
        labels = event.labels
        if labels.get(LABEL_DEPLOYMENT) != self.deployment:
            return None
        try:
            execution = self.executions[int(labels.get(LABEL_EXECUTION, ""))]
            service = execution.services[int(labels.get(LABEL_SERVICE, ""))]
        except (KeyError, ValueError):
            return None
        return (execution, service) if service.holding else None

    def _on_running(self, execution: LiveExecution, service: LiveService) -> None:
        if service.status is not _S.STARTING:
            return
        self.repo.set_service_status(service.id, _S.STARTING, _S.RUNNING, "backend")
        service.status = _S.RUNNING
        log.info(
            "service %s of execution %d: running on %s",
            service.name,
            execution.id,
            service.node,
        )
        self.mark_running(execution)
        self.start_ready(execution)

    def mark_running(self, execution: LiveExecution) -> None:
        """Move a starting execution to running once all its essentials run."""
        essentials = [s for s in execution.holding() if s.essential]
        if execution.status is not _E.STARTING or not execution.essential_placed():
            return
        if all(s.status is _S.RUNNING for s in essentials):
            self.repo.set_execution_status(execution.id, _E.STARTING, _E.RUNNING, ACTOR)
            execution.status = _E.RUNNING
            log.info("execution %d: running", execution.id)

    def _on_exit(
        self,
        execution: LiveExecution,
        service: LiveService,
        exit_code: int | None,
        reason: str | None,
    ) -> None:
        ok = exit_code == 0
        new = _S.EXITED if ok else _S.FAILED
        why = reason or ("exited" if ok else "failed")
        if exit_code is not None:
            why = f"{why} (exit code {exit_code})"
        self.repo.set_service_status(
            service.id, service.status, new, "backend", why, exit_code
        )
        service.status = new
        log.info("service %s of execution %d: %s", service.name, execution.id, why)
        if service.essential:
            final = _E.FINISHED if ok else _E.ERROR
            self.begin_cleanup(execution, final, f"service {service.name}: {why}")
        else:
            self._remove_container(service, keep_status=True)
            self.wanted = True

    # -- ending ------------------------------------------------------------------------

    def begin_cleanup(
        self, execution: LiveExecution, final: ExecutionStatus, reason: str
    ) -> None:
        """Move an execution to ``cleaning up``; :meth:`cleanup` ends it ``final``."""
        if execution.status is not _E.CLEANING_UP:
            self.repo.set_execution_status(
                execution.id, execution.status, _E.CLEANING_UP, ACTOR, reason
            )
            execution.status = _E.CLEANING_UP
            log.info("execution %d: cleaning up: %s", execution.id, reason)
        self.ending[execution.id] = final

    def cleanup(self) -> None:
        """Remove the containers of executions cleaning up and end them."""
        for execution_id in list(self.ending):
            execution = self.executions[execution_id]
            for service in list(execution.services.values()):
                self._remove_container(service)
            final = self.ending.pop(execution_id)
            self.repo.set_execution_status(execution_id, _E.CLEANING_UP, final, ACTOR)
            del self.executions[execution_id]
            self.wanted = True
            log.info("execution %d: %s", execution_id, final.value)

    def _remove_container(
        self, service: LiveService, keep_status: bool = False
    ) -> None:
        if service.backend_id is not None:
            self.backend.remove(service.backend_id)
        if not keep_status and service.status in (_S.CREATED, _S.STARTING, _S.RUNNING):
            self.repo.set_service_status(service.id, service.status, _S.REMOVED, ACTOR)
            service.status = _S.REMOVED


def _assign_all(tx: Transaction, made: dict[int, str]) -> None:
    for service_id, backend_id in made.items():
        tx.assign_service(service_id, backend_id=backend_id)


def _set_all(
    tx: Transaction, services: list[LiveService], old: ServiceStatus, new: ServiceStatus
) -> None:
    for service in services:
        tx.set_service_status(service.id, old, new, ACTOR)
