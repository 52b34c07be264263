"""The Docker engine backend: containers on one or several Docker hosts.

:class:`DockerEngineBackend` creates one container per service on the host the
master chose (the launch's node is a host name; Docker never chooses). The
backend id is ``<host>/<container name>``, the name being the launch's. Each
execution has a user-defined bridge network per host, ``zoe-<deployment>-<id>``
(option ``network = "shared"``: one network ``zoe-<deployment>`` for all), on
which its containers answer to their instance and group names (see
:func:`~zoe.live.backends.docker_common.aliases`). The engine backend does not
join networks across hosts.

Limits: ``nano_cpus`` from the ZApp's maximum cores (else its minimum), the
memory limit from its maximum memory (else its minimum). Ports are published on
``publish_address`` (default ``127.0.0.1``) at ports Docker picks. Images are
never pulled: a missing image, an unknown template, or any refusal of the daemon
makes that service fail with the reason, as an EXITED event (exit code None);
:meth:`~DockerEngineBackend.create` never raises for it.

Threads: create, start and remove run on worker threads
(:class:`~zoe.live.backends.docker_common.Operations`), so the master's loop
does not wait for a daemon; a thread per host reads the daemon's event stream
(``start``, ``die``, ``oom``, ``destroy`` of this deployment's containers). Both
report into one queue that :meth:`~DockerEngineBackend.poll_events` drains on the
master's thread, which alone owns the backend's bookkeeping.

Availability: when a host's stream breaks and its daemon does not answer a
ping, the host is unavailable (:meth:`~DockerEngineBackend.unavailable_nodes`,
read by the master at its tick) and each container on it that had not exited is
reported EXITED with the reason ``host ... stopped answering``; when it answers
again those containers are removed. Every ``reconcile_duration`` seconds the
backend lists every host's containers and reports the exits and disappearances
the streams missed.

Options (the ``[backend_options]`` table): ``hosts`` (see
:func:`~zoe.live.backends.docker_common.hosts_from_options`), ``address``,
``timeout``, ``publish_address``, ``reconcile_duration``, ``api_version``,
``network``. See docs/docker.md.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import docker
import docker.constants
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
)
from zoe.live.backends.docker_common import (
    UNREACHABLE,
    WATCH_DURATION,
    DockerHost,
    OperationError,
    Operations,
    TemplateError,
    Watcher,
    aliases,
    binds,
    check_reachable,
    connect,
    default_address,
    drop_network_if_unused,
    ensure_network,
    exit_code_of_status,
    exit_reason,
    hosts_from_options,
    instance_name,
    label_filters,
    memory_limit,
    nano_cpus,
    network_name,
    port_keys,
    rendered_command,
    rendered_environment,
    shared_network_name,
)

if TYPE_CHECKING:
    from zoe.core.cluster import Node
    from zoe.live.backends import BackendSettings

log = logging.getLogger(__name__)

_STATES = {"created": ServiceState.CREATED, "running": ServiceState.RUNNING}


@dataclass(slots=True)
class _Tracked:
    """A container the backend knows: where it is and what it last reported."""

    host: str
    labels: Mapping[str, str]
    state: ServiceState
    oom: bool = False
    busy: int = 0


class DockerEngineBackend:
    """Containers on Docker hosts, for one deployment (see the module docstring)."""

    name = "docker"

    def __init__(
        self,
        hosts: list[DockerHost],
        *,
        deployment: str,
        timeout: float = 10.0,
        publish_address: str = "127.0.0.1",
        reconcile_duration: float = 5.0,
        api_version: str = "auto",
        shared_network: bool = False,
    ) -> None:
        if not hosts:
            raise BackendError("docker backend: no hosts configured")
        self.deployment = deployment
        self.hosts = {h.name: h for h in hosts}
        self._order = [h.name for h in hosts]
        self.timeout = timeout
        self.publish_address = publish_address
        self.reconcile_duration = reconcile_duration
        self.api_version = api_version
        self.shared_network = shared_network
        self._clients: dict[str, docker.APIClient] = {}
        self._tracked: dict[str, _Tracked] = {}
        self._removed: set[str] = set()
        self._lost: set[str] = set()
        self._down: dict[str, str] = {}
        self._pending: list[ServiceEvent] = []
        self._failures = 0
        self._next_reconcile = time.monotonic() + reconcile_duration
        self._queue: queue.Queue[Any] = queue.Queue()
        self._operations = Operations(
            self.hosts, self._queue, timeout=timeout, api_version=api_version
        )
        self._watchers = [Watcher(h, deployment, self._queue, timeout) for h in hosts]
        for watcher in self._watchers:
            watcher.start()

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> DockerEngineBackend:
        """Build one from the ``[backend_options]`` table (see the module doc)."""
        options = settings.options
        timeout = float(options.get("timeout", 10.0))
        hosts = hosts_from_options(options)
        if hosts is None:
            hosts = [
                local_host(str(options.get("address", default_address())), timeout)
            ]
        return cls(
            hosts,
            deployment=settings.deployment,
            timeout=timeout,
            publish_address=str(options.get("publish_address", "127.0.0.1")),
            reconcile_duration=float(options.get("reconcile_duration", 5.0)),
            api_version=str(options.get("api_version", "auto")),
            shared_network=_network_option(options.get("network", "execution")),
        )

    # -- the Backend interface ---------------------------------------------------

    def nodes(self) -> list[Node]:
        """Every configured host, in configuration order (available or not)."""
        return [self.hosts[name].node() for name in self._order]

    def unavailable_nodes(self) -> set[str]:
        """Hosts whose daemon stopped answering (their capacity must not be used)."""
        self._drain()
        return set(self._down)

    def create(self, launch: ServiceLaunch) -> str:
        """Create the container on the launch's host, on a worker thread.

        The backend id is ``<host>/<container name>``. A failure (an unknown
        template now; a missing image or a refusal of the daemon later) comes
        back as an EXITED event with the reason.
        """
        host = launch.node
        if host not in self.hosts:
            return self._failed(launch, f"no host named {host!r} is configured")
        try:
            spec = self._spec(launch)
        except TemplateError as exc:
            return self._failed(launch, str(exc))
        except UNREACHABLE as exc:
            self._unreachable(host, exc)
            return self._failed(launch, f"host {host} did not answer: {exc}")
        backend_id = f"{host}/{launch.name}"
        self._tracked[backend_id] = _Tracked(
            host, dict(launch.labels), ServiceState.CREATED
        )
        network, labels = self._network_of(launch.execution.execution_id)

        def job(client: docker.APIClient) -> None:
            ensure_network(client, network, labels)
            try:
                client.create_container(**spec)
            except docker.errors.ImageNotFound:
                raise OperationError(
                    f"image {launch.image} not found on host {host} (images are "
                    "never pulled; load it on the host)"
                ) from None
            except docker.errors.APIError as exc:
                raise OperationError(
                    f"host {host} refused the container: {exc}"
                ) from None

        self._submit(host, backend_id, job)
        return backend_id

    def start(self, backend_id: str) -> None:
        """Start a created container on a worker; a RUNNING event follows."""
        host, container = _split(backend_id)
        if container.startswith("failed-") or backend_id in self._lost:
            return
        if backend_id not in self._tracked:
            raise BackendError(f"docker backend: no container {backend_id!r}")
        self._submit(host, backend_id, lambda c: c.start(container))

    def remove(self, backend_id: str) -> None:
        """Kill and remove the container on a worker, and its network if the last."""
        tracked = self._tracked.pop(backend_id, None)
        host, container = _split(backend_id)
        if host not in self.hosts or container.startswith("failed-"):
            return
        if host in self._down:
            self._lost.add(backend_id)
            return
        self._removed.add(backend_id)
        deployment = self.deployment
        execution = tracked.labels.get(LABEL_EXECUTION, "") if tracked else ""
        network = None
        if self.shared_network:
            network = shared_network_name(deployment)
        elif execution.isdigit():
            network = network_name(deployment, int(execution))

        def job(client: docker.APIClient) -> None:
            with contextlib.suppress(docker.errors.NotFound):
                client.remove_container(container, force=True)
            if network is not None:
                scope = None if self.shared_network else execution
                drop_network_if_unused(client, network, deployment, scope)

        self._operations.submit(host, backend_id, job)

    def list_services(self) -> list[BackendService]:
        """The containers of this deployment on every host that answers."""
        found: list[BackendService] = []
        for host in self._order:
            if host in self._down:
                continue
            try:
                rows = self._client(host).containers(
                    all=True, filters=label_filters(self.deployment)
                )
            except UNREACHABLE as exc:
                self._unreachable(host, exc)
                continue
            found.extend(self._service_of(host, row) for row in rows)
        for service in found:
            if service.backend_id not in self._tracked:
                state = service.state
                self._tracked[service.backend_id] = _Tracked(
                    service.node, dict(service.labels), state
                )
        return found

    def poll_events(self, timeout: float) -> list[ServiceEvent]:
        """Events of the hosts' streams (and of reconciliation) since the last call."""
        self._drain(timeout if not self._pending else 0.0)
        if time.monotonic() >= self._next_reconcile:
            self._next_reconcile = time.monotonic() + self.reconcile_duration
            self.reconcile()
        events, self._pending = self._pending, []
        return events

    def next_event_delay(self) -> float | None:
        """0 when events wait; a short delay while containers live, to look again.

        Events come from other threads and cannot wake the master's wait, so
        while containers run the master looks every ``WATCH_DURATION`` seconds.
        """
        if self._pending or not self._queue.empty():
            return 0.0
        live = any(t.state is not ServiceState.EXITED for t in self._tracked.values())
        return WATCH_DURATION if live else None

    def close(self) -> None:
        """Stop the event threads and close the clients; containers keep running."""
        self._operations.close()
        for watcher in self._watchers:
            watcher.stop()
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def logs(self, backend_id: str, tail: int | None = None) -> str:
        """The container's output (stdout and stderr), its last ``tail`` lines.

        Raises :class:`BackendError` if the container or its host is gone.
        """
        host, container = _split(backend_id)
        if container.startswith("failed-"):
            return ""
        try:
            raw = self._client(host).logs(
                container,
                stdout=True,
                stderr=True,
                tail="all" if tail is None else tail,
            )
        except (docker.errors.APIError, *UNREACHABLE) as exc:
            raise BackendError(f"docker: no logs of {backend_id}: {exc}") from None
        return bytes(raw).decode("utf-8", errors="replace")

    def usage(self, backend_id: str) -> dict[str, int]:
        """One sample of the container's CPU time (ns) and memory use (bytes).

        TODO(#7): nothing samples this periodically yet; remove when the master
        keeps per-service usage off its loop and shows it in `zoe exec get`.

        A single non-streaming stats call (it takes about a second on the
        daemon's side); call it from a thread other than the master's.
        """
        host, container = _split(backend_id)
        try:
            client = connect(self.hosts[host].address, self.timeout)
            try:
                stats = client.stats(container, stream=False)
            finally:
                client.close()
        except (KeyError, docker.errors.APIError, *UNREACHABLE) as exc:
            raise BackendError(f"docker: no usage of {backend_id}: {exc}") from None
        cpu = stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0)
        memory = stats.get("memory_stats", {}).get("usage", 0)
        return {"cpu_ns": int(cpu), "memory": int(memory)}

    # -- monitoring ----------------------------------------------------------------

    def reconcile(self) -> None:
        """Report exits and disappearances the event streams missed; retry removals."""
        # TODO(#7): containers with this deployment's labels that the master does not
        # know are only removed at recovery; remove when reconciliation reports them.
        for backend_id in list(self._lost):
            host, _ = _split(backend_id)
            if host not in self._down:
                self._lost.discard(backend_id)
                self.remove(backend_id)
        listed = {s.backend_id: s for s in self.list_services()}
        for backend_id, tracked in list(self._tracked.items()):
            if tracked.busy or tracked.state is ServiceState.EXITED:
                continue  # operations in flight: the listing may predate them
            if tracked.host in self._down:
                continue
            seen = listed.get(backend_id)
            if seen is None:
                self._emit(
                    backend_id, tracked, ServiceEventKind.EXITED, None, "container gone"
                )
                del self._tracked[backend_id]
            elif seen.state is ServiceState.EXITED:
                reason = exit_reason(seen.exit_code, tracked.oom)
                kind = ServiceEventKind.EXITED
                self._emit(backend_id, tracked, kind, seen.exit_code, reason)
            elif (seen.state, tracked.state) == (
                ServiceState.RUNNING,
                ServiceState.CREATED,
            ):
                self._emit(backend_id, tracked, ServiceEventKind.RUNNING)

    def _drain(self, timeout: float = 0.0) -> None:
        try:
            message = self._queue.get(timeout=timeout) if timeout > 0 else None
        except queue.Empty:
            return
        while True:
            if message is not None:
                self._handle(*message)
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                return

    def _handle(self, kind: str, host: str, payload: Any) -> None:
        if kind == "down":
            self._host_down(host, str(payload))
        elif kind == "up":
            self._host_up(host)
        elif kind == "done":
            self._operation_done(payload)
        elif kind == "failed":
            self._operation_done(payload[0])
            self._operation_failed(host, *payload)
        else:
            self._on_docker_event(host, payload)

    def _on_docker_event(self, host: str, raw: Mapping[str, Any]) -> None:
        action = str(raw.get("Action") or raw.get("status") or "")
        actor = raw.get("Actor") or {}
        attributes = actor.get("Attributes") or {}
        backend_id = f"{host}/{attributes.get('name', '')}"
        if backend_id in self._removed:
            return
        tracked = self._tracked.get(backend_id)
        if tracked is None:
            labels = {k: v for k, v in attributes.items() if k.startswith("zoe.")}
            if labels.get(LABEL_DEPLOYMENT) != self.deployment:
                return
            tracked = _Tracked(host, labels, ServiceState.CREATED)
            self._tracked[backend_id] = tracked
        if action == "start":
            self._emit(backend_id, tracked, ServiceEventKind.RUNNING)
        elif action == "oom":
            tracked.oom = True
        elif action == "die":
            code = _int(attributes.get("exitCode"))
            reason = exit_reason(code, tracked.oom)
            self._emit(backend_id, tracked, ServiceEventKind.EXITED, code, reason)
        elif action == "destroy":
            if tracked.state is not ServiceState.EXITED:
                why = "container removed outside Zoe"
                self._emit(backend_id, tracked, ServiceEventKind.EXITED, None, why)
            self._tracked.pop(backend_id, None)

    def _submit(self, host: str, backend_id: str, job: Any) -> None:
        tracked = self._tracked.get(backend_id)
        if tracked is not None:
            tracked.busy += 1
        self._operations.submit(host, backend_id, job)

    def _operation_done(self, backend_id: str) -> None:
        tracked = self._tracked.get(backend_id)
        if tracked is not None and tracked.busy > 0:
            tracked.busy -= 1

    def _operation_failed(self, host: str, backend_id: str, reason: str) -> None:
        if backend_id in self._removed:
            self._lost.add(backend_id)  # its removal failed: retried by reconcile
            self._removed.discard(backend_id)
            return
        tracked = self._tracked.get(backend_id)
        if tracked is not None:
            log.warning("docker: %s cannot run: %s", backend_id, reason)
            self._emit(backend_id, tracked, ServiceEventKind.EXITED, None, reason)

    def _host_down(self, host: str, why: str) -> None:
        if host in self._down:
            return
        self._down[host] = why
        client = self._clients.pop(host, None)
        if client is not None:
            client.close()
        log.warning("docker: host %s stopped answering: %s", host, why)
        reason = f"host {host} stopped answering"
        for backend_id, tracked in list(self._tracked.items()):
            if tracked.host == host and tracked.state is not ServiceState.EXITED:
                self._emit(backend_id, tracked, ServiceEventKind.EXITED, None, reason)
                del self._tracked[backend_id]
                self._lost.add(backend_id)

    def _host_up(self, host: str) -> None:
        if self._down.pop(host, None) is not None:
            log.info("docker: host %s answers again", host)
            self._next_reconcile = 0.0

    def _unreachable(self, host: str, exc: Exception) -> None:
        try:
            self._client(host).ping()
        except UNREACHABLE:
            self._host_down(host, str(exc))

    def _emit(
        self,
        backend_id: str,
        tracked: _Tracked,
        kind: ServiceEventKind,
        exit_code: int | None = None,
        reason: str | None = None,
    ) -> None:
        if (
            kind is ServiceEventKind.RUNNING
            and tracked.state is not ServiceState.CREATED
        ):
            return
        if kind is ServiceEventKind.EXITED and tracked.state is ServiceState.EXITED:
            return
        running = kind is ServiceEventKind.RUNNING
        tracked.state = ServiceState.RUNNING if running else ServiceState.EXITED
        self._pending.append(
            ServiceEvent(backend_id, kind, dict(tracked.labels), exit_code, reason)
        )

    # -- containers and networks ---------------------------------------------------

    def _client(self, host: str) -> docker.APIClient:
        """The host's client, after a check that the host accepts connections."""
        if host not in self.hosts:
            raise docker.errors.DockerException(f"no host named {host!r}")
        address = self.hosts[host].address
        client = self._clients.get(host)
        if client is None:
            client = connect(address, self.timeout, self.api_version)
            self._clients[host] = client
        else:
            check_reachable(address, self.timeout)
        return client

    def _network_of(self, execution_id: int) -> tuple[str, dict[str, str]]:
        """The network of an execution's containers and the labels it carries."""
        labels = {LABEL_DEPLOYMENT: self.deployment}
        if self.shared_network:
            return shared_network_name(self.deployment), labels
        labels[LABEL_EXECUTION] = str(execution_id)
        return network_name(self.deployment, execution_id), labels

    def _spec(self, launch: ServiceLaunch) -> dict[str, Any]:
        """The keyword arguments of ``create_container`` (:class:`TemplateError`)."""
        client = self._client(launch.node)
        network, _ = self._network_of(launch.execution.execution_id)
        shared = self.shared_network
        keys = port_keys(launch)
        host_config = client.create_host_config(
            network_mode=network,
            nano_cpus=nano_cpus(launch),
            mem_limit=memory_limit(launch),
            port_bindings=dict.fromkeys(keys, (self.publish_address,)),
            binds=binds(launch),
        )
        endpoint = client.create_endpoint_config(aliases=aliases(launch, shared))
        return {
            "image": launch.image,
            "command": rendered_command(launch, shared),
            "environment": rendered_environment(launch, shared),
            "name": launch.name,
            "hostname": instance_name(launch),
            "labels": dict(launch.labels),
            "ports": [(int(k.split("/")[0]), k.split("/")[1]) for k in keys],
            "host_config": host_config,
            "networking_config": client.create_networking_config({network: endpoint}),
        }

    def _failed(self, launch: ServiceLaunch, reason: str) -> str:
        """A service that could not be created: an id and an EXITED event."""
        self._failures += 1
        backend_id = f"{launch.node}/failed-{self._failures}-{launch.name}"
        log.warning("docker: %s cannot run: %s", launch.name, reason)
        tracked = _Tracked(launch.node, dict(launch.labels), ServiceState.RUNNING)
        self._emit(backend_id, tracked, ServiceEventKind.EXITED, None, reason)
        self._tracked[backend_id] = tracked
        return backend_id

    def _service_of(self, host: str, row: Mapping[str, Any]) -> BackendService:
        state = _STATES.get(str(row.get("State")), ServiceState.EXITED)
        names = row.get("Names") or [""]
        code = exit_code_of_status(str(row.get("Status", "")))
        return BackendService(
            f"{host}/{str(names[0]).lstrip('/')}",
            str(names[0]).lstrip("/"),
            host,
            state,
            dict(row.get("Labels") or {}),
            code if state is ServiceState.EXITED else None,
        )


def local_host(address: str, timeout: float) -> DockerHost:
    """The one host ``local`` at ``address``, with the capacity its daemon reports."""
    try:
        client = connect(address, timeout)
        try:
            info = client.info()
        finally:
            client.close()
    except UNREACHABLE as exc:
        raise BackendError(
            f"docker backend: the daemon at {address} does not answer ({exc}); "
            "start it, or list hosts with their capacity in [backend_options] hosts"
        ) from None
    capacity = Resources(int(info["NCPU"]) * 1000, int(info["MemTotal"]))
    return DockerHost("local", address, capacity)


def _network_option(value: object) -> bool:
    if value not in ("execution", "shared"):
        raise BackendError(
            f"docker backend: network = {value!r}; valid: 'execution' (a network "
            "per execution) or 'shared' (one network for the deployment)"
        )
    return value == "shared"


def _split(backend_id: str) -> tuple[str, str]:
    host, _, container = backend_id.partition("/")
    return host, container


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
