"""The Docker Swarm backend: one Swarm service per Zoe service, pinned by Zoe.

:class:`DockerSwarmBackend` talks to a manager of a Swarm (``address``). The
nodes are the Swarm's nodes (their hostnames, the CPUs and memory they report,
their node labels); a node that is not ``ready`` and ``active`` is unavailable.
Zoe keeps the placement: each service is created with the constraint
``node.hostname==<node>``, reservations equal to what Zoe accounted (the ZApp's
minimum cores and memory) and limits as in the engine backend (the maximums, else
the minimums), so Swarm's own admission never disagrees with Zoe's. Restart
policy ``none``: a task that ends is reported, never restarted by Swarm.
Removing a service kills its task after ``stop_grace_duration`` seconds (0 by
default: at once, as the engine backend removes a container).

A Swarm service starts as soon as it exists, so :meth:`~DockerSwarmBackend.create`
only prepares it and :meth:`~DockerSwarmBackend.start` creates it (on a worker
thread). Each execution has an attachable overlay network
``zoe-<deployment>-<id>`` where its services answer to the same names as in the
engine backend, across nodes. Services use DNS round robin (``dnsrr``): a name
resolves to the task's own address, with no virtual IP, so neither Swarm's IPVS
load balancer nor its routing mesh is needed (one task per service gains
nothing from them).

Ports are published in Swarm's ``host`` mode, on the node that runs the task,
at a port the node's daemon picks: the equivalent of the engine backend's
publishing on its host. :meth:`~DockerSwarmBackend.endpoints` reports each as
``<node address>:<port>``, the address being the one the node advertises to the
Swarm. Volumes are mounts with the rule of Docker's binds: an absolute source is
a bind mount of that path on the node (which must exist there: Swarm, unlike
``docker run``, never creates it, and rejects the task), any other source a
named volume.

Monitoring: a thread lists the deployment's services and their tasks every
``poll_duration`` seconds (Swarm has no per-task event stream across nodes); the
master's thread turns each listing into events and reconciles it with what the
backend holds (:meth:`~DockerSwarmBackend.poll_events`). The backend id is
``swarm/<service name>``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shlex
import threading
import time
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
from zoe.live.backends.swarm_tasks import (
    CONSTRAINT,
    ENDED,
    GONE_REASON,
    HOST,
    SwarmTask,
    TaskPoller,
    exit_of,
    list_tasks,
    state_of,
)

if TYPE_CHECKING:
    from zoe.live.backends import BackendSettings

log = logging.getLogger(__name__)

NANO_PER_MILLICORE = 1_000_000
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


@dataclass(slots=True)
class _Known:
    """A service the master knows (created or adopted), and what it last reported.

    ``submitted``: a Swarm service was asked for (so Swarm may hold one).
    """

    labels: Mapping[str, str]
    state: ServiceState
    spec: dict[str, Any] | None = None
    submitted: bool = False
    node_id: str = ""
    ports: tuple[tuple[str, int], ...] = ()


class DockerSwarmBackend:
    """Swarm services pinned to the nodes Zoe chooses (see the module docstring).

    Reconciliation, at each listing: a service the backend holds that Swarm no
    longer has is reported EXITED (``Swarm service removed outside Zoe``); an
    ended task, EXITED with its code and reason; a Swarm service with this
    deployment's labels that the backend does not hold is removed. A listing
    judges a service only if no operation on it was in flight when the listing
    began, and orphans are removed only once :meth:`list_services` has been
    called (the master's recovery adopts what it knows first).
    """

    name = "swarm"

    def __init__(
        self,
        *,
        deployment: str,
        address: str,
        timeout: float = 10.0,
        poll_duration: float = 0.5,
        stop_grace_duration: float = 0.0,
    ) -> None:
        self.deployment, self.address, self.timeout = deployment, address, timeout
        self.stop_grace_duration = stop_grace_duration
        self._client = connect(address, timeout)
        self._known: dict[str, _Known] = {}
        self._busy: dict[str, int] = {}
        self._settled: dict[str, float] = {}
        self._adopted = False
        self._pending: list[ServiceEvent] = []
        self._queue: queue.Queue[Any] = queue.Queue()
        self._down: set[str] = set()
        self._addresses: dict[str, str] = {}
        self._nodes = self._read_nodes()
        host = DockerHost(HOST, address, Resources(1, 1))
        self._operations = Operations(
            {HOST: host}, self._queue, timeout=timeout, api_version="auto"
        )
        self._poller = TaskPoller(address, deployment, self._queue, poll_duration)
        self._poller.start()

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> DockerSwarmBackend:
        """Build one from the ``[backend_options]`` options ``address``,
        ``timeout``, ``poll_duration`` and ``stop_grace_duration``."""
        options = settings.options
        return cls(
            deployment=settings.deployment,
            address=str(options.get("address", default_address())),
            timeout=float(options.get("timeout", 10.0)),
            poll_duration=float(options.get("poll_duration", 0.5)),
            stop_grace_duration=float(options.get("stop_grace_duration", 0.0)),
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
        """Prepare the Swarm service; :meth:`start` creates it.

        An unknown template fails the service at once (an EXITED event).
        """
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
        known.submitted = True
        network = spec.pop("_network")
        labels = {
            LABEL_DEPLOYMENT: self.deployment,
            LABEL_EXECUTION: known.labels.get(LABEL_EXECUTION, ""),
        }
        self._submit(backend_id, lambda c: _create_service(c, network, labels, spec))

    def remove(self, backend_id: str) -> None:
        """Remove the Swarm service, and the network once its execution has none."""
        known = self._known.pop(backend_id, None)
        if known is not None and not known.submitted:
            return
        name = _name(backend_id)
        execution = known.labels.get(LABEL_EXECUTION, "") if known else ""
        deployment = self.deployment

        def job(client: Any) -> None:
            with _NETWORK_LOCK:
                with contextlib.suppress(docker.errors.NotFound):
                    client.remove_service(name)
                extra = [f"{LABEL_EXECUTION}={execution}"]
                if execution.isdigit() and not client.services(
                    filters=label_filters(deployment, extra)
                ):
                    with contextlib.suppress(docker.errors.APIError):
                        client.remove_network(network_name(deployment, int(execution)))

        self._submit(backend_id, job)

    def list_services(self) -> list[BackendService]:
        """The deployment's Swarm services and the state of their latest task.

        From now on, services the backend does not hold are orphans (see the
        class docstring). Raises :class:`BackendError` if the manager is silent.
        """
        try:
            tasks = list_tasks(self._client, self.deployment)
        except UNREACHABLE as exc:
            raise BackendError(
                f"swarm: the manager at {self.address} does not answer: {exc}"
            ) from None
        self._adopted = True
        found = []
        for name, task in tasks.items():
            state = state_of(task.state)
            code, reason = (
                exit_of(task) if state is ServiceState.EXITED else (None,) * 2
            )
            backend_id = f"{HOST}/{name}"
            found.append(
                BackendService(
                    backend_id, name, task.node, state, task.labels, code, reason
                )
            )
            adopted = _Known(dict(task.labels), state, submitted=True)
            self._known.setdefault(backend_id, adopted)
        return found

    def poll_events(self, timeout: float) -> list[ServiceEvent]:
        """Task changes and reconciliation since the last call."""
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

    # -- output and endpoints ------------------------------------------------------

    def logs(
        self,
        backend_id: str,
        tail: int | None = None,
        since: float | None = None,
        timestamps: bool = False,
    ) -> str:
        """The service's output (stdout and stderr) through Swarm's service logs.

        ``tail``: its last lines only; ``since``: lines written at or after that
        UNIX time; ``timestamps``: each line prefixed with its RFC 3339 time and
        a space, as ``docker logs -t``. A service that was never created (it
        failed before) has no output. Raises :class:`BackendError` if the
        service or the manager is gone.
        """
        known = self._known.get(backend_id)
        if known is not None and not known.submitted:
            return ""
        options: dict[str, Any] = {
            "tail": "all" if tail is None else tail,
            "timestamps": timestamps,
        }
        if since is not None and since > 0:
            options["since"] = f"{since:.9f}"
        try:
            chunks = self._client.service_logs(
                _name(backend_id), stdout=True, stderr=True, is_tty=False, **options
            )
            raw = b"".join(chunks)
        except (docker.errors.APIError, *UNREACHABLE) as exc:
            raise BackendError(f"swarm: no logs of {backend_id}: {exc}") from None
        return raw.decode("utf-8", errors="replace")

    def endpoints(self, backend_id: str) -> dict[str, str]:
        """Where the published ports of a running service answer.

        ``{"8080/tcp": "10.0.0.5:30712"}``: the address the task's node
        advertises to the Swarm and the port its daemon picked, as of the last
        listing; empty until the service runs, and once it ended.
        """
        known = self._known.get(backend_id)
        if known is None or known.state is not ServiceState.RUNNING:
            return {}
        if known.ports and known.node_id not in self._addresses:
            with contextlib.suppress(*UNREACHABLE):
                self._nodes = self._read_nodes()
        address = self._addresses.get(known.node_id, "")
        return {key: f"{address}:{port}" for key, port in known.ports}

    # -- monitoring ------------------------------------------------------------------

    def _handle(self, kind: str, host: str, payload: Any) -> None:
        if kind == "done":
            self._settle(payload)
        elif kind == "failed":
            backend_id, reason = payload
            self._settle(backend_id)
            known = self._known.get(backend_id)
            if known is not None:
                log.warning("swarm: %s cannot run: %s", backend_id, reason)
                self._emit(backend_id, known, ServiceEventKind.EXITED, None, reason)
            else:
                log.warning("swarm: removing %s failed: %s", backend_id, reason)
        elif kind == "tasks":
            self._reconcile(*payload)

    def _reconcile(self, listed_time: float, tasks: Mapping[str, SwarmTask]) -> None:
        """Apply one listing: events, services gone, orphans (class docstring)."""
        for name, task in tasks.items():
            backend_id = f"{HOST}/{name}"
            known = self._known.get(backend_id)
            if known is not None:
                known.node_id, known.ports = task.node_id, task.ports
                self._apply(backend_id, known, task)
            elif self._adopted and self._trusts(backend_id, listed_time):
                log.info("swarm: service %s, unknown to the master, removed", name)
                # held for a moment, so the removal drops its network with it
                held = _Known(dict(task.labels), ServiceState.EXITED, submitted=True)
                self._known[backend_id] = held
                self.remove(backend_id)

        for backend_id, known in self._known.items():
            if (
                known.submitted
                and known.state is not ServiceState.EXITED
                and _name(backend_id) not in tasks
                and self._trusts(backend_id, listed_time)
            ):
                log.warning("swarm: service %s is gone", backend_id)
                kind = ServiceEventKind.EXITED
                self._emit(backend_id, known, kind, None, GONE_REASON)

        # later listings began after these operations ended: no need to remember
        self._settled = {k: t for k, t in self._settled.items() if t >= listed_time}

    def _apply(self, backend_id: str, known: _Known, task: SwarmTask) -> None:
        if task.state == "running":
            self._emit(backend_id, known, ServiceEventKind.RUNNING)
        elif task.state in ENDED:
            code, reason = exit_of(task)
            self._emit(backend_id, known, ServiceEventKind.EXITED, code, reason)

    def _submit(self, backend_id: str, job: Any) -> None:
        self._busy[backend_id] = self._busy.get(backend_id, 0) + 1
        self._operations.submit(HOST, backend_id, job)

    def _settle(self, backend_id: str) -> None:
        left = self._busy.get(backend_id, 1) - 1
        if left > 0:
            self._busy[backend_id] = left
        else:
            self._busy.pop(backend_id, None)
        self._settled[backend_id] = time.monotonic()

    def _trusts(self, backend_id: str, listed_time: float) -> bool:
        """Whether a listing begun at ``listed_time`` shows ``backend_id`` as it is."""
        if self._busy.get(backend_id):
            return False
        return listed_time > self._settled.get(backend_id, float("-inf"))

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

    # -- services and nodes ----------------------------------------------------------

    def _spec(self, launch: ServiceLaunch) -> dict[str, Any]:
        """The keyword arguments of ``create_service`` (:class:`TemplateError`)."""
        command = rendered_command(launch)
        args = shlex.split(command) if isinstance(command, str) else command
        network = network_name(self.deployment, launch.execution.execution_id)
        container = docker.types.ContainerSpec(
            launch.image,
            args=args,
            env=rendered_environment(launch),
            labels=dict(launch.labels),
            hostname=aliases(launch)[0],
            mounts=mounts(launch),
            stop_grace_period=round(self.stop_grace_duration * 1e9),
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
                constraints=[f"{CONSTRAINT}{launch.node}"]
            ),
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

    def _read_nodes(self) -> list[Node]:
        """The nodes; also notes which are down and each node's address."""
        nodes, down, addresses = [], set(), {}
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
            addresses[str(entry["ID"])] = _address_of(entry, name)
        names = [n.name for n in nodes]
        if len(set(names)) < len(names):
            log.warning(
                "swarm: several nodes share a hostname (%s); give each node its "
                "own hostname, or services may land on the wrong one",
                ", ".join(sorted({n for n in names if names.count(n) > 1})),
            )
        self._down, self._addresses = down, addresses
        return nodes


def _create_service(
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


def _address_of(entry: Mapping[str, Any], hostname: str) -> str:
    """The address a node advertises: its status', else its manager's, else its
    hostname (a manager may show ``0.0.0.0`` in its status)."""
    address = str((entry.get("Status") or {}).get("Addr") or "")
    if address in ("", "0.0.0.0"):
        manager = str((entry.get("ManagerStatus") or {}).get("Addr") or "")
        address = manager.rpartition(":")[0]
    return address if address not in ("", "0.0.0.0") else hostname


def _name(backend_id: str) -> str:
    return backend_id.partition("/")[2]
