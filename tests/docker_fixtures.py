"""A real Docker daemon for the tests of the Docker backends.

``docker_address`` (session) is the address of a daemon that answers and has the
test image ``zoe-test/busybox:1`` (``scripts/docker.sh setup`` provides both).
Without one the Docker tests skip with the reason, unless ``ZOE_REQUIRE_DOCKER=1``
(set by CI), where they fail.

``docker_deployment`` is the test's deployment; after the test every container
and network labelled with it is removed, and the test fails if any was left.
``second_docker_host`` starts a second ``dockerd`` in its own network namespace
(own data root, exec root and socket; the host's ``docker0`` is left alone), loads
the test image into it, and removes everything at the end of the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

TEST_IMAGE = os.environ.get("ZOE_TEST_IMAGE", "zoe-test/busybox:1")
LOCAL_ADDRESS = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
DEPLOYMENT_LABEL = "zoe.deployment"


def no_docker(reason: str) -> NoReturn:
    """Fail under ZOE_REQUIRE_DOCKER=1, else skip, saying how to get Docker."""
    message = (
        f"no Docker for the Docker tests: {reason}. Run `bash scripts/docker.sh "
        "setup` (as root on Debian it installs and starts a daemon)"
    )
    if os.environ.get("ZOE_REQUIRE_DOCKER") == "1":
        pytest.fail(message + " (ZOE_REQUIRE_DOCKER=1: not skipped)", pytrace=False)
    pytest.skip(message)


def api(address: str, timeout: float = 10.0) -> Any:
    """A low-level Docker client of ``address`` (raises if it does not answer)."""
    from zoe.live.backends.docker_engine import connect

    return connect(address, timeout)


@pytest.fixture(scope="session")
def docker_address() -> str:
    """The address of a daemon that answers and holds the test image."""
    try:
        import docker
    except ImportError:
        no_docker("the docker Python package is not installed")
    from zoe.live.backends.docker_engine import UNREACHABLE

    try:
        client = api(LOCAL_ADDRESS, 5.0)
        client.ping()
    except UNREACHABLE as exc:
        no_docker(f"the daemon at {LOCAL_ADDRESS} does not answer ({exc})")
    try:
        client.inspect_image(TEST_IMAGE)
    except docker.errors.ImageNotFound:
        no_docker(f"the test image {TEST_IMAGE} is missing")
    finally:
        client.close()
    return LOCAL_ADDRESS


def leftovers(address: str, deployment: str) -> list[str]:
    """Remove what carries ``deployment``'s label on ``address``; what was there."""
    client = api(address)
    found = []
    try:
        label = {"label": [f"{DEPLOYMENT_LABEL}={deployment}"]}
        for row in client.containers(all=True, filters=label):
            found.append(f"container {row['Names'][0]}")
            client.remove_container(row["Id"], force=True)
        for row in client.networks(filters=label):
            found.append(f"network {row['Name']}")
            client.remove_network(row["Id"])
    finally:
        client.close()
    return found


@pytest.fixture
def docker_deployment(docker_address: str, deployment: str) -> Iterator[str]:
    """The test's deployment; fails the test if it leaves containers or networks."""
    yield deployment
    left = leftovers(docker_address, deployment)
    assert not left, f"the test left {left}"


@dataclass(frozen=True)
class DockerDaemon:
    """A dockerd the tests started: its socket address and its process."""

    address: str
    process: subprocess.Popen[bytes]
    folder: Path
    namespace: str

    def stop(self) -> None:
        """Stop the daemon (SIGTERM) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_netns_daemon(
    name: str, folder: Path, load_from: str, hostname: str | None = None
) -> DockerDaemon:
    """Start dockerd in network namespace ``name`` and load the test image into it.

    ``hostname``: the daemon also gets its own UTS namespace with that hostname
    (a Swarm node is known by its hostname, which must differ from the host's).
    """
    for tool in ("ip", "nsenter", "dockerd", "docker", "unshare"):
        if shutil.which(tool) is None:
            no_docker(f"{tool} is not installed (needed for a second daemon)")
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    socket = folder / "docker.sock"
    rename = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"']
    command = [
        "nsenter",
        f"--net=/var/run/netns/{name}",
        *([*rename, hostname] if hostname else []),
        "dockerd",
        "--data-root",
        str(folder / "data"),
        "--exec-root",
        str(folder / "exec"),
        "--pidfile",
        str(folder / "dockerd.pid"),
        "-H",
        f"unix://{socket}",
    ]
    with (folder / "dockerd.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    daemon = DockerDaemon(f"unix://{socket}", process, folder, name)
    try:
        deadline = time.monotonic() + 60
        while not _answers(daemon.address):
            if process.poll() is not None or time.monotonic() > deadline:
                no_docker(f"a second dockerd did not start; see {folder}/dockerd.log")
            time.sleep(0.3)
        load_image(load_from, daemon.address)
    except BaseException:
        stop_netns_daemon(daemon)
        raise
    return daemon


def load_image(source: str, target: str) -> None:
    """``docker save`` the test image from ``source`` into ``target``."""
    save = subprocess.Popen(
        ["docker", "-H", source, "save", TEST_IMAGE], stdout=subprocess.PIPE
    )
    assert save.stdout is not None
    with save.stdout:
        subprocess.run(
            ["docker", "-H", target, "load", "-q"],
            stdin=save.stdout,
            check=True,
            capture_output=True,
        )
    save.wait(30)


def _answers(address: str) -> bool:
    from zoe.live.backends.docker_common import ping_failure

    return ping_failure(lambda: api(address, 2.0)) is None


def stop_netns_daemon(daemon: DockerDaemon) -> None:
    """Stop the daemon, remove its namespace and its folder."""
    daemon.stop()
    subprocess.run(["ip", "netns", "del", daemon.namespace], check=False)
    subprocess.run(
        ["umount", "-R", str(daemon.folder / "exec")], check=False, capture_output=True
    )
    shutil.rmtree(daemon.folder, ignore_errors=True)


@pytest.fixture
def second_docker_host(docker_address: str) -> Iterator[DockerDaemon]:
    """A second daemon in its own network namespace, with the test image."""
    if os.geteuid() != 0:
        no_docker("a second dockerd needs root")
    name = "zoe-t" + uuid.uuid4().hex[:8]
    folder = Path(tempfile.mkdtemp(prefix="zoe-dockerd-"))
    daemon = start_netns_daemon(name, folder, docker_address)
    try:
        yield daemon
    finally:
        stop_netns_daemon(daemon)


@pytest.fixture
def engine(docker_address: str, docker_deployment: str) -> Iterator[Any]:
    """A Docker engine backend on the local daemon as one host of 2 cores and
    1 GiB, reconciling every second; closed after the test."""
    from zoe.core.resources import Resources
    from zoe.live.backends.docker_common import DockerHost
    from zoe.live.backends.docker_engine import DockerEngineBackend

    host = DockerHost("local", docker_address, Resources(2000, 2**30))
    backend = DockerEngineBackend(
        [host], deployment=docker_deployment, reconcile_duration=1.0
    )
    try:
        yield backend
    finally:
        backend.close()
