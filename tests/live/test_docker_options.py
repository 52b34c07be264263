"""The ``[backend_options]`` of the Docker backends: each fault named, nothing built."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import docker.constants
import pytest
from typer.testing import CliRunner

from zoe.cli.main import app
from zoe.core.errors import BackendError, InvalidCluster, InvalidInput
from zoe.live.backends import BackendSettings, make_backend
from zoe.live.backends.docker_common import Options
from zoe.live.backends.docker_engine import DockerEngineBackend
from zoe.live.backends.docker_swarm import DockerSwarmBackend

HOST = {"name": "h", "address": "unix:///nowhere.sock", "cores": 1, "memory": 1}
SECONDS = "expected a number of seconds"


def settings(**options: Any) -> BackendSettings:
    return BackendSettings("d", Path("."), options=options)


@pytest.mark.parametrize(
    ("backend", "options", "fault"),
    [
        (
            DockerEngineBackend,
            {"hosts": [HOST], "reconcile_durations": 5},
            "docker backend: unknown option 'reconcile_durations' in "
            "[backend_options]; valid options: hosts, address, timeout,",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "network": "bridge"},
            "docker backend: [backend_options] network = 'bridge'; expected one of "
            "'execution' (a network per execution), 'shared' (one network for the "
            "deployment)",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "network": []},  # not a name at all
            "docker backend: [backend_options] network = []; expected one of "
            "'execution' (a network per execution), 'shared' (one network for the "
            "deployment)",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "timeout": "10"},
            f"docker backend: [backend_options] timeout = '10'; {SECONDS} > 0 "
            "and at most 86400",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "timeout": 0},
            f"docker backend: [backend_options] timeout = 0; {SECONDS} > 0 and at "
            "most 86400",
        ),
        (
            DockerEngineBackend,
            {"timeout": 0},  # refused before the local daemon is asked anything
            f"docker backend: [backend_options] timeout = 0; {SECONDS} > 0",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "reconcile_duration": 0},
            f"docker backend: [backend_options] reconcile_duration = 0; {SECONDS} > 0",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "orphan_grace_duration": math.inf},
            "docker backend: [backend_options] orphan_grace_duration = inf; "
            f"{SECONDS} >= 0 and at most 86400",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "usage_duration": math.nan},
            f"docker backend: [backend_options] usage_duration = nan; {SECONDS} >= 0",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "usage_workers": 2.5},
            "docker backend: [backend_options] usage_workers = 2.5; expected an "
            "integer from 1 to 64",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "usage_workers": 1000},
            "docker backend: [backend_options] usage_workers = 1000; expected an "
            "integer from 1 to 64",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "publish_address": ""},
            "docker backend: [backend_options] publish_address = ''; expected a "
            "non-empty string",
        ),
        (
            DockerSwarmBackend,
            {"hosts": [HOST]},
            "swarm backend: unknown option 'hosts' in [backend_options]; valid "
            "options: address, timeout, poll_duration,",
        ),
        (
            DockerSwarmBackend,
            {"poll_duration": -0.5},
            f"swarm backend: [backend_options] poll_duration = -0.5; {SECONDS} > 0",
        ),
        (
            DockerSwarmBackend,
            {"poll_duration": 0},
            f"swarm backend: [backend_options] poll_duration = 0; {SECONDS} > 0",
        ),
        (
            DockerSwarmBackend,
            {"timeout": 0},
            f"swarm backend: [backend_options] timeout = 0; {SECONDS} > 0",
        ),
        (
            DockerSwarmBackend,
            {"usage_workers": 0},
            "swarm backend: [backend_options] usage_workers = 0; expected an "
            "integer from 1 to 64",
        ),
    ],
)
def test_a_bad_option_is_refused_before_any_daemon_is_reached(
    backend: Any, options: dict[str, Any], fault: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        backend.from_settings(settings(**options))

    assert str(caught.value).startswith(fault)


@pytest.mark.parametrize("version", ["abc", "1.x", "1", "0.5", "1.23", "9.99", 1.41])
def test_a_bad_api_version_is_refused_with_the_range(version: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        DockerEngineBackend.from_settings(settings(hosts=[HOST], api_version=version))

    low = docker.constants.MINIMUM_DOCKER_API_VERSION  # 1.24 with docker-py 7.2
    high = docker.constants.DEFAULT_DOCKER_API_VERSION  # 1.45 with docker-py 7.2
    assert str(caught.value) == (
        f"docker backend: [backend_options] api_version = {version!r}; expected "
        f"'auto' or a Docker API version from {low} to {high}, written like '1.41'"
    )


def test_a_bad_option_is_an_input_error_of_the_registry() -> None:
    with pytest.raises(InvalidInput) as caught:
        make_backend("docker", settings(hosts=[HOST], probe_duration=-1))

    assert not isinstance(caught.value, BackendError)


def test_zoe_master_exits_2_on_a_bad_backend_option(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> None:
    config = tmp_path / "zoe.toml"
    config.write_text(
        f'backend = "docker"\ndeployment = "{deployment}"\n'
        f'database_url = "{postgres_dsn}"\n\n'
        "[backend_options]\n"
        'hosts = [{name = "h", address = "unix:///nowhere.sock", cores = 1, '
        "memory = 1}]\n"
        'network = "bridge"\n'
    )

    result = CliRunner().invoke(app, ["master", "--config", str(config)], env={})

    assert result.exit_code == 2
    assert result.output.startswith(
        "error: docker backend: [backend_options] network = 'bridge'; expected"
    )
    assert len(result.output.splitlines()) == 1


@pytest.mark.parametrize(
    ("host", "fault"),
    [
        (
            {"name": "h1", "address": "tcp://10.0.0.2:2375", "memory": "1GiB"},
            "[backend_options] hosts: host 'h1': cores is missing (a number such as 8)",
        ),
        (
            {"name": "h1", "cores": 2},
            "[backend_options] hosts: host 'h1': memory is missing (a size such "
            'as "32GiB")',
        ),
        (
            {"address": "tcp://10.0.0.2:2375", "cores": 2, "memory": "1GiB"},
            "[backend_options] hosts: entry 1 (address tcp://10.0.0.2:2375): name "
            "is missing (a non-empty string)",
        ),
        (
            {"name": "h1", "address": "10.0.0.2:2375", "cores": 2, "memory": 1},
            "[backend_options] hosts: host 'h1': address = '10.0.0.2:2375'; "
            "expected unix:///path or tcp://host:port",
        ),
        (
            {"name": "h1", "cores": 0, "memory": 1},
            "[backend_options] hosts: host 'h1': cores and memory must be greater "
            "than zero",
        ),
    ],
)
def test_a_bad_host_is_named_by_its_name_or_address(
    host: dict[str, Any], fault: str
) -> None:
    with pytest.raises(InvalidCluster) as caught:
        DockerEngineBackend.from_settings(settings(hosts=[host]))

    assert str(caught.value) == fault
    assert "None" not in str(caught.value)


def test_options_read_their_defaults_and_given_values() -> None:
    read = Options(
        "docker",
        {"timeout": 3, "usage_workers": 2, "api_version": "1.41"},
        ("timeout", "usage_workers", "network", "api_version"),
    )

    assert read.seconds("timeout", 10.0, positive=True) == 3.0
    assert read.count("usage_workers", 4) == 2
    assert read.choice("network", "execution", {"execution": "", "shared": ""}) == (
        "execution"
    )
    assert read.api_version() == "1.41"
    assert Options("docker", {}, ()).api_version() == "auto"
