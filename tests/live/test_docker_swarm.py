"""The Swarm backend on a single-node swarm the tests create: alone and end to end.

Times here (2 cores): the module about 25 s: the end-to-end test about 9 s, the
others 2 to 4 s each with their cleanup (which removes the test's containers at
once rather than waiting the 6 s Swarm takes for a running task's).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import docker.types
import pytest
from docker_fixtures import TEST_IMAGE, api
from master_harness import master_config, master_thread, wait_final, wait_for
from test_docker_engine import app, service

from zoe.core.errors import BackendError
from zoe.live.backends import (
    ExecutionInfo,
    ServiceEvent,
    ServiceEventKind,
    ServiceLaunch,
    UsageSample,
    service_labels,
)
from zoe.live.backends.docker_swarm import DockerSwarmBackend
from zoe.live.backends.swarm_tasks import GONE_REASON

pytestmark = pytest.mark.integration

MIB = 1024**2
GW = "docker_gwbridge"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)Z (.*)$")


def init_swarm(address: str, advertise: str) -> bool:
    """Make the daemon at ``address`` a single-node swarm; False if it was one."""
    client = api(address)
    active = client.info()["Swarm"]["LocalNodeState"] == "active"
    client.close()
    if not active:
        subprocess.run(
            ["docker", "-H", address, "swarm", "init", "--advertise-addr", advertise],
            check=True,
            capture_output=True,
        )
    return not active


def leave_swarm(address: str) -> None:
    """Leave the swarm, and remove the bridge joining it made on this host."""
    for command in (["swarm", "leave", "--force"], ["network", "rm", GW]):
        subprocess.run(
            ["docker", "-H", address, *command], check=False, capture_output=True
        )


@pytest.fixture(scope="module")
def swarm(docker_address: str) -> Iterator[str]:
    """A single-node swarm on the local daemon; left at the end if the tests made it."""
    made = init_swarm(docker_address, "127.0.0.1")
    try:
        yield docker_address
    finally:
        if made:
            leave_swarm(docker_address)


def remove_services(address: str, deployment: str) -> None:
    """Remove the deployment's services, wait for their containers, drop networks.

    The containers on this daemon are removed at once too: Swarm takes about
    6 s to remove the container of a running task attached to a network.
    """
    client = api(address)
    label = {"label": [f"zoe.deployment={deployment}"]}
    try:
        for row in client.services(filters=label):
            client.remove_service(row["ID"])
        for row in client.containers(all=True, filters=label):
            with contextlib.suppress(docker.errors.APIError):  # gone, or going
                client.remove_container(row["Id"], force=True)
        wait_for(lambda: not client.containers(all=True, filters=label), 30, 0.1)
        for row in client.networks(filters=label):
            wait_for(lambda r=row: _dropped(client, r["Id"]), 10, 0.2)
        # this daemon lists a removed overlay network a little longer
        wait_for(lambda: not client.networks(filters=label), 10, 0.1)
    finally:
        client.close()


def _dropped(client: Any, network: str) -> bool:
    try:
        client.remove_network(network)
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError:
        return False
    return True


@contextlib.contextmanager
def swarm_backend(
    address: str, deployment: str, **options: Any
) -> Iterator[DockerSwarmBackend]:
    """A backend listing every 0.2 s; closed, and the deployment's services
    removed, afterwards (also on failure)."""
    made = DockerSwarmBackend(
        deployment=deployment, address=address, poll_duration=0.2, **options
    )
    try:
        yield made
    finally:
        made.close()
        remove_services(address, deployment)


@pytest.fixture
def backend(swarm: str, docker_deployment: str) -> Iterator[DockerSwarmBackend]:
    """A backend of the test's deployment; its services are removed afterwards."""
    with swarm_backend(swarm, docker_deployment) as made:
        yield made


def launch(
    backend: DockerSwarmBackend,
    name: str,
    command: list[str],
    *,
    service_id: int = 1,
    ports: tuple[tuple[int, str], ...] = (),
    volumes: tuple[tuple[str, str, bool], ...] = (),
) -> ServiceLaunch:
    """One service of execution 7 on the swarm's first node: 0.1 core, 32 MiB."""
    deployment = backend.deployment
    return ServiceLaunch(
        name=f"zoe-{deployment}-7-{name}",
        node=backend.nodes()[0].name,
        image=TEST_IMAGE,
        command=tuple(command),
        environment={},
        millicores=100,
        memory=32 * MIB,
        max_millicores=None,
        max_memory=None,
        essential=True,
        labels=service_labels(deployment, 7, service_id, name),
        execution=ExecutionInfo(7, "batch", None, 1, 1),
        ports=ports,
        volumes=volumes,
    )


def run(backend: DockerSwarmBackend, *launches: ServiceLaunch) -> list[str]:
    """Create and start each launch; their backend ids."""
    ids = [backend.create(one) for one in launches]
    for backend_id in ids:
        backend.start(backend_id)
    return ids


def collect(
    backend: DockerSwarmBackend,
    until: Any,
    timeout: float = 20.0,
) -> list[ServiceEvent]:
    """Events polled until ``until(events)`` holds (fails after ``timeout``)."""
    events: list[ServiceEvent] = []

    def done() -> bool:
        events.extend(backend.poll_events(0.1))
        return bool(until(events))

    wait_for(done, timeout, 0.0)
    return events


def exited(events: list[ServiceEvent], backend_id: str) -> ServiceEvent | None:
    """The EXITED event of ``backend_id`` among ``events``."""
    found = [
        e
        for e in events
        if e.backend_id == backend_id and e.kind is ServiceEventKind.EXITED
    ]
    return found[0] if found else None


def unix_time(stamp: str) -> float:
    """The UNIX time of a Docker log timestamp (RFC 3339 in UTC, nanoseconds)."""
    match = STAMP.match(stamp + " x")
    assert match is not None, stamp
    whole = datetime.fromisoformat(match.group(1) + "+00:00").timestamp()
    return whole + float("0." + match.group(2))


def test_a_published_port_answers_at_the_endpoint_with_files_from_volumes(
    backend: DockerSwarmBackend, tmp_path: Path
) -> None:
    www, out = tmp_path / "www", tmp_path / "out"
    www.mkdir()
    out.mkdir()
    (www / "index.html").write_text("from the host\n")
    serve = "echo written > /out/note && exec httpd -f -p 8080 -h /www"
    one = launch(
        backend,
        "web-0",
        ["sh", "-c", serve],
        ports=((8080, "tcp"),),
        volumes=((str(www), "/www", True), (str(out), "/out", False)),
    )
    [backend_id] = run(backend, one)
    collect(backend, lambda events: any(e.kind == "running" for e in events))

    endpoint = backend.endpoints(backend_id)["8080/tcp"]
    host, _, port = endpoint.rpartition(":")
    with urllib.request.urlopen(f"http://{endpoint}/index.html", timeout=5) as got:
        body = got.read()
    client = api(backend.address)
    spec = client.inspect_service(one.name)["Spec"]
    client.close()
    mounts = spec["TaskTemplate"]["ContainerSpec"]["Mounts"]

    assert host == "127.0.0.1"  # the address the single node advertises
    assert int(port) > 0
    assert body == b"from the host\n"
    assert (out / "note").read_text() == "written\n"
    assert [
        (m["Type"], m["Source"], m["Target"], m.get("ReadOnly", False)) for m in mounts
    ] == [
        ("bind", str(www), "/www", True),
        ("bind", str(out), "/out", False),
    ]
    assert spec["EndpointSpec"]["Mode"] == "dnsrr"


def test_logs_with_tail_since_and_timestamps_also_once_the_service_is_removed(
    backend: DockerSwarmBackend,
) -> None:
    script = "echo first; sleep 1.5; echo second; sleep 0.2; echo third >&2"
    [backend_id] = run(backend, launch(backend, "talk-0", ["sh", "-c", script]))
    collect(backend, lambda events: exited(events, backend_id))

    stamped = backend.logs(backend_id, timestamps=True).splitlines()
    times = [unix_time(line.split(" ", 1)[0]) for line in stamped]
    middle = (times[0] + times[1]) / 2  # the two lines are 1.5 s apart

    assert backend.logs(backend_id) == "first\nsecond\nthird\n"
    assert [STAMP.match(line).group(3) for line in stamped] == [  # type: ignore[union-attr]
        "first",
        "second",
        "third",
    ]
    assert backend.logs(backend_id, tail=2) == "second\nthird\n"
    assert backend.logs(backend_id, since=middle) == "second\nthird\n"
    assert backend.logs(backend_id, since=(times[1] + times[2]) / 2) == "third\n"

    backend.remove(backend_id)
    client = api(backend.address)
    wait_for(lambda: not client.services(filters={"name": _name(backend_id)}), 10)
    client.close()
    # Swarm has dropped the output with the service: these come from the kept copy
    assert backend.logs(backend_id) == "first\nsecond\nthird\n"
    assert backend.logs(backend_id, timestamps=True).splitlines() == stamped
    assert backend.logs(backend_id, tail=1) == "third\n"
    assert backend.logs(backend_id, since=middle) == "second\nthird\n"
    with pytest.raises(BackendError, match="no logs of"):
        backend.logs(f"swarm/zoe-{backend.deployment}-7-never-0")


def test_exit_codes_and_reasons_of_tasks_that_end(
    backend: DockerSwarmBackend,
) -> None:
    ids = run(
        backend,
        launch(backend, "ok-0", ["true"], service_id=1),
        launch(backend, "three-0", ["sh", "-c", "exit 3"], service_id=2),
        launch(
            backend,
            "killed-0",
            ["sh", "-c", "sleep 30 & kill -KILL $!; wait $!"],
            service_id=3,
        ),
        launch(
            backend,
            "nobind-0",
            ["true"],
            service_id=4,
            volumes=(("/nonexistent/zoe-test", "/data", False),),
        ),
        launch(backend, "bad-0", ["echo", "{nope}"], service_id=5),
    )
    events = collect(backend, lambda got: all(exited(got, i) for i in ids))

    ended = [exited(events, i) for i in ids]
    assert [(e.exit_code, e.reason) for e in ended[:3]] == [  # type: ignore[union-attr]
        (0, None),
        (3, None),
        (137, "killed by signal 9"),
    ]
    assert ended[3].exit_code is None  # type: ignore[union-attr]
    assert "bind source path does not exist" in str(ended[3].reason)  # type: ignore[union-attr]
    assert ended[4].exit_code is None  # type: ignore[union-attr]
    assert str(ended[4].reason).startswith("command: unknown template {nope}")  # type: ignore[union-attr]
    assert backend.logs(ids[4]) == ""  # never created in Swarm: no output


def test_usage_of_a_running_service_is_sampled_and_not_when_disabled(
    swarm: str, docker_deployment: str
) -> None:
    with swarm_backend(swarm, docker_deployment, usage_duration=0.3) as backend:
        spin = launch(backend, "spin-0", ["sh", "-c", "while :; do :; done"])
        [backend_id] = run(backend, spin)
        collect(backend, lambda events: any(e.kind == "running" for e in events))
        samples: list[UsageSample] = []

        def rated() -> bool:
            backend.poll_events(0.05)
            samples.extend(backend.usage_samples())
            return any(s.cpu_cores is not None for s in samples)

        wait_for(rated, 15, 0.0)
        with swarm_backend(swarm, docker_deployment, usage_duration=0) as idle:
            idle.list_services()  # adopts the running service
            for _ in range(10):  # 1 s: three passes at 0.3 s, were it sampling
                idle.poll_events(0.1)
            unsampled = idle.usage_samples()

    rate = next(s for s in samples if s.cpu_cores is not None)
    assert {s.backend_id for s in samples} == {backend_id}
    assert rate.labels == spin.labels
    # a busy loop held to the service's limit: 0.1 core
    assert 0.05 <= rate.cpu_cores <= 0.13  # type: ignore[operator]
    assert 0 < rate.memory < 32 * MIB  # under its 32 MiB limit
    assert abs(rate.sample_time - time.time()) < 60
    assert unsampled == []


def test_reconciliation_reports_a_service_removed_by_hand_and_removes_an_orphan(
    backend: DockerSwarmBackend, docker_deployment: str
) -> None:
    assert backend.list_services() == []  # the master adopts first
    kept, gone = run(
        backend,
        launch(backend, "kept-0", ["sleep", "600"], service_id=1),
        launch(backend, "gone-0", ["sleep", "600"], service_id=2),
    )
    client = api(backend.address)
    orphan = f"zoe-{docker_deployment}-99-stray-0"
    labels = service_labels(docker_deployment, 99, 1, "stray-0")
    client.create_service(
        docker.types.TaskTemplate(
            docker.types.ContainerSpec(
                TEST_IMAGE, ["sleep", "600"], labels=labels, stop_grace_period=0
            ),
            restart_policy=docker.types.RestartPolicy(condition="none"),
        ),
        name=orphan,
        labels=labels,
    )
    running = collect(backend, lambda got: {e.backend_id for e in got} == {kept, gone})
    client.remove_service(_name(gone))

    events = collect(backend, lambda got: exited(got, gone))
    wait_for(lambda: not client.services(filters={"name": orphan}), 10)
    time.sleep(0.5)  # two more listings: the kept service must stay
    events += backend.poll_events(0.0)
    names = [
        s["Spec"]["Name"]
        for s in client.services(
            filters={"label": [f"zoe.deployment={docker_deployment}"]}
        )
    ]
    client.close()

    assert {e.kind for e in running} == {ServiceEventKind.RUNNING}
    assert [(e.backend_id, e.exit_code, e.reason) for e in events] == [
        (gone, None, GONE_REASON)
    ]
    assert names == [_name(kept)]


def _name(backend_id: str) -> str:
    return backend_id.partition("/")[2]


def test_a_server_and_a_client_run_on_a_swarm_pinned_where_zoe_placed_them(
    postgres_dsn: str, docker_deployment: str, swarm: str, tmp_path: Path
) -> None:
    fetch = (
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "
        'wget -q -O - "http://$SERVER:8080/index" && exit 0; sleep 0.3; '
        "done; exit 1"
    )
    serve = "echo hello > /tmp/index && exec httpd -f -p 8080 -h /tmp"
    zapp = app(
        [
            service("server", ["sh", "-c", serve], cores={"min": 0.1, "max": 0.5}),
            service(
                "client",
                ["sh", "-c", fetch],
                environment={"SERVER": "{dns_name#server0}"},
                depends_on=["server"],
            ),
        ]
    )
    backend = DockerSwarmBackend(deployment=docker_deployment, address=swarm)
    node = backend.nodes()[0].name
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="swarm")
    client_api = api(swarm)
    with master_thread(config, backend) as running, running.client() as client:
        execution_id = client.submit("web", zapp, user="alice")["execution_id"]
        name = f"zoe-{docker_deployment}-{execution_id}-server-0"
        spec = wait_for(lambda: client_api.services(filters={"name": name}), 20)[0]
        record = wait_final(client, execution_id, timeout=60)
        gone = wait_for(
            lambda: (
                not client_api.services(
                    filters={"label": f"zoe.deployment={docker_deployment}"}
                )
                and not client_api.networks(
                    filters={"label": f"zoe.deployment={docker_deployment}"}
                )
            ),
            30,
        )
        wait_for(
            lambda: (
                not client_api.containers(
                    all=True, filters={"label": f"zoe.deployment={docker_deployment}"}
                )
            ),
            30,
        )
        # the services are gone from Swarm; their output is what the backend kept
        output = client.logs(execution_id, service="client-0")["services"]
    client_api.close()

    template = spec["Spec"]["TaskTemplate"]
    assert template["Placement"]["Constraints"] == [f"node.hostname=={node}"]
    assert template["Resources"]["Reservations"] == {
        "NanoCPUs": 100_000_000,
        "MemoryBytes": 64 * MIB,
    }
    assert template["Resources"]["Limits"]["NanoCPUs"] == 500_000_000
    assert record["status"] == "finished", record.get("reason")
    assert {s["node"] for s in record["services"]} == {node}
    assert gone
    assert [(s["logs"], s["missing"], s["ended"]) for s in output] == [
        ("hello\n", None, True)
    ]


def test_a_cpu_limit_above_the_node_is_capped_at_its_cpus(
    backend: DockerSwarmBackend,
) -> None:
    client = api(backend.address)
    cpus = int(client.info()["NCPU"])
    one = launch(backend, "s-0", ["sleep", "600"])
    many = replace(one, max_millicores=(cpus + 2) * 1000)
    [backend_id] = run(backend, many)
    events = collect(backend, lambda events: bool(events))
    try:
        spec = client.inspect_service(many.name)["Spec"]
    finally:
        client.close()

    assert [(e.backend_id, e.kind, e.reason) for e in events] == [
        (backend_id, ServiceEventKind.RUNNING, None)
    ]
    assert spec["TaskTemplate"]["Resources"]["Limits"]["NanoCPUs"] == cpus * 10**9
