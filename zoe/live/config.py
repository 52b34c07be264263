"""The master's configuration: a TOML file, ``ZOE_*`` variables and flags.

Each setting is taken from the first of: a command-line flag, the environment
variable ``ZOE_<NAME>`` (``ZOE_DATABASE_URL``, ``ZOE_SPEED``...), the TOML file
(top-level keys named as the settings, e.g. ``database_url = "..."``), the
default. :func:`load_config` checks every value and every name (policy,
placement, backend, deployment, listen address) and raises
:class:`~zoe.core.errors.InvalidInput` with one line that says what to fix.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoe.core.errors import InvalidInput
from zoe.core.zapp import MAX_ZAPP_SERVICES
from zoe.live.protocol import DEFAULT_ADDRESS

ENV_PREFIX = "ZOE_"
DEFAULT_MAX_SERVICES = 10_000
"""The default ``max_services``: the most services of one execution."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/zoe``, else ``~/.local/share/zoe``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "zoe"


@dataclass(frozen=True, slots=True)
class MasterConfig:
    """Every setting of a master process.

    - ``policy``, ``placement``, ``seed``: the scheduling policy (see
      ``zoe policies``); ``backend``: a name of the backend registry.
    - ``database_url``: a libpq address; ``None`` lets ``zoe up`` start an
      embedded server in ``data_dir``. ``deployment`` names the schema.
    - ``listen``: the protocol address; loopback unless ``allow_remote``;
      ``token``: a shared secret every request must carry.
    - ``cluster``, ``speed``, ``runtime_model``, ``persist_backend``: the
      simulated backend's nodes (``NxCcMg`` or a JSON file), its time factor
      (wall seconds per simulated second), its runtime model, and whether it
      keeps its containers in ``data_dir`` across restarts.
    - ``default_work_duration``: the work of a batch ZApp without a size hint.
    - ``backend_options``: the ``[backend_options]`` table of the file, given to
      the backend as it is (hosts of the ``docker`` backend, for instance); only
      the file can set it.
    - ``tick_duration``: seconds between periodic rounds;
      ``database_give_up_duration``: how long one database operation is retried
      before the master answers ``Unavailable`` and retries in the background.
    - ``max_services``: the most services (the sum of every group's
      ``total_count``) one execution may have, 10,000 by default, from 1 to
      :data:`~zoe.core.zapp.MAX_ZAPP_SERVICES`; the master and the API refuse a
      larger submission, and the master ends, at start, a stored one not yet
      started.
    - Read by the API process only: ``traces_dir``, the one folder whose files
      the experiments submitted through the API may name (default
      ``data_dir/traces``); ``experiment_workers``, experiments run at once;
      ``experiment_processes``, worker processes of one experiment;
      ``max_experiment_runs``, the most runs one experiment may have.
    """

    policy: str = "flexible-fifo"
    placement: str = "first-fit"
    seed: int = 0
    backend: str = "simulated"
    database_url: str | None = None
    deployment: str = "zoe"
    listen: str = DEFAULT_ADDRESS
    allow_remote: bool = False
    token: str | None = dataclasses.field(default=None, repr=False)
    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    cluster: str = "4x8c32g"
    speed: float = 1.0
    runtime_model: str = "linear"
    persist_backend: bool = True
    default_work_duration: float = 60.0
    tick_duration: float = 1.0
    database_give_up_duration: float = 2.0
    max_services: int = DEFAULT_MAX_SERVICES
    log_level: str = "INFO"
    backend_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    traces_dir: Path | None = None
    experiment_workers: int = 1
    experiment_processes: int = 1
    max_experiment_runs: int = 100


SETTINGS = tuple(f.name for f in dataclasses.fields(MasterConfig))
_POSITIVE = (
    "speed",
    "default_work_duration",
    "tick_duration",
    "experiment_workers",
    "experiment_processes",
    "max_experiment_runs",
)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def load_config(
    file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> MasterConfig:
    """The configuration from ``flags`` > ``env`` > ``file`` > defaults, checked.

    ``flags`` values of ``None`` are not given. Raises :class:`InvalidInput`.
    """
    values: dict[str, Any] = {}
    if file is not None:
        values.update(_from_file(file))
    for name in SETTINGS:
        if name == "backend_options":
            continue
        text = (env or {}).get(ENV_PREFIX + name.upper())
        if text is not None and text != "":
            values[name] = _convert(name, text, f"${ENV_PREFIX}{name.upper()}")
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = _convert(name, value, f"--{name.replace('_', '-')}")
    config = MasterConfig(**values)
    check_config(config)
    return config


def _from_file(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"config file {path}: cannot read it: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"config file {path}: not valid TOML: {exc}") from None
    values = {}
    for name, value in document.items():
        if name not in SETTINGS:
            raise InvalidInput(
                f"config file {path}: unknown setting {name!r}; valid settings: "
                f"{', '.join(SETTINGS)}"
            )
        if name == "backend_options":
            if not isinstance(value, dict):
                raise InvalidInput(
                    f"config file {path}: backend_options must be a table "
                    "([backend_options])"
                )
            values[name] = value
            continue
        values[name] = _convert(name, value, f"config file {path}: {name}")
    return values


def _convert(name: str, value: Any, where: str) -> Any:
    kind: Callable[[Any], Any] = _KINDS.get(name, _text)
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{where}: {exc}") from None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _path(value: Any) -> Path:
    return Path(_text(value) if not isinstance(value, Path) else value).expanduser()


_KINDS: dict[str, Callable[[Any], Any]] = {
    "seed": _integer,
    "allow_remote": _flag,
    "persist_backend": _flag,
    "data_dir": _path,
    "speed": _number,
    "default_work_duration": _number,
    "tick_duration": _number,
    "database_give_up_duration": _number,
    "traces_dir": _path,
    "experiment_workers": _integer,
    "experiment_processes": _integer,
    "max_experiment_runs": _integer,
    "max_services": _integer,
}


def check_config(config: MasterConfig) -> None:
    """Check names and ranges; raise :class:`InvalidInput` saying what to fix."""
    from zoe.live.backends import check_backend_name
    from zoe.live.db import schema_name
    from zoe.live.transport import check_bindable
    from zoe.policies.registry import make_placement, make_policy

    for name in _POSITIVE:
        if getattr(config, name) <= 0:
            raise InvalidInput(
                f"{name} must be greater than 0; got {getattr(config, name)}"
            )
    check_max_services(config.max_services)
    if config.database_give_up_duration < 0:
        raise InvalidInput("database_give_up_duration must be 0 or more")
    if config.log_level.upper() not in _LOG_LEVELS:
        raise InvalidInput(
            f"log_level {config.log_level!r}: use one of {', '.join(_LOG_LEVELS)}"
        )
    make_policy(config.policy, config.placement, seed=config.seed)
    make_placement(config.placement)
    check_backend_name(config.backend)
    schema_name(config.deployment)
    check_bindable(config.listen, config.allow_remote)
    if config.backend == "simulated":
        from zoe.sim.clusters import load_nodes

        load_nodes(config.cluster)


def check_max_services(value: int) -> None:
    """Raise :class:`InvalidInput` unless ``value`` is a valid ``max_services``."""
    if not 1 <= value <= MAX_ZAPP_SERVICES:
        raise InvalidInput(
            f"max_services must be from 1 to {MAX_ZAPP_SERVICES} (the most services "
            f"of any ZApp); got {value}"
        )
