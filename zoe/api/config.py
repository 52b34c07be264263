"""The settings of an API process."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

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
    """

    database_url: str
    deployment: str = "zoe"
    master: str = "tcp://127.0.0.1:4850"
    master_token: str | None = dataclasses.field(default=None, repr=False)
    master_timeout_ms: int = 1000
    token_lifetime_days: float = 30.0
    pool_size: int = 8
