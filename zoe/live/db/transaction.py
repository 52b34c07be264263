"""The SQL of the state database, as operations on one open transaction.

A :class:`Transaction` wraps a cursor whose connection has the deployment's schema
on its ``search_path``. It never commits: whoever runs it (see
:class:`zoe.live.db.repository.Repository`) commits or rolls back the whole. Every
status change writes its event row in the same transaction, and moves a row only
from the status the caller saw (``UPDATE ... WHERE status = old``), so two writers
never both move one execution or one service. Values go in as parameters only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from psycopg2.extras import Json

from zoe.core.errors import InvalidInput, NotFound
from zoe.core.execution import (
    ExecutionStatus,
    ServiceStatus,
    check_execution_transition,
    check_service_transition,
)
from zoe.core.zapp import parse_zapp
from zoe.live.db.records import (
    EVENT_COLUMNS,
    EXECUTION_COLUMNS,
    EXECUTION_FROM,
    NODE_COLUMNS,
    SERVICE_COLUMNS,
    USER_COLUMNS,
    EventRecord,
    ExecutionRecord,
    NodeRecord,
    NodeStatus,
    Role,
    ServiceRecord,
    ServiceSpec,
    ServiceUsage,
    SubjectKind,
    UserRecord,
    event_from_row,
    execution_from_row,
    node_from_row,
    service_from_row,
    user_from_row,
)
from zoe.live.protocol_errors import ConflictError

if TYPE_CHECKING:
    from psycopg2.extensions import cursor

    from zoe.core.cluster import Node
    from zoe.core.zapp import ZApp

_FINAL = tuple(s.value for s in ExecutionStatus if s.is_final)


class _Identified(Protocol):
    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=_Identified)
_SERVICE_ENDS = frozenset(
    {ServiceStatus.EXITED, ServiceStatus.FAILED, ServiceStatus.REMOVED}
)
MAX_PAGE = 1000


class Transaction:
    """Operations of the master and the API on one open transaction."""

    def __init__(self, cur: cursor) -> None:
        self.cur = cur

    # -- users ---------------------------------------------------------------

    def ensure_user(self, name: str, role: Role = Role.USER) -> UserRecord:
        """Return the user ``name``, creating it with ``role`` if it does not exist.

        An existing user keeps its role.
        """
        if not name:
            raise InvalidInput("a user name must not be empty")
        self.cur.execute(
            "INSERT INTO users (name, role) VALUES (%s, %s) "
            "ON CONFLICT (name) DO NOTHING",
            (name, Role(role).value),
        )
        return self.get_user(name)

    def get_user(self, name: str) -> UserRecord:
        """Return the user ``name``; raise :class:`NotFound` if there is none."""
        self.cur.execute(f"SELECT {USER_COLUMNS} FROM users WHERE name = %s", (name,))
        row = self.cur.fetchone()
        if row is None:
            raise NotFound("user", name)
        return user_from_row(row)

    def set_user_quota(
        self,
        name: str,
        *,
        max_executions: int | None,
        max_cores_milli: int | None,
        max_memory_bytes: int | None,
    ) -> None:
        """Set all three quotas of ``name`` (``None``: no limit)."""
        self.cur.execute(
            "UPDATE users SET max_executions = %s, max_cores_milli = %s, "
            "max_memory_bytes = %s WHERE name = %s",
            (max_executions, max_cores_milli, max_memory_bytes, name),
        )
        if self.cur.rowcount == 0:
            raise NotFound("user", name)

    def set_password_hash(self, name: str, password_hash: str | None) -> None:
        """Store the already-hashed password of ``name`` (``None`` removes it)."""
        self.cur.execute(
            "UPDATE users SET password_hash = %s WHERE name = %s", (password_hash, name)
        )
        if self.cur.rowcount == 0:
            raise NotFound("user", name)

    # -- executions ----------------------------------------------------------

    def submit_execution(
        self,
        user_name: str,
        name: str,
        zapp: ZApp,
        request_id: str | None = None,
        actor: str | None = None,
    ) -> int:
        """Store a new execution in status ``submitted`` and return its id.

        With a ``request_id``, submitting again with the same user and id returns
        the first execution's id and writes nothing (see
        :meth:`execution_of_request`). Raises :class:`NotFound` for an unknown
        user. ``actor`` defaults to ``api:<user_name>``.
        """
        user = self.get_user(user_name)
        if request_id is not None:
            # looked up first: a conflicting INSERT would use up an id of the sequence
            found = self.execution_of_request(user.id, request_id, name, zapp)
            if found is not None:
                return found
        self.cur.execute(
            "INSERT INTO executions (name, user_id, zapp, size_hint, request_id) "
            "VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (user_id, request_id) DO NOTHING RETURNING id",
            (name, user.id, Json(zapp.to_dict()), zapp.size, request_id),
        )
        row = self.cur.fetchone()
        if row is None:
            existing = self.execution_of_request(user.id, str(request_id), name, zapp)
            if existing is None:
                raise NotFound("execution of request", str(request_id))
            return existing
        execution_id = int(row[0])
        self._event(
            SubjectKind.EXECUTION,
            str(execution_id),
            None,
            ExecutionStatus.SUBMITTED,
            actor or f"api:{user_name}",
            None,
        )
        return execution_id

    def execution_of_request(
        self, user_id: int, request_id: str, name: str, zapp: ZApp
    ) -> int | None:
        """The execution a submission of ``request_id`` stored, or ``None``.

        Raises :class:`ConflictError` if that execution has another name or ZApp:
        a request id names one submission, and only its retries may repeat it.
        """
        self.cur.execute(
            "SELECT id, name, zapp FROM executions "
            "WHERE user_id = %s AND request_id = %s",
            (user_id, request_id),
        )
        row = self.cur.fetchone()
        if row is None:
            return None
        execution_id = int(row[0])
        if row[1] != name or not _same_zapp(row[2], zapp):
            raise ConflictError(
                f"request id {request_id} was already used for another submission "
                f"(execution {execution_id}, named {row[1]!r}); use a new request id "
                "for a new submission, and the same one only to retry it",
                {"request_id": request_id, "execution_id": execution_id},
            )
        return execution_id

    def get_execution(self, execution_id: int) -> ExecutionRecord:
        """Return one execution; raise :class:`NotFound` if there is none."""
        self.cur.execute(
            f"SELECT {EXECUTION_COLUMNS} FROM {EXECUTION_FROM} WHERE e.id = %s",
            (execution_id,),
        )
        row = self.cur.fetchone()
        if row is None:
            raise NotFound("execution", str(execution_id))
        return execution_from_row(row)

    def list_executions(
        self,
        *,
        user_name: str | None = None,
        statuses: Iterable[ExecutionStatus] | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[ExecutionRecord]:
        """Executions in id order, filtered, at most ``limit`` (1..1000).

        Keyset pagination: pass the last id of a page as ``after_id`` for the next.
        ``None`` filters match everything; an empty ``statuses`` matches nothing.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit {limit}: give a number from 1 to {MAX_PAGE}")
        wanted = (
            None if statuses is None else [ExecutionStatus(s).value for s in statuses]
        )
        self.cur.execute(
            f"SELECT {EXECUTION_COLUMNS} FROM {EXECUTION_FROM} "
            "WHERE (%(user)s::text IS NULL OR u.name = %(user)s) "
            "AND (%(all)s OR e.status = ANY(%(statuses)s)) "
            "AND (%(after)s::bigint IS NULL OR e.id > %(after)s) "
            "ORDER BY e.id LIMIT %(limit)s",
            {
                "user": user_name,
                "all": wanted is None,
                "statuses": wanted or [],
                "after": after_id,
                "limit": limit,
            },
        )
        return [execution_from_row(row) for row in self.cur.fetchall()]

    def active_executions(self) -> list[ExecutionRecord]:
        """Every execution not in a final status, in id (submission) order."""
        self.cur.execute(
            f"SELECT {EXECUTION_COLUMNS} FROM {EXECUTION_FROM} "
            "WHERE e.status <> ALL(%s) ORDER BY e.id",
            (list(_FINAL),),
        )
        return [execution_from_row(row) for row in self.cur.fetchall()]

    def set_execution_status(
        self,
        execution_id: int,
        old: ExecutionStatus,
        new: ExecutionStatus,
        actor: str,
        reason: str | None = None,
    ) -> bool:
        """Move an execution from ``old`` to ``new`` and record the event.

        Returns False, writing nothing, if the execution is no longer in ``old``
        (another writer moved it). Raises :class:`IllegalTransition` for a change
        the state machine forbids and :class:`NotFound` for an unknown id, writing
        nothing. Sets ``start_time`` on the first ``running`` and ``end_time`` on
        a final status.
        """
        old, new = ExecutionStatus(old), ExecutionStatus(new)
        check_execution_transition(f"execution {execution_id}", old, new)
        self.cur.execute(
            "UPDATE executions SET status = %(new)s, "
            "start_time = CASE WHEN %(running)s THEN coalesce(start_time, now()) "
            "ELSE start_time END, "
            "end_time = CASE WHEN %(final)s THEN now() ELSE end_time END, "
            "reason = coalesce(%(reason)s, reason) "
            "WHERE id = %(id)s AND status = %(old)s",
            {
                "new": new.value,
                "old": old.value,
                "running": new is ExecutionStatus.RUNNING,
                "final": new.is_final,
                "reason": reason,
                "id": execution_id,
            },
        )
        if self.cur.rowcount == 0:
            self.get_execution(execution_id)  # raises NotFound if it is not there
            return False
        self._event(SubjectKind.EXECUTION, str(execution_id), old, new, actor, reason)
        return True

    def delete_execution(self, execution_id: int) -> bool:
        """Delete a finished execution and its services; False if not final.

        Its events stay: the event log is append-only.
        """
        self.cur.execute(
            "DELETE FROM executions WHERE id = %s AND status = ANY(%s)",
            (execution_id, list(_FINAL)),
        )
        if self.cur.rowcount == 0:
            self.get_execution(execution_id)
            return False
        return True

    # -- services ------------------------------------------------------------

    def create_services(
        self, execution_id: int, specs: Sequence[ServiceSpec], actor: str = "master"
    ) -> list[ServiceRecord]:
        """Create the services of an execution in status ``created``.

        Idempotent: a spec whose (group, instance) exists already is skipped.
        Returns every service of the execution.
        """
        self.get_execution(execution_id)
        for spec in specs:
            self.cur.execute(
                "INSERT INTO services "
                "(execution_id, group_index, instance_index, name, essential) "
                "VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (execution_id, group_index, instance_index) DO NOTHING "
                "RETURNING id",
                (
                    execution_id,
                    spec.group_index,
                    spec.instance_index,
                    spec.name,
                    spec.essential,
                ),
            )
            row = self.cur.fetchone()
            if row is not None:
                self._event(
                    SubjectKind.SERVICE,
                    str(row[0]),
                    None,
                    ServiceStatus.CREATED,
                    actor,
                    None,
                )
        return self.services_of([execution_id]).get(execution_id, [])

    def services_of(
        self, execution_ids: Iterable[int]
    ) -> dict[int, list[ServiceRecord]]:
        """The services of each given execution, in (group, instance) order.

        Executions without services are absent from the result.
        """
        self.cur.execute(
            f"SELECT {SERVICE_COLUMNS} FROM services WHERE execution_id = ANY(%s) "
            "ORDER BY execution_id, group_index, instance_index",
            (list(execution_ids),),
        )
        result: dict[int, list[ServiceRecord]] = {}
        for row in self.cur.fetchall():
            service = service_from_row(row)
            result.setdefault(service.execution_id, []).append(service)
        return result

    def get_service(self, service_id: int) -> ServiceRecord:
        """Return one service; raise :class:`NotFound` if there is none."""
        self.cur.execute(
            f"SELECT {SERVICE_COLUMNS} FROM services WHERE id = %s", (service_id,)
        )
        row = self.cur.fetchone()
        if row is None:
            raise NotFound("service", str(service_id))
        return service_from_row(row)

    def find_service_by_backend_id(self, backend_id: str) -> ServiceRecord | None:
        """The service whose container (or Swarm service) is ``backend_id``."""
        self.cur.execute(
            f"SELECT {SERVICE_COLUMNS} FROM services WHERE backend_id = %s",
            (backend_id,),
        )
        row = self.cur.fetchone()
        return None if row is None else service_from_row(row)

    def assign_service(
        self, service_id: int, *, node: str | None = None, backend_id: str | None = None
    ) -> None:
        """Record where a service runs; an argument left ``None`` is kept."""
        self.cur.execute(
            "UPDATE services SET node = coalesce(%s, node), "
            "backend_id = coalesce(%s, backend_id) WHERE id = %s",
            (node, backend_id, service_id),
        )
        if self.cur.rowcount == 0:
            raise NotFound("service", str(service_id))

    def set_service_status(
        self,
        service_id: int,
        old: ServiceStatus,
        new: ServiceStatus,
        actor: str,
        reason: str | None = None,
        exit_code: int | None = None,
    ) -> bool:
        """Move a service from ``old`` to ``new`` and record the event.

        Same contract as :meth:`set_execution_status`. Sets ``start_time`` on
        ``running``, ``end_time`` on ``exited``, ``failed`` or ``removed`` (kept if
        already set), and ``exit_code`` when given.
        """
        old, new = ServiceStatus(old), ServiceStatus(new)
        check_service_transition(f"service {service_id}", old, new)
        ends = new in _SERVICE_ENDS
        self.cur.execute(
            "UPDATE services SET status = %(new)s, "
            "start_time = CASE WHEN %(running)s THEN coalesce(start_time, now()) "
            "ELSE start_time END, "
            "end_time = CASE WHEN %(ends)s THEN coalesce(end_time, now()) "
            "ELSE end_time END, "
            "exit_code = coalesce(%(exit_code)s, exit_code), "
            "reason = coalesce(%(reason)s, reason) "
            "WHERE id = %(id)s AND status = %(old)s",
            {
                "new": new.value,
                "old": old.value,
                "running": new is ServiceStatus.RUNNING,
                "ends": ends,
                "exit_code": exit_code,
                "reason": reason,
                "id": service_id,
            },
        )
        if self.cur.rowcount == 0:
            self.get_service(service_id)
            return False
        self._event(SubjectKind.SERVICE, str(service_id), old, new, actor, reason)
        return True

    def record_usage(self, samples: Sequence[ServiceUsage]) -> int:
        """Store the latest usage sample of each service; the rows updated.

        A sample older than the one stored, or of an unknown service, is skipped.
        """
        if not samples:
            return 0
        self.cur.execute(
            "UPDATE services AS s SET cpu_usage = u.cpu, memory_usage = u.memory, "
            "usage_time = u.at "
            "FROM unnest(%s::bigint[], %s::float8[], %s::bigint[], "
            "%s::timestamptz[]) AS u(id, cpu, memory, at) "
            "WHERE s.id = u.id AND (s.usage_time IS NULL OR s.usage_time <= u.at)",
            (
                [x.service_id for x in samples],
                [x.cpu_usage for x in samples],
                [x.memory_usage for x in samples],
                [x.usage_time for x in samples],
            ),
        )
        return int(self.cur.rowcount)

    def record_endpoints(self, endpoints: Mapping[int, Mapping[str, str]]) -> int:
        """Store where the published ports of each service answer; the rows updated.

        ``endpoints`` maps a service id to ``{"8080/tcp": "host:port", ...}``;
        the map replaces the one stored. An unknown service is skipped.
        """
        if not endpoints:
            return 0
        ids = list(endpoints)
        self.cur.execute(
            "UPDATE services AS s SET endpoints = u.endpoints "
            "FROM unnest(%s::bigint[], %s::jsonb[]) AS u(id, endpoints) "
            "WHERE s.id = u.id",
            (ids, [Json(dict(endpoints[i])) for i in ids]),
        )
        return int(self.cur.rowcount)

    # -- nodes ---------------------------------------------------------------

    def upsert_node(self, node: Node) -> None:
        """Create ``node`` or update its capacity and labels; availability is kept."""
        self.cur.execute(
            "INSERT INTO nodes (name, cores_milli, memory_bytes, labels) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "cores_milli = EXCLUDED.cores_milli, memory_bytes = EXCLUDED.memory_bytes, "
            "labels = EXCLUDED.labels, updated_time = now()",
            (
                node.name,
                node.capacity.millicores,
                node.capacity.memory,
                sorted(node.labels),
            ),
        )

    def list_nodes(self) -> list[NodeRecord]:
        """Every node, by name."""
        self.cur.execute(f"SELECT {NODE_COLUMNS} FROM nodes ORDER BY name")
        return [node_from_row(row) for row in self.cur.fetchall()]

    def set_node_available(
        self, name: str, available: bool, actor: str, reason: str | None = None
    ) -> bool:
        """Mark a node (un)available; returns False, writing nothing, if it was so."""
        self.cur.execute(
            "UPDATE nodes SET available = %s, updated_time = now() "
            "WHERE name = %s AND available <> %s",
            (available, name, available),
        )
        if self.cur.rowcount == 0:
            self.cur.execute("SELECT 1 FROM nodes WHERE name = %s", (name,))
            if self.cur.fetchone() is None:
                raise NotFound("node", name)
            return False
        old, new = NodeStatus.UNAVAILABLE, NodeStatus.AVAILABLE
        if not available:
            old, new = new, old
        self._event(SubjectKind.NODE, name, old, new, actor, reason)
        return True

    # -- events --------------------------------------------------------------

    def execution_events(self, execution_id: int) -> list[EventRecord]:
        """The events of an execution and of its services, oldest first."""
        self.cur.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE "
            "(subject_kind = 'execution' AND subject_id = %(id)s::text) OR "
            "(subject_kind = 'service' AND subject_id IN "
            " (SELECT id::text FROM services WHERE execution_id = %(id)s)) "
            "ORDER BY id",
            {"id": execution_id},
        )
        return [event_from_row(row) for row in self.cur.fetchall()]

    def events(
        self, *, after_id: int | None = None, limit: int = 100
    ) -> list[EventRecord]:
        """All events in order, keyset-paginated like :meth:`list_executions`."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit {limit}: give a number from 1 to {MAX_PAGE}")
        self.cur.execute(
            f"SELECT {EVENT_COLUMNS} FROM events "
            "WHERE (%(after)s::bigint IS NULL OR id > %(after)s) ORDER BY id "
            "LIMIT %(limit)s",
            {"after": after_id, "limit": limit},
        )
        return [event_from_row(row) for row in self.cur.fetchall()]

    def _event(
        self,
        kind: SubjectKind,
        subject_id: str,
        old: str | None,
        new: str,
        actor: str,
        reason: str | None,
    ) -> None:
        self.cur.execute(
            "INSERT INTO events "
            "(subject_kind, subject_id, old_status, new_status, actor, reason) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (kind.value, subject_id, old, new, actor, reason),
        )

    # -- requests ------------------------------------------------------------

    def claim_request(self, client_id: str, request_id: str) -> tuple[bool, Any]:
        """Claim a client request: ``(True, None)`` if this transaction is first.

        Otherwise ``(False, reply)`` with the reply stored by the transaction that
        carried it out. A concurrent claim of the same request waits on the row
        until the first transaction ends.
        """
        self.cur.execute(
            "INSERT INTO requests (client_id, request_id) VALUES (%s, %s) "
            "ON CONFLICT (client_id, request_id) DO NOTHING RETURNING 1",
            (client_id, request_id),
        )
        if self.cur.fetchone() is not None:
            return True, None
        return False, self.lookup_request(client_id, request_id)

    def store_reply(self, client_id: str, request_id: str, reply: Any) -> None:
        """Store the reply to a request claimed in this transaction."""
        self.cur.execute(
            "UPDATE requests SET reply = %s WHERE client_id = %s AND request_id = %s",
            (Json(reply), client_id, request_id),
        )
        if self.cur.rowcount == 0:
            raise NotFound("request", f"{client_id}/{request_id}")

    def lookup_request(self, client_id: str, request_id: str) -> Any:
        """The stored reply to a request, or ``None`` if it was never carried out."""
        self.cur.execute(
            "SELECT reply FROM requests WHERE client_id = %s AND request_id = %s",
            (client_id, request_id),
        )
        row = self.cur.fetchone()
        return None if row is None else row[0]

    def purge_requests(self, older_than_seconds: float) -> int:
        """Forget replies older than the given age; return how many were removed."""
        self.cur.execute(
            "DELETE FROM requests WHERE time < now() - make_interval(secs => %s)",
            (older_than_seconds,),
        )
        return int(self.cur.rowcount)


def _same_zapp(stored: Any, zapp: ZApp) -> bool:
    try:
        return parse_zapp(stored) == zapp
    except InvalidInput:
        return False


def newest_first_page(
    tx: Transaction,
    table: tuple[str, str, str],
    from_row: Callable[[Any], R],
    *,
    user: str | None,
    statuses: Sequence[StrEnum] | None,
    before_id: int | None,
    limit: int,
) -> tuple[list[R], int | None]:
    """One page of rows, newest first, and the id to continue before (or None).

    ``table`` is (columns, FROM clause, alias of the table with ``id`` and
    ``status``), constants of the caller, never input; ``from_row`` reads a row.
    ``user`` None: every user's; ``statuses`` None: every status.
    """
    columns, source, alias = table
    tx.cur.execute(
        f"SELECT {columns} FROM {source} "
        "WHERE (%(user)s::text IS NULL OR u.name = %(user)s) "
        f"AND (%(all)s OR {alias}.status = ANY(%(statuses)s)) "
        f"AND (%(before)s::bigint IS NULL OR {alias}.id < %(before)s) "
        f"ORDER BY {alias}.id DESC LIMIT %(limit)s",
        {
            "user": user,
            "all": statuses is None,
            "statuses": [s.value for s in statuses or ()],
            "before": before_id,
            "limit": limit + 1,
        },
    )
    records = [from_row(row) for row in tx.cur.fetchall()]
    more = len(records) > limit
    records = records[:limit]
    return records, (records[-1].id if more else None)
