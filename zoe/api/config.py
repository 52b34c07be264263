"""The settings of an API process."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from zoe.core.errors import InvalidInput
from zoe.live.config import (
    DEFAULT_MAX_SERVICES,
    MasterConfig,
    check_max_services,
    default_data_dir,
)

DEFAULT_LISTEN = "127.0.0.1:8080"


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Every setting of an API process.

    - ``database_url``, ``deployment``: the master's PostgreSQL and schema.
    - ``master``: the master's protocol address; ``master_token`` its shared
      secret, if it requires one; ``master_timeout_ms`` how long one call waits
      (the API tries once more after a silence, then answers 503).
    - ``token_lifetime_days``: how long a new bearer token is valid.
    - ``pool_size``: database connections (and master sockets) kept open.
    - ``data_dir``: the API's own files; experiments are written under
      ``data_dir/experiments/<deployment>/<id>``.
    - ``traces_dir``: the only folder whose files (traces, cluster JSON files) an
      experiment may name, by a relative path; default ``data_dir/traces``.
    - ``experiment_workers``: experiments run at once (the others wait in a
      queue); ``experiment_processes``: worker processes of one experiment;
      ``max_experiment_runs``: the most runs (grid cells) one experiment may have.
    - ``max_services``: the most services one submitted execution may have (the
      master's ``max_services``); a larger submission is refused with 422.
    """

    database_url: str
    deployment: str = "zoe"
    master: str = "tcp://127.0.0.1:4850"
    master_token: str | None = dataclasses.field(default=None, repr=False)
    master_timeout_ms: int = 1000
    token_lifetime_days: float = 30.0
    pool_size: int = 8
    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    traces_dir: Path | None = None
    experiment_workers: int = 1
    experiment_processes: int = 1
    max_experiment_runs: int = 100
    max_services: int = DEFAULT_MAX_SERVICES

    def __post_init__(self) -> None:
        for name in ("experiment_workers", "experiment_processes"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"{name} must be 1 or more")
        if self.max_experiment_runs < 1:
            raise InvalidInput("max_experiment_runs must be 1 or more")
        check_max_services(self.max_services)

    @classmethod
    def of(cls, config: MasterConfig, database_url: str, master: str) -> ApiConfig:
        """The API's settings from a deployment's configuration."""
        return cls(
            database_url,
            config.deployment,
            master=master,
            master_token=config.token,
            data_dir=config.data_dir,
            traces_dir=config.traces_dir,
            experiment_workers=config.experiment_workers,
            experiment_processes=config.experiment_processes,
            max_experiment_runs=config.max_experiment_runs,
            max_services=config.max_services,
        )

    @property
    def experiment_traces_dir(self) -> Path:
        """The folder experiments may read files from (see ``traces_dir``)."""
        return self.traces_dir or self.data_dir / "traces"
