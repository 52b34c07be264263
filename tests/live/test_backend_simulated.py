"""The simulated backend: capacity, runtime-model progress, events, persistence."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from zoe.core.cluster import parse_cluster
from zoe.core.errors import BackendError
from zoe.core.resources import Resources
from zoe.live.backends import (
    BACKENDS,
    BackendSettings,
    ExecutionInfo,
    ServiceEventKind,
    ServiceLaunch,
    ServiceState,
    make_backend,
    service_labels,
)
from zoe.live.backends.simulated import SimulatedBackend

GIB = 2**30


def launch(
    service_id: int,
    *,
    node: str = "node-0",
    essential: bool = True,
    work: float | None = 2.0,
    total: int = 1,
    essentials: int = 1,
    cores: int = 1000,
) -> ServiceLaunch:
    kind = "batch" if work is not None else "interactive"
    return ServiceLaunch(
        f"svc-{service_id}",
        node,
        "busybox",
        None,
        {},
        cores,
        GIB,
        None,
        None,
        essential,
        service_labels("test", 7, service_id, f"svc-{service_id}"),
        ExecutionInfo(7, kind, work, total, essentials),
    )


def backend(speed: float = 1.0, state_file: Path | None = None) -> SimulatedBackend:
    nodes = parse_cluster("2x2c4g")
    return SimulatedBackend(
        nodes, deployment="test", speed=speed, state_file=state_file
    )


def test_the_rate_follows_the_linear_model_of_the_running_services() -> None:
    sim = backend(speed=1.0)
    core = sim.create(launch(1, total=2, essentials=1))
    extra = sim.create(launch(2, essential=False, total=2, essentials=1))

    assert sim.next_event_delay() is None  # nothing runs: no progress
    sim.start(core)
    # 2 s of work at rate 1/2 (one of two services): 4 s to go
    assert sim.poll_events(0)[0].kind is ServiceEventKind.RUNNING
    assert sim.next_event_delay() == pytest.approx(4.0, abs=0.05)
    sim.start(extra)
    sim.poll_events(0)
    # both run: rate 1, about 2 s of work left
    assert sim.next_event_delay() == pytest.approx(2.0, abs=0.05)


def test_a_batch_execution_ends_by_itself_with_exit_code_zero() -> None:
    sim = backend(speed=0.001)  # 2 simulated seconds take 2 ms
    backend_id = sim.create(launch(1))
    sim.start(backend_id)

    events = sim.poll_events(0)
    deadline = time.monotonic() + 5
    while len(events) < 2 and time.monotonic() < deadline:
        events += sim.poll_events(0.05)

    assert [e.kind for e in events] == [
        ServiceEventKind.RUNNING,
        ServiceEventKind.EXITED,
    ]
    assert events[1].exit_code == 0
    assert events[1].labels["zoe.service"] == "1"
    assert sim.allocated("node-0") == Resources(0, 0)
    assert sim.list_services()[0].state is ServiceState.EXITED


def test_an_interactive_execution_never_ends_and_can_be_failed() -> None:
    sim = backend(speed=0.001)
    backend_id = sim.create(launch(1, work=None))
    sim.start(backend_id)
    assert sim.next_event_delay() == 0.0  # the RUNNING event waits
    sim.poll_events(0)
    assert sim.next_event_delay() is None

    sim.fail(backend_id, exit_code=3, reason="oom")

    [event] = sim.poll_events(0)
    assert (event.kind, event.exit_code, event.reason) == (
        ServiceEventKind.EXITED,
        3,
        "oom",
    )


def test_launches_over_capacity_or_on_unknown_nodes_are_refused() -> None:
    sim = backend()
    sim.create(launch(1, cores=1500))
    with pytest.raises(BackendError, match="does not fit"):
        sim.create(launch(2, cores=1000))
    with pytest.raises(BackendError, match="node-9"):
        sim.create(launch(3, node="node-9"))
    with pytest.raises(BackendError, match="no container"):
        sim.start("sim-99")
    sim.remove("sim-99")  # unknown: nothing happens
    assert sim.allocated("node-0") == Resources(1500, GIB)


def test_a_restarted_backend_finds_its_containers_and_their_progress(
    tmp_path: Path,
) -> None:
    state = tmp_path / "sim.json"
    first = backend(speed=1.0, state_file=state)
    running = first.create(launch(1, work=10.0, total=2, essentials=2))
    waiting = first.create(launch(2, node="node-1", work=10.0, total=2, essentials=2))
    first.start(running)
    first.start(waiting)
    first.close()

    again = backend(speed=1.0, state_file=state)

    listed = {s.backend_id: s for s in again.list_services()}
    assert set(listed) == {running, waiting}
    assert listed[running].state is ServiceState.RUNNING
    assert listed[waiting].node == "node-1"
    assert again.allocated("node-1") == Resources(1000, GIB)
    assert again.next_event_delay() == pytest.approx(10.0, abs=0.1)
    assert again.create(launch(3)) not in {running, waiting}


def test_backends_are_looked_up_by_name(tmp_path: Path) -> None:
    settings = BackendSettings("test", tmp_path, "3x1c1g", 0.5, persist=False)
    built = make_backend("simulated", settings)
    assert [n.name for n in built.nodes()] == ["node-0", "node-1", "node-2"]
    assert "simulated" in BACKENDS
    with pytest.raises(
        Exception, match="unknown backend 'kubernetes'; valid backends: "
    ):
        make_backend("kubernetes", settings)
