"""The state of one deployment, as the master and the API use it.

:class:`Repository` runs each operation of :class:`Transaction` as its own
transaction through a :class:`Database`, so each one is retried as a whole when
the connection is lost. Several operations that must commit together go through
:meth:`Repository.transaction`; a client request that must not be carried out twice
goes through :meth:`Repository.handle_request`, which stores the reply in the same
transaction as the effect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from zoe.live.db.records import (
    EventRecord,
    ExecutionRecord,
    NodeRecord,
    Role,
    ServiceRecord,
    ServiceSpec,
    ServiceUsage,
    UserRecord,
)
from zoe.live.db.schema import migrate
from zoe.live.db.transaction import Transaction

if TYPE_CHECKING:
    from zoe.core.cluster import Node
    from zoe.core.execution import ExecutionStatus, ServiceStatus
    from zoe.core.zapp import ZApp
    from zoe.live.db.connection import Database

T = TypeVar("T")


class Repository:
    """Typed access to a deployment's state; owns no connection of its own.

    Every method is one transaction. Methods that move a status return False when
    another writer moved it first; after a connection loss during a commit, such a
    method may also return False for its own change: read the row again to know.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def migrate(self) -> list[int]:
        """Apply pending migrations (see :func:`zoe.live.db.schema.migrate`)."""
        return migrate(self.db)

    def transaction(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in one transaction; it may run again after a connection loss.

        ``work`` must act only through the :class:`Transaction` it is given.
        """
        return self.db.run(lambda cur: work(Transaction(cur)))

    def handle_request(
        self, client_id: str, request_id: str, work: Callable[[Transaction], Any]
    ) -> Any:
        """Carry out a client request once, returning its (JSON-able) reply.

        The first call runs ``work`` and stores what it returns with the request's
        key, in the same transaction; any later call with the same key returns the
        stored reply without running ``work``.
        """

        def once(tx: Transaction) -> Any:
            first, reply = tx.claim_request(client_id, request_id)
            if not first:
                return reply
            reply = work(tx)
            tx.store_reply(client_id, request_id, reply)
            return reply

        return self.transaction(once)

    # -- users ---------------------------------------------------------------

    def ensure_user(self, name: str, role: Role = Role.USER) -> UserRecord:
        """See :meth:`Transaction.ensure_user`."""
        return self.transaction(lambda tx: tx.ensure_user(name, role))

    def get_user(self, name: str) -> UserRecord:
        """See :meth:`Transaction.get_user`."""
        return self.transaction(lambda tx: tx.get_user(name))

    # -- executions ----------------------------------------------------------

    def submit_execution(
        self,
        user_name: str,
        name: str,
        zapp: ZApp,
        request_id: str | None = None,
        actor: str | None = None,
    ) -> int:
        """See :meth:`Transaction.submit_execution`."""
        return self.transaction(
            lambda tx: tx.submit_execution(user_name, name, zapp, request_id, actor)
        )

    def get_execution(self, execution_id: int) -> ExecutionRecord:
        """See :meth:`Transaction.get_execution`."""
        return self.transaction(lambda tx: tx.get_execution(execution_id))

    def list_executions(
        self,
        *,
        user_name: str | None = None,
        statuses: Iterable[ExecutionStatus] | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[ExecutionRecord]:
        """See :meth:`Transaction.list_executions`."""
        wanted = None if statuses is None else list(statuses)
        return self.transaction(
            lambda tx: tx.list_executions(
                user_name=user_name, statuses=wanted, after_id=after_id, limit=limit
            )
        )

    def active_executions(
        self,
    ) -> list[tuple[ExecutionRecord, list[ServiceRecord]]]:
        """Every non-final execution with its services, read in one transaction."""

        def work(tx: Transaction) -> list[tuple[ExecutionRecord, list[ServiceRecord]]]:
            executions = tx.active_executions()
            services = tx.services_of(e.id for e in executions)
            return [(e, services.get(e.id, [])) for e in executions]

        return self.transaction(work)

    def set_execution_status(
        self,
        execution_id: int,
        old: ExecutionStatus,
        new: ExecutionStatus,
        actor: str,
        reason: str | None = None,
    ) -> bool:
        """See :meth:`Transaction.set_execution_status`."""
        return self.transaction(
            lambda tx: tx.set_execution_status(execution_id, old, new, actor, reason)
        )

    def delete_execution(self, execution_id: int) -> bool:
        """See :meth:`Transaction.delete_execution`."""
        return self.transaction(lambda tx: tx.delete_execution(execution_id))

    # -- services ------------------------------------------------------------

    def create_services(
        self, execution_id: int, specs: Sequence[ServiceSpec], actor: str = "master"
    ) -> list[ServiceRecord]:
        """See :meth:`Transaction.create_services`."""
        return self.transaction(
            lambda tx: tx.create_services(execution_id, specs, actor)
        )

    def services_of(self, execution_id: int) -> list[ServiceRecord]:
        """The services of one execution, in (group, instance) order."""
        found = self.transaction(lambda tx: tx.services_of([execution_id]))
        return found.get(execution_id, [])

    def find_service_by_backend_id(self, backend_id: str) -> ServiceRecord | None:
        """See :meth:`Transaction.find_service_by_backend_id`."""
        return self.transaction(lambda tx: tx.find_service_by_backend_id(backend_id))

    def assign_service(
        self, service_id: int, *, node: str | None = None, backend_id: str | None = None
    ) -> None:
        """See :meth:`Transaction.assign_service`."""
        self.transaction(
            lambda tx: tx.assign_service(service_id, node=node, backend_id=backend_id)
        )

    def set_service_status(
        self,
        service_id: int,
        old: ServiceStatus,
        new: ServiceStatus,
        actor: str,
        reason: str | None = None,
        exit_code: int | None = None,
    ) -> bool:
        """See :meth:`Transaction.set_service_status`."""
        return self.transaction(
            lambda tx: tx.set_service_status(
                service_id, old, new, actor, reason, exit_code
            )
        )

    def record_usage(self, samples: Sequence[ServiceUsage]) -> int:
        """See :meth:`Transaction.record_usage` (all samples in one transaction)."""
        listed = list(samples)
        return self.transaction(lambda tx: tx.record_usage(listed))

    def record_endpoints(self, endpoints: Mapping[int, Mapping[str, str]]) -> int:
        """See :meth:`Transaction.record_endpoints` (all in one transaction)."""
        copied = {sid: dict(found) for sid, found in endpoints.items()}
        return self.transaction(lambda tx: tx.record_endpoints(copied))

    # -- nodes ---------------------------------------------------------------

    def upsert_nodes(self, nodes: Iterable[Node]) -> None:
        """Create or update every node in one transaction."""
        listed = list(nodes)

        def work(tx: Transaction) -> None:
            for node in listed:
                tx.upsert_node(node)

        self.transaction(work)

    def list_nodes(self) -> list[NodeRecord]:
        """See :meth:`Transaction.list_nodes`."""
        return self.transaction(lambda tx: tx.list_nodes())

    def set_node_available(
        self, name: str, available: bool, actor: str, reason: str | None = None
    ) -> bool:
        """See :meth:`Transaction.set_node_available`."""
        return self.transaction(
            lambda tx: tx.set_node_available(name, available, actor, reason)
        )

    # -- events and requests -------------------------------------------------

    def execution_events(self, execution_id: int) -> list[EventRecord]:
        """See :meth:`Transaction.execution_events`."""
        return self.transaction(lambda tx: tx.execution_events(execution_id))

    def events(
        self, *, after_id: int | None = None, limit: int = 100
    ) -> list[EventRecord]:
        """See :meth:`Transaction.events`."""
        return self.transaction(lambda tx: tx.events(after_id=after_id, limit=limit))

    def lookup_request(self, client_id: str, request_id: str) -> Any:
        """See :meth:`Transaction.lookup_request`."""
        return self.transaction(lambda tx: tx.lookup_request(client_id, request_id))

    def purge_requests(self, older_than_seconds: float) -> int:
        """See :meth:`Transaction.purge_requests`."""
        return self.transaction(lambda tx: tx.purge_requests(older_than_seconds))
