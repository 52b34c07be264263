"""The Swarm backend end to end on a single-node swarm the test creates."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_fixtures import api
from master_harness import master_config, master_thread, wait_final, wait_for
from test_docker_engine import app, service

from zoe.live.backends.docker_swarm import DockerSwarmBackend

pytestmark = pytest.mark.integration

MIB = 1024**2
GW = "docker_gwbridge"


@pytest.fixture
def swarm(docker_address: str) -> Iterator[str]:
    """A single-node swarm on the local daemon; left at the end if the test made it."""
    client = api(docker_address)
    active = client.info()["Swarm"]["LocalNodeState"] == "active"
    client.close()
    if not active:
        subprocess.run(
            [
                "docker",
                "-H",
                docker_address,
                "swarm",
                "init",
                "--advertise-addr",
                "127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
    try:
        yield docker_address
    finally:
        if not active:  # leave it, and the bridge joining it made on this host
            for command in (["swarm", "leave", "--force"], ["network", "rm", GW]):
                subprocess.run(
                    ["docker", "-H", docker_address, *command],
                    check=False,
                    capture_output=True,
                )


def test_a_server_and_a_client_run_on_a_swarm_pinned_where_zoe_placed_them(
    postgres_dsn: str, docker_deployment: str, swarm: str, tmp_path: Path
) -> None:
    fetch = (
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "
        'wget -q -O /tmp/got "http://$SERVER:8080/index" && exit 0; sleep 0.3; '
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
