"""The live master: one thread that serves the protocol, schedules and watches.

:class:`Master` runs a loop (:meth:`Master.step`) that, in turn:

1. waits for requests on the protocol socket, at most until the backend's next
   event or the next periodic tick, and answers them (a submission is committed
   to PostgreSQL before its reply);
2. applies the backend's events (services running, exited);
3. ends the executions cleaning up;
4. runs a scheduling round when something changed (a submission, a
   termination, an exit, a node) or the tick came (every ``tick_duration``).

Losing the database never stops the loop: the operation that met
:class:`~zoe.live.errors.DatabaseUnavailable` is given up, requests are answered
``Unavailable``, and the master retries with a doubling backoff, saying so in its
log. When the database answers again the state is taken up anew
(:func:`~zoe.live.recovery.recover`), which also reconciles the backend. A
:class:`~zoe.core.errors.BackendError` is logged and handled the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from zoe.core.errors import BackendError, InvalidInput, InvalidZApp
from zoe.core.execution import ExecutionStatus, ServiceStatus
from zoe.core.zapp import parse_zapp
from zoe.core.zapp_import import load_zapp
from zoe.live.db.records import ServiceUsage
from zoe.live.db.submissions import check_user_name, store_submission
from zoe.live.errors import DatabaseUnavailable
from zoe.live.output import service_output
from zoe.live.protocol import ListArgs, LogsArgs, Op, Request
from zoe.live.protocol_errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnavailableError,
)
from zoe.live.recovery import recover
from zoe.live.replies import (
    cluster_result,
    execution_detail,
    execution_summary,
    list_page,
    scheduler_result,
)
from zoe.live.scheduler import ACTOR, Scheduler
from zoe.live.state import HOLDING, LiveExecution, LiveService

if TYPE_CHECKING:
    from zoe.live.backends import Backend
    from zoe.live.config import MasterConfig
    from zoe.live.db import ExecutionRecord, Repository, Transaction
    from zoe.live.transport import ProtocolServer
    from zoe.policies.base import Policy

log = logging.getLogger(__name__)

FIRST_BACKOFF_DURATION = 0.2
MAX_BACKOFF_DURATION = 5.0
MAX_WAIT_DURATION = 0.5
LISTED_SERVICES = 20
"""The most service names an error message lists (its details list them all)."""
_E = ExecutionStatus


class Master:
    """The master process's state and loop. Not thread-safe: one thread runs it.

    Build one with :meth:`open` (from a configuration) or directly with its
    parts (tests). :meth:`serve` runs until ``stop`` is set, then closes the
    socket, the backend and the database connection.
    """

    def __init__(
        self,
        config: MasterConfig,
        *,
        repo: Repository,
        backend: Backend,
        policy: Policy,
        server: ProtocolServer,
    ) -> None:
        self.config = config
        self.repo = repo
        self.backend = backend
        self.server = server
        self.scheduler = Scheduler(
            repo,
            backend,
            policy,
            deployment=config.deployment,
            default_work_duration=config.default_work_duration,
        )
        self.healthy = False
        self._retry_time = 0.0
        self._backoff = FIRST_BACKOFF_DURATION
        self._next_tick = 0.0
        self._handlers: dict[Op, Callable[[Request], Mapping[str, Any]]] = {
            Op.SUBMIT: self._submit,
            Op.TERMINATE: self._terminate,
            Op.DELETE: self._delete,
            Op.GET: self._get,
            Op.LIST: self._list,
            Op.CLUSTER: self._cluster,
            Op.SCHEDULER: self._scheduler,
            Op.LOGS: self._logs,
        }

    @classmethod
    def open(cls, config: MasterConfig, *, backend: Backend | None = None) -> Master:
        """Connect, migrate the schema, build the backend, the policy and the socket.

        One master runs a deployment: it holds a lock on the deployment's schema
        on every connection it opens (:func:`~zoe.live.db.schema.master_lock`).
        Raises :class:`InvalidInput` without a database address,
        :class:`~zoe.live.errors.MasterRunning` while another master holds the
        deployment, and what the database or the socket raise
        (``DatabaseUnavailable``, ``ProtocolError``).
        """
        from zoe.live.backends import BackendSettings, make_backend
        from zoe.live.db import Database, Repository
        from zoe.live.db.connection import schema_name
        from zoe.live.db.schema import master_lock
        from zoe.live.transport import ProtocolServer, ServerConfig
        from zoe.policies.registry import make_policy

        if not config.database_url:
            raise InvalidInput(
                "no database address: set --database-url or ZOE_DATABASE_URL to a "
                "PostgreSQL URL (`zoe up` runs an embedded one; docs/docker.md, "
                "'A database for zoe master', shows how to share it)"
            )
        db = Database(
            config.database_url,
            config.deployment,
            give_up_duration=config.database_give_up_duration,
            on_connect=master_lock(schema_name(config.deployment)),
        )
        repo = Repository(db)
        repo.migrate()
        if backend is None:
            settings = BackendSettings(
                config.deployment,
                config.data_dir,
                config.cluster,
                config.speed,
                config.default_work_duration,
                config.runtime_model,
                config.persist_backend,
                config.backend_options,
            )
            backend = make_backend(config.backend, settings)
        policy = make_policy(config.policy, config.placement, seed=config.seed)
        server = ProtocolServer(
            ServerConfig(config.listen, config.allow_remote, config.token)
        )
        return cls(config, repo=repo, backend=backend, policy=policy, server=server)

    @property
    def address(self) -> str:
        """The address the protocol socket is bound to."""
        return self.server.address

    # -- the loop -------------------------------------------------------------------

    def serve(self, stop: threading.Event) -> None:
        """Take up the state, then run :meth:`step` until ``stop`` is set."""
        log.info(
            "master: listening on %s (deployment %s, policy %s, backend %s)",
            self.address,
            self.config.deployment,
            self.config.policy,
            self.backend.name,
        )
        try:
            self.start()
            while not stop.is_set():
                self.step()
        finally:
            self.close()
            log.info("master: stopped")

    def start(self) -> None:
        """Take up the state from the database and the backend."""
        self._guarded(self._recover)

    def step(self) -> None:
        """One turn of the loop: requests, events, cleanups, a round if needed."""
        for request in self.server.poll(round(self._wait_duration() * 1000)):
            self._answer(request)
        self._guarded(self._work)

    def close(self) -> None:
        """Close the socket, the backend and the database connection."""
        self.server.close()
        self.backend.close()
        self.repo.db.close()

    def _wait_duration(self) -> float:
        if self.scheduler.wanted and self.healthy:
            return 0.0
        now = time.monotonic()
        wait = min(MAX_WAIT_DURATION, max(0.0, self._next_tick - now))
        if not self.healthy:
            wait = min(wait, max(0.0, self._retry_time - now))
        delay = self.backend.next_event_delay()
        return wait if delay is None else min(wait, delay)

    def _work(self) -> None:
        if not self.healthy:
            if time.monotonic() < self._retry_time:
                return
            self._recover()
        scheduler = self.scheduler
        for event in self.backend.poll_events(0):
            scheduler.on_event(event)
        self._record_usage()
        scheduler.cleanup()
        if time.monotonic() >= self._next_tick:
            self._next_tick = time.monotonic() + self.config.tick_duration
            self._pick_up()
            self._refresh_nodes()
            self._refresh_availability()
            self._record_endpoints()
            scheduler.wanted = True
        if scheduler.wanted:
            scheduler.run_round()
            scheduler.cleanup()

    def _recover(self) -> None:
        recover(self.scheduler, screen=self._end_unrunnable)
        if not self.healthy and self._backoff > FIRST_BACKOFF_DURATION:
            log.info("master: database reachable again; state taken up")
        self.healthy = True
        self._backoff = FIRST_BACKOFF_DURATION

    def _guarded(self, work: Callable[[], None]) -> None:
        """Run ``work``; on a database or backend failure, resynchronise later."""
        try:
            work()
        except DatabaseUnavailable as exc:
            self._lost(f"database unavailable: {exc.cause}")
        except BackendError as exc:
            log.error("master: backend operation given up: %s", exc)
            self._lost("backend error")

    def _lost(self, what: str) -> None:
        if self.healthy:
            log.warning("master: %s; answering Unavailable, retrying", what)
        log.warning("master: next attempt in %.1fs", self._backoff)
        self.healthy = False
        self._retry_time = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_DURATION)

    def _refresh_nodes(self) -> None:
        """Take a change of the backend's nodes into the state and the next round."""
        nodes = self.backend.nodes()
        if nodes == self.scheduler.nodes:
            return
        self.repo.upsert_nodes(nodes)
        before = {node.name for node in self.scheduler.nodes}
        self.scheduler.nodes = nodes
        self.scheduler.wanted = True
        log.info(
            "master: nodes changed: %d now, new: %s",
            len(nodes),
            ", ".join(n.name for n in nodes if n.name not in before) or "none",
        )

    def _refresh_availability(self) -> None:
        """Take the hosts a backend reports unavailable out of the snapshot."""
        probe = getattr(self.backend, "unavailable_nodes", None)
        if probe is None:
            return
        down: set[str] = set(probe())
        changed = down ^ self.scheduler.unavailable
        for name in sorted(changed):
            available = name not in down
            why = (
                "its host answers again" if available else "its host stopped answering"
            )
            self.repo.set_node_available(name, available, "backend", why)
            log.warning(
                "master: node %s %s", name, "available" if available else "unavailable"
            )
        self.scheduler.unavailable = down
        if changed:
            self.scheduler.wanted = True

    def _record_usage(self) -> None:
        """Write the usage samples a backend took to the rows of their services.

        Only samples of containers the mirror holds for an active service are
        written (an ended service keeps its last sample), in one transaction.
        """
        take = getattr(self.backend, "usage_samples", None)
        if take is None:
            return
        samples = take()
        if not samples:
            return
        services = {
            service.backend_id: service.id
            for execution in self.scheduler.executions.values()
            for service in execution.holding()
            if service.backend_id
        }
        usages = [
            ServiceUsage(
                services[sample.backend_id],
                sample.cpu_cores,
                sample.memory,
                datetime.fromtimestamp(sample.sample_time, UTC),
            )
            for sample in samples
            if sample.backend_id in services
        ]
        if usages:
            self.repo.record_usage(usages)

    def _record_endpoints(self) -> None:
        """Write where the published ports of newly running services answer.

        Asks the backend (its optional ``endpoints``) only for running services
        whose group publishes ports and whose row holds no endpoints yet; the
        non-empty answers are written in one transaction, then never asked again.
        """
        ask = getattr(self.backend, "endpoints", None)
        if ask is None:
            return
        found: dict[int, dict[str, str]] = {}
        recorded: list[LiveService] = []
        for service in self._awaiting_endpoints():
            endpoints: dict[str, str] = ask(service.backend_id)
            if endpoints:
                found[service.id] = dict(endpoints)
                recorded.append(service)
        if not found:
            return
        self.repo.record_endpoints(found)
        for service in recorded:
            service.endpoints_recorded = True
            log.debug("service %d: endpoints %s", service.id, found[service.id])

    def _awaiting_endpoints(self) -> Iterator[LiveService]:
        """Running services with ports to publish whose endpoints are not recorded."""
        for execution in self.scheduler.executions.values():
            specs = execution.group_specs
            for service in execution.services.values():
                if (
                    service.status is ServiceStatus.RUNNING
                    and not service.endpoints_recorded
                    and service.backend_id
                    and specs[service.group].ports
                ):
                    yield service

    def _pick_up(self) -> None:
        """Take submissions written to the database by others (an API process)."""
        waiting = self.repo.list_executions(statuses=[_E.SUBMITTED], limit=1000)
        mirror = self.scheduler.executions
        new = [record for record in waiting if record.id not in mirror]
        for record in self._end_unrunnable(new):
            mirror[record.id] = LiveExecution.of(record, [])

    def _end_unrunnable(
        self, records: Iterable[ExecutionRecord]
    ) -> list[ExecutionRecord]:
        """End, in ``error``, the stored executions this master cannot take up.

        Those are the executions whose stored ZApp is no longer valid (over
        :data:`~zoe.core.zapp.MAX_ZAPP_SERVICES` services, say) and those not
        yet started (``submitted``, ``queued``) with more services than
        ``max_services``: taking them up would stop the master, at every start.
        Returns the other records.
        """
        kept = []
        for record in records:
            reason = self._unrunnable(record)
            if reason is None:
                kept.append(record)
                continue
            self.repo.transaction(partial(_end, record=record, reason=reason))
            log.warning("execution %d: error: %s", record.id, reason)
        return kept

    def _unrunnable(self, record: ExecutionRecord) -> str | None:
        """Why the master cannot take ``record`` up, or ``None`` if it can."""
        try:
            zapp = parse_zapp(record.zapp)
        except InvalidZApp as exc:
            return f"not run: its stored ZApp is not valid: {exc}"
        count, limit = zapp.service_count, self.config.max_services
        if record.status in (_E.SUBMITTED, _E.QUEUED) and count > limit:
            return (
                f"not run: it has {count} services and this deployment runs at "
                f"most {limit} services per execution (max_services)"
            )
        return None

    # -- requests -------------------------------------------------------------------

    def _answer(self, request: Request) -> None:
        if not self.healthy:
            error = UnavailableError(
                "the master cannot reach its database; retry later"
            )
            self.server.reply_error(request, error)
            return
        try:
            result = self._handlers[request.op](request)
        except DatabaseUnavailable as exc:
            self._lost(f"database unavailable: {exc.cause}")
            self.server.reply_error(request, exc)
            return
        except Exception as exc:  # answered as an error reply; Internal is logged
            self.server.reply_error(request, exc)
            return
        self.server.reply(request, result)

    def _submit(self, request: Request) -> Mapping[str, Any]:
        """Check and store a submission, or find the one stored for its id.

        The user name follows the API's rule; the ZApp's services, the user's
        quotas and a reused request id are checked as the API checks them
        (:func:`~zoe.live.db.submissions.store_submission`). A submission the
        API stored already is found by its request id and taken up as it is.
        """
        args: Any = request.args
        try:
            check_user_name(args.user)
        except InvalidInput as exc:
            fault = {"path": "args.user", "message": str(exc)}
            raise BadRequestError(
                f"args.user: {exc}", {"path": "args.user", "faults": [fault]}
            ) from None
        zapp = load_zapp(args.zapp)
        limit = self.config.max_services

        def work(tx: Transaction) -> Any:
            tx.ensure_user(args.user)
            eid = store_submission(
                tx,
                args.user,
                args.name,
                zapp,
                request.id,
                max_services=limit,
                actor=f"api:{args.user}",
            )
            return tx.get_execution(eid)

        record = self.repo.transaction(work)
        mirror = self.scheduler.executions
        if record.status is _E.SUBMITTED and record.id not in mirror:
            mirror[record.id] = LiveExecution(
                record.id,
                record.name,
                record.user_name,
                record.status,
                zapp,
                record.submit_time.timestamp(),
            )
            log.info("execution %d: submitted by %s", record.id, args.user)
        self.scheduler.wanted = True
        return {"execution_id": record.id}

    def _terminate(self, request: Request) -> Mapping[str, Any]:
        execution_id: int = request.args.execution_id  # type: ignore[union-attr]
        actor = f"api:{request.user or 'anonymous'}"
        reason = f"terminated by {request.user or 'a client'}"

        def work(tx: Transaction) -> Any:
            record = tx.get_execution(execution_id)
            old = record.status
            if old.is_final:
                raise ConflictError(
                    f"execution {execution_id} is already {old.value}; nothing to "
                    "terminate",
                    {"status": old.value},
                )
            new = _E.CLEANING_UP
            if old in (_E.SUBMITTED, _E.QUEUED):
                new = _E.TERMINATED
            if old is not _E.CLEANING_UP:
                tx.set_execution_status(execution_id, old, new, actor, reason)
            return {"execution_id": execution_id, "status": new.value}

        result: dict[str, Any] = self._once(request, work)
        self._mirror_termination(execution_id, _E(result["status"]))
        return result

    def _mirror_termination(self, execution_id: int, status: ExecutionStatus) -> None:
        execution = self.scheduler.executions.get(execution_id)
        if execution is None:
            return
        if status is _E.TERMINATED:
            del self.scheduler.executions[execution_id]
            log.info("execution %d: terminated", execution_id)
        elif execution_id not in self.scheduler.ending:
            execution.status = _E.CLEANING_UP
            self.scheduler.ending[execution_id] = _E.TERMINATED
            log.info("execution %d: cleaning up: terminated", execution_id)
        self.scheduler.wanted = True

    def _delete(self, request: Request) -> Mapping[str, Any]:
        execution_id: int = request.args.execution_id  # type: ignore[union-attr]

        def work(tx: Transaction) -> Any:
            if not tx.delete_execution(execution_id):
                status = tx.get_execution(execution_id).status.value
                raise ConflictError(
                    f"execution {execution_id} is {status}; terminate it first, "
                    "only executions in a final status are deleted",
                    {"status": status},
                )
            return {"execution_id": execution_id, "deleted": True}

        result: dict[str, Any] = self._once(request, work)
        return result

    def _once(self, request: Request, work: Callable[[Transaction], Any]) -> Any:
        """Run a state-changing request once even across restarts of the master."""
        client = request.user or "anonymous"
        result: Any = self.repo.handle_request(client, request.id, work)
        return result

    def _get(self, request: Request) -> Mapping[str, Any]:
        execution_id: int = request.args.execution_id  # type: ignore[union-attr]

        def work(tx: Transaction) -> Any:
            record = tx.get_execution(execution_id)
            services = tx.services_of([execution_id]).get(execution_id, [])
            return record, services

        record, services = self.repo.transaction(work)
        return execution_detail(record, services)

    def _list(self, request: Request) -> Mapping[str, Any]:
        args: ListArgs = request.args  # type: ignore[assignment]
        before = None
        if args.cursor is not None:
            if not args.cursor.isdigit():
                raise BadRequestError(
                    "args.cursor: not a cursor; pass the 'next' of a previous page",
                    {"path": "args.cursor"},
                )
            before = int(args.cursor)
        records, more = self.repo.transaction(
            lambda tx: list_page(
                tx,
                user=args.user,
                statuses=args.status,
                before_id=before,
                limit=args.limit,
            )
        )
        return {
            "executions": [execution_summary(r) for r in records],
            "next": None if more is None else str(more),
        }

    def _logs(self, request: Request) -> Mapping[str, Any]:
        """The output of the execution's containers that the backend still has.

        Each service's entry is :func:`~zoe.live.output.service_output`'s; its
        status is read before its output, so ``ended`` means nothing follows. A
        ``service`` the execution does not have is ``NotFound``.
        """
        args: LogsArgs = request.args  # type: ignore[assignment]
        read = getattr(self.backend, "logs", None)
        if read is None:
            raise ConflictError(
                f"the {self.backend.name} backend keeps no container output",
                {"backend": self.backend.name},
            )

        def work(tx: Transaction) -> Any:
            tx.get_execution(args.execution_id)  # NotFound for an unknown id
            return tx.services_of([args.execution_id]).get(args.execution_id, [])

        services = self.repo.transaction(work)
        if args.service is not None:
            _check_service(args.execution_id, args.service, services)
        found = [
            service_output(read, service, tail=args.tail, since=args.since)
            for service in services
            if args.service in (None, service.name)
        ]
        return {"execution_id": args.execution_id, "services": found}

    def _cluster(self, request: Request) -> Mapping[str, Any]:
        return cluster_result(self.scheduler, self.repo.list_nodes())

    def _scheduler(self, request: Request) -> Mapping[str, Any]:
        return scheduler_result(self.scheduler, self.config.placement)


def _end(tx: Transaction, record: ExecutionRecord, reason: str) -> None:
    """End ``record`` in ``error`` with ``reason``; its services stop holding."""
    for service in tx.services_of([record.id]).get(record.id, []):
        if service.status in HOLDING:
            tx.set_service_status(
                service.id, service.status, ServiceStatus.REMOVED, ACTOR, reason
            )
    tx.set_execution_status(record.id, record.status, _E.ERROR, ACTOR, reason)


def _check_service(execution_id: int, name: str, services: list[Any]) -> None:
    """Raise :class:`NotFoundError` unless one of ``services`` is named ``name``."""
    names = [service.name for service in services]
    if name in names:
        return
    listed = ", ".join(names[:LISTED_SERVICES]) or "none yet"
    if len(names) > LISTED_SERVICES:
        listed += f", ... ({len(names)} in all)"
    raise NotFoundError(
        f"execution {execution_id} has no service {name!r}; its services: {listed}",
        {"kind": "service", "key": name, "services": names},
    )
