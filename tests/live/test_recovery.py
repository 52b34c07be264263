"""Durability: a master killed mid-burst, a database restarted, a backend that lost
its containers or holds unknown ones."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from master_harness import (
    FINAL,
    free_port,
    master_config,
    master_thread,
    wait_final,
    wait_for,
    zapp,
)

from zoe.core.execution import ServiceStatus
from zoe.live.backends import ExecutionInfo, ServiceLaunch, service_labels
from zoe.live.backends.simulated import STATE_FILE_NAME, SimulatedBackend
from zoe.live.client import MasterClient
from zoe.live.db import EmbeddedPostgres, Repository
from zoe.live.protocol_errors import MasterUnavailable, UnavailableError
from zoe.sim.clusters import load_nodes

pytestmark = pytest.mark.integration

BURST = 50
KILL_AFTER = 20


def start_master_process(config_file: Path, log_file: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        "from zoe.cli.main import main; main()",
        "master",
        "--config",
        str(config_file),
    ]
    with log_file.open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=log)


def write_config(path: Path, dsn: str, deployment: str, address: str) -> None:
    path.write_text(
        "\n".join(
            [
                f"database_url = {dsn!r}",
                f"deployment = {deployment!r}",
                f"listen = {address!r}",
                f"data_dir = {str(path.parent / 'data')!r}",
                'cluster = "4x8c32g"',
                "speed = 0.01",
                "tick_duration = 0.2",
                'policy = "flexible-fifo"',
            ]
        )
        + "\n"
    )


def submit_all(
    client: MasterClient,
    indices: list[int],
    acked: dict[int, int],
    kill: threading.Event,
) -> None:
    """Submit the given indices with request ids ``burst-<i>``, noting the acks."""
    for i in indices:
        if len(acked) == KILL_AFTER:
            kill.set()
        try:
            reply = client.submit(
                f"e{i}", zapp(size=5.0), "alice", request_id=f"burst-{i}"
            )
        except MasterUnavailable:
            return  # the master is gone: the rest of the burst is unacknowledged
        acked[i] = reply["execution_id"]


def test_a_master_killed_mid_burst_loses_nothing_and_starts_nothing_twice(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    config_file, log_file = tmp_path / "master.toml", tmp_path / "master.log"
    write_config(config_file, postgres_dsn, deployment, address)
    process = start_master_process(config_file, log_file)
    kill = threading.Event()
    killer = threading.Thread(
        target=lambda: kill.wait(30) and process.send_signal(signal.SIGKILL)
    )
    killer.start()
    acked_before: dict[int, int] = {}
    try:
        with MasterClient(address, timeout_ms=3000, retries=3) as client:
            client.ping()
        with MasterClient(address, timeout_ms=300, retries=0) as client:
            submit_all(client, list(range(BURST)), acked_before, kill)
        killer.join()
        process.wait(10)
        assert process.returncode == -signal.SIGKILL

        process = start_master_process(config_file, log_file)
        acked_after: dict[int, int] = {}
        with MasterClient(address, timeout_ms=3000, retries=10) as client:
            try:
                client.ping()  # a busy machine may take seconds to start the master
            except MasterUnavailable:
                raise AssertionError(log_file.read_text()) from None
            submit_all(client, list(range(BURST)), acked_after, threading.Event())
            assert len(acked_after) == BURST, log_file.read_text()
            records = [
                wait_final_or_running(client, acked_after[i]) for i in range(BURST)
            ]
    finally:
        process.kill()
        process.wait(10)

    assert KILL_AFTER <= len(acked_before) < BURST
    assert {i: acked_after[i] for i in acked_before} == acked_before
    assert len(set(acked_after.values())) == BURST
    stored = repo.list_executions(limit=1000)
    assert sorted(e.request_id or "" for e in stored) == sorted(
        f"burst-{i}" for i in range(BURST)
    )
    assert {r["status"] for r in records} <= FINAL | {"running"}
    for execution in stored:
        starts = [
            (e.subject_id, e.new_status)
            for e in repo.execution_events(execution.id)
            if e.subject_kind == "service" and e.new_status in ("starting", "running")
        ]
        assert len(starts) == len(set(starts)), f"started twice: {starts}"


def wait_final_or_running(client: MasterClient, execution_id: int) -> dict[str, object]:
    def settled() -> dict[str, object] | None:
        record = client.get(execution_id)
        return record if record["status"] in FINAL | {"running"} else None

    found: dict[str, object] = wait_for(settled, timeout=30)
    return found


def test_a_restarted_database_is_survived_without_losing_a_submission(
    throwaway_server: EmbeddedPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = master_config(throwaway_server.dsn, "prod", tmp_path)
    lab = zapp("lab", kind="interactive", size=None)
    with (
        caplog.at_level(logging.INFO, "zoe.live"),
        master_thread(config) as running,
        running.client() as client,
    ):
        before = client.submit("before", lab, user="a", request_id="r-before")
        wait_for(lambda: client.get(before["execution_id"])["status"] == "running")

        throwaway_server.stop()
        with pytest.raises(UnavailableError):
            client.submit("during", zapp(size=0.2), user="a", request_id="r-during")
        throwaway_server.start()

        during = wait_for(lambda: retry_submit(client, "r-during"), timeout=20)
        after = client.submit("after", zapp(size=0.2), user="a", request_id="r-after")
        records = [
            wait_final(client, during["execution_id"]),
            wait_final(client, after["execution_id"]),
        ]
        lab_record = client.get(before["execution_id"])
        listed = client.list_executions()["executions"]

    assert [r["status"] for r in records] == ["finished", "finished"]
    assert lab_record["status"] == "running"
    assert sorted(e["name"] for e in listed) == ["after", "before", "during"]
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("master: database unavailable") for m in messages)
    assert "master: database reachable again; state taken up" in messages


def retry_submit(client: MasterClient, request_id: str) -> dict[str, object] | None:
    try:
        return client.submit("during", zapp(size=0.2), user="a", request_id=request_id)
    except UnavailableError:
        return None


def test_services_the_backend_lost_fail_their_execution(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path, persist_backend=True)
    lab = zapp("lab", kind="interactive", size=None)
    with master_thread(config) as running, running.client() as client:
        execution_id = client.submit("lab", lab, user="a")["execution_id"]
        wait_for(lambda: client.get(execution_id)["status"] == "running")
    os.remove(tmp_path / STATE_FILE_NAME)  # the hosts rebooted: nothing runs

    with master_thread(config) as running, running.client() as client:
        record = wait_final(client, execution_id)

    assert record["status"] == "error"
    assert record["reason"] == (
        "service s-0: lost: the backend no longer has its container"
    )
    assert record["services"][0]["status"] == "failed"


def test_running_services_are_adopted_and_unknown_containers_removed(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    config = master_config(postgres_dsn, deployment, tmp_path, persist_backend=True)
    lab = zapp("lab", kind="interactive", size=None)
    with master_thread(config) as running, running.client() as client:
        execution_id = client.submit("lab", lab, user="a")["execution_id"]
        wait_for(lambda: client.get(execution_id)["status"] == "running")
        container = client.get(execution_id)["services"][0]["container_id"]

    backend = SimulatedBackend(
        load_nodes(config.cluster),
        deployment=deployment,
        speed=config.speed,
        state_file=tmp_path / STATE_FILE_NAME,
    )
    labels = service_labels(deployment, 999, 999, "stray-0")
    info = ExecutionInfo(999, "interactive", None, 1, 1)
    stray = backend.create(
        ServiceLaunch(
            "stray",
            "node-1",
            "busybox",
            None,
            {},
            1000,
            2**30,
            None,
            None,
            True,
            labels,
            info,
        )
    )
    with master_thread(config, backend) as running, running.client() as client:
        record = client.get(execution_id)
        held = [s.backend_id for s in backend.list_services()]

    assert record["status"] == "running"
    assert record["services"][0]["container_id"] == container
    assert held == [container]
    assert stray not in held


def test_an_essential_exit_recorded_just_before_a_crash_ends_its_execution(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> None:
    # The master records a service's exit, then ends its execution: two steps. A
    # master killed between them leaves a "running" execution whose essential
    # service has exited; the next master must finish it, not start it again.
    config = master_config(postgres_dsn, deployment, tmp_path, persist_backend=True)
    lab = zapp("lab", kind="interactive", size=None)
    with master_thread(config) as running, running.client() as client:
        execution_id = client.submit("lab", lab, user="a")["execution_id"]
        wait_for(lambda: client.get(execution_id)["status"] == "running")
    (service,) = repo.services_of(execution_id)
    repo.set_service_status(
        service.id, ServiceStatus.RUNNING, ServiceStatus.EXITED, "backend", "done", 0
    )

    with master_thread(config) as running, running.client() as client:
        record = wait_final(client, execution_id)

    assert record["status"] == "finished"
    assert record["reason"] == "service s-0: exited"
    assert record["services"][0]["status"] == "exited"
