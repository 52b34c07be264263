"""The master's configuration: precedence, and the backend's own table."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoe.core.errors import InvalidInput
from zoe.live.config import load_config


def test_flags_win_over_environment_and_environment_over_the_file(
    tmp_path: Path,
) -> None:
    file = tmp_path / "zoe.toml"
    file.write_text('policy = "rigid-fifo"\nplacement = "spread"\nspeed = 2.0\n')

    config = load_config(
        file,
        env={"ZOE_PLACEMENT": "pack", "ZOE_SPEED": "3"},
        flags={"speed": 4.0, "policy": None},
    )

    assert (config.policy, config.placement, config.speed) == ("rigid-fifo", "pack", 4)


def test_the_backend_options_table_reaches_the_configuration(tmp_path: Path) -> None:
    file = tmp_path / "zoe.toml"
    file.write_text(
        'backend = "docker"\n'
        "[backend_options]\n"
        'network = "shared"\n'
        'hosts = [{name = "h1", address = "unix:///run/d.sock", cores = 8, '
        'memory = "32GiB"}]\n'
    )

    config = load_config(file, env={}, flags={})

    assert config.backend == "docker"
    assert config.backend_options["network"] == "shared"
    assert config.backend_options["hosts"][0]["name"] == "h1"


def test_backend_options_must_be_a_table(tmp_path: Path) -> None:
    file = tmp_path / "zoe.toml"
    file.write_text('backend_options = "hosts"\n')

    with pytest.raises(InvalidInput, match=r"backend_options must be a table"):
        load_config(file, env={}, flags={})
