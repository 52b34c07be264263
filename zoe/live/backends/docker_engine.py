"""The Docker engine backend: containers on one or several Docker hosts.

:class:`DockerEngineBackend` creates one container per service on the host the
master chose (the launch's node is a host name; Docker never chooses). The
backend id is ``<host>/<container name>``, the name being the launch's. Each
execution has a user-defined bridge network per host, ``zoe-<deployment>-<id>``
(option ``network = "shared"``: one network ``zoe-<deployment>`` for all), on
which its containers answer to their instance and group names (see
:func:`~zoe.live.backends.docker_launch.aliases`; on the shared network only to
names qualified by the execution, hostnames included, see
:func:`~zoe.live.backends.docker_launch.hostname`). A network goes with the last
container of its execution, also one removed outside Zoe; recovery
(:meth:`~DockerEngineBackend.list_services`) removes those left without any.
The engine backend does not join networks across hosts.

Limits: ``nano_cpus`` from the ZApp's maximum cores (else its minimum), at most
the CPUs the host's daemon reports (Docker refuses more), the memory limit from
its maximum memory (else its minimum). Ports are published on
``publish_address`` (default ``127.0.0.1``) at ports Docker picks, read back
after the start (:meth:`~DockerEngineBackend.endpoints`). Images are
never pulled: a missing image, an unknown template, or any refusal of the daemon
makes that service fail with the reason, as an EXITED event (exit code None);
:meth:`~DockerEngineBackend.create` never raises for it.

Threads: the master's thread never waits for a daemon. Create, start and
remove run on worker threads (:class:`~zoe.live.backends.docker_common.
Operations`); a thread per host reads the daemon's event stream (``start``,
``die``, ``oom``, ``destroy`` of this deployment's containers); a thread per host
pings it; listings and usage samples run on pools
(:mod:`~zoe.live.backends.docker_monitor`). All report into one queue that the
master's thread drains (:meth:`~DockerEngineBackend.poll_events`,
:meth:`~DockerEngineBackend.unavailable_nodes`); it alone owns the backend's
bookkeeping. Only :meth:`~DockerEngineBackend.list_services` (recovery) waits,
for the timeout at most, whatever the number of silent hosts. No thread dies of
an unexpected exception: it is logged at ERROR and the thread goes on.

Availability: a host is unavailable when its stream breaks and its daemon does
not answer a ping, or when two pings in a row (every ``probe_duration``
seconds) get no answer within ``timeout`` (a hung daemon keeps accepting
connections). Its node leaves the snapshot
(:meth:`~DockerEngineBackend.unavailable_nodes`, read by the master at its
tick) and each container on it that had not exited is reported EXITED with the
reason ``host ... stopped answering``; when it answers again those containers
are removed.

Reconciliation, every ``reconcile_duration`` seconds: each host's containers
are listed on a thread; the listing reports the exits and disappearances the
streams missed, and removes (logged as a warning) the containers with this
deployment's label that the backend does not track: neither created through
:meth:`~DockerEngineBackend.create` by this process nor adopted by recovery
through :meth:`~DockerEngineBackend.list_services`. Creation tracks a container
before Docker makes it, so an operation in flight is never taken for an
orphan; as a further guard an orphan is removed only once listings over
``orphan_grace_duration`` seconds showed it untracked.

Usage, every ``usage_duration`` seconds (0: never): each running container's CPU
and memory are read on a pool of ``usage_workers`` threads (one-shot stats from
API 1.41); the master takes the samples with
:meth:`~DockerEngineBackend.usage_samples`.

Options (the ``[backend_options]`` table): ``hosts`` (see
:func:`~zoe.live.backends.docker_common.hosts_from_options`), ``address``,
``timeout``, ``publish_address``, ``reconcile_duration``, ``api_version``,
``network``, ``probe_duration``, ``orphan_grace_duration``, ``usage_duration``,
``usage_workers``; a bad one raises :class:`~zoe.core.errors.InvalidInput`
before any daemon is reached. See docs/docker.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import docker
import docker.constants
import docker.errors

from zoe.core.errors import BackendError
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
    REMOVED_OUTSIDE,
    UNREACHABLE,
    WATCH_DURATION,
    DockerHost,
    OperationError,
    Operations,
    Options,
    Watcher,
    check_reachable,
    connect,
    default_address,
    drop_network_if_unused,
    ensure_network,
    hosts_from_options,
    local_host,
    remove_container,
)
from zoe.live.backends.docker_launch import (
    TemplateError,
    aliases,
    binds,
    hostname,
    memory_limit,
    nano_cpus,
    network_name,
    port_keys,
    rendered_command,
    rendered_environment,
    shared_network_name,
)
from zoe.live.backends.docker_monitor import Monitor
from zoe.live.backends.docker_ports import read_endpoints
from zoe.live.backends.docker_tracking import ContainerBook, Tracked
from zoe.live.backends.docker_tracking import split_id as _split
from zoe.live.output import KeptOutput, parse_stamped, select

if TYPE_CHECKING:
    from zoe.core.cluster import Node
    from zoe.live.backends import BackendSettings

log = logging.getLogger(__name__)

KEPT_LINES = 2000
OPTIONS = (
    "hosts",
    "address",
    "timeout",
    "publish_address",
    "reconcile_duration",
    "api_version",
    "network",
    "probe_duration",
    "orphan_grace_duration",
    "usage_duration",
    "usage_workers",
)
"""The options of ``[backend_options]`` this backend reads."""
NETWORKS = {
    "execution": "a network per execution",
    "shared": "one network for the deployment",
}
"""Lines of a removed container's output kept for its followers."""


class DockerEngineBackend(ContainerBook):
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
        probe_duration: float = 2.0,
        orphan_grace_duration: float = 10.0,
        usage_duration: float = 30.0,
        usage_workers: int = 4,
    ) -> None:
        if not hosts:
            raise BackendError("docker backend: no hosts configured")
        super().__init__(
            deployment,
            reconcile_duration=reconcile_duration,
            orphan_grace_duration=orphan_grace_duration,
            usage_duration=usage_duration,
        )
        self.hosts = {h.name: h for h in hosts}
        self._order = [h.name for h in hosts]
        self.timeout = timeout
        self.publish_address = publish_address
        self.reconcile_duration = reconcile_duration
        self.api_version = api_version
        self.shared_network = shared_network
        self._failures = 0
        self._host_cpus: dict[str, int] = {}
        self._kept = KeptOutput()
        self._operations = Operations(
            self.hosts, self._queue, timeout=timeout, api_version=api_version
        )
        self._monitor = Monitor(
            self.hosts,
            deployment,
            self._queue,
            timeout=timeout,
            api_version=api_version,
            usage_workers=usage_workers,
        )
        self._watchers = [Watcher(h, deployment, self._queue, timeout) for h in hosts]
        self._probers = [
            self._monitor.prober(h.name, probe_duration)
            for h in hosts
            if probe_duration > 0
        ]
        for thread in [*self._watchers, *self._probers]:
            thread.start()

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> DockerEngineBackend:
        """Build one from the ``[backend_options]`` table (see the module doc)."""
        read = Options("docker", settings.options, OPTIONS)
        timeout = read.seconds("timeout", 10.0, positive=True)
        address = read.text("address", default_address())
        settled: dict[str, Any] = {
            "deployment": settings.deployment,
            "timeout": timeout,
            "publish_address": read.text("publish_address", "127.0.0.1"),
            "reconcile_duration": read.seconds(
                "reconcile_duration", 5.0, positive=True
            ),
            "api_version": read.api_version(),
            "shared_network": read.choice("network", "execution", NETWORKS) == "shared",
            "probe_duration": read.seconds("probe_duration", 2.0),
            "orphan_grace_duration": read.seconds("orphan_grace_duration", 10.0),
            "usage_duration": read.seconds("usage_duration", 30.0),
            "usage_workers": read.count("usage_workers", 4),
        }
        # every option is checked before a daemon is asked anything
        hosts = hosts_from_options(settings.options)
        if hosts is None:
            hosts = [local_host(address, timeout)]
        return cls(hosts, **settled)

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
            rendered = self._rendered(launch)
        except TemplateError as exc:
            return self._failed(launch, str(exc))
        backend_id = f"{host}/{launch.name}"
        # tracked before Docker makes it: reconciliation never takes it for an orphan
        self._tracked[backend_id] = Tracked(
            host, dict(launch.labels), ServiceState.CREATED, ports=bool(launch.ports)
        )
        network, labels = self._network_of(launch.execution.execution_id)

        def job(client: docker.APIClient) -> None:
            ensure_network(client, network, labels)
            try:
                client.create_container(**self._spec(client, launch, rendered))
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
        """Start a created container on a worker; a RUNNING event follows.

        Once it started, the same worker reads where its published ports
        answer, for :meth:`endpoints`.
        """
        host, container = _split(backend_id)
        if container.startswith("failed-") or backend_id in self._lost:
            return
        tracked = self._tracked.get(backend_id)
        if tracked is None:
            raise BackendError(f"docker backend: no container {backend_id!r}")
        address, published = self.hosts[host].address, tracked.ports

        def job(client: docker.APIClient) -> None:
            client.start(container)
            if published:
                found = read_endpoints(client, container, address)
                self._queue.put(("ports", host, (backend_id, found)))

        self._submit(host, backend_id, job)

    def remove(self, backend_id: str) -> None:
        """Kill and remove the container on a worker, and its network if the last."""
        tracked = self._tracked.pop(backend_id, None)
        lost = self._lost.pop(backend_id, {})
        labels = tracked.labels if tracked is not None else lost
        host, container = _split(backend_id)
        if host not in self.hosts or container.startswith("failed-"):
            return
        if host in self._down:
            self._lost[backend_id] = labels
            return
        self._remove_container(backend_id, labels)

    def _remove_container(self, backend_id: str, labels: Mapping[str, str]) -> None:
        """Submit the removal of a container of an available host."""
        host, container = _split(backend_id)
        self._removed[backend_id] = dict(labels)
        network = self._own_network(labels)
        execution = labels.get(LABEL_EXECUTION, "")
        deployment, timeout = self.deployment, self.timeout

        def job(client: docker.APIClient) -> None:
            self._keep_output(client, backend_id, container)
            remove_container(client, container, timeout)
            if network is not None:
                drop_network_if_unused(client, network, deployment, execution)

        self._operations.submit(host, backend_id, job)

    def _container_gone(self, host: str, labels: Mapping[str, str]) -> None:
        """Drop the network of a container removed outside Zoe, if it was the last."""
        network = self._own_network(labels)
        if network is None or host not in self.hosts:
            return
        deployment, execution = self.deployment, labels.get(LABEL_EXECUTION, "")

        def job(client: docker.APIClient) -> None:
            drop_network_if_unused(client, network, deployment, execution)

        self._operations.submit(host, f"{host}/{network}", job)

    def _check_kill(self, backend_id: str, code: int, reason: str | None) -> None:
        """Ask on a worker whether a container killed by a signal is being removed
        (``docker rm -f`` marks it so before it kills it); a ``died`` message
        carries the exit, ``container removed outside Zoe`` if so."""
        host, container = _split(backend_id)

        def job(client: docker.APIClient) -> None:
            why = reason
            try:
                state = client.inspect_container(container).get("State") or {}
                if state.get("Status") == "removing":
                    why = REMOVED_OUTSIDE
            except docker.errors.NotFound:
                why = REMOVED_OUTSIDE
            except (docker.errors.APIError, *UNREACHABLE) as exc:
                log.debug("docker: %s not inspected after a kill: %s", backend_id, exc)
            self._queue.put(("died", host, (backend_id, code, why)))

        self._submit(host, backend_id, job)

    def _own_network(self, labels: Mapping[str, str]) -> str | None:
        """The network of the execution named in ``labels``; None on a shared
        network (the deployment's: it stays for the next executions)."""
        execution = labels.get(LABEL_EXECUTION, "")
        if self.shared_network or not execution.isdigit():
            return None
        return network_name(self.deployment, int(execution))

    def list_services(self) -> list[BackendService]:
        """The containers of this deployment on every host that answers.

        Every container listed is tracked from now on (recovery adopts or
        removes each). The networks of executions with no container left on a
        listed host (left by containers that went while no master ran) are
        removed. Waits for the timeout at most: a host that does not
        answer by then is not listed, and is marked unavailable until its next
        ping is answered (if hosts are pinged: ``probe_duration`` > 0).
        """
        found: list[BackendService] = []
        hosts = [h for h in self._order if h not in self._down]
        making: dict[str, set[str]] = {}  # executions whose networks must stay
        for tracked in self._tracked.values():
            execution = tracked.labels.get(LABEL_EXECUTION, "")
            making.setdefault(tracked.host, set()).add(execution)
        for host, rows in self._monitor.list_now(hosts, making).items():
            if isinstance(rows, str):
                log.warning("docker: host %s not listed: %s", host, rows)
                if self._probers:
                    self._host_down(host, rows, "probe")
                continue
            services = [self._service_of(host, row) for row in rows]
            for service in services:
                if service.backend_id not in self._tracked:
                    self._tracked[service.backend_id] = Tracked(
                        host, dict(service.labels), service.state
                    )
            self._note_endpoints(host, rows)
            found.extend(services)
        return found

    def poll_events(self, timeout: float) -> list[ServiceEvent]:
        """Events of the hosts' streams (and of reconciliation) since the last call."""
        self._drain(timeout if not self._pending else 0.0)
        now = time.monotonic()
        if now >= self._next_reconcile:
            self._next_reconcile = now + self.reconcile_duration
            self.reconcile()
        if self._usage.due(now):
            self._sample_usage(now)
        events, self._pending = self._pending, []
        return events

    def usage_samples(self) -> list[UsageSample]:
        """The latest usage of each running container sampled since the last call.

        Samples are taken every ``usage_duration`` seconds on other threads;
        this only hands over what came back.
        """
        self._drain()
        return self._usage.take()

    def endpoints(self, backend_id: str) -> dict[str, str]:
        """Where the published ports of a running container answer.

        ``{"8080/tcp": "127.0.0.1:32768"}``: the address Docker bound (the
        Docker host's address for a wildcard, see
        :mod:`~zoe.live.backends.docker_ports`) and the port it picked. Read
        after the start, or from a listing for an adopted container; empty
        until then, and once the container exited or was removed.
        """
        self._drain()
        tracked = self._tracked.get(backend_id)
        if tracked is None or tracked.state is not ServiceState.RUNNING:
            return {}
        return dict(tracked.endpoints)

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
        self._monitor.close()
        for watcher in self._watchers:
            watcher.stop()
        for prober in self._probers:
            prober.stop()
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def logs(
        self,
        backend_id: str,
        tail: int | None = None,
        since: float | None = None,
        timestamps: bool = False,
    ) -> str:
        """The container's output (stdout and stderr together).

        ``tail`` keeps the last lines, ``since`` (UNIX seconds) those written at
        or after it, as Docker's ``since``; ``timestamps`` puts Docker's RFC 3339
        nano stamp and a space in front of each line, as ``docker logs -t``. A
        removed container's last output is read from what :meth:`remove` kept.
        Raises :class:`BackendError` if the container or its host is gone.
        """
        host, container = _split(backend_id)
        if container.startswith("failed-"):
            return ""
        kept = self._kept.get(backend_id)  # kept: being removed, or removed
        if kept is not None:
            return select(parse_stamped(kept), tail, since, timestamps)
        if host in self._down:  # never wait on a host known not to answer
            raise BackendError(
                f"docker: no logs of {backend_id}: host {host} does not answer "
                f"({self._down[host]})"
            )
        try:
            raw = self._client(host).logs(
                container,
                stdout=True,
                stderr=True,
                timestamps=timestamps,
                tail="all" if tail is None else tail,
                since=since if since is not None and since >= 1.0 else None,
            )
        except (docker.errors.APIError, *UNREACHABLE) as exc:
            raise BackendError(f"docker: no logs of {backend_id}: {exc}") from None
        return bytes(raw).decode("utf-8", errors="replace")

    def _keep_output(
        self, client: docker.APIClient, backend_id: str, container: str
    ) -> None:
        """Keep the container's last output before its removal (worker thread)."""
        try:
            raw = client.logs(
                container, stdout=True, stderr=True, timestamps=True, tail=KEPT_LINES
            )
        except docker.errors.NotFound:
            return
        except (docker.errors.APIError, *UNREACHABLE) as exc:
            log.warning("docker: output of %s not kept: %s", backend_id, exc)
            return
        self._kept.keep(backend_id, bytes(raw).decode("utf-8", errors="replace"))

    def usage(self, backend_id: str) -> dict[str, int]:
        """One sample of the container's CPU time (ns) and memory use (bytes).

        A single non-streaming stats call (it takes about a second on the
        daemon's side), never made by the master: the periodic samples come
        from :meth:`usage_samples`.
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
        """Retry lost removals and start a listing of every available host.

        Nothing waits here: each listing comes back through the queue and is
        compared then (:meth:`_reconcile_host`). A host still being listed is
        skipped.
        """
        for backend_id in list(self._lost):
            host, _ = _split(backend_id)
            if host not in self._down:
                self.remove(backend_id)
        since = time.monotonic()
        for host in self._order:
            if host not in self._down and host not in self._listing:
                self._listing.add(host)
                self._monitor.list_host(host, since)

    def _sample_usage(self, now: float) -> None:
        """Start a pass that samples every running container of available hosts."""
        targets = [
            (tracked.host, backend_id)
            for backend_id, tracked in self._tracked.items()
            if tracked.state is ServiceState.RUNNING
            and tracked.host not in self._down
            and not _split(backend_id)[1].startswith("failed-")
        ]
        self._usage.started(len(targets), now)
        for host, backend_id in targets:
            self._monitor.sample(host, backend_id)

    def _submit(self, host: str, backend_id: str, job: Any) -> None:
        tracked = self._tracked.get(backend_id)
        if tracked is not None:
            tracked.busy += 1
            tracked.changed_time = time.monotonic()
        self._operations.submit(host, backend_id, job)

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

    def _rendered(self, launch: ServiceLaunch) -> dict[str, Any]:
        """Command, environment and aliases with templates filled in (no I/O).

        Raises :class:`TemplateError`.
        """
        shared = self.shared_network
        return {
            "command": rendered_command(launch, shared),
            "environment": rendered_environment(launch, shared),
            "aliases": aliases(launch, shared),
        }

    def _spec(
        self, client: docker.APIClient, launch: ServiceLaunch, rendered: Any
    ) -> dict[str, Any]:
        """The keyword arguments of ``create_container`` (on a worker's client)."""
        network, _ = self._network_of(launch.execution.execution_id)
        keys = port_keys(launch)
        limit = nano_cpus(launch, self._cpus_of(client, launch.node))
        if limit < nano_cpus(launch):
            log.debug(
                "docker: %s: CPU limit capped at the %g CPUs of host %s",
                launch.name,
                limit / 1e9,
                launch.node,
            )
        host_config = client.create_host_config(
            network_mode=network,
            nano_cpus=limit,
            mem_limit=memory_limit(launch),
            port_bindings=dict.fromkeys(keys, (self.publish_address,)),
            binds=binds(launch),
        )
        endpoint = client.create_endpoint_config(aliases=rendered["aliases"])
        return {
            "image": launch.image,
            "command": rendered["command"],
            "environment": rendered["environment"],
            "name": launch.name,
            "hostname": hostname(launch, self.shared_network),
            "labels": dict(launch.labels),
            "ports": [(int(k.split("/")[0]), k.split("/")[1]) for k in keys],
            "host_config": host_config,
            "networking_config": client.create_networking_config({network: endpoint}),
        }

    def _cpus_of(self, client: docker.APIClient, host: str) -> int:
        """The CPUs the daemon of ``host`` reports, asked once (worker thread)."""
        cpus = self._host_cpus.get(host)
        if cpus is None:
            cpus = self._host_cpus[host] = int(client.info().get("NCPU") or 0)
        return cpus

    def _failed(self, launch: ServiceLaunch, reason: str) -> str:
        """A service that could not be created: an id and an EXITED event."""
        self._failures += 1
        backend_id = f"{launch.node}/failed-{self._failures}-{launch.name}"
        log.warning("docker: %s cannot run: %s", launch.name, reason)
        tracked = Tracked(launch.node, dict(launch.labels), ServiceState.RUNNING)
        self._emit(backend_id, tracked, ServiceEventKind.EXITED, None, reason)
        self._tracked[backend_id] = tracked
        return backend_id
