"""The Swarm backend's calls to a manager: reading the Swarm, making services.

Reading: :func:`list_tasks` makes one listing (a call for the services with the
deployment's label, one for their tasks) and :func:`nodes_of` reads the node
listing; :class:`TaskPoller` makes both every few seconds on its own thread and
puts them on the backend's queue, for the master's thread to apply.
:func:`exit_of` words the end of a task as the engine backend words the end of a
container. :func:`read_output` reads a service's output within a timeout.

Making: :func:`service_spec` turns a launch into a Swarm service spec;
:func:`create_service` and :func:`remove_service` (run on the backend's
workers) also make and drop the execution's overlay network.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import shlex
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import docker.errors
import docker.types
import requests.exceptions

from zoe.core.cluster import Node
from zoe.core.resources import Resources
from zoe.live.backends import LABEL_EXECUTION, ServiceLaunch, ServiceState
from zoe.live.backends.docker_common import (
    UNREACHABLE,
    connect,
    exit_reason,
    label_filters,
)
from zoe.live.backends.docker_launch import (
    aliases,
    memory_limit,
    nano_cpus,
    network_name,
    rendered_command,
    rendered_environment,
)

log = logging.getLogger(__name__)

HOST = "swarm"
GONE_REASON = "Swarm service removed outside Zoe"
ENDED = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}
_NON_ZERO = re.compile(r"^task: non-zero exit \(-?[0-9]+\)$")
CONSTRAINT = "node.hostname=="
NANO_PER_MILLICORE = 1_000_000
_FRAME_HEADER = 8
_SYSTEM_ERROR = 3  # the stream of a log frame that carries the daemon's error


@dataclass(frozen=True, slots=True)
class SwarmTask:
    """The latest task of one Swarm service of the deployment, as listed.

    ``state`` is Swarm's task state (``new`` while the service has no task yet);
    ``node`` the hostname of the service's constraint; ``ports`` the
    (``8080/tcp``, published port) pairs of a running task on ``node_id``;
    ``container_id`` the id of the task's container on that node, once made.
    """

    labels: Mapping[str, str]
    node: str
    state: str
    exit_code: int | None = None
    error: str | None = None
    node_id: str = ""
    ports: tuple[tuple[str, int], ...] = ()
    container_id: str = ""


@dataclass(frozen=True, slots=True)
class SwarmNodes:
    """The Swarm's nodes as one listing shows them.

    ``nodes`` by hostname in the manager's order; ``down`` maps the hostname of
    each node that is not ready and active to why (``status down, availability
    active``); ``silent`` holds those whose status is not ready (their daemons
    cannot be reached: their output cannot be read); ``addresses`` maps node ids
    to the address each advertises.
    """

    nodes: tuple[Node, ...] = ()
    down: Mapping[str, str] = field(default_factory=dict)
    silent: frozenset[str] = frozenset()
    addresses: Mapping[str, str] = field(default_factory=dict)

    def shared_hostnames(self) -> list[str]:
        """Hostnames that more than one node has (sorted)."""
        names = [n.name for n in self.nodes]
        return sorted({n for n in names if names.count(n) > 1})


def nodes_of(entries: list[Mapping[str, Any]]) -> SwarmNodes:
    """Read a node listing (the manager's ``GET /nodes``)."""
    nodes, down, silent, addresses = [], {}, set(), {}
    for entry in entries:
        description = entry.get("Description") or {}
        name = str(description.get("Hostname", entry["ID"]))
        resources = description.get("Resources") or {}
        millicores = int(resources.get("NanoCPUs", 0)) // NANO_PER_MILLICORE
        memory = int(resources.get("MemoryBytes", 0))
        spec = entry.get("Spec") or {}
        nodes.append(
            Node(
                name, Resources(millicores, memory), frozenset(spec.get("Labels") or {})
            )
        )
        state = str((entry.get("Status") or {}).get("State", "unknown"))
        availability = str(spec.get("Availability", "unknown"))
        if (state, availability) != ("ready", "active"):
            down[name] = f"status {state}, availability {availability}"
        if state != "ready":
            silent.add(name)
        addresses[str(entry["ID"])] = _address_of(entry, name)
    return SwarmNodes(tuple(nodes), down, frozenset(silent), addresses)


def _address_of(entry: Mapping[str, Any], hostname: str) -> str:
    """The address a node advertises: its status', else its manager's, else its
    hostname (a manager may show ``0.0.0.0`` in its status)."""
    address = str((entry.get("Status") or {}).get("Addr") or "")
    if address in ("", "0.0.0.0"):
        manager = str((entry.get("ManagerStatus") or {}).get("Addr") or "")
        address = manager.rpartition(":")[0]
    return address if address not in ("", "0.0.0.0") else hostname


class TaskPoller(threading.Thread):
    """Every ``every`` seconds puts ``("nodes", HOST, SwarmNodes)`` on the queue,
    then ``("tasks", HOST, (listed_time, tasks))``, ``listed_time`` being the
    monotonic time the task listing began.

    The published ports of a task running on ``own_node`` (the node of the
    daemon at ``address``) are those its container is bound to for IPv4
    (:func:`bound_ports`), read once per container.
    """

    def __init__(
        self,
        address: str,
        deployment: str,
        out: queue.Queue[Any],
        every: float,
        own_node: str = "",
    ) -> None:
        super().__init__(name="zoe-swarm-tasks", daemon=True)
        self.address, self.deployment = address, deployment
        self.out, self.every, self.own_node = out, every, own_node
        self.stopping = threading.Event()
        self._bound: dict[str, tuple[tuple[str, int], ...]] = {}

    def run(self) -> None:
        client = None
        while not self.stopping.wait(self.every):
            try:
                client = client or connect(self.address, 10.0)
                self.out.put(("nodes", HOST, nodes_of(client.nodes())))
                listed_time = time.monotonic()
                tasks = list_tasks(client, self.deployment)
                tasks = {name: self._local(client, t) for name, t in tasks.items()}
                listed = {t.container_id for t in tasks.values()}
                self._bound = {k: v for k, v in self._bound.items() if k in listed}
                self.out.put(("tasks", HOST, (listed_time, tasks)))
            except UNREACHABLE as exc:
                log.warning("swarm: listing tasks failed: %s", exc)
                if client is not None:
                    client.close()
                client = None
            except Exception as exc:  # the thread must outlive any one failure
                log.error(
                    "swarm: listing nodes and tasks failed, retrying: %r",
                    exc,
                    exc_info=True,
                )
                if client is not None:
                    client.close()
                client = None
        if client is not None:
            client.close()

    def _local(self, client: Any, task: SwarmTask) -> SwarmTask:
        """``task`` with the IPv4 ports of its container if it runs on this node."""
        container = task.container_id
        if not (task.ports and container and task.node_id == self.own_node):
            return task
        if task.state != "running":
            return task
        ports = self._bound.get(container)
        if ports is None:
            try:
                ports = self._bound[container] = bound_ports(client, container)
            except docker.errors.NotFound:
                return task
        return replace(task, ports=ports or task.ports)


def bound_ports(client: Any, container: str) -> tuple[tuple[str, int], ...]:
    """The IPv4 host port of each published port of a container of this daemon.

    A daemon may bind a port published in Swarm's ``host`` mode at one port for
    IPv4 and another for IPv6, and report only one of them in the task's status
    (seen with Docker 20.10 once its IPv4 and IPv6 port allocators drifted
    apart); the container's own bindings tell which port answers on IPv4.
    """
    settings = client.inspect_container(container).get("NetworkSettings") or {}
    found = []
    for key, bindings in (settings.get("Ports") or {}).items():
        ipv4 = [
            int(b["HostPort"])
            for b in bindings or []
            if b.get("HostPort") and ":" not in str(b.get("HostIp", ""))
        ]
        if ipv4:
            found.append((str(key), ipv4[0]))
    return tuple(found)


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
            str((status.get("ContainerStatus") or {}).get("ContainerID") or ""),
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


def read_output(
    client: Any,
    name: str,
    *,
    timeout: float,
    tail: int | str = "all",
    since: float | None = None,
    timestamps: bool = False,
) -> str:
    """The output (stdout and stderr) of Swarm service ``name``, read in one reply.

    docker-py's ``service_logs`` streams without a timeout, and a manager asked
    for the output of a task whose node is stopped may never answer; here every
    read waits ``timeout`` seconds at most. Raises ``docker.errors.NotFound``
    for an unknown service, another of ``UNREACHABLE`` when the manager does not
    answer or says it could not read the output (a node not available).
    """
    params: dict[str, Any] = {"stdout": 1, "stderr": 1, "tail": tail}
    params["timestamps"] = 1 if timestamps else 0
    if since is not None and since > 0:
        params["since"] = f"{since:.9f}"
    path = urllib.parse.quote(name, safe="")
    url = f"{client.base_url}/v{client.api_version}/services/{path}/logs"
    response = client.get(url, params=params, timeout=timeout)
    try:
        response.raise_for_status()
    except requests.exceptions.HTTPError as exc:
        # raises docker.errors.NotFound (404) or APIError, with the daemon's words
        docker.errors.create_api_error_from_http_exception(exc)
    return _demultiplexed(response.content)


def _demultiplexed(body: bytes) -> str:
    """The text of Docker's multiplexed log frames (8-byte header, then data);
    a frame of the error stream raises ``docker.errors.DockerException``."""
    chunks: list[bytes] = []
    errors: list[bytes] = []
    at = 0
    while at + _FRAME_HEADER <= len(body):
        stream = body[at]
        size = int.from_bytes(body[at + 4 : at + _FRAME_HEADER], "big")
        data = body[at + _FRAME_HEADER : at + _FRAME_HEADER + size]
        (errors if stream == _SYSTEM_ERROR else chunks).append(data)
        at += _FRAME_HEADER + size
    if errors:
        why = b"".join(errors).decode("utf-8", errors="replace").strip()
        raise docker.errors.DockerException(why)
    return b"".join(chunks).decode("utf-8", errors="replace")


# -- services ---------------------------------------------------------------------

# a service and its execution's network are made and dropped under this lock, so
# that two workers never make the network twice nor drop it under a new service
_NETWORK_LOCK = threading.Lock()


def mounts(launch: ServiceLaunch) -> list[docker.types.Mount]:
    """The launch's volumes as Swarm mounts, by the rule of Docker's binds.

    An absolute source is a bind mount of that path on the node, any other
    source a named volume (Docker refuses an invalid volume name when the
    service is created, which fails that service with its reason).
    """
    return [
        docker.types.Mount(
            target,
            source,
            type="bind" if source.startswith("/") else "volume",
            read_only=read_only,
        )
        for source, target, read_only in launch.volumes
    ]


def endpoint_spec(launch: ServiceLaunch) -> dict[str, Any]:
    """DNS round robin, and each port published in ``host`` mode at a free port."""
    ports = [
        {"Protocol": protocol, "TargetPort": port, "PublishMode": "host"}
        for port, protocol in launch.ports
    ]
    return {"Mode": "dnsrr", "Ports": ports}


def service_spec(
    launch: ServiceLaunch,
    deployment: str,
    stop_grace_duration: float,
    node_cpus: int | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``create_service`` for ``launch``, and under
    ``_network`` its execution's network (:class:`TemplateError`).

    Pinned to the launch's node; reservations equal to what Zoe accounted,
    limits as in the engine backend, the CPU limit at most ``node_cpus`` (the
    node's CPUs: a task asking more is rejected); restart policy ``none``.
    """
    command = rendered_command(launch)
    args = shlex.split(command) if isinstance(command, str) else command
    network = network_name(deployment, launch.execution.execution_id)
    container = docker.types.ContainerSpec(
        launch.image,
        args=args,
        env=rendered_environment(launch),
        labels=dict(launch.labels),
        hostname=aliases(launch)[0],
        mounts=mounts(launch),
        stop_grace_period=round(stop_grace_duration * 1e9),
    )
    cpu_limit = nano_cpus(launch, node_cpus)
    if cpu_limit < nano_cpus(launch):
        log.debug(
            "swarm: %s: CPU limit capped at the %d CPUs of node %s",
            launch.name,
            node_cpus,
            launch.node,
        )
    resources = docker.types.Resources(
        cpu_limit=cpu_limit,
        mem_limit=memory_limit(launch),
        cpu_reservation=launch.millicores * NANO_PER_MILLICORE,
        mem_reservation=launch.memory,
    )
    template = docker.types.TaskTemplate(
        container,
        resources=resources,
        restart_policy=docker.types.RestartPolicy(condition="none"),
        placement=docker.types.Placement(constraints=[f"{CONSTRAINT}{launch.node}"]),
        networks=[
            docker.types.NetworkAttachmentConfig(network, aliases=aliases(launch))
        ],
    )
    return {
        "task_template": template,
        "name": launch.name,
        "labels": dict(launch.labels),
        "endpoint_spec": endpoint_spec(launch),
        "_network": network,
    }


def create_service(
    client: Any, network: str, labels: Mapping[str, str], spec: Mapping[str, Any]
) -> None:
    """Make the execution's overlay network unless it exists, then the service."""
    with _NETWORK_LOCK:
        if not any(n["Name"] == network for n in client.networks(names=[network])):
            client.create_network(
                network,
                driver="overlay",
                attachable=True,
                labels=dict(labels),
                check_duplicate=True,
            )
        client.create_service(**spec)


def remove_service(client: Any, name: str, deployment: str, execution: str) -> None:
    """Remove service ``name``, and its execution's network once the execution
    has no service left (``execution``: the id in its labels, or "")."""
    with _NETWORK_LOCK:
        with contextlib.suppress(docker.errors.NotFound):
            client.remove_service(name)
        extra = [f"{LABEL_EXECUTION}={execution}"]
        if execution.isdigit() and not client.services(
            filters=label_filters(deployment, extra)
        ):
            with contextlib.suppress(docker.errors.APIError):
                client.remove_network(network_name(deployment, int(execution)))
