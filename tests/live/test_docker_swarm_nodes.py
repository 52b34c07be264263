"""The Swarm backend on a two-node swarm: the local daemon and one in a namespace.

The second ``dockerd`` runs in its own network and UTS namespaces (hostname
``zoe-worker-...``). A veth pair joins the namespace to the host on a private
/30; the local daemon's swarm advertises the host's end, and the worker joins
from the other end (ports 2377, 7946 and 4789 between the two addresses). The
host's ``docker0`` is never touched. The swarm's nodes report to the manager
every second (``--dispatcher-heartbeat 1s``, 5 s by default), so that a stopped
node is marked down in about 3 s rather than 15.

Times here (2 cores): the swarm is made in about 2 s and undone in about 3 s,
for the module; the test across nodes takes about 9 s, the test of a stopped
node about 8 s.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from docker_fixtures import (
    DockerDaemon,
    api,
    no_docker,
    start_netns_daemon,
    stop_netns_daemon,
)
from master_harness import wait_for
from test_docker_swarm import (
    collect,
    exited,
    launch,
    leave_swarm,
    remove_services,
    swarm_backend,
)

from zoe.core.errors import BackendError
from zoe.live.backends import ServiceEventKind, ServiceLaunch
from zoe.live.backends.docker_swarm import DockerSwarmBackend

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TwoNodes:
    """A swarm of the local daemon (manager) and a worker in a namespace."""

    manager: str
    worker: DockerDaemon
    worker_name: str
    worker_ip: str


def free_slash30() -> tuple[str, str]:
    """Two addresses of a 10.254.x.y/30 that no interface of the host uses."""
    used = subprocess.run(
        ["ip", "-4", "-o", "addr"], check=True, capture_output=True, text=True
    ).stdout
    while True:
        third, fourth = random.randrange(256), random.randrange(0, 256, 4)
        prefix = f"10.254.{third}."
        if prefix not in used:
            return f"{prefix}{fourth + 1}", f"{prefix}{fourth + 2}"


def ip(*args: str) -> None:
    """Run ``ip`` with ``args``; raise if it fails."""
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def two_nodes(docker_address: str) -> Iterator[TwoNodes]:
    """Start the worker daemon, link it, make the swarm; undo all of it after
    the module (a test that stops the worker resumes it)."""
    if os.geteuid() != 0:
        no_docker("a second dockerd needs root")
    client = api(docker_address)
    state = client.info()["Swarm"]["LocalNodeState"]
    client.close()
    if state != "inactive":
        no_docker(f"the local daemon is already in a swarm ({state}); leave it first")
    tag = uuid.uuid4().hex[:8]
    namespace, host_end, worker_end = f"zoe-s{tag}", f"zs{tag}h", f"zs{tag}w"
    folder = Path(tempfile.mkdtemp(prefix="zoe-dockerd-"))
    worker = start_netns_daemon(
        namespace, folder, docker_address, hostname=f"zoe-worker-{tag}"
    )
    joined = False
    try:
        manager_ip, worker_ip = free_slash30()
        ip("link", "add", host_end, "type", "veth", "peer", "name", worker_end)
        ip("link", "set", worker_end, "netns", namespace)
        ip("addr", "add", f"{manager_ip}/30", "dev", host_end)
        ip("link", "set", host_end, "up")
        ip("-n", namespace, "addr", "add", f"{worker_ip}/30", "dev", worker_end)
        ip("-n", namespace, "link", "set", worker_end, "up")
        swarm = ["docker", "-H", docker_address, "swarm"]
        subprocess.run(
            [
                *swarm,
                "init",
                "--advertise-addr",
                manager_ip,
                "--dispatcher-heartbeat",
                "1s",
            ],
            check=True,
            capture_output=True,
        )
        joined = True
        token = subprocess.run(
            [*swarm, "join-token", "-q", "worker"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        join = ["join", "--token", token, "--advertise-addr", worker_ip]
        subprocess.run(
            ["docker", "-H", worker.address, "swarm", *join, f"{manager_ip}:2377"],
            check=True,
            capture_output=True,
        )
        yield TwoNodes(docker_address, worker, f"zoe-worker-{tag}", worker_ip)
    finally:
        subprocess.run(
            ["docker", "-H", worker.address, "swarm", "leave", "--force"],
            check=False,
            capture_output=True,
        )
        if joined:
            leave_swarm(docker_address)
        stop_netns_daemon(worker)
        subprocess.run(
            ["ip", "link", "del", host_end], check=False, capture_output=True
        )


def test_a_service_pinned_to_the_worker_runs_there_and_answers_across_nodes(
    two_nodes: TwoNodes, docker_deployment: str
) -> None:
    backend = DockerSwarmBackend(
        deployment=docker_deployment, address=two_nodes.manager, poll_duration=0.2
    )
    try:
        nodes = {n.name for n in backend.nodes()}
        manager_name = next(n for n in nodes if n != two_nodes.worker_name)
        serve = "echo across > /tmp/index && exec httpd -f -p 8080 -h /tmp"
        fetch = (
            "for i in $(seq 40); do "
            "wget -q -O - http://server-0:8080/index && exit 0; sleep 0.25; "
            "done; exit 1"
        )
        server = launch(
            backend,
            "server-0",
            ["sh", "-c", serve],
            service_id=1,
            ports=((8080, "tcp"),),
        )
        server = _on(server, two_nodes.worker_name)
        client = _on(
            launch(backend, "client-0", ["sh", "-c", fetch], service_id=2),
            manager_name,
        )
        server_id = backend.create(server)
        backend.start(server_id)
        collect(
            backend,
            lambda got: any(e.kind is ServiceEventKind.RUNNING for e in got),
            40,
        )
        endpoint = backend.endpoints(server_id)["8080/tcp"]
        # running is not listening yet: httpd binds a moment after its start
        body = fetch_when_listening(f"http://{endpoint}/index")
        client_id = backend.create(client)
        backend.start(client_id)
        events = collect(backend, lambda got: exited(got, client_id), 40)
        logs = backend.logs(client_id)

        manager = api(two_nodes.manager)
        worker_id = next(
            n["ID"]
            for n in manager.nodes()
            if n["Description"]["Hostname"] == two_nodes.worker_name
        )
        [task] = manager.tasks(filters={"service": server.name})
        manager.close()
        worker = api(two_nodes.worker.address)
        on_worker = worker.containers(filters={"label": "zoe.service.name=server-0"})
        worker.close()
    finally:
        backend.close()
        remove_services(two_nodes.manager, docker_deployment)
        wait_for(lambda: _no_containers(two_nodes.worker.address), 30, 0.2)

    assert nodes == {manager_name, two_nodes.worker_name}
    assert task["NodeID"] == worker_id
    assert len(on_worker) == 1
    assert endpoint.startswith(f"{two_nodes.worker_ip}:")
    assert body == b"across\n"
    ended = exited(events, client_id)
    assert ended is not None
    assert ended.exit_code == 0, logs
    assert logs == "across\n"


def test_the_services_of_a_stopped_node_are_reported_exited_naming_the_node(
    two_nodes: TwoNodes, docker_deployment: str
) -> None:
    worker, pid = two_nodes.worker_name, two_nodes.worker.process.pid
    with swarm_backend(two_nodes.manager, docker_deployment) as backend:
        manager = next(n.name for n in backend.nodes() if n.name != worker)
        there = _on(launch(backend, "there-0", ["sleep", "600"], service_id=1), worker)
        here = _on(launch(backend, "here-0", ["sleep", "600"], service_id=2), manager)
        there_id, here_id = backend.create(there), backend.create(here)
        backend.start(there_id)
        backend.start(here_id)
        collect(backend, lambda got: len(got) == 2, 40)  # both RUNNING

        os.kill(pid, signal.SIGSTOP)  # the worker's daemon stops answering
        try:
            # marked down after 3 missed heartbeats of 1 s, seen within a listing
            events = collect(backend, lambda got: exited(got, there_id), 20)
            down = backend.unavailable_nodes()
            with pytest.raises(BackendError) as no_logs:
                backend.logs(there_id)
            backend.remove(there_id)
            client = api(two_nodes.manager)
            wait_for(lambda: not client.services(filters={"name": there.name}), 10)
            client.close()
            events += backend.poll_events(0.5)
        finally:
            os.kill(pid, signal.SIGCONT)

    reason = (
        f"node {worker} is unavailable in the swarm (status down, availability active)"
    )
    assert [(e.backend_id, e.kind, e.exit_code, e.reason) for e in events] == [
        (there_id, ServiceEventKind.EXITED, None, reason)
    ]
    assert down == {worker}
    assert str(no_logs.value) == f"swarm: no logs of {there_id}: {reason}"


def _on(one: ServiceLaunch, node: str) -> ServiceLaunch:
    return replace(one, node=node)


def _no_containers(address: str) -> bool:
    client = api(address)
    try:
        return not client.containers(all=True)
    finally:
        client.close()


def fetch_when_listening(url: str, timeout: float = 10.0) -> bytes:
    """The body at ``url`` once its server accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as got:
                body: bytes = got.read()
                return body
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
