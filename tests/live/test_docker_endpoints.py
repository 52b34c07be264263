"""The endpoints of a container's published ports, on a real Docker daemon."""

from __future__ import annotations

import httpx
import pytest
from docker_fixtures import api
from master_harness import wait_for
from test_docker_engine import events_until, launch

from zoe.core.resources import Resources
from zoe.live.backends import ServiceEventKind
from zoe.live.backends.docker_common import DockerHost
from zoe.live.backends.docker_engine import DockerEngineBackend

pytestmark = pytest.mark.integration

HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/var/www"]


def backend(address: str, deployment: str, publish: str) -> DockerEngineBackend:
    host = DockerHost("local", address, Resources(2000, 1024**3))
    return DockerEngineBackend(
        [host], deployment=deployment, publish_address=publish, reconcile_duration=60
    )


@pytest.mark.parametrize("publish", ["127.0.0.1", "0.0.0.0"])
def test_the_endpoint_of_a_started_container_answers_and_is_forgotten_with_it(
    docker_address: str, docker_deployment: str, publish: str
) -> None:
    engine = backend(docker_address, docker_deployment, publish)
    adopting = None
    try:
        started = launch(docker_deployment, "web-0", HTTPD, ports=((8080, "tcp"),))
        backend_id = engine.create(started)
        before = engine.endpoints(backend_id)
        engine.start(backend_id)
        events = events_until(engine, 1)
        found = wait_for(lambda: engine.endpoints(backend_id), 10)
        client = api(docker_address)
        bindings = client.inspect_container(started.name)["NetworkSettings"]["Ports"]
        client.close()
        reply = httpx.get(f"http://{found['8080/tcp']}/", timeout=5)
        # a second backend of the deployment adopts the container from a listing
        adopting = backend(docker_address, docker_deployment, publish)
        adopting.list_services()
        adopted = adopting.endpoints(backend_id)
        engine.remove(backend_id)
        after = engine.endpoints(backend_id)
    finally:
        engine.close()
        if adopting is not None:
            adopting.close()

    port = bindings["8080/tcp"][0]["HostPort"]
    # bound on 127.0.0.1, or on every interface of a daemon on the local socket
    expected = {"8080/tcp": f"127.0.0.1:{port}"}
    assert bindings["8080/tcp"][0]["HostIp"] == publish
    assert before == {}
    assert [e.kind for e in events] == [ServiceEventKind.RUNNING]
    assert found == expected
    assert reply.status_code == 404  # busybox httpd: /var/www has no index.html
    assert adopted == expected
    assert after == {}
