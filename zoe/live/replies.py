"""The result objects of the master's read operations (docs/protocol.md).

Pure functions from records and the scheduler's mirror to JSON-able dicts, plus
the one query the repository lacks: a page of executions, newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from zoe.core.execution import ExecutionStatus, ServiceStatus
from zoe.core.resources import format_cores
from zoe.core.zapp import parse_zapp
from zoe.live.db.records import EXECUTION_COLUMNS, EXECUTION_FROM, execution_from_row
from zoe.live.db.transaction import newest_first_page

if TYPE_CHECKING:
    from zoe.core.zapp import Port
    from zoe.live.db import ExecutionRecord, NodeRecord, ServiceRecord, Transaction
    from zoe.live.scheduler import Scheduler

IP_PORT = "{ip_port}"
"""The template of a port's ``url`` that stands for its ``host:port``."""


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, or ``None``."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


def execution_summary(record: ExecutionRecord) -> dict[str, Any]:
    """The record of ``list``: ``get`` without ``zapp`` and ``services``."""
    return {
        "id": record.id,
        "name": record.name,
        "user": record.user_name,
        "status": record.status.value,
        "kind": record.zapp.get("kind", "batch"),
        "size": record.size_hint,
        "submit_time": iso(record.submit_time),
        "start_time": iso(record.start_time),
        "end_time": iso(record.end_time),
        "reason": record.reason,
    }


def execution_detail(
    record: ExecutionRecord, services: list[ServiceRecord]
) -> dict[str, Any]:
    """The record of ``get``, with the ZApp and the services.

    The stored ZApp is parsed only for the services it describes: an execution
    ended because its ZApp is no longer valid (it has no services) is still shown.
    """
    groups = list(parse_zapp(record.zapp).groups()) if services else []
    result = execution_summary(record)
    result["zapp"] = record.zapp
    result["services"] = []
    for service in services:
        framework, group = groups[service.group_index]
        result["services"].append(
            {
                "id": service.id,
                "name": service.name,
                "framework": framework.name,
                "group": group.name,
                "index": service.instance_index % group.total_count,
                "essential": service.essential,
                "status": service.status.value,
                "node": service.node,
                "container_id": service.backend_id,
                "ip": None,
                "ports": port_entries(group.ports, service),
                "cores": format_cores(group.resources.cores.min),
                "memory": group.resources.memory.min,
                "exit_code": service.exit_code,
                "reason": service.reason,
                "cpu_usage": service.cpu_usage,
                "memory_usage": service.memory_usage,
                "usage_time": iso(service.usage_time),
            }
        )
    return result


def port_entries(ports: Sequence[Port], service: ServiceRecord) -> list[dict[str, Any]]:
    """Each port of a service: its name, ``address`` and ``url``.

    ``address`` is the ``host:port`` where the published port answers, from
    the endpoints the master recorded, while the service runs (``None`` before
    they are known and once it ended: its address no longer answers). ``url``
    is the port's template filled in with it (:func:`port_url`).
    """
    known = service.endpoints if service.status is ServiceStatus.RUNNING else None
    entries = []
    for port in ports:
        address = (known or {}).get(f"{port.port}/{port.protocol}")
        entries.append(
            {"name": port.name, "address": address, "url": port_url(port.url, address)}
        )
    return entries


def port_url(template: str | None, address: str | None) -> str | None:
    """The URL of a port: ``template`` with ``{ip_port}`` replaced by ``address``.

    ``None`` without a template or before the address is known. A template
    without ``{ip_port}`` is returned as it is once the address is known.
    """
    if template is None or address is None:
        return None
    return template.replace(IP_PORT, address)


def list_page(
    tx: Transaction,
    *,
    user: str | None,
    statuses: tuple[ExecutionStatus, ...] | None,
    before_id: int | None,
    limit: int,
) -> tuple[list[ExecutionRecord], int | None]:
    """One page of executions, newest first, and the id to continue before."""
    table = (EXECUTION_COLUMNS, EXECUTION_FROM, "e")
    return newest_first_page(
        tx,
        table,
        execution_from_row,
        user=user,
        statuses=statuses,
        before_id=before_id,
        limit=limit,
    )


def cluster_result(scheduler: Scheduler, records: list[NodeRecord]) -> dict[str, Any]:
    """The result of ``cluster``: nodes in cluster order with what is free."""
    available = {r.node.name: r.available for r in records}
    views = scheduler.snapshot_all_nodes().nodes
    return {
        "nodes": [
            {
                "name": view.name,
                "available": available.get(view.name, True),
                "labels": sorted(view.node.labels),
                "capacity": {
                    "cores": format_cores(view.node.capacity.millicores),
                    "memory": view.node.capacity.memory,
                },
                "free": {
                    "cores": format_cores(view.free_millicores),
                    "memory": view.free_memory,
                },
                "services": view.service_count,
            }
            for view in views
        ]
    }


def scheduler_result(scheduler: Scheduler, placement: str) -> dict[str, Any]:
    """The result of ``scheduler``: policy, queue in policy order, last round."""
    snapshot = scheduler.snapshot()
    queued = [v for v in snapshot.executions if not v.essential_running]
    policy: Any = scheduler.policy
    ordering = getattr(policy, "ordering", None)
    if ordering is not None:
        queued = ordering.sort(queued, snapshot.time, policy.estimates)
    else:
        queued.sort(key=lambda v: (v.submit_time, v.seq))
    last = scheduler.last_round_time
    return {
        "policy": policy.name,
        "placement": placement,
        "queue_length": len(queued),
        "queue": [v.seq for v in queued],
        "running": sum(1 for v in snapshot.executions if v.essential_running),
        "rounds": scheduler.rounds,
        "last_round_time": None
        if last is None
        else iso(datetime.fromtimestamp(last, UTC)),
        "last_round_duration": scheduler.last_round_duration,
    }
