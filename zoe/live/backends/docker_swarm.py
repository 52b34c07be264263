"""The Docker Swarm backend: one Swarm service per Zoe service, pinned by Zoe.

:class:`DockerSwarmBackend` talks to a manager of a Swarm (``address``). The
nodes are the Swarm's nodes (their hostnames, the CPUs and memory they report,
their node labels); a node that is not ``ready`` and ``active`` is unavailable.
Zoe keeps the placement: each service is created with the constraint
``node.hostname==<node>``, reservations equal to what Zoe accounted (the ZApp's
minimum cores and memory) and limits as in the engine backend (the maximums, else
the minimums, the CPU limit at most the node's CPUs, which Swarm would refuse
to exceed), so Swarm's own admission never disagrees with Zoe's. Restart
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
Swarm (on the manager's own node, the port its container is bound to for IPv4:
see :func:`~zoe.live.backends.swarm_tasks.bound_ports`). Volumes are mounts
with the rule of Docker's binds: an absolute source is a bind mount of that path
on the node (which must exist there: Swarm, unlike ``docker run``, never creates
it, and rejects the task), any other source a named volume.

Monitoring: a thread lists the nodes, the deployment's services and their
tasks every ``poll_duration`` seconds (Swarm has no per-task event stream across
nodes); the master's thread turns each listing into events and reconciles it
with what the backend holds (:meth:`~DockerSwarmBackend.poll_events`). The
backend id is ``swarm/<service name>``.

Nodes that go: when a node leaves ``ready`` and ``active`` (stopped, cut off,
drained, paused), each service pinned to it that had not ended is reported
EXITED at once, with the reason ``node <name> is unavailable in the swarm
(status ..., availability ...)``, rather than when Swarm marks its task orphaned
(a day later by default); the master then removes the service through the
manager as for any exit.

Output: :meth:`~DockerSwarmBackend.remove` keeps the last ``KEPT_LINES`` lines of
a service's output before it removes the service (as the engine backend keeps a
container's), so that :meth:`~DockerSwarmBackend.logs` still returns it; unless
the service's node does not answer, whose output cannot be read. Every read of
output waits ``timeout`` seconds at most.

Usage, every ``usage_duration`` seconds (0: never): the running tasks are
sampled on a pool of ``usage_workers`` threads with one-shot stats calls, as in
the engine backend, by the id of the task's container. Only the manager's
daemon is reached (no address of another node's daemon is configured, and a
manager cannot read another node's container stats), so only services whose
task runs on the manager's own node are sampled; the others have no samples.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import docker.errors

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
    UsageSample,
)
from zoe.live.backends.docker_common import (
    UNREACHABLE,
    WATCH_DURATION,
    DockerHost,
    Operations,
    Options,
    connect,
    default_address,
    drain,
)
from zoe.live.backends.docker_engine import KEPT_LINES
from zoe.live.backends.docker_launch import (
    TemplateError,
)
from zoe.live.backends.docker_monitor import Monitor, Reading, UsageBook
from zoe.live.backends.swarm_tasks import (
    ENDED,
    GONE_REASON,
    HOST,
    SwarmNodes,
    SwarmTask,
    TaskPoller,
    create_service,
    exit_of,
    list_tasks,
    nodes_of,
    read_output,
    remove_service,
    service_spec,
    state_of,
)
from zoe.live.output import KeptOutput, parse_stamped, select

if TYPE_CHECKING:
    from zoe.core.cluster import Node
    from zoe.live.backends import BackendSettings

log = logging.getLogger(__name__)

OPTIONS = (
    "address",
    "timeout",
    "poll_duration",
    "stop_grace_duration",
    "usage_duration",
    "usage_workers",
)
"""The options of ``[backend_options]`` this backend reads."""


@dataclass(slots=True)
class _Known:
    """A service the master knows (created or adopted), and what it last reported.

    ``submitted``: a Swarm service was asked for (so Swarm may hold one);
    ``node``: the hostname it is pinned to; ``node_id``, ``ports`` and
    ``container_id``: those of its task as last listed.
    """

    labels: Mapping[str, str]
    state: ServiceState
    spec: dict[str, Any] | None = None
    submitted: bool = False
    node: str = ""
    node_id: str = ""
    ports: tuple[tuple[str, int], ...] = ()
    container_id: str = ""


class DockerSwarmBackend:
    """Swarm services pinned to the nodes Zoe chooses (see the module docstring).

    Reconciliation, at each listing: a service the backend holds that Swarm no
    longer has is reported EXITED (``Swarm service removed outside Zoe``); an
    ended task, EXITED with its code and reason; a Swarm service with this
    deployment's labels that the backend does not hold is removed. A listing
    judges a service only if no operation on it was in flight when the listing
    began, and orphans are removed only once :meth:`list_services` has been
    called (the master's recovery adopts what it knows first). Nodes that go,
    output and usage: see the module docstring.
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
        usage_duration: float = 30.0,
        usage_workers: int = 4,
    ) -> None:
        self.deployment, self.address, self.timeout = deployment, address, timeout
        self.stop_grace_duration = stop_grace_duration
        self._known: dict[str, _Known] = {}
        self._busy: dict[str, int] = {}
        self._settled: dict[str, float] = {}
        self._adopted = False
        self._pending: list[ServiceEvent] = []
        self._queue: queue.Queue[Any] = queue.Queue()
        self._seen = SwarmNodes()
        self._kept = KeptOutput()
        self._usage = UsageBook(usage_duration)
        try:
            self._client = connect(address, timeout)
            self._on_nodes(nodes_of(self._client.nodes()))
            swarm = self._client.info().get("Swarm") or {}
        except UNREACHABLE as exc:
            raise BackendError(
                f"swarm backend: the manager at {address} does not answer ({exc}); "
                "set [backend_options] address to a manager of the swarm"
            ) from None
        self._own_node = str(swarm.get("NodeID") or "")
        hosts = {HOST: DockerHost(HOST, address, Resources(1, 1))}
        self._operations = Operations(
            hosts, self._queue, timeout=timeout, api_version="auto"
        )
        self._monitor = Monitor(
            hosts,
            deployment,
            self._queue,
            timeout=timeout,
            api_version="auto",
            usage_workers=usage_workers,
        )
        self._poller = TaskPoller(
            address, deployment, self._queue, poll_duration, self._own_node
        )
        self._poller.start()

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> DockerSwarmBackend:
        """Build one from the ``[backend_options]`` options ``address``,
        ``timeout``, ``poll_duration``, ``stop_grace_duration``,
        ``usage_duration`` and ``usage_workers``."""
        read = Options("swarm", settings.options, OPTIONS)
        return cls(
            deployment=settings.deployment,
            address=read.text("address", default_address()),
            timeout=read.seconds("timeout", 10.0, positive=True),
            poll_duration=read.seconds("poll_duration", 0.5, positive=True),
            stop_grace_duration=read.seconds("stop_grace_duration", 0.0),
            usage_duration=read.seconds("usage_duration", 30.0),
            usage_workers=read.count("usage_workers", 4),
        )

    # -- the Backend interface ---------------------------------------------------

    def nodes(self) -> list[Node]:
        """The Swarm's nodes by hostname, in the order the manager lists them
        (as of the last listing)."""
        return list(self._seen.nodes)

    def unavailable_nodes(self) -> set[str]:
        """Nodes that are not ready and active, as of the last listing."""
        self._drain()
        return set(self._seen.down)

    def create(self, launch: ServiceLaunch) -> str:
        """Prepare the Swarm service; :meth:`start` creates it.

        An unknown template fails the service at once (an EXITED event).
        """
        backend_id = f"{HOST}/{launch.name}"
        cpus = self._cpus_of(launch.node)
        try:
            spec = service_spec(launch, self.deployment, self.stop_grace_duration, cpus)
        except TemplateError as exc:
            known = _Known(dict(launch.labels), ServiceState.RUNNING)
            self._known[backend_id] = known
            self._emit(backend_id, known, ServiceEventKind.EXITED, None, str(exc))
            return backend_id
        self._known[backend_id] = _Known(
            dict(launch.labels), ServiceState.CREATED, spec, node=launch.node
        )
        return backend_id

    def _cpus_of(self, node: str) -> int | None:
        """The whole CPUs of ``node`` as last listed (None if unknown)."""
        for seen in self._seen.nodes:
            if seen.name == node and seen.capacity.millicores >= 1000:
                return seen.capacity.millicores // 1000
        return None

    def start(self, backend_id: str) -> None:
        """Create the Swarm service (and its execution's network) on a worker."""
        known = self._known.get(backend_id)
        if known is None:
            raise BackendError(f"swarm backend: no service {backend_id!r}")
        spec, known.spec = known.spec, None
        if spec is None or known.state is ServiceState.EXITED:
            return  # failed already, or its node went meanwhile
        known.submitted = True
        network = spec.pop("_network")
        labels = {
            LABEL_DEPLOYMENT: self.deployment,
            LABEL_EXECUTION: known.labels.get(LABEL_EXECUTION, ""),
        }
        self._submit(backend_id, lambda c: create_service(c, network, labels, spec))

    def remove(self, backend_id: str) -> None:
        """Keep the service's last output, remove the Swarm service, and the
        network once its execution has none (on a worker)."""
        known = self._known.pop(backend_id, None)
        if known is not None and not known.submitted:
            self._kept.keep(backend_id, "")  # never made in Swarm: no output
            return
        name = _name(backend_id)
        execution = known.labels.get(LABEL_EXECUTION, "") if known else ""
        deployment = self.deployment
        readable = known is None or known.node not in self._seen.silent

        def job(client: Any) -> None:
            if readable:
                self._keep_output(client, backend_id)
            remove_service(client, name, deployment, execution)

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
            if state is not ServiceState.EXITED and task.node in self._seen.down:
                state, reason = ServiceState.EXITED, self._down_reason(task.node)
            backend_id = f"{HOST}/{name}"
            found.append(
                BackendService(
                    backend_id, name, task.node, state, task.labels, code, reason
                )
            )
            adopted = _Known(dict(task.labels), state, submitted=True, node=task.node)
            self._known.setdefault(backend_id, adopted)
        return found

    def poll_events(self, timeout: float) -> list[ServiceEvent]:
        """Task changes, nodes gone and reconciliation since the last call."""
        self._drain(timeout if not self._pending else 0.0)
        now = time.monotonic()
        if self._usage.due(now):
            self._sample_usage(now)
        events, self._pending = self._pending, []
        return events

    def usage_samples(self) -> list[UsageSample]:
        """The latest usage of each sampled service since the last call.

        Samples are taken every ``usage_duration`` seconds on other threads, of
        the services running on the manager's own node only (module docstring).
        """
        self._drain()
        return self._usage.take()

    def next_event_delay(self) -> float | None:
        """0 when events wait; a short delay while services live."""
        if self._pending or not self._queue.empty():
            return 0.0
        live = any(k.state is not ServiceState.EXITED for k in self._known.values())
        return WATCH_DURATION if live else None

    def close(self) -> None:
        """Stop the threads; the Swarm services keep running."""
        self._operations.close()
        self._monitor.close()
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
        a space, as ``docker logs -t``. A removed service's last output is read
        from what :meth:`remove` kept; a service that was never created (it
        failed before) has none. Waits ``timeout`` seconds at most. Raises
        :class:`BackendError` if the service, its node or the manager is gone.
        """
        kept = self._kept.get(backend_id)  # kept: being removed, or removed
        if kept is not None:
            return select(parse_stamped(kept), tail, since, timestamps)
        known = self._known.get(backend_id)
        if known is not None and not known.submitted:
            return ""
        if known is not None and known.node in self._seen.silent:
            raise BackendError(  # never wait on a node known not to answer
                f"swarm: no logs of {backend_id}: {self._down_reason(known.node)}"
            )
        try:
            return read_output(
                self._client,
                _name(backend_id),
                timeout=self.timeout,
                tail="all" if tail is None else tail,
                since=since,
                timestamps=timestamps,
            )
        except UNREACHABLE as exc:
            raise BackendError(f"swarm: no logs of {backend_id}: {exc}") from None

    def _keep_output(self, client: Any, backend_id: str) -> None:
        """Keep the service's last output before its removal (worker thread)."""
        try:
            stamped = read_output(
                client,
                _name(backend_id),
                timeout=self.timeout,
                tail=KEPT_LINES,
                timestamps=True,
            )
        except docker.errors.NotFound:
            return
        except UNREACHABLE as exc:
            log.warning("swarm: output of %s not kept: %s", backend_id, exc)
            return
        self._kept.keep(backend_id, stamped)

    def endpoints(self, backend_id: str) -> dict[str, str]:
        """Where the published ports of a running service answer.

        ``{"8080/tcp": "10.0.0.5:30712"}``: the address the task's node
        advertises to the Swarm and the port its daemon picked, as of the last
        listing; empty until the service runs, and once it ended.
        """
        known = self._known.get(backend_id)
        if known is None or known.state is not ServiceState.RUNNING:
            return {}
        address = self._seen.addresses.get(known.node_id, "")
        return {key: f"{address}:{port}" for key, port in known.ports}

    # -- monitoring ------------------------------------------------------------------

    def _drain(self, timeout: float = 0.0) -> None:
        """Apply the messages of the threads (waiting ``timeout`` for the first)."""
        drain(self._queue, self._handle, timeout)

    def _handle(self, kind: str, host: str, payload: Any) -> None:
        if kind == "nodes":
            self._on_nodes(payload)
        elif kind == "usage":
            self._on_usage(*payload)
        elif kind == "unsampled":
            log.debug("swarm: no usage of %s: %s", *payload)
            self._usage.on_failure(payload[0])
        elif kind == "done":
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
                known.container_id = task.container_id
                known.node = task.node or known.node
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

    def _on_nodes(self, seen: SwarmNodes) -> None:
        """Take a node listing; report the services of each node that went."""
        shared = seen.shared_hostnames()
        if shared and seen.nodes != self._seen.nodes:
            log.warning(
                "swarm: several nodes share a hostname (%s); give each node its "
                "own hostname, or services may land on the wrong one",
                ", ".join(shared),
            )
        went = [name for name in seen.down if name not in self._seen.down]
        for name in self._seen.down:
            if name not in seen.down:
                log.info("swarm: node %s is available again", name)
        self._seen = seen
        for name in went:
            log.warning("swarm: node %s is unavailable (%s)", name, seen.down[name])
            reason = self._down_reason(name)
            for backend_id, known in self._known.items():
                if known.node == name:
                    kind = ServiceEventKind.EXITED
                    self._emit(backend_id, known, kind, None, reason)

    def _down_reason(self, node: str) -> str:
        why = self._seen.down.get(node) or "not ready and active"
        return f"node {node} is unavailable in the swarm ({why})"

    def _sample_usage(self, now: float) -> None:
        """Start a pass over the running services on the manager's own node."""
        targets = [
            (backend_id, known.container_id)
            for backend_id, known in self._known.items()
            if known.state is ServiceState.RUNNING
            and known.container_id
            and known.node_id == self._own_node
        ]
        self._usage.started(len(targets), now)
        for backend_id, container in targets:
            self._monitor.sample(HOST, backend_id, container)

    def _on_usage(self, backend_id: str, reading: Reading) -> None:
        known = self._known.get(backend_id)
        running = known is not None and known.state is ServiceState.RUNNING
        labels = known.labels if known is not None and running else None
        self._usage.on_reading(backend_id, labels, reading)

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


def _name(backend_id: str) -> str:
    return backend_id.partition("/")[2]
