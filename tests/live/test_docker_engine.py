"""The Docker engine backend on a real daemon, alone and under the live master."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from docker_fixtures import TEST_IMAGE, api
from master_harness import master_config, master_thread, wait_final, wait_for
from typer.testing import CliRunner

from zoe.cli.main import app as app_cli
from zoe.core.resources import Resources
from zoe.live.backends import (
    ExecutionInfo,
    ServiceEvent,
    ServiceEventKind,
    ServiceLaunch,
    ServiceState,
    service_labels,
)
from zoe.live.backends.docker_common import DockerHost
from zoe.live.backends.docker_engine import DockerEngineBackend
from zoe.live.db import Repository

pytestmark = pytest.mark.integration

GIB = 1024**3
MIB = 1024**2


def service(
    name: str,
    command: list[str] | None,
    *,
    essential: int = 1,
    total: int | None = None,
    cores: float | dict[str, float] = 0.5,
    memory: str | dict[str, str] = "64MiB",
    image: str = TEST_IMAGE,
    environment: dict[str, str] | None = None,
    depends_on: list[str] | None = None,
) -> dict[str, Any]:
    """A service group running the test image."""
    return {
        "name": name,
        "image": image,
        "command": command,
        "essential_count": essential,
        "total_count": essential if total is None else total,
        "resources": {"cores": cores, "memory": memory},
        "environment": environment or {},
        "depends_on": depends_on or [],
    }


def app(groups: list[dict[str, Any]], kind: str = "batch") -> dict[str, Any]:
    """A ZApp of one framework."""
    return {
        "name": "app",
        "version": 4,
        "kind": kind,
        "frameworks": [{"name": "f", "services": groups}],
    }


SLEEP = ["sleep", "600"]


def launch(
    deployment: str, name: str, command: list[str], **changes: Any
) -> ServiceLaunch:
    info = ExecutionInfo(7, "batch", None, 1, 1)
    fields: dict[str, Any] = {
        "name": f"zoe-{deployment}-7-{name}",
        "node": "local",
        "image": TEST_IMAGE,
        "command": tuple(command),
        "environment": {},
        "millicores": 500,
        "memory": 64 * MIB,
        "max_millicores": None,
        "max_memory": None,
        "essential": True,
        "labels": service_labels(deployment, 7, 1, name),
        "execution": info,
        "peers": (name,),
    }
    fields.update(changes)
    return ServiceLaunch(**fields)


def events_until(
    backend: DockerEngineBackend, count: int, timeout: float = 15.0
) -> list[ServiceEvent]:
    found: list[ServiceEvent] = []

    def enough() -> bool:
        found.extend(backend.poll_events(0.1))
        return len(found) >= count

    wait_for(enough, timeout)
    return found


def test_a_container_runs_exits_and_is_removed_with_its_network(
    engine: DockerEngineBackend, docker_address: str, docker_deployment: str
) -> None:
    backend_id = engine.create(launch(docker_deployment, "s-0", ["sh", "-c", "exit 3"]))
    engine.start(backend_id)
    events = events_until(engine, 2)
    # the die event may come a moment before the daemon lists it as exited
    listed = wait_for(
        lambda: [s for s in engine.list_services() if s.state is ServiceState.EXITED]
    )
    engine.remove(backend_id)  # done by a worker thread, soon
    client = api(docker_address)
    network = f"zoe-{docker_deployment}-7"
    wait_for(lambda: not client.networks(names=[network]), 10)
    containers = client.containers(all=True, filters={"name": network})
    client.close()

    assert [(e.kind, e.exit_code) for e in events] == [
        (ServiceEventKind.RUNNING, None),
        (ServiceEventKind.EXITED, 3),
    ]
    assert events[1].labels["zoe.service.name"] == "s-0"
    assert [(s.backend_id, s.state, s.exit_code) for s in listed] == [
        (backend_id, ServiceState.EXITED, 3)
    ]
    assert containers == []


def test_logs_and_usage_of_a_running_container(
    engine: DockerEngineBackend, docker_deployment: str
) -> None:
    command = ["sh", "-c", "echo one; echo two; echo three >&2; exec sleep 600"]
    backend_id = engine.create(launch(docker_deployment, "s-0", command))
    engine.start(backend_id)
    events_until(engine, 1)
    both = wait_for(
        lambda: engine.logs(backend_id).count("\n") == 3 and engine.logs(backend_id)
    )
    last = engine.logs(backend_id, tail=1)
    usage = engine.usage(backend_id)
    engine.remove(backend_id)

    assert sorted(both.splitlines()) == ["one", "three", "two"]
    assert len(last.splitlines()) == 1
    assert 0 < usage["memory"] <= 64 * MIB
    assert usage["cpu_ns"] > 0


def test_a_missing_image_and_an_unknown_template_fail_at_once(
    engine: DockerEngineBackend, docker_deployment: str
) -> None:
    missing = engine.create(
        launch(docker_deployment, "a-0", SLEEP, image="zoe-test/missing:1")
    )
    unknown = engine.create(
        launch(docker_deployment, "b-0", SLEEP, environment={"X": "{nope}"})
    )
    engine.start(missing)
    engine.start(unknown)
    events = {e.backend_id: e for e in events_until(engine, 2)}
    listed = engine.list_services()
    engine.remove(missing)
    engine.remove(unknown)

    assert sorted(events) == sorted([missing, unknown])
    assert {(e.kind, e.exit_code) for e in events.values()} == {
        (ServiceEventKind.EXITED, None)
    }
    image_reason = events[missing].reason or ""
    template_reason = events[unknown].reason or ""
    assert "image zoe-test/missing:1 not found on host local" in image_reason
    assert template_reason.startswith("environment X: unknown template {nope}")
    assert listed == []


def test_a_server_and_a_client_that_reaches_it_by_name_run_to_completion(
    postgres_dsn: str,
    docker_deployment: str,
    engine: DockerEngineBackend,
    tmp_path: Path,
) -> None:
    fetch = (
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "
        'wget -q -O /tmp/got "http://$SERVER:8080/index" && '
        'test "$(cat /tmp/got)" = "hello $ID" && exit 0; sleep 0.2; done; exit 1'
    )
    serve = "echo hello $ID > /tmp/index && exec httpd -f -p 8080 -h /tmp"
    zapp = app(
        [
            service(
                "server",
                ["sh", "-c", serve],
                environment={"ID": "{execution_id}"},
            ),
            service(
                "client",
                ["sh", "-c", fetch],
                environment={"SERVER": "{dns_name#server0}", "ID": "{execution_id}"},
                depends_on=["server"],
            ),
        ]
    )
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    with master_thread(config, engine) as running, running.client() as client:
        execution_id = client.submit("web", zapp, user="alice")["execution_id"]
        record = wait_final(client, execution_id, timeout=30)

    assert record["status"] == "finished", str(record)
    statuses = {s["name"]: s["status"] for s in record["services"]}
    assert statuses["client-0"] == "exited"


def test_limits_labels_and_environment_are_as_the_zapp_says(
    postgres_dsn: str,
    docker_deployment: str,
    docker_address: str,
    engine: DockerEngineBackend,
    tmp_path: Path,
) -> None:
    zapp = app(
        [
            service(
                "s",
                SLEEP,
                cores={"min": 0.25, "max": 1.5},
                memory={"min": "32MiB", "max": "96MiB"},
                environment={"WHO": "{user_name}/{execution_name}/{service_name}"},
            )
        ],
        kind="interactive",
    )
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    client_api = api(docker_address)
    with master_thread(config, engine) as running, running.client() as client:
        execution_id = client.submit("lim", zapp, user="bob")["execution_id"]
        wait_for(lambda: client.get(execution_id)["status"] == "running", 20)
        name = f"zoe-{docker_deployment}-{execution_id}-s-0"
        inspected = client_api.inspect_container(name)
        client.terminate(execution_id)
        record = wait_final(client, execution_id, timeout=20)
        gone = wait_for(
            lambda: not client_api.containers(all=True, filters={"name": name}), 10
        )
    client_api.close()

    host_config, config_ = inspected["HostConfig"], inspected["Config"]
    assert host_config["NanoCpus"] == 1_500_000_000
    assert host_config["Memory"] == 96 * MIB
    assert config_["Labels"]["zoe.deployment"] == docker_deployment
    assert config_["Labels"]["zoe.execution"] == str(execution_id)
    assert config_["Labels"]["zoe.service.name"] == "s-0"
    assert "WHO=bob/lim/s-0" in config_["Env"]
    network = f"zoe-{docker_deployment}-{execution_id}"
    assert set(inspected["NetworkSettings"]["Networks"]) == {network}
    assert record["status"] == "terminated"
    assert gone


def test_the_output_of_containers_is_read_through_the_master(
    postgres_dsn: str,
    docker_deployment: str,
    engine: DockerEngineBackend,
    tmp_path: Path,
) -> None:
    say = ["sh", "-c", "echo one; echo two $ID; exec sleep 600"]
    zapp = app(
        [service("s", say, essential=1, total=2, environment={"ID": "{execution_id}"})],
        kind="interactive",
    )
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    with master_thread(config, engine) as running, running.client() as client:
        eid = client.submit("talk", zapp, user="a")["execution_id"]
        wait_for(lambda: len(_running_names(client.get(eid))) == 2, 20)
        both = wait_for(
            lambda: (
                (r := client.logs(eid)) and all(s["logs"] for s in r["services"]) and r
            )
        )
        last = wait_for(lambda: client.logs(eid, service="s-1", tail=1)["services"])
        command = CliRunner().invoke(
            app_cli,
            ["exec", "logs", str(eid), "--service", "s-0", "--master", running.address],
        )
        client.terminate(eid)
        wait_final(client, eid, timeout=20)

    expected = f"one\ntwo {eid}\n"
    assert [(s["name"], s["logs"]) for s in both["services"]] == [
        ("s-0", expected),
        ("s-1", expected),
    ]
    assert [(s["name"], s["logs"], s["missing"]) for s in last] == [
        ("s-1", f"two {eid}\n", None)
    ]
    assert command.exit_code == 0, command.output
    assert command.output == f"== s-0\none\ntwo {eid}\n"


def test_elastic_services_come_and_go_and_a_killed_essential_ends_the_execution(
    postgres_dsn: str,
    docker_deployment: str,
    docker_address: str,
    engine: DockerEngineBackend,
    tmp_path: Path,
) -> None:
    # the host has 2 cores: the blocker's 1 core leaves room for B's essential only
    blocker = app([service("b", SLEEP, cores=1)], kind="interactive")
    elastic = app([service("w", SLEEP, essential=1, total=3, cores=1)], "interactive")
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    docker = api(docker_address)
    prefix = f"zoe-{docker_deployment}"
    with master_thread(config, engine) as running, running.client() as client:
        first = client.submit("blocker", blocker, user="a")["execution_id"]
        wait_for(lambda: client.get(first)["status"] == "running", 20)
        second = client.submit("elastic", elastic, user="a")["execution_id"]
        wait_for(lambda: client.get(second)["status"] == "running", 20)
        alone = _running_names(client.get(second))
        client.terminate(first)
        wait_for(lambda: len(_running_names(client.get(second))) == 2, 20)
        docker.kill(f"{prefix}-{second}-w-1")
        wait_for(lambda: "w-1-r1" in _running_names(client.get(second)), 20)
        still = client.get(second)["status"]
        docker.kill(f"{prefix}-{second}-w-0")
        record = wait_final(client, second, timeout=20)
    docker.close()

    assert alone == ["w-0"]
    assert still == "running"
    assert record["status"] == "error"
    assert "service w-0: killed by signal 9 (exit code 137)" in str(record)


def _running_names(record: dict[str, Any]) -> list[str]:
    return sorted(s["name"] for s in record["services"] if s["status"] == "running")


def test_the_master_marks_nothing_unavailable_on_a_healthy_host(
    postgres_dsn: str,
    docker_deployment: str,
    engine: DockerEngineBackend,
    repo: Repository,
    tmp_path: Path,
) -> None:
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    with master_thread(config, engine) as running:
        wait_for(lambda: running.master.scheduler.rounds >= 3, 10)
        nodes = repo.list_nodes()

    assert [(n.node.name, n.available) for n in nodes] == [("local", True)]
    assert engine.unavailable_nodes() == set()


def test_on_a_shared_network_each_client_reaches_its_own_server_and_it_stays(
    postgres_dsn: str,
    docker_deployment: str,
    docker_address: str,
    tmp_path: Path,
) -> None:
    fetch = (
        "for i in $(seq 40); do "
        'wget -q -O /tmp/got "http://$SERVER:8080/index" && '
        'test "$(cat /tmp/got)" = "hello $ID" && exit 0; sleep 0.2; done; exit 1'
    )
    serve = "echo hello $ID > /tmp/index && exec httpd -f -p 8080 -h /tmp"
    zapp = app(
        [
            service(
                "server", ["sh", "-c", serve], environment={"ID": "{execution_id}"}
            ),
            service(
                "client",
                ["sh", "-c", fetch],
                environment={"SERVER": "{dns_name#server0}", "ID": "{execution_id}"},
                depends_on=["server"],
            ),
        ]
    )
    host = DockerHost("local", docker_address, Resources(2000, GIB))
    backend = DockerEngineBackend(
        [host], deployment=docker_deployment, shared_network=True
    )
    network = f"zoe-{docker_deployment}"
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    client_api = api(docker_address)
    try:
        with master_thread(config, backend) as running, running.client() as client:
            ids = [
                client.submit(f"web{i}", zapp, user="alice")["execution_id"]
                for i in range(2)
            ]
            records = [wait_final(client, i, timeout=40) for i in ids]

            assert [r["status"] for r in records] == ["finished", "finished"], records
            wait_for(
                lambda: (
                    not client_api.containers(all=True, filters=_of(docker_deployment))
                )
            )
        assert [n["Name"] for n in client_api.networks(names=[network])] == [network]
    finally:
        backend.close()
        for row in client_api.networks(names=[network]):
            client_api.remove_network(row["Id"])
        client_api.close()


def _of(deployment: str) -> dict[str, list[str]]:
    return {"label": [f"zoe.deployment={deployment}"]}
