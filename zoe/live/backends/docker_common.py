"""What the Docker backends share: options, hosts, clients, event streams.

What a container is made of (names, templates, limits) is in
:mod:`zoe.live.backends.docker_launch`.

Hosts come from the ``[backend_options]`` options (:func:`hosts_from_options`)::

    [backend_options]
    hosts = [
      {name = "h1", address = "unix:///var/run/docker.sock", cores = 8,
       memory = "32GiB", labels = ["ssd"]},
      {name = "h2", address = "tcp://10.0.0.2:2375", cores = 16, memory = "64GiB"},
    ]

The order of ``hosts`` is the cluster order placement tries. Without ``hosts``
there is one host named ``local`` at ``address`` (default ``$DOCKER_HOST`` or the
local socket) whose capacity is what its daemon reports.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import docker
import docker.constants
import docker.errors
import requests.exceptions

from zoe.core.cluster import Node, node_from_entry
from zoe.core.errors import BackendError, InvalidCluster, InvalidInput
from zoe.core.resources import Resources
from zoe.live.backends import (
    LABEL_DEPLOYMENT,
    LABEL_EXECUTION,
)

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "unix:///var/run/docker.sock"
MINIMUM_API_VERSION = docker.constants.MINIMUM_DOCKER_API_VERSION
DEFAULT_API_VERSION = docker.constants.DEFAULT_DOCKER_API_VERSION
UNREACHABLE = (docker.errors.DockerException, requests.exceptions.RequestException)
RETRY_DURATION = 1.0
WATCH_DURATION = 0.02
MAX_SECONDS = 86_400
"""The longest duration an option takes (a day)."""
MAX_WORKERS = 64
"""The most threads an option may ask for."""
REMOVED_OUTSIDE = "container removed outside Zoe"
EXIT_KEY = "ZoeExit"
"""The key under which a listing row of an exited container carries the
``ExitCode``, ``OOMKilled`` and ``Error`` of its inspection."""
_NETWORK_LOCK = threading.Lock()
_API_VERSION = re.compile(r"[0-9]+\.[0-9]+")
_EXIT_STATUS = re.compile(r"^Exited \((-?[0-9]+)\)")


class OperationError(Exception):
    """A Docker operation on a worker failed for a reason worth telling the user."""


@dataclass(frozen=True, slots=True)
class DockerHost:
    """One Docker daemon: its node name, its address, capacity and labels."""

    name: str
    address: str
    capacity: Resources
    labels: frozenset[str] = field(default_factory=frozenset)

    def node(self) -> Node:
        """The node the scheduler sees for this host."""
        return Node(self.name, self.capacity, self.labels)


def default_address() -> str:
    """``$DOCKER_HOST`` if set, else the local daemon's socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_ADDRESS


class Options:
    """The ``[backend_options]`` table of a Docker backend, read with checks.

    An option the backend does not read, or a value of the wrong kind or out of
    its range, raises :class:`InvalidInput` naming the option and what it takes.
    """

    def __init__(
        self, backend: str, options: Mapping[str, Any], valid: Sequence[str]
    ) -> None:
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise InvalidInput(
                f"{backend} backend: unknown option {unknown[0]!r} in "
                f"[backend_options]; valid options: {', '.join(valid)}"
            )
        self.backend = backend
        self.options = options

    def seconds(self, key: str, default: float, *, positive: bool = False) -> float:
        """A number of seconds up to :data:`MAX_SECONDS`: >= 0, or > 0 if
        ``positive``."""
        value = self.options.get(key, default)
        low = "> 0" if positive else ">= 0"
        expected = f"a number of seconds {low} and at most {MAX_SECONDS}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fault(key, value, expected)
        if not (0 <= value <= MAX_SECONDS) or (positive and value == 0):
            raise self._fault(key, value, expected)  # NaN fails the range too
        return float(value)

    def count(self, key: str, default: int) -> int:
        """An integer from 1 to :data:`MAX_WORKERS`."""
        value = self.options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fault(key, value, f"an integer from 1 to {MAX_WORKERS}")
        if not 1 <= value <= MAX_WORKERS:
            raise self._fault(key, value, f"an integer from 1 to {MAX_WORKERS}")
        return value

    def text(self, key: str, default: str) -> str:
        """A non-empty string."""
        value = self.options.get(key, default)
        if not isinstance(value, str) or not value:
            raise self._fault(key, value, "a non-empty string")
        return value

    def choice(self, key: str, default: str, valid: Mapping[str, str]) -> str:
        """One of ``valid``'s keys (its values say what each means)."""
        value = self.options.get(key, default)
        if not isinstance(value, str) or value not in valid:
            meanings = ", ".join(f"{k!r} ({v})" for k, v in valid.items())
            raise self._fault(key, value, f"one of {meanings}")
        return str(value)

    def api_version(self, key: str = "api_version") -> str:
        """``auto`` or a Docker API version ``1.NN`` that docker-py supports."""
        value = self.options.get(key, "auto")
        if value == "auto":
            return "auto"
        expected = (
            f"'auto' or a Docker API version from {MINIMUM_API_VERSION} to "
            f"{DEFAULT_API_VERSION}, written like '1.41'"
        )
        if not isinstance(value, str) or not _API_VERSION.fullmatch(value):
            raise self._fault(key, value, expected)
        low, high = _version_key(MINIMUM_API_VERSION), _version_key(DEFAULT_API_VERSION)
        if not low <= _version_key(value) <= high:
            raise self._fault(key, value, expected)
        return value

    def _fault(self, key: str, value: object, expected: str) -> InvalidInput:
        return InvalidInput(
            f"{self.backend} backend: [backend_options] {key} = {value!r}; "
            f"expected {expected}"
        )


def hosts_from_options(options: Mapping[str, Any]) -> list[DockerHost] | None:
    """The configured hosts, or None when ``hosts`` is not given.

    Raises :class:`InvalidCluster` naming the faulty host by its name (or its
    position and address when it has no name).
    """
    entries = options.get("hosts")
    if entries is None:
        return None
    if not isinstance(entries, list) or not entries:
        raise InvalidCluster(
            "[backend_options] hosts: expected a non-empty list of hosts"
        )
    hosts = [_host_of(entry, i) for i, entry in enumerate(entries)]
    names = [h.name for h in hosts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidCluster(
            f"[backend_options] hosts: duplicate host names {duplicates}"
        )
    return hosts


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


_HOST_FIELDS = {
    "name": "a non-empty string",
    "cores": "a number such as 8",
    "memory": 'a size such as "32GiB"',
}


def _host_of(entry: object, index: int) -> DockerHost:
    where = _host_where(entry, index)
    if isinstance(entry, Mapping):
        for key, example in _HOST_FIELDS.items():
            if entry.get(key) is None:
                raise InvalidCluster(f"{where}: {key} is missing ({example})")
    node = node_from_entry(entry, where, extra=frozenset({"address"}))
    # node_from_entry has refused anything but a mapping
    address = cast(Mapping[str, Any], entry).get("address", DEFAULT_ADDRESS)
    if not isinstance(address, str) or "://" not in address:
        raise InvalidCluster(
            f"{where}: address = {address!r}; expected unix:///path or tcp://host:port"
        )
    return DockerHost(node.name, address, node.capacity, node.labels)


def _host_where(entry: object, index: int) -> str:
    """How a message names a host entry: by name, else position and address."""
    if not isinstance(entry, Mapping):
        return f"[backend_options] hosts: entry {index + 1}"
    name, address = entry.get("name"), entry.get("address")
    if isinstance(name, str) and name:
        return f"[backend_options] hosts: host {name!r}"
    at = f" (address {address})" if isinstance(address, str) and address else ""
    return f"[backend_options] hosts: entry {index + 1}{at}"


# -- events ---------------------------------------------------------------------------


def exit_reason(exit_code: int | None, oom: bool) -> str | None:
    """Why a container exited, beyond its code: OOM or a signal."""
    if oom:
        return "out of memory (killed by the kernel's OOM killer)"
    if exit_code is not None and exit_code > 128:
        return f"killed by signal {exit_code - 128}"
    return None


def exit_code_of_status(status: str) -> int | None:
    """The exit code in a container list's ``Status`` (``Exited (137) 2s ago``)."""
    match = _EXIT_STATUS.match(status)
    return int(match.group(1)) if match else None


def label_filters(deployment: str, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Docker filters for the containers of ``deployment``."""
    return {"label": [f"{LABEL_DEPLOYMENT}={deployment}", *extra]}


# -- messages of the threads ----------------------------------------------------


def drain(
    messages: queue.Queue[Any], handle: Callable[..., None], timeout: float = 0.0
) -> None:
    """Call ``handle(*message)`` for every message the threads put on ``messages``,
    waiting up to ``timeout`` seconds for the first (not at all with 0)."""
    try:
        message = messages.get(timeout=timeout) if timeout > 0 else None
    except queue.Empty:
        return
    while True:
        if message is not None:
            handle(*message)
        try:
            message = messages.get_nowait()
        except queue.Empty:
            return


# -- clients and event streams --------------------------------------------------------


def connect(address: str, timeout: float, version: str = "auto") -> docker.APIClient:
    """A low-level client of the daemon at ``address``; raises if it is silent.

    ``auto`` asks the daemon its API version (closing the probe's connection
    even when the daemon does not answer).
    """
    check_reachable(address, timeout)
    if version == "auto":
        probe = docker.APIClient(
            base_url=address, version=MINIMUM_API_VERSION, timeout=timeout
        )
        try:
            version = str(probe.version(api_version=False)["ApiVersion"])
        finally:
            probe.close()
        if _version_key(version) > _version_key(DEFAULT_API_VERSION):
            version = DEFAULT_API_VERSION
    return docker.APIClient(base_url=address, version=version, timeout=timeout)


def ping_failure(open_client: Callable[[], docker.APIClient]) -> str | None:
    """None if a client made by ``open_client`` answers a ping (and is closed),
    else why not."""
    try:
        client = open_client()
        try:
            client.ping()
        finally:
            client.close()
    except UNREACHABLE as exc:
        return str(exc)
    return None


def check_reachable(address: str, timeout: float) -> None:
    """Raise :class:`docker.errors.DockerException` unless ``address`` accepts.

    Connecting ourselves first closes the socket of a failed attempt, which the
    SDK's own unix socket connection leaves open.
    """
    scheme, _, rest = address.partition("://")
    try:
        if scheme == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(timeout)
                probe.connect(rest)
        elif scheme in ("tcp", "http", "https"):
            host, _, port = rest.rstrip("/").rpartition(":")
            socket.create_connection((host, int(port)), timeout).close()
    except (OSError, ValueError) as exc:
        raise docker.errors.DockerException(f"{address}: {exc}") from None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


class Watcher(threading.Thread):
    """Reads one host's event stream into the backend's queue; notes up and down."""

    def __init__(
        self, host: DockerHost, deployment: str, out: queue.Queue[Any], timeout: float
    ) -> None:
        super().__init__(name=f"zoe-docker-events-{host.name}", daemon=True)
        self.host, self.deployment, self.out = host, deployment, out
        self.timeout = timeout
        self.stopping = threading.Event()
        self.since = int(time.time())
        self._stream: Any = None

    def run(self) -> None:
        up: bool | None = None
        while not self.stopping.is_set():
            why = "the event stream ended"
            try:
                client = connect(self.host.address, self.timeout)
                try:
                    client.ping()
                    if up is not True:
                        self.out.put(("up", self.host.name, None))
                        up = True
                    self._follow(client)
                finally:
                    client.close()
            except UNREACHABLE as exc:
                why = str(exc)
            except Exception as exc:  # the thread must outlive any one failure
                log.error(
                    "docker: event stream of host %s failed, retrying: %r",
                    self.host.name,
                    exc,
                    exc_info=True,
                )
                why = f"reading the event stream failed: {exc!r}"
            if self.stopping.is_set():
                return
            if up is not False and not self._answers():
                self.out.put(("down", self.host.name, why))
                up = False
            self.stopping.wait(RETRY_DURATION)

    def _answers(self) -> bool:
        return ping_failure(lambda: connect(self.host.address, self.timeout)) is None

    def _follow(self, client: docker.APIClient) -> None:
        filters = {"type": "container", **label_filters(self.deployment)}
        self._stream = client.events(since=self.since, filters=filters, decode=True)
        for raw in self._stream:
            self.since = max(self.since, int(raw.get("time", self.since)))
            self.out.put(("event", self.host.name, raw))

    def stop(self) -> None:
        self.stopping.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a broken stream may fail; it is gone anyway
                log.debug("docker: closing the event stream of %s", self.host.name)


class Operations:
    """Docker calls run off the master's thread, by a few worker threads.

    A job is a callable taking a client of its host; jobs with the same ``key``
    (a backend id) run in the order given, on the same worker. When a job ends,
    ``("done", host, key)`` is put on ``out``, or ``("failed", host, (key,
    reason))`` if it raised.
    """

    def __init__(
        self,
        hosts: Mapping[str, DockerHost],
        out: queue.Queue[Any],
        *,
        timeout: float,
        api_version: str,
        workers: int = 4,
    ) -> None:
        self.hosts, self.out = hosts, out
        self.timeout, self.api_version = timeout, api_version
        self._queues: list[queue.Queue[Any]] = [queue.Queue() for _ in range(workers)]
        self._threads = [
            threading.Thread(
                target=self._work, args=(q,), name=f"zoe-docker-ops-{i}", daemon=True
            )
            for i, q in enumerate(self._queues)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, host: str, key: str, job: Any) -> None:
        """Run ``job(client)`` on a worker; ordered with the other jobs of ``key``."""
        index = sum(key.encode()) % len(self._queues)
        self._queues[index].put((host, key, job))

    def close(self, wait: float = 10.0) -> None:
        """Finish the queued jobs (for at most ``wait`` seconds), then stop."""
        for q in self._queues:
            q.put(None)
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self, jobs: queue.Queue[Any]) -> None:
        clients: dict[str, Any] = {}
        while (item := jobs.get()) is not None:
            host, key, job = item
            try:
                client = clients.get(host)
                if client is None:
                    address = self.hosts[host].address
                    client = connect(address, self.timeout, self.api_version)
                    clients[host] = client
                else:
                    check_reachable(self.hosts[host].address, self.timeout)
                job(client)
                self.out.put(("done", host, key))
            except OperationError as exc:
                self.out.put(("failed", host, (key, str(exc))))
            except docker.errors.APIError as exc:
                self.out.put(("failed", host, (key, f"host {host}: {exc}")))
            except UNREACHABLE as exc:
                stale = clients.pop(host, None)
                if stale is not None:
                    stale.close()
                self.out.put(("failed", host, (key, f"host {host}: {exc}")))
            except Exception as exc:  # reported to the master as a failed service
                log.exception("docker: operation on %s (host %s) failed", key, host)
                self.out.put(("failed", host, (key, f"host {host}: {exc}")))
        for client in clients.values():
            client.close()


def ensure_network(client: Any, name: str, labels: Mapping[str, str]) -> None:
    """Create the bridge network ``name`` unless it exists."""
    with _NETWORK_LOCK:  # two workers must not both make it (names may repeat)
        if any(n["Name"] == name for n in client.networks(names=[name])):
            return
        try:
            client.create_network(
                name, driver="bridge", labels=dict(labels), check_duplicate=True
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: made meanwhile by another process
                raise


def remove_container(client: Any, container: str, timeout: float) -> None:
    """Kill and remove ``container``; done once it is gone.

    A removal already under way elsewhere (``docker rm -f``: 409 "removal ...
    is already in progress") counts as this one: it waits up to ``timeout``
    seconds for the container to be gone.
    """
    try:
        client.remove_container(container, force=True)
        return
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if not _removal_in_progress(exc):
            raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.inspect_container(container)
        except docker.errors.NotFound:
            return
        time.sleep(0.05)
    raise OperationError(
        f"container {container}: its removal by another client did not end "
        f"within {timeout:g}s"
    )


def _removal_in_progress(exc: docker.errors.APIError) -> bool:
    return exc.status_code == 409 and "in progress" in str(exc.explanation or exc)


def drop_network_if_unused(
    client: Any, name: str, deployment: str, execution: str
) -> bool:
    """Remove network ``name`` once no container of ``execution`` is left;
    whether this call removed it."""
    extra = [f"{LABEL_EXECUTION}={execution}"]
    with _NETWORK_LOCK:
        if client.containers(all=True, filters=label_filters(deployment, extra)):
            return False
        try:
            client.remove_network(name)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: in use again (a container was made)
                raise
            return False
        return True


def drop_unused_networks(
    client: Any, host: str, deployment: str, in_use: set[str]
) -> list[str]:
    """Remove the networks of ``deployment``'s executions that are not ``in_use``
    (execution ids) and hold no container of their execution; their names.

    Such a network is left behind when its last container went while no master
    ran. A deployment's shared network (no execution label) is kept.
    """
    dropped = []
    for row in client.networks(filters=label_filters(deployment)):
        execution = (row.get("Labels") or {}).get(LABEL_EXECUTION)
        if execution is None or execution in in_use:
            continue
        name = str(row["Name"])
        if drop_network_if_unused(client, name, deployment, execution):
            log.info(
                "docker: host %s: removed network %s: no container of execution %s "
                "is left",
                host,
                name,
                execution,
            )
            dropped.append(name)
    return dropped
