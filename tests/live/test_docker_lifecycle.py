"""The engine backend on a real daemon when things happen outside Zoe: removals
by hand, recovery of exits, leftover networks, names on a shared network, CPU
limits above the host's, and threads meeting an unexpected failure."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from docker_fixtures import TEST_IMAGE, api
from master_harness import wait_for
from test_docker_engine import SLEEP, events_until, launch

from zoe.core.resources import Resources
from zoe.live.backends import (
    ExecutionInfo,
    ServiceEvent,
    ServiceEventKind,
    service_labels,
)
from zoe.live.backends.docker_common import DockerHost
from zoe.live.backends.docker_engine import DockerEngineBackend

pytestmark = pytest.mark.integration

GIB = 1024**3
MIB = 1024**2
REMOVED = "container removed outside Zoe"


def backend_of(address: str, deployment: str, **options: Any) -> DockerEngineBackend:
    host = DockerHost("local", address, Resources(2000, GIB))
    return DockerEngineBackend([host], deployment=deployment, **options)


@pytest.fixture
def engine(
    docker_address: str, docker_deployment: str
) -> Iterator[DockerEngineBackend]:
    backend = backend_of(docker_address, docker_deployment, reconcile_duration=60.0)
    try:
        yield backend
    finally:
        backend.close()


def exits(events: list[ServiceEvent]) -> list[tuple[str, int | None, str | None]]:
    return [
        (e.backend_id, e.exit_code, e.reason)
        for e in events
        if e.kind is ServiceEventKind.EXITED
    ]


def test_a_container_removed_by_hand_is_reported_so_and_its_network_goes(
    engine: DockerEngineBackend, docker_address: str, docker_deployment: str
) -> None:
    backend_id = engine.create(launch(docker_deployment, "s-0", SLEEP))
    engine.start(backend_id)
    events_until(engine, 1)
    client = api(docker_address)
    network = f"zoe-{docker_deployment}-7"
    try:
        client.remove_container(f"zoe-{docker_deployment}-7-s-0", force=True)
        exited = events_until(engine, 1)
        # the network goes with its last container, before the master removes it
        wait_for(lambda: [engine.poll_events(0.05)] and not client.networks([network]))
        engine.remove(backend_id)
    finally:
        client.close()

    assert [(e.kind, e.reason) for e in exited] == [(ServiceEventKind.EXITED, REMOVED)]


def test_a_removal_under_way_by_hand_counts_as_zoes_and_the_network_goes(
    engine: DockerEngineBackend, docker_address: str, docker_deployment: str
) -> None:
    # 10000 files in its layer: removing the container takes a moment
    slow = "mkdir /d && cd /d && seq 1 10000 | xargs touch && touch /ready; sleep 600"
    backend_id = engine.create(launch(docker_deployment, "s-0", ["sh", "-c", slow]))
    engine.start(backend_id)
    events_until(engine, 1)
    name = f"zoe-{docker_deployment}-7-s-0"
    client, outside = api(docker_address), api(docker_address)
    try:
        wait_for(lambda: _has_file(client, name, "/ready"), 30)
        remover = threading.Thread(
            target=outside.remove_container, args=(name,), kwargs={"force": True}
        )
        remover.start()
        wait_for(lambda: _status(client, name) == "removing", 10, 0.005)
        engine.remove(backend_id)  # as the master does when it sees the exit
        wait_for(lambda: not client.networks([f"zoe-{docker_deployment}-7"]), 15)
        remover.join(15)
    finally:
        client.close()
        outside.close()


def _has_file(client: Any, container: str, path: str) -> bool:
    made = client.exec_create(container, ["test", "-e", path])
    client.exec_start(made["Id"])
    return client.exec_inspect(made["Id"])["ExitCode"] == 0


def _status(client: Any, container: str) -> str:
    return str(client.inspect_container(container)["State"]["Status"])


def test_a_container_killed_by_hand_is_still_reported_killed_by_its_signal(
    engine: DockerEngineBackend, docker_address: str, docker_deployment: str
) -> None:
    backend_id = engine.create(launch(docker_deployment, "s-0", SLEEP))
    engine.start(backend_id)
    events_until(engine, 1)
    client = api(docker_address)
    try:
        client.kill(f"zoe-{docker_deployment}-7-s-0")
        exited = events_until(engine, 1)
    finally:
        client.close()
    engine.remove(backend_id)

    assert exits(exited) == [(backend_id, 137, "killed by signal 9")]


def test_recovery_lists_exits_with_their_code_and_reason_as_they_were_reported(
    docker_address: str, docker_deployment: str
) -> None:
    hog = ["sh", "-c", 'x="$(head -c 60000000 /dev/zero | tr "\\000" a)"']
    first = backend_of(docker_address, docker_deployment, reconcile_duration=60.0)
    try:
        oom = first.create(launch(docker_deployment, "m-0", hog, memory=8 * MIB))
        killed = first.create(launch(docker_deployment, "k-0", SLEEP))
        first.start(oom)
        first.start(killed)
        events = events_until(first, 3, timeout=30)
        client = api(docker_address)
        try:
            client.kill(f"zoe-{docker_deployment}-7-k-0")
        finally:
            client.close()
        events += events_until(first, 1)
    finally:
        first.close()
    second = backend_of(docker_address, docker_deployment, reconcile_duration=60.0)
    try:
        listed = second.list_services()
        for service in listed:
            second.remove(service.backend_id)
    finally:
        second.close()  # once the removals queued are done

    recovered = sorted((s.backend_id, s.exit_code, s.reason) for s in listed)
    assert recovered == [
        (killed, 137, "killed by signal 9"),
        (oom, 137, "out of memory (killed by the kernel's OOM killer)"),
    ]
    assert sorted(exits(events)) == recovered


def test_networks_no_execution_uses_are_removed_when_the_backend_takes_up(
    docker_address: str, docker_deployment: str
) -> None:
    client = api(docker_address)
    shared = f"zoe-{docker_deployment}"
    client.create_network(shared, labels={"zoe.deployment": docker_deployment})
    for execution in (98, 99):
        labels = {"zoe.deployment": docker_deployment, "zoe.execution": f"{execution}"}
        client.create_network(f"{shared}-{execution}", labels=labels)
    # execution 98 still has a (stopped) container: its network stays
    client.create_container(
        TEST_IMAGE,
        SLEEP,
        name=f"{shared}-98-s-0",
        labels=service_labels(docker_deployment, 98, 1, "s-0"),
        host_config=client.create_host_config(network_mode=f"{shared}-98"),
    )
    backend = backend_of(docker_address, docker_deployment, reconcile_duration=60.0)
    try:
        listed = backend.list_services()
        left = sorted(
            n["Name"] for n in client.networks(filters=_of(docker_deployment))
        )
        backend.remove(listed[0].backend_id)
        wait_for(lambda: not client.networks([f"{shared}-98"]))
    finally:
        backend.close()
        client.remove_network(shared)
        client.close()

    assert left == [shared, f"{shared}-98"]


def test_on_a_shared_network_an_execution_reaches_another_only_by_qualified_name(
    docker_address: str, docker_deployment: str
) -> None:
    qualified = f"zoe-{docker_deployment}-7-a-0"
    probe = (
        "nslookup a-0 >/dev/null 2>&1 && exit 11; "
        "nslookup a0 >/dev/null 2>&1 && exit 12; "
        f"nslookup {qualified} >/dev/null 2>&1 || exit 13; "
        f'test "$(hostname)" = zoe-{docker_deployment}-8-b-0 || exit 14'
    )
    other = {
        "name": f"zoe-{docker_deployment}-8-b-0",
        "execution": ExecutionInfo(8, "batch", None, 1, 1),
        "labels": service_labels(docker_deployment, 8, 2, "b-0"),
        "peers": ("b-0",),
    }
    probing = replace(launch(docker_deployment, "b-0", ["sh", "-c", probe]), **other)
    backend = backend_of(docker_address, docker_deployment, shared_network=True)
    client = api(docker_address)
    try:
        server = backend.create(launch(docker_deployment, "a-0", SLEEP))
        backend.start(server)
        events_until(backend, 1)
        prober = backend.create(probing)
        backend.start(prober)
        events = events_until(backend, 2, timeout=60)
        backend.remove(server)
        backend.remove(prober)
        wait_for(
            lambda: not client.containers(all=True, filters=_of(docker_deployment))
        )
    finally:
        backend.close()
        _remove_shared_network(client, docker_deployment)

    assert exits(events) == [(prober, 0, None)]


def _remove_shared_network(client: Any, deployment: str) -> None:
    """Remove the deployment's shared network (it outlives its executions)."""
    try:
        for row in client.containers(all=True, filters=_of(deployment)):
            client.remove_container(row["Id"], force=True)  # a failed test's
        for row in client.networks(names=[f"zoe-{deployment}"]):
            client.remove_network(row["Id"])
    finally:
        client.close()


def test_a_cpu_limit_above_the_host_is_capped_at_its_cpus(
    engine: DockerEngineBackend, docker_address: str, docker_deployment: str
) -> None:
    client = api(docker_address)
    cpus = int(client.info()["NCPU"])
    many = (cpus + 2) * 1000
    backend_id = engine.create(
        launch(docker_deployment, "s-0", SLEEP, max_millicores=many)
    )
    engine.start(backend_id)
    events = events_until(engine, 1)
    try:
        inspected = client.inspect_container(f"zoe-{docker_deployment}-7-s-0")
    finally:
        client.close()
    engine.remove(backend_id)

    assert [e.kind for e in events] == [ServiceEventKind.RUNNING]
    assert inspected["HostConfig"]["NanoCpus"] == cpus * 10**9


def test_the_threads_outlive_an_unexpected_failure_and_log_it(
    docker_address: str,
    docker_deployment: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # an api_version the configuration would refuse makes every client raise
    # ValueError, which is no Docker error
    caplog.set_level(logging.ERROR)
    listing = backend_of(
        docker_address,
        docker_deployment,
        api_version="x.y",
        reconcile_duration=0.1,
        probe_duration=0.0,
    )
    pinging = backend_of(
        docker_address, docker_deployment, api_version="x.y", probe_duration=0.1
    )
    try:
        failed = listing.create(launch(docker_deployment, "s-0", SLEEP))
        listing.start(failed)
        events = events_until(listing, 1)
        wait_for(
            lambda: [listing.poll_events(0.05)] and _logged(caplog, "listing") >= 3
        )
        down = wait_for(lambda: pinging.unavailable_nodes(), 10)
        alive = sorted(t.name for t in threading.enumerate() if t.is_alive())
    finally:
        listing.close()
        pinging.close()

    assert exits(events) == [
        (failed, None, "host local: invalid literal for int() with base 10: 'x'")
    ]
    assert alive.count("zoe-docker-probe-local") == 1
    assert alive.count("zoe-docker-events-local") == 2
    assert down == {"local"}
    assert _logged(caplog, "ping") >= 2


def _logged(caplog: pytest.LogCaptureFixture, what: str) -> int:
    start = {"listing": "docker: listing host local failed", "ping": "docker: ping of"}
    return sum(
        1
        for r in caplog.records
        if r.levelno == logging.ERROR and r.getMessage().startswith(start[what])
    )


def _of(deployment: str) -> dict[str, list[str]]:
    return {"label": [f"zoe.deployment={deployment}"]}
