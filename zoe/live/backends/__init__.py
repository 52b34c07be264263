"""The backend interface: what the master asks of whatever runs its containers.

A backend carries out the master's decisions on real or simulated hosts. The
master owns every decision and every record; a backend only acts and reports::

    master ── create(ServiceLaunch) ──> backend      a container exists, not started
           ── start(backend_id) ──────>              it runs (a RUNNING event follows)
           ── remove(backend_id) ─────>              it is stopped and gone
           <── poll_events(timeout) ───              RUNNING / EXITED events
           <── list_services() ────────              what runs now, with its labels
           <── nodes() ────────────────              the hosts and their capacities

Every container carries the labels of :func:`service_labels` (deployment,
execution, service id and name), so that a restarted master can adopt what runs
and remove what it does not know. A backend never touches the state database and
never decides where a service goes: the node is in the launch.

Three methods are optional, found by the master with ``getattr``:
``unavailable_nodes() -> set[str]`` (hosts whose capacity must leave the
snapshot), ``usage_samples() -> list[UsageSample]`` (the samples taken since
the last call, which the master writes to the services' rows) and
``endpoints(backend_id) -> dict[str, str]`` (where the published ports of a
running service answer, ``{"8080/tcp": "10.0.0.5:30712"}``: ``PORT/PROTO`` to
the ``host:port`` a client connects to, an IPv6 host in brackets; empty until
they are known and once the service ended; the master records a non-empty
answer once per service). None of them may wait for a host: they answer from
what the backend's own threads found.

Backends are named in :data:`BACKENDS`; :func:`make_backend` builds one from
:class:`BackendSettings` and raises :class:`~zoe.core.errors.UnknownName` listing
the valid names, and an :class:`~zoe.core.errors.InvalidInput` naming the option
for a bad ``[backend_options]`` entry (both input errors: the command exits with
status 2). Failures to act, or to reach what the backend drives, raise
:class:`~zoe.core.errors.BackendError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from zoe.core.errors import UnknownName

if TYPE_CHECKING:
    from zoe.core.cluster import Node

LABEL_DEPLOYMENT = "zoe.deployment"
LABEL_EXECUTION = "zoe.execution"
LABEL_SERVICE = "zoe.service"
LABEL_SERVICE_NAME = "zoe.service.name"


def service_labels(
    deployment: str, execution_id: int, service_id: int, name: str
) -> dict[str, str]:
    """The labels every container of a Zoe service carries."""
    return {
        LABEL_DEPLOYMENT: deployment,
        LABEL_EXECUTION: str(execution_id),
        LABEL_SERVICE: str(service_id),
        LABEL_SERVICE_NAME: name,
    }


@dataclass(frozen=True, slots=True)
class ExecutionInfo:
    """What a backend may want to know of the execution a service belongs to.

    ``work_duration`` is the work of a batch execution in seconds at full
    allocation (the ZApp's size hint or the configured default), ``None`` for an
    interactive one. Only the simulated backend reads it; a Docker backend
    ignores this object.
    """

    execution_id: int
    kind: str
    work_duration: float | None
    service_count: int
    essential_count: int


@dataclass(frozen=True, slots=True)
class ServiceLaunch:
    """Everything needed to create one container of a service on ``node``.

    ``name`` is unique in the deployment; resources are in exact units (the
    reserved minimum and the optional limit). ``labels`` are those of
    :func:`service_labels`. For container backends: ``ports`` are (port,
    protocol) to publish, ``volumes`` (source, target, read only), ``user`` and
    ``execution_name`` those of the execution, ``peers`` the instance names
    (``group-index``) of every service of the execution, for DNS templates.
    """

    name: str
    node: str
    image: str
    command: str | tuple[str, ...] | None
    environment: Mapping[str, str]
    millicores: int
    memory: int
    max_millicores: int | None
    max_memory: int | None
    essential: bool
    labels: Mapping[str, str]
    execution: ExecutionInfo
    ports: tuple[tuple[int, str], ...] = ()
    volumes: tuple[tuple[str, str, bool], ...] = ()
    user: str = ""
    execution_name: str = ""
    peers: tuple[str, ...] = ()


class ServiceState(StrEnum):
    """Where a container is, as the backend sees it."""

    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"


@dataclass(frozen=True, slots=True)
class BackendService:
    """One container the backend holds, as :meth:`Backend.list_services` reports it.

    ``exit_code`` is set once it has exited (``None`` if it was killed without a
    code).
    """

    backend_id: str
    name: str
    node: str
    state: ServiceState
    labels: Mapping[str, str]
    exit_code: int | None = None
    reason: str | None = None


class ServiceEventKind(StrEnum):
    """What happened to a container."""

    RUNNING = "running"
    EXITED = "exited"


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    """A container started running or exited (``exit_code`` 0 means success).

    ``labels`` are the container's, so the master can tell which service it is
    without a lookup. Events of containers the master removed may still arrive;
    the master ignores them.
    """

    backend_id: str
    kind: ServiceEventKind
    labels: Mapping[str, str]
    exit_code: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class UsageSample:
    """The latest resource usage of a container, sampled off the master's thread.

    ``cpu_cores`` is a rate (cores used on average between two readings, so
    ``None`` until a container has two); ``memory`` is in bytes; ``sample_time``
    is the UNIX time of the reading.
    """

    backend_id: str
    labels: Mapping[str, str]
    cpu_cores: float | None
    memory: int
    sample_time: float


class Backend(Protocol):
    """Runs containers for one deployment. Called from the master's one thread.

    Operations raise :class:`~zoe.core.errors.BackendError` with the reason when
    they cannot be carried out; :meth:`remove` of an unknown id does nothing.
    """

    name: str

    def nodes(self) -> list[Node]:
        """The hosts, in the order placement tries them, with capacities and labels."""
        ...

    def create(self, launch: ServiceLaunch) -> str:
        """Create the container of ``launch`` without starting it; its backend id."""
        ...

    def start(self, backend_id: str) -> None:
        """Start a created container; a RUNNING event reports when it runs."""
        ...

    def remove(self, backend_id: str) -> None:
        """Stop the container if it runs and remove it; no event is promised."""
        ...

    def list_services(self) -> list[BackendService]:
        """Every container of this deployment the backend holds, with its labels."""
        ...

    def poll_events(self, timeout: float) -> list[ServiceEvent]:
        """Wait up to ``timeout`` seconds for events; return those that came."""
        ...

    def next_event_delay(self) -> float | None:
        """Seconds until the backend expects an event by itself; None if unknown."""
        ...

    def close(self) -> None:
        """Release what the backend holds in this process (not the containers)."""
        ...


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """What a backend factory is given: the master's settings that concern it.

    ``cluster`` is the ``--cluster`` text (``NxCcMg`` or a JSON file), ``speed``
    the simulated time factor (wall seconds per simulated second), ``options``
    the ``[backend_options]`` table of the configuration file.
    """

    deployment: str
    data_dir: Path
    cluster: str = "4x8c32g"
    speed: float = 1.0
    default_work_duration: float = 60.0
    runtime_model: str = "linear"
    persist: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)


def _simulated(settings: BackendSettings) -> Backend:
    from zoe.live.backends.simulated import SimulatedBackend

    return SimulatedBackend.from_settings(settings)


def _docker_engine(settings: BackendSettings) -> Backend:
    from zoe.live.backends.docker_engine import DockerEngineBackend

    return DockerEngineBackend.from_settings(settings)


def _docker_swarm(settings: BackendSettings) -> Backend:
    from zoe.live.backends.docker_swarm import DockerSwarmBackend

    return DockerSwarmBackend.from_settings(settings)


BACKENDS: dict[str, Callable[[BackendSettings], Backend]] = {
    "simulated": _simulated,
    "docker": _docker_engine,
    "swarm": _docker_swarm,
}


def check_backend_name(name: str) -> None:
    """Raise :class:`UnknownName` unless ``name`` is in :data:`BACKENDS`."""
    if name not in BACKENDS:
        raise UnknownName("backend", name, BACKENDS)


def make_backend(name: str, settings: BackendSettings) -> Backend:
    """Build the backend called ``name``; :class:`UnknownName` for another name,
    :class:`~zoe.core.errors.InvalidInput` for bad options, and
    :class:`~zoe.core.errors.BackendError` when what it drives does not answer."""
    check_backend_name(name)
    return BACKENDS[name](settings)
