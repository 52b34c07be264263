"""The ``logs`` op for a service the execution does not have: a real master, a
real PostgreSQL and the Docker engine backend on a real daemon."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_fixtures import TEST_IMAGE
from master_harness import master_config, master_thread, wait_final, wait_for

from zoe.live.backends.docker_engine import DockerEngineBackend
from zoe.live.protocol_errors import NotFoundError

pytestmark = pytest.mark.integration


def test_logs_of_a_service_the_execution_lacks_is_not_found_and_lists_them(
    postgres_dsn: str,
    docker_deployment: str,
    engine: DockerEngineBackend,
    tmp_path: Path,
) -> None:
    zapp = {
        "name": "app",
        "version": 4,
        "kind": "interactive",
        "frameworks": [
            {
                "name": "f",
                "services": [
                    {
                        "name": "s",
                        "image": TEST_IMAGE,
                        "command": ["sleep", "600"],
                        "essential_count": 1,
                        "total_count": 2,
                        "resources": {"cores": 0.5, "memory": "64MiB"},
                    }
                ],
            }
        ],
    }
    config = master_config(postgres_dsn, docker_deployment, tmp_path, backend="docker")
    with master_thread(config, engine) as running, running.client() as client:
        eid = client.submit("two", zapp, user="a")["execution_id"]
        try:
            wait_for(lambda: len(client.get(eid)["services"]) == 2, 20)
            with pytest.raises(NotFoundError) as caught:
                client.logs(eid, service="s-2")
            known = client.logs(eid, service="s-1")
        finally:
            client.terminate(eid)
            wait_final(client, eid, timeout=20)

    assert caught.value.message == (
        f"execution {eid} has no service 's-2'; its services: s-0, s-1"
    )
    assert caught.value.details == {
        "kind": "service",
        "key": "s-2",
        "services": ["s-0", "s-1"],
    }
    assert [s["name"] for s in known["services"]] == ["s-1"]
