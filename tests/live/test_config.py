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


def test_the_experiment_settings_reach_the_api(tmp_path: Path) -> None:
    from zoe.api.config import ApiConfig

    file = tmp_path / "zoe.toml"
    file.write_text(
        f'data_dir = "{tmp_path}"\ntraces_dir = "/srv/traces"\n'
        "experiment_workers = 2\nmax_experiment_runs = 12\n"
    )

    config = load_config(file, env={"ZOE_EXPERIMENT_PROCESSES": "3"}, flags={})
    api = ApiConfig.of(config, "dbname=x", "tcp://127.0.0.1:1")

    assert api.experiment_traces_dir == Path("/srv/traces")
    assert (api.experiment_workers, api.experiment_processes) == (2, 3)
    assert api.max_experiment_runs == 12
    assert api.data_dir == tmp_path


def test_the_traces_folder_defaults_to_one_in_the_data_folder(tmp_path: Path) -> None:
    from zoe.api.config import ApiConfig

    config = load_config(None, env={"ZOE_DATA_DIR": str(tmp_path)}, flags={})

    api = ApiConfig.of(config, "dbname=x", "tcp://127.0.0.1:1")

    assert api.experiment_traces_dir == tmp_path / "traces"


@pytest.mark.parametrize(
    ("line", "fault"),
    [
        ("max_experiment_runs = 0", "max_experiment_runs must be greater than 0"),
        ("experiment_workers = 1.5", "experiment_workers: expected an integer"),
    ],
)
def test_experiment_settings_out_of_range_are_refused(
    tmp_path: Path, line: str, fault: str
) -> None:
    file = tmp_path / "zoe.toml"
    file.write_text(line + "\n")

    with pytest.raises(InvalidInput, match=fault):
        load_config(file, env={}, flags={})
