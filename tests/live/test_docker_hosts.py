"""Several Docker hosts, a host that stops answering, and a master killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from docker_fixtures import DockerDaemon, api
from master_harness import free_port, master_config, master_thread, wait_final, wait_for
from test_docker_engine import SLEEP, app, service

from zoe.core.resources import Resources
from zoe.live.backends.docker_common import DockerHost
from zoe.live.backends.docker_engine import DockerEngineBackend
from zoe.live.client import MasterClient
from zoe.live.db import Repository

pytestmark = pytest.mark.integration

GIB = 1024**3


def test_services_land_where_the_placement_says_and_a_stopped_host_is_noticed(
    postgres_dsn: str,
    docker_deployment: str,
    docker_address: str,
    second_docker_host: DockerDaemon,
    repo: Repository,
    tmp_path: Path,
) -> None:
    # first-fit: each host holds one 1-core service; s-0 on "one", s-1 on "two"
    hosts = [
        DockerHost("one", docker_address, Resources(1000, GIB)),
        DockerHost("two", second_docker_host.address, Resources(1000, GIB)),
    ]
    backend = DockerEngineBackend(
        hosts, deployment=docker_deployment, reconcile_duration=1.0
    )
    zapp = app([service("s", SLEEP, essential=2, cores=1)], kind="interactive")
    other = app([service("o", SLEEP, cores=1)], kind="interactive")
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    with master_thread(config, backend) as running, running.client() as client:
        both = client.submit("both", zapp, user="a")["execution_id"]
        record = wait_for(lambda: _running(client, both), 20)
        on_one = _names(docker_address, docker_deployment)
        on_two = _names(second_docker_host.address, docker_deployment)
        second_docker_host.stop()
        ended = wait_final(client, both, timeout=30)
        wait_for(lambda: running.master.scheduler.unavailable == {"two"}, 10)
        nodes = {n.node.name: n.available for n in repo.list_nodes()}
        # only host "one" is left: a second execution of one core still runs there
        later = client.submit("later", other, user="a")["execution_id"]
        placed = wait_for(lambda: _running(client, later), 20)
        client.terminate(later)
        wait_final(client, later, timeout=20)

    placement = {s["name"]: s["node"] for s in record["services"]}
    assert placement == {"s-0": "one", "s-1": "two"}
    assert on_one == [f"zoe-{docker_deployment}-{both}-s-0"]
    assert on_two == [f"zoe-{docker_deployment}-{both}-s-1"]
    assert ended["status"] == "error"
    assert "service s-1" in ended["reason"]
    assert nodes == {"one": True, "two": False}
    assert [s["node"] for s in placed["services"]] == ["one"]


def _running(client: MasterClient, execution_id: int) -> dict[str, object] | None:
    record = client.get(execution_id)
    return record if record["status"] == "running" else None


def _names(address: str, deployment: str) -> list[str]:
    client = api(address)
    rows = client.containers(
        all=True, filters={"label": f"zoe.deployment={deployment}"}
    )
    client.close()
    return sorted(str(row["Names"][0]).lstrip("/") for row in rows)


def test_a_master_killed_while_containers_run_adopts_them_after_a_restart(
    postgres_dsn: str, docker_deployment: str, docker_address: str, tmp_path: Path
) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    config_file = tmp_path / "master.toml"
    config_file.write_text(
        "\n".join(
            [
                f"database_url = {postgres_dsn!r}",
                f"deployment = {docker_deployment!r}",
                f"listen = {address!r}",
                f"data_dir = {str(tmp_path / 'data')!r}",
                'backend = "docker"',
                "tick_duration = 0.2",
            ]
        )
        + "\n"
    )
    log_file = tmp_path / "master.log"
    zapp = app([service("s", SLEEP, essential=1, total=2, cores=0.1)], "interactive")
    first = _start_master(config_file, log_file)
    try:
        with MasterClient(address, user="a", timeout_ms=3000, retries=3) as client:
            execution_id = client.submit("kept", zapp, user="a")["execution_id"]
            before = wait_for(lambda: _all_running(client, execution_id, 2), 30)
            ids_before = _ids(docker_address, docker_deployment)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            # a container nobody asked for, with the deployment's labels
            stray = _start_stray(docker_address, docker_deployment, execution_id)
            second = _start_master(config_file, log_file)
            try:
                wait_for(
                    lambda: stray not in _ids(docker_address, docker_deployment), 30
                )
                after = wait_for(lambda: _all_running(client, execution_id, 2), 30)
                ids_after = _ids(docker_address, docker_deployment)
                client.terminate(execution_id)
                final = wait_final(client, execution_id, timeout=30)
            finally:
                second.terminate()
                second.wait(20)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)

    assert first.returncode == -signal.SIGKILL
    assert ids_after == ids_before
    assert len(ids_before) == 2
    assert [s["container_id"] for s in after["services"]] == [
        s["container_id"] for s in before["services"]
    ]
    assert final["status"] == "terminated"


def _start_master(config_file: Path, log_file: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        "from zoe.cli.main import main; main()",
        "master",
        "--config",
        str(config_file),
    ]
    with log_file.open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=log, env=dict(os.environ))


def _all_running(
    client: MasterClient, execution_id: int, count: int
) -> dict[str, object] | None:
    record = client.get(execution_id)
    running = [s for s in record["services"] if s["status"] == "running"]
    return record if len(running) == count else None


def _ids(address: str, deployment: str) -> set[str]:
    client = api(address)
    rows = client.containers(filters={"label": f"zoe.deployment={deployment}"})
    client.close()
    return {str(row["Id"]) for row in rows}


def _start_stray(address: str, deployment: str, execution_id: int) -> str:
    client = api(address)
    labels = {
        "zoe.deployment": deployment,
        "zoe.execution": str(execution_id),
        "zoe.service": "999",
        "zoe.service.name": "stray-0",
    }
    made = client.create_container("zoe-test/busybox:1", SLEEP, labels=labels)
    client.start(made["Id"])
    client.close()
    return str(made["Id"])
