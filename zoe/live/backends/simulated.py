"""A backend that runs the simulator's cluster in real time, inside the master.

:class:`SimulatedBackend` keeps containers in memory on the nodes of a cluster
(exact accounting by :class:`~zoe.core.cluster.Cluster`) and drives their
progress with SimPy's :class:`simpy.rt.RealtimeEnvironment`: one simulated second
takes ``speed`` wall-clock seconds (``speed=0.001`` runs 1000 times faster than
real time). A batch execution's work is the ``work_duration`` of its launches
(seconds at full allocation); it progresses at the rate the runtime model gives
for its running services while all its essential services run, and when the
work is done its running containers exit with code 0. Interactive executions
never end by themselves. :meth:`SimulatedBackend.fail` makes a container exit
with an error, for tests and demonstrations.

The environment is advanced only when the master calls in (every public method
first brings simulated time up to the wall clock), so nothing runs on another
thread; a lock still makes the test hook :meth:`~SimulatedBackend.fail` safe to
call from another thread.

Persistence: with a ``state_file``, the containers and the remaining work of
each execution are written to it (atomically, by renaming) after every change,
and read back at start. A restarted master thus finds what ran before it was
killed, with the progress of the last save; without a state file a restart
loses everything, as a host that rebooted would.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import simpy.rt

from zoe.core.cluster import Cluster, Node, ServiceRef
from zoe.core.errors import BackendError, CapacityError, NotFound
from zoe.core.resources import Resources
from zoe.live.backends import (
    BackendService,
    ExecutionInfo,
    ServiceEvent,
    ServiceEventKind,
    ServiceLaunch,
    ServiceState,
)
from zoe.sim.clusters import load_nodes
from zoe.sim.runtime import make_runtime_model

if TYPE_CHECKING:
    from zoe.live.backends import BackendSettings
    from zoe.sim.runtime import RuntimeModel

STATE_FILE_NAME = "simulated-backend.json"


class _Container:
    __slots__ = ("backend_id", "exit_code", "launch", "reason", "state")

    def __init__(self, backend_id: str, launch: ServiceLaunch) -> None:
        self.backend_id = backend_id
        self.launch = launch
        self.state = ServiceState.CREATED
        self.exit_code: int | None = None
        self.reason: str | None = None


class _Execution:
    """Progress of one execution: remaining work at ``last_time`` and the rate."""

    __slots__ = ("containers", "info", "last_time", "rate", "remaining", "version")

    def __init__(self, info: ExecutionInfo, remaining: float | None) -> None:
        self.info = info
        self.remaining = remaining
        self.rate = 0.0
        self.last_time = 0.0
        self.version = 0
        self.containers: dict[str, _Container] = {}

    def remaining_at(self, now: float) -> float | None:
        if self.remaining is None:
            return None
        return max(0.0, self.remaining - self.rate * (now - self.last_time))


class SimulatedBackend:
    """Containers on a simulated cluster whose executions end by themselves.

    ``speed`` is the wall-clock seconds of one simulated second; ``runtime_model``
    a name of :func:`zoe.sim.runtime.make_runtime_model`. Raises
    :class:`BackendError` for a launch on an unknown node or over capacity, and
    for an operation on an unknown container (except :meth:`remove`).
    """

    name = "simulated"

    def __init__(
        self,
        nodes: list[Node],
        *,
        deployment: str,
        speed: float = 1.0,
        runtime_model: str | RuntimeModel = "linear",
        state_file: Path | None = None,
    ) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise BackendError(f"speed must be a number above 0; got {speed!r}")
        self.deployment = deployment
        self.speed = speed
        self._nodes = list(nodes)
        self._cluster = Cluster(self._nodes)
        self._model = (
            make_runtime_model(runtime_model)
            if isinstance(runtime_model, str)
            else runtime_model
        )
        self._env = simpy.rt.RealtimeEnvironment(factor=speed, strict=False)
        self._lock = threading.RLock()
        self._containers: dict[str, _Container] = {}
        self._executions: dict[int, _Execution] = {}
        self._events: list[ServiceEvent] = []
        self._next_id = 1
        self._state_file = state_file
        self._dirty = False
        if state_file is not None and state_file.exists():
            self._load(state_file)

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> SimulatedBackend:
        """Build one from the master's settings; the state file is in ``data_dir``."""
        state_file = None
        if settings.persist:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            state_file = settings.data_dir / STATE_FILE_NAME
        return cls(
            load_nodes(settings.cluster),
            deployment=settings.deployment,
            speed=settings.speed,
            runtime_model=settings.runtime_model,
            state_file=state_file,
        )

    # -- the Backend interface ---------------------------------------------------

    def nodes(self) -> list[Node]:
        """The simulated nodes, in cluster order."""
        return list(self._nodes)

    def add_node(self, node: Node) -> None:
        """A node joins the simulated cluster (after the others, empty)."""
        with self._lock:
            self._cluster.add_node(node)
            self._nodes.append(node)
            self._dirty = True
            self._save()

    def create(self, launch: ServiceLaunch) -> str:
        """Reserve the launch's resources on its node; the container is created."""
        with self._lock:
            self._advance()
            backend_id = f"sim-{self._next_id}"
            self._next_id += 1
            demand = Resources(launch.millicores, launch.memory)
            try:
                self._cluster.allocate(
                    ServiceRef(backend_id, 0, 0), launch.node, demand
                )
            except (CapacityError, NotFound) as exc:
                raise BackendError(f"simulated backend: {launch.name}: {exc}") from exc
            container = _Container(backend_id, launch)
            self._containers[backend_id] = container
            info = launch.execution
            run = self._executions.get(info.execution_id)
            if run is None:
                run = _Execution(info, info.work_duration)
                run.last_time = self._env.now
                self._executions[info.execution_id] = run
            run.containers[backend_id] = container
            self._save()
            return backend_id

    def start(self, backend_id: str) -> None:
        """Run a created container at once; a RUNNING event follows."""
        with self._lock:
            self._advance()
            container = self._get(backend_id)
            if container.state is not ServiceState.CREATED:
                raise BackendError(
                    f"simulated backend: {backend_id} is {container.state}, not created"
                )
            container.state = ServiceState.RUNNING
            self._emit(container, ServiceEventKind.RUNNING)
            self._retime(self._executions[container.launch.execution.execution_id])
            self._save()

    def remove(self, backend_id: str) -> None:
        """Stop and forget a container; unknown ids are ignored."""
        with self._lock:
            self._advance()
            container = self._containers.pop(backend_id, None)
            if container is None:
                return
            if container.state is not ServiceState.EXITED:
                self._cluster.release(ServiceRef(backend_id, 0, 0))
            eid = container.launch.execution.execution_id
            run = self._executions[eid]
            run.containers.pop(backend_id, None)
            if run.containers:
                self._retime(run)
            else:
                del self._executions[eid]
            self._save()

    def list_services(self) -> list[BackendService]:
        """Every container held, in creation order."""
        with self._lock:
            self._advance()
            return [
                BackendService(
                    c.backend_id,
                    c.launch.name,
                    c.launch.node,
                    c.state,
                    dict(c.launch.labels),
                    c.exit_code,
                    c.reason,
                )
                for c in self._containers.values()
            ]

    def poll_events(self, timeout: float) -> list[ServiceEvent]:
        """Events since the last call, waiting up to ``timeout`` for the next one."""
        with self._lock:
            self._advance()
            if not self._events and timeout > 0:
                delay = self.next_event_delay()
                if delay is not None and delay <= timeout:
                    time.sleep(delay)
                    self._advance()
            events, self._events = self._events, []
            return events

    def next_event_delay(self) -> float | None:
        """Wall-clock seconds until the next simulated event (0 if events wait)."""
        with self._lock:
            if self._events:
                return 0.0
            upcoming = self._env.peek()
            if math.isinf(upcoming):
                return None
            return max(0.0, (upcoming - self._sim_now()) * self.speed)

    def close(self) -> None:
        """Write the state file one last time; the containers are kept in it."""
        with self._lock:
            self._dirty = True
            self._save()

    # -- for tests and demonstrations --------------------------------------------------

    def fail(self, backend_id: str, exit_code: int = 1, reason: str = "failed") -> None:
        """Make a running container exit with ``exit_code`` (an EXITED event)."""
        with self._lock:
            self._advance()
            container = self._get(backend_id)
            if container.state is not ServiceState.RUNNING:
                raise BackendError(f"simulated backend: {backend_id} is not running")
            self._exit(container, exit_code, reason)
            self._retime(self._executions[container.launch.execution.execution_id])
            self._save()

    def allocated(self, node: str) -> Resources:
        """What the containers on ``node`` hold (created or running)."""
        with self._lock:
            free = self._cluster.free(node)
            capacity = next(n.capacity for n in self._nodes if n.name == node)
            return capacity - free

    # -- simulated time ----------------------------------------------------------------

    def _sim_now(self) -> float:
        env = self._env
        return env.env_start + (time.monotonic() - env.real_start) / self.speed

    def _advance(self) -> None:
        """Process every simulated event up to the wall clock's now."""
        env, target = self._env, self._sim_now()
        if target > env.now:
            # a tick at ``target`` brings the clock there; everything due runs first
            env.timeout(target - env.now)
            while env.peek() <= target:
                env.step()
        if self._dirty:
            self._save()

    def _retime(self, run: _Execution) -> None:
        """Bring ``run``'s progress up to now and schedule its completion."""
        now = self._env.now
        run.remaining = run.remaining_at(now)
        run.last_time = now
        running = [
            c for c in run.containers.values() if c.state is ServiceState.RUNNING
        ]
        essential = sum(1 for c in running if c.launch.essential)
        rate = 0.0
        if running and essential == run.info.essential_count:
            rate = self._model.rate(len(running), run.info.service_count, None)
        run.rate = rate
        run.version += 1
        if rate > 0 and run.remaining is not None:
            done = self._env.timeout(run.remaining / rate, value=run.version)
            done.callbacks.append(functools.partial(self._complete, run))

    def _complete(self, run: _Execution, event: simpy.Event) -> None:
        if event.value != run.version:
            return
        run.remaining = 0.0
        run.rate = 0.0
        run.version += 1
        for container in list(run.containers.values()):
            if container.state is ServiceState.RUNNING:
                self._exit(container, 0, "work done")
        self._dirty = True

    def _exit(self, container: _Container, exit_code: int, reason: str) -> None:
        container.state = ServiceState.EXITED
        container.exit_code = exit_code
        container.reason = reason
        self._cluster.release(ServiceRef(container.backend_id, 0, 0))
        self._emit(container, ServiceEventKind.EXITED)

    def _emit(self, container: _Container, kind: ServiceEventKind) -> None:
        self._events.append(
            ServiceEvent(
                container.backend_id,
                kind,
                dict(container.launch.labels),
                container.exit_code,
                container.reason,
            )
        )

    def _get(self, backend_id: str) -> _Container:
        try:
            return self._containers[backend_id]
        except KeyError:
            raise BackendError(
                f"simulated backend: no container {backend_id!r}"
            ) from None

    # -- persistence -------------------------------------------------------------------

    def _save(self) -> None:
        self._dirty = False
        if self._state_file is None:
            return
        now = self._env.now
        document = {
            "containers": [_container_document(c) for c in self._containers.values()],
            "remaining": {
                str(eid): run.remaining_at(now) for eid, run in self._executions.items()
            },
            "next_id": self._next_id,
        }
        temporary = self._state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(document), encoding="utf-8")
        os.replace(temporary, self._state_file)

    def _load(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BackendError(
                f"simulated backend: cannot read its state file {path} ({exc}); "
                "remove it to start with an empty cluster"
            ) from exc
        self._next_id = int(document["next_id"])
        for entry in document["containers"]:
            container = _container_of(entry)
            self._containers[container.backend_id] = container
            if container.state is not ServiceState.EXITED:
                demand = Resources(container.launch.millicores, container.launch.memory)
                ref = ServiceRef(container.backend_id, 0, 0)
                self._cluster.allocate(ref, container.launch.node, demand)
            info = container.launch.execution
            run = self._executions.get(info.execution_id)
            if run is None:
                remaining = document["remaining"].get(str(info.execution_id))
                run = self._executions[info.execution_id] = _Execution(info, remaining)
            run.containers[container.backend_id] = container
        for run in self._executions.values():
            self._retime(run)


def _container_document(container: _Container) -> dict[str, Any]:
    launch = dataclasses.asdict(container.launch)
    return {
        "backend_id": container.backend_id,
        "launch": launch,
        "state": container.state.value,
        "exit_code": container.exit_code,
        "reason": container.reason,
    }


def _container_of(entry: dict[str, Any]) -> _Container:
    fields = dict(entry["launch"])
    fields["execution"] = ExecutionInfo(**fields["execution"])
    command = fields["command"]
    fields["command"] = tuple(command) if isinstance(command, list) else command
    container = _Container(entry["backend_id"], ServiceLaunch(**fields))
    container.state = ServiceState(entry["state"])
    container.exit_code = entry["exit_code"]
    container.reason = entry["reason"]
    return container
