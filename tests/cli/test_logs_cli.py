"""``zoe exec logs --service`` naming a service the execution does not have:
real Docker, real PostgreSQL and a real master."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_fixtures import TEST_IMAGE
from master_harness import group, master_config, master_thread, wait_final, wait_for
from typer.testing import CliRunner

from zoe.cli.main import app
from zoe.core.resources import Resources
from zoe.live.backends.docker_common import DockerHost
from zoe.live.backends.docker_engine import DockerEngineBackend

pytestmark = pytest.mark.integration

GIB = 2**30


@pytest.fixture
def engine(
    docker_address: str, docker_deployment: str
) -> Iterator[DockerEngineBackend]:
    """A backend on the local daemon as one host of 2 cores and 1 GiB."""
    host = DockerHost("local", docker_address, Resources(2000, GIB))
    backend = DockerEngineBackend(
        [host], deployment=docker_deployment, reconcile_duration=1.0
    )
    try:
        yield backend
    finally:
        backend.close()


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
