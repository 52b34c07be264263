"""Reading a Swarm: the deployment's services, their latest tasks, why they ended.

:func:`list_tasks` makes one listing (a call for the services with the
deployment's label, one for their tasks); :class:`TaskPoller` makes one every few
seconds on its own thread and puts it on the backend's queue, for the master's
thread to apply. :func:`exit_of` words the end of a task as the engine backend
words the end of a container.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zoe.live.backends import ServiceState
from zoe.live.backends.docker_common import (
    UNREACHABLE,
    connect,
    exit_reason,
    label_filters,
)

log = logging.getLogger(__name__)

HOST = "swarm"
GONE_REASON = "Swarm service removed outside Zoe"
ENDED = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}
_NON_ZERO = re.compile(r"^task: non-zero exit \(-?[0-9]+\)$")
CONSTRAINT = "node.hostname=="


@dataclass(frozen=True, slots=True)
class SwarmTask:
    """The latest task of one Swarm service of the deployment, as listed.

    ``state`` is Swarm's task state (``new`` while the service has no task yet);
    ``node`` the hostname of the service's constraint; ``ports`` the
    (``8080/tcp``, published port) pairs of a running task on ``node_id``.
    """

    labels: Mapping[str, str]
    node: str
    state: str
    exit_code: int | None = None
    error: str | None = None
    node_id: str = ""
    ports: tuple[tuple[str, int], ...] = ()


class TaskPoller(threading.Thread):
    """Puts ``("tasks", HOST, (listed_time, tasks))`` on the queue every ``every``
    seconds, ``listed_time`` being the monotonic time the listing began."""

    def __init__(
        self, address: str, deployment: str, out: queue.Queue[Any], every: float
    ) -> None:
        super().__init__(name="zoe-swarm-tasks", daemon=True)
        self.address, self.deployment = address, deployment
        self.out, self.every = out, every
        self.stopping = threading.Event()

    def run(self) -> None:
        client = None
        while not self.stopping.wait(self.every):
            try:
                client = client or connect(self.address, 10.0)
                listed_time = time.monotonic()
                tasks = list_tasks(client, self.deployment)
                self.out.put(("tasks", HOST, (listed_time, tasks)))
            except UNREACHABLE as exc:
                log.warning("swarm: listing tasks failed: %s", exc)
                if client is not None:
                    client.close()
                client = None
        if client is not None:
            client.close()


def list_tasks(client: Any, deployment: str) -> dict[str, SwarmTask]:
    """Service name -> its latest task, for every service of ``deployment``."""
    services = client.services(filters=label_filters(deployment))
    if not services:
        return {}
    names = {s["ID"]: s["Spec"]["Name"] for s in services}
    found = {
        s["Spec"]["Name"]: SwarmTask(s["Spec"].get("Labels") or {}, _node_of(s), "new")
        for s in services
    }
    latest: dict[str, str] = {}
    for task in client.tasks(filters={"service": list(names)}):
        name = names.get(task.get("ServiceID", ""))
        created = str(task.get("CreatedAt", ""))
        if name is None or created < latest.get(name, ""):
            continue
        latest[name] = created
        status = task.get("Status") or {}
        ports = ((status.get("PortStatus") or {}).get("Ports")) or []
        found[name] = SwarmTask(
            found[name].labels,
            found[name].node,
            str(status.get("State", "")),
            (status.get("ContainerStatus") or {}).get("ExitCode"),
            status.get("Err") or None,
            str(task.get("NodeID", "")),
            tuple(
                (f"{p['TargetPort']}/{p.get('Protocol', 'tcp')}", p["PublishedPort"])
                for p in ports
                if p.get("PublishedPort")
            ),
        )
    return found


def _node_of(service: Mapping[str, Any]) -> str:
    placement = service["Spec"].get("TaskTemplate", {}).get("Placement") or {}
    for constraint in placement.get("Constraints") or []:
        if constraint.startswith(CONSTRAINT):
            return str(constraint.removeprefix(CONSTRAINT))
    return ""


def exit_of(task: SwarmTask) -> tuple[int | None, str | None]:
    """The exit code and reason of an ended task, as the engine backend words them.

    A task that ran and exited gives its code (and ``killed by signal N`` above
    128); one that never ran (rejected: image missing, bind source missing...),
    was shut down or orphaned by Swarm gives no code and Swarm's reason.
    """
    code = task.exit_code
    if task.state == "complete":
        return code or 0, None
    if task.state == "failed" and code is not None:
        if task.error is None or _NON_ZERO.match(task.error):
            return code, exit_reason(code, False)
        return code, task.error
    where = f" on node {task.node}" if task.node else ""
    why = {
        "rejected": f"Swarm rejected the task{where}",
        "orphaned": f"the task was orphaned: node {task.node} is gone",
        "shutdown": f"Swarm shut the task down{where}",
        "remove": GONE_REASON,
    }.get(task.state, f"task {task.state}{where}")
    return None, f"{why}: {task.error}" if task.error else why


def state_of(task_state: str) -> ServiceState:
    """The backend's view of a Swarm task state."""
    if task_state == "running":
        return ServiceState.RUNNING
    if task_state in ENDED:
        return ServiceState.EXITED
    return ServiceState.CREATED
