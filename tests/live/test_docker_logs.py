"""Container output on a real daemon: the backend's tail, since and stamps, and
the master's ``logs`` op followed with ``since`` until the service ends."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from docker_fixtures import TEST_IMAGE, api
from master_harness import master_config, master_thread, wait_final, wait_for

from zoe.core.errors import BackendError
from zoe.live.backends import ExecutionInfo, ServiceLaunch, service_labels
from zoe.live.backends.docker_engine import DockerEngineBackend
from zoe.live.client import MasterClient
from zoe.live.output import parse_stamped

pytestmark = pytest.mark.integration

MIB = 1024**2
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")
TEN_LINES = "for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; sleep 0.2; done"
ALL_TEN = "".join(f"line {i}\n" for i in range(1, 11))


def printer_zapp(script: str = TEN_LINES) -> dict[str, Any]:
    """A batch ZApp of one service running ``script`` in the test image."""
    group = {
        "name": "p",
        "image": TEST_IMAGE,
        "command": ["sh", "-c", script],
        "essential_count": 1,
        "total_count": 1,
        "resources": {"cores": 0.5, "memory": "64MiB"},
    }
    return {
        "name": "printer",
        "version": 4,
        "kind": "batch",
        "frameworks": [{"name": "f", "services": [group]}],
    }


def launch(deployment: str, command: list[str]) -> ServiceLaunch:
    return ServiceLaunch(
        name=f"zoe-{deployment}-7-s-0",
        node="local",
        image=TEST_IMAGE,
        command=tuple(command),
        environment={},
        millicores=500,
        memory=64 * MIB,
        max_millicores=None,
        max_memory=None,
        essential=True,
        labels=service_labels(deployment, 7, 1, "s-0"),
        execution=ExecutionInfo(7, "batch", None, 1, 1),
        peers=("s-0",),
    )


def stamped_when(engine: DockerEngineBackend, backend_id: str, lines: int) -> str:
    """The stamped output once it has ``lines`` lines, else "" (the container
    is created on a worker thread: it may not exist yet)."""
    try:
        text = engine.logs(backend_id, timestamps=True)
    except BackendError:
        return ""
    return text if text.count("\n") == lines else ""


def test_the_backend_reads_tail_since_and_stamps_and_keeps_a_removed_output(
    engine: DockerEngineBackend, docker_address: str, docker_deployment: str
) -> None:
    script = "echo one; sleep 0.3; echo two; sleep 0.3; echo three >&2; exec sleep 600"
    backend_id = engine.create(launch(docker_deployment, ["sh", "-c", script]))
    engine.start(backend_id)
    stamped = wait_for(lambda: stamped_when(engine, backend_id, lines=3))
    two = parse_stamped(stamped)[1]
    # the float seconds of "two" cut to the microsecond: at or before its stamp
    since = (two.time_ns // 1000) / 1e6
    read = {
        "all": engine.logs(backend_id),
        "tail": engine.logs(backend_id, tail=1),
        "since": engine.logs(backend_id, since=since),
        "since and tail": engine.logs(backend_id, tail=2, since=since + 0.1),
    }
    engine.remove(backend_id)
    docker = api(docker_address)
    name = backend_id.partition("/")[2]
    wait_for(lambda: not docker.containers(all=True, filters={"name": name}), 10)
    docker.close()
    after = {
        "all": engine.logs(backend_id),
        "since": engine.logs(backend_id, since=since),
        "tail stamped": engine.logs(backend_id, tail=1, timestamps=True),
    }

    assert [STAMP.match(line) is not None for line in stamped.splitlines()] == [
        True,
        True,
        True,
    ]
    assert [line.text for line in parse_stamped(stamped)] == [
        "one\n",
        "two\n",
        "three\n",
    ]
    assert read == {
        "all": "one\ntwo\nthree\n",
        "tail": "three\n",
        "since": "two\nthree\n",
        "since and tail": "three\n",
    }
    assert after["all"] == "one\ntwo\nthree\n"
    assert after["since"] == "two\nthree\n"
    assert after["tail stamped"] == stamped.splitlines(keepends=True)[2]


def follow(client: MasterClient, execution_id: int) -> list[dict[str, Any]]:
    """Each reply of the ``logs`` op, asked every 0.5 s with the last
    ``next_since``, until the service has ended."""
    replies: list[dict[str, Any]] = []
    since = None
    while not replies or not replies[-1]["ended"]:
        if replies:
            time.sleep(0.5)
        entry = client.logs(execution_id, since=since)["services"][0]
        since = entry["next_since"] or since
        replies.append(entry)
        assert len(replies) < 60, "the service never ended"
    return replies


def test_a_follower_of_the_master_gets_every_line_once_and_knows_the_end(
    postgres_dsn: str,
    docker_deployment: str,
    engine: DockerEngineBackend,
    tmp_path: Path,
) -> None:
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    with master_thread(config, engine) as running, running.client() as client:
        eid = client.submit("printer", printer_zapp(), user="a")["execution_id"]
        wait_for(lambda: client.get(eid)["services"], 20)
        replies = follow(client, eid)
        record = wait_final(client, eid, timeout=20)
        chunks = [r for r in replies if r["logs"]]
        first = chunks[0]
        again = client.logs(eid, since=first["last_time"])["services"][0]
        after = client.logs(eid, since=first["next_since"])["services"][0]
        tail = client.logs(eid, tail=3)["services"][0]

    assert "".join(r["logs"] for r in replies) == ALL_TEN
    assert len(chunks) >= 3  # it was followed while it wrote, not read at the end
    assert [r["ended"] for r in replies].count(True) == 1
    assert record["status"] == "finished"
    # since is "at or after": the last line of the first chunk, or what follows it
    shown = first["logs"].splitlines(keepends=True)
    rest = ALL_TEN[len(first["logs"]) :]
    assert again["logs"] == shown[-1] + rest
    assert after["logs"] == rest
    assert tail["logs"] == "line 8\nline 9\nline 10\n"
    assert tail["ended"] is True
