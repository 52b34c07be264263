"""The Docker Swarm backend: one Swarm service per Zoe service, pinned by Zoe.

:class:`DockerSwarmBackend` talks to a manager of a Swarm (``address``). The
nodes are the Swarm's nodes (their hostnames, the CPUs and memory they report,
their node labels); a node that is not ``ready`` and ``active`` is unavailable.
Zoe keeps the placement: each service is created with the constraint
``node.hostname==<node>``, reservations equal to what Zoe accounted (the ZApp's
minimum cores and memory) and limits as in the engine backend (the maximums, else
the minimums), so Swarm's own admission never disagrees with Zoe's. Restart
policy ``none``: a task that ends is reported, never restarted by Swarm.

A Swarm service starts as soon as it exists, so :meth:`~DockerSwarmBackend.create`
only prepares it and :meth:`~DockerSwarmBackend.start` creates it (on a worker
thread). Each execution has an attachable overlay network
``zoe-<deployment>-<id>`` where its services answer to the same names as in the
engine backend, across nodes. Monitoring polls the tasks of the deployment's
services every ``poll_duration`` seconds on a thread (Swarm has no per-task event
stream across nodes). The backend id is ``swarm/<service name>``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shlex
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import docker.types

from zoe.core.cluster import Node
from zoe.core.errors import BackendError
from zoe.core.resources import Resources
from zoe.live.backends import (
    LABEL_DEPLOYMENT,
    LABEL_EXECUTION,
    BackendService,
    ServiceEvent,
    ServiceEventKind,
    ServiceLaunch,
    ServiceState,
)
from zoe.live.backends.docker_common import (
    UNREACHABLE,
    WATCH_DURATION,
    DockerHost,
    Operations,
    TemplateError,
    aliases,
    connect,
    default_address,
    label_filters,
    memory_limit,
    nano_cpus,
    network_name,
    rendered_command,
    rendered_environment,
)

if TYPE_CHECKING:
    from zoe.live.backends import BackendSettings

log = logging.getLogger(__name__)

HOST = "swarm"
NANO_PER_MILLICORE = 1_000_000
_ENDED = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}


@dataclass(slots=True)
class _Known:
    labels: Mapping[str, str]
    state: ServiceState
    spec: dict[str, Any] | None = None


class _TaskPoller(threading.Thread):
    """Lists the deployment's tasks every ``every`` seconds into the queue."""

    def __init__(
        self, address: str, deployment: str, out: queue.Queue[Any], every: float
    ) -> None:
        super().__init__(name="zoe-swarm-tasks", daemon=True)
        self.address, self.deployment, self.out, self.every = (
            address,
            deployment,
            out,
            every,
        )
        self.stopping = threading.Event()

    def run(self) -> None:
        client = None
        while not self.stopping.wait(self.every):
            try:
                client = client or connect(self.address, 10.0)
                self.out.put(("tasks", HOST, list_tasks(client, self.deployment)))
            except UNREACHABLE as exc:
                log.warning("swarm: listing tasks failed: %s", exc)
                if client is not None:
                    client.close()
                client = None
        if client is not None:
            client.close()


def list_tasks(client: Any, deployment: str) -> dict[str, tuple[Any, ...]]:
    """Service name -> (labels, state, exit code, reason) of its latest task."""
    services = client.services(filters=label_filters(deployment))
    names = {s["ID"]: s["Spec"]["Name"] for s in services}
    labels = {s["Spec"]["Name"]: s["Spec"].get("Labels") or {} for s in services}
    found: dict[str, tuple[Any, ...]] = {}
    latest: dict[str, str] = {}
    for task in client.tasks():
        name = names.get(task.get("ServiceID", ""))
        if name is None or task.get("CreatedAt", "") < latest.get(name, ""):
            continue
        latest[name] = task.get("CreatedAt", "")
        status = task.get("Status") or {}
        code = (status.get("ContainerStatus") or {}).get("ExitCode")
        found[name] = (labels[name], status.get("State", ""), code, status.get("Err"))
    for name in labels:
        found.setdefault(name, (labels[name], "new", None, None))
    return found


class DockerSwarmBackend:
    """Swarm services pinned to the nodes Zoe chooses (see the module docstring)."""

    name = "swarm"

    def __init__(
        self,
        *,
        deployment: str,
        address: str,
        timeout: float = 10.0,
        poll_duration: float = 0.5,
    ) -> None:
        self.deployment, self.address, self.timeout = deployment, address, timeout
        self._client = connect(address, timeout)
        self._known: dict[str, _Known] = {}
        self._pending: list[ServiceEvent] = []
        self._queue: queue.Queue[Any] = queue.Queue()
        self._down: set[str] = set()
        self._nodes = self._read_nodes()
        host = DockerHost(HOST, address, Resources(1, 1))
        self._operations = Operations(
            {HOST: host}, self._queue, timeout=timeout, api_version="auto"
        )
        self._poller = _TaskPoller(address, deployment, self._queue, poll_duration)
        self._poller.start()

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> DockerSwarmBackend:
        """Build one from the ``[backend_options]`` options ``address``, ``timeout``."""
        options = settings.options
        return cls(
            deployment=settings.deployment,
            address=str(options.get("address", default_address())),
            timeout=float(options.get("timeout", 10.0)),
            poll_duration=float(options.get("poll_duration", 0.5)),
        )

    # -- the Backend interface ---------------------------------------------------

    def nodes(self) -> list[Node]:
        """The Swarm's nodes by hostname, in the order the manager lists them."""
        return list(self._nodes)

    def unavailable_nodes(self) -> set[str]:
        """Nodes that are not ready and active (read at the master's tick)."""
        try:
            self._nodes = self._read_nodes()
        except UNREACHABLE as exc:
            log.warning("swarm: the manager does not answer: %s", exc)
        return set(self._down)

    def create(self, launch: ServiceLaunch) -> str:
        """Prepare the Swarm service; :meth:`start` creates it."""
        # TODO(#7): ports, volumes, logs and reconciliation are not carried over to
        # Swarm services yet; remove when the Swarm tests cover each of them.
        backend_id = f"{HOST}/{launch.name}"
        try:
            spec = self._spec(launch)
        except TemplateError as exc:
            known = _Known(dict(launch.labels), ServiceState.RUNNING)
            self._known[backend_id] = known
            self._emit(backend_id, known, ServiceEventKind.EXITED, None, str(exc))
            return backend_id
        self._known[backend_id] = _Known(
            dict(launch.labels), ServiceState.CREATED, spec
        )
        return backend_id

    def start(self, backend_id: str) -> None:
        """Create the Swarm service (and its execution's network) on a worker."""
        known = self._known.get(backend_id)
        if known is None:
            raise BackendError(f"swarm backend: no service {backend_id!r}")
        spec, known.spec = known.spec, None
        if spec is None:
            return
        network = spec.pop("_network")
        labels = {
            LABEL_DEPLOYMENT: self.deployment,
            LABEL_EXECUTION: known.labels.get(LABEL_EXECUTION, ""),
        }

        def job(client: Any) -> None:
            if not client.networks(names=[network]):
                with contextlib.suppress(docker.errors.APIError):
                    client.create_network(
                        network, driver="overlay", attachable=True, labels=labels
                    )
            client.create_service(**spec)

        self._operations.submit(HOST, backend_id, job)

    def remove(self, backend_id: str) -> None:
        """Remove the Swarm service, and the network once its execution has none."""
        known = self._known.pop(backend_id, None)
        name = backend_id.partition("/")[2]
        execution = known.labels.get(LABEL_EXECUTION, "") if known else ""
        deployment = self.deployment

        def job(client: Any) -> None:
            with contextlib.suppress(docker.errors.NotFound):
                client.remove_service(name)
            extra = [f"{LABEL_EXECUTION}={execution}"]
            if execution.isdigit() and not client.services(
                filters=label_filters(deployment, extra)
            ):
                with contextlib.suppress(docker.errors.APIError):
                    client.remove_network(network_name(deployment, int(execution)))

        self._operations.submit(HOST, backend_id, job)

    def list_services(self) -> list[BackendService]:
        """The deployment's Swarm services and the state of their latest task."""
        found = []
        for name, (labels, state, code, reason) in list_tasks(
            self._client, self.deployment
        ).items():
            ours = _state_of(state)
            node = self._node_of(name)
            found.append(
                BackendService(f"{HOST}/{name}", name, node, ours, labels, code, reason)
            )
            self._known.setdefault(f"{HOST}/{name}", _Known(dict(labels), ours))
        return found

    def poll_events(self, timeout: float) -> list[ServiceEvent]:
        """Task changes seen by the poller since the last call."""
        try:
            message = self._queue.get(timeout=timeout) if timeout > 0 else None
        except queue.Empty:
            message = None
        while True:
            if message is not None:
                self._handle(*message)
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                break
        events, self._pending = self._pending, []
        return events

    def next_event_delay(self) -> float | None:
        """0 when events wait; a short delay while services live."""
        if self._pending or not self._queue.empty():
            return 0.0
        live = any(k.state is not ServiceState.EXITED for k in self._known.values())
        return WATCH_DURATION if live else None

    def close(self) -> None:
        """Stop the threads; the Swarm services keep running."""
        self._operations.close()
        self._poller.stopping.set()
        self._client.close()

    # -- internals -----------------------------------------------------------------

    def _handle(self, kind: str, host: str, payload: Any) -> None:
        if kind == "failed":
            backend_id, reason = payload
            known = self._known.get(backend_id)
            if known is not None:
                self._emit(backend_id, known, ServiceEventKind.EXITED, None, reason)
        elif kind == "tasks":
            for name, (_, state, code, reason) in payload.items():
                known = self._known.get(f"{HOST}/{name}")
                if known is None:
                    continue
                if state == "running":
                    self._emit(f"{HOST}/{name}", known, ServiceEventKind.RUNNING)
                elif state in _ENDED:
                    why = None if code is not None and not reason else reason
                    kind_ = ServiceEventKind.EXITED
                    self._emit(f"{HOST}/{name}", known, kind_, code, why)

    def _emit(
        self,
        backend_id: str,
        known: _Known,
        kind: ServiceEventKind,
        exit_code: int | None = None,
        reason: str | None = None,
    ) -> None:
        if known.state is ServiceState.EXITED:
            return
        if kind is ServiceEventKind.RUNNING:
            if known.state is ServiceState.RUNNING:
                return
            known.state = ServiceState.RUNNING
        else:
            known.state = ServiceState.EXITED
        self._pending.append(
            ServiceEvent(backend_id, kind, dict(known.labels), exit_code, reason)
        )

    def _spec(self, launch: ServiceLaunch) -> dict[str, Any]:
        command = rendered_command(launch)
        args = shlex.split(command) if isinstance(command, str) else command
        network = network_name(self.deployment, launch.execution.execution_id)
        container = docker.types.ContainerSpec(
            launch.image,
            args=args,
            env=rendered_environment(launch),
            labels=dict(launch.labels),
            hostname=aliases(launch)[0],
        )
        resources = docker.types.Resources(
            cpu_limit=nano_cpus(launch),
            mem_limit=memory_limit(launch),
            cpu_reservation=launch.millicores * NANO_PER_MILLICORE,
            mem_reservation=launch.memory,
        )
        template = docker.types.TaskTemplate(
            container,
            resources=resources,
            restart_policy=docker.types.RestartPolicy(condition="none"),
            placement=docker.types.Placement(
                constraints=[f"node.hostname=={launch.node}"]
            ),
            networks=[
                docker.types.NetworkAttachmentConfig(network, aliases=aliases(launch))
            ],
        )
        return {
            "task_template": template,
            "name": launch.name,
            "labels": dict(launch.labels),
            "_network": network,
        }

    def _read_nodes(self) -> list[Node]:
        nodes, down = [], set()
        for entry in self._client.nodes():
            description = entry.get("Description") or {}
            name = str(description.get("Hostname", entry["ID"]))
            resources = description.get("Resources") or {}
            millicores = int(resources.get("NanoCPUs", 0)) // NANO_PER_MILLICORE
            memory = int(resources.get("MemoryBytes", 0))
            labels = frozenset((entry.get("Spec") or {}).get("Labels") or {})
            nodes.append(Node(name, Resources(millicores, memory), labels))
            ready = (entry.get("Status") or {}).get("State") == "ready"
            active = (entry.get("Spec") or {}).get("Availability") == "active"
            if not (ready and active):
                down.add(name)
        self._down = down
        return nodes

    def _node_of(self, name: str) -> str:
        try:
            constraints = self._client.inspect_service(name)["Spec"]["TaskTemplate"][
                "Placement"
            ]["Constraints"]
        except (KeyError, docker.errors.APIError):
            return ""
        for constraint in constraints:
            if constraint.startswith("node.hostname=="):
                return str(constraint.removeprefix("node.hostname=="))
        return ""


def _state_of(task_state: str) -> ServiceState:
    if task_state == "running":
        return ServiceState.RUNNING
    if task_state in _ENDED:
        return ServiceState.EXITED
    return ServiceState.CREATED
