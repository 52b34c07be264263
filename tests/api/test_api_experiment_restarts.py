"""Experiments whose process died: real PostgreSQL, real API and processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from experiment_helpers import (
    LONG_SPEC,
    SPEC,
    ExperimentsApi,
    experiment_processes,
    experiments_api,
    group_members,
)

from zoe.live.db import Repository, Transaction
from zoe.live.db.experiments import create_experiment, get_experiment

pytestmark = pytest.mark.integration

URL = "/api/v1/experiments"


def test_a_dead_process_experiment_is_queued_again_while_the_worker_is_busy(
    xapi: ExperimentsApi,
) -> None:
    client, alice = xapi.api.client, xapi.api.login("alice")
    busy = client.post(URL, json={"spec": LONG_SPEC}, headers=alice).json()
    xapi.wait(busy["id"], alice, {"running"})

    # as a process that died leaves it: running, its heartbeat long gone; the
    # only worker is busy with the long experiment, so nothing runs it
    def orphan(tx: Transaction) -> int:
        record = create_experiment(tx, "alice", "orphan", SPEC, 4)
        tx.cur.execute(
            "UPDATE experiments SET status = 'running', runner = 'gone:1', "
            "start_time = now(), heartbeat_time = now() - interval '1 hour' "
            "WHERE id = %s",
            (record.id,),
        )
        return record.id

    orphan_id = xapi.api.repo.transaction(orphan)
    deadline = time.monotonic() + 20
    while True:
        record = xapi.api.repo.transaction(lambda tx: get_experiment(tx, orphan_id))
        if record.status != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert (record.status, record.runner) == ("queued", None)
    assert record.start_time is not None  # it did start once
    assert client.get(f"{URL}/{busy['id']}", headers=alice).json()["status"] == (
        "running"
    )
    for experiment_id in (busy["id"], orphan_id):
        client.post(f"{URL}/{experiment_id}/cancel", headers=alice)


def test_a_killed_experiment_process_fails_and_leaves_no_worker_behind(
    xapi: ExperimentsApi,
) -> None:
    client, alice = xapi.api.client, xapi.api.login("alice")
    submitted = client.post(URL, json={"spec": LONG_SPEC}, headers=alice).json()
    xapi.wait(submitted["id"], alice, {"running"})
    folder = xapi.folder(submitted["id"])
    deadline = time.monotonic() + 30
    # the child, then its pool of worker processes in its process group
    while not (pids := experiment_processes(folder)) or len(group_members(pids[0])) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)

    os.kill(pids[0], signal.SIGKILL)  # as the kernel does when memory runs out
    deadline = time.monotonic() + 20
    while (body := client.get(f"{URL}/{submitted['id']}", headers=alice).json())[
        "status"
    ] == "running":
        assert time.monotonic() < deadline, "the experiment still runs"
        time.sleep(0.2)

    assert body["status"] == "failed"
    assert body["error"] == "the experiment's process stopped (status -9)"
    deadline = time.monotonic() + 10
    while group_members(pids[0]):
        assert time.monotonic() < deadline, "the worker processes still run"
        time.sleep(0.1)


def test_an_experiment_runs_with_folders_configured_relative_to_the_api(
    postgres_dsn: str,
    deployment: str,
    repo: Repository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # as `zoe up --data-dir data` in the current folder configures it
    monkeypatch.chdir(tmp_path)
    with experiments_api(
        postgres_dsn, deployment, repo, tmp_path, relative=True
    ) as xapi:
        alice = xapi.api.login("alice")
        reply = xapi.api.client.post(URL, json={"spec": SPEC}, headers=alice)
        body = xapi.wait(reply.json()["id"], alice, {"done", "failed"})

    assert (body["status"], body["error"]) == ("done", None)
    assert body["progress"] == {"done": 4, "failed": 0, "total": 4}
    folder = tmp_path / "data" / "experiments" / deployment / str(body["id"])
    assert (folder / "runs.parquet").is_file()
