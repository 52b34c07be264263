"""``zoe exec logs --service`` naming a service the execution does not have:
real Docker, real PostgreSQL and a real master."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_fixtures import TEST_IMAGE
from master_harness import group, master_config, master_thread, wait_final, wait_for
from typer.testing import CliRunner

from zoe.cli.main import app
from zoe.live.backends.docker_engine import DockerEngineBackend

pytestmark = pytest.mark.integration

GIB = 2**30


def test_logs_of_an_unknown_service_fail_with_a_message(
    postgres_dsn: str,
    docker_deployment: str,
    engine: DockerEngineBackend,
    tmp_path: Path,
) -> None:
    sleeper = group("s", cores=0.25, memory="64MiB")
    sleeper.update(image=TEST_IMAGE, command=["sh", "-c", "echo hi; sleep 600"])
    zapp = {
        "name": "app",
        "version": 4,
        "kind": "interactive",
        "frameworks": [{"name": "f", "services": [sleeper]}],
    }
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    with master_thread(config, engine) as running, running.client() as client:
        eid = client.submit("talk", zapp, user="a")["execution_id"]
        wait_for(lambda: client.logs(eid)["services"][0]["logs"], 20)
        known = CliRunner().invoke(
            app, ["exec", "logs", str(eid), "--service", "s-0", "--master",
                  running.address, "--user", "a"],
        )  # fmt: skip
        unknown = CliRunner().invoke(
            app, ["exec", "logs", str(eid), "--service", "nope", "--master",
                  running.address, "--user", "a"],
        )  # fmt: skip
        client.terminate(eid)
        wait_final(client, eid, timeout=20)

    assert (known.exit_code, known.output) == (0, "== s-0\nhi\n")
    assert unknown.exit_code == 1
    [line] = unknown.output.splitlines()
    assert line.startswith("error: ")
    assert "'nope'" in line
