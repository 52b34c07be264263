"""The ``[backend_options]`` of the Docker backends: each fault named, nothing built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zoe.core.errors import BackendError
from zoe.live.backends import BackendSettings
from zoe.live.backends.docker_common import Options
from zoe.live.backends.docker_engine import DockerEngineBackend
from zoe.live.backends.docker_swarm import DockerSwarmBackend

HOST = {"name": "h", "address": "unix:///nowhere.sock", "cores": 1, "memory": 1}


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
            "docker backend: network = 'bridge'; expected one of 'execution' "
            "(a network per execution), 'shared' (one network for the deployment)",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "timeout": "10"},
            "docker backend: timeout = '10'; expected a number >= 0",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "usage_workers": 2.5},
            "docker backend: usage_workers = 2.5; expected an integer >= 1",
        ),
        (
            DockerEngineBackend,
            {"hosts": [HOST], "publish_address": ""},
            "docker backend: publish_address = ''; expected a non-empty string",
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
            "swarm backend: poll_duration = -0.5; expected a number >= 0",
        ),
        (
            DockerSwarmBackend,
            {"usage_workers": 0},
            "swarm backend: usage_workers = 0; expected an integer >= 1",
        ),
    ],
)
def test_a_bad_option_is_refused_before_any_daemon_is_reached(
    backend: Any, options: dict[str, Any], fault: str
) -> None:
    with pytest.raises(BackendError) as caught:
        backend.from_settings(settings(**options))

    assert str(caught.value).startswith(fault)


def test_options_read_their_defaults_and_given_values() -> None:
    read = Options(
        "docker",
        {"timeout": 3, "usage_workers": 2},
        ("timeout", "usage_workers", "network"),
    )

    assert read.seconds("timeout", 10.0) == 3.0
    assert read.count("usage_workers", 4) == 2
    assert read.choice("network", "execution", {"execution": "", "shared": ""}) == (
        "execution"
    )
