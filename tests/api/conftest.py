"""A real master (simulated backend, real PostgreSQL) and the API in front of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from master_harness import RunningMaster, free_port, master_config, master_thread

from zoe.api.config import ApiConfig
from zoe.api.security import hash_password
from zoe.api.server import serve_in_thread
from zoe.live.db import Repository, Role
from zoe.live.db.accounts import create_user

PASSWORD = "correct horse battery"


@dataclass
class Api:
    """The API under test, a repository on its deployment and its master."""

    client: httpx.Client
    url: str
    repo: Repository
    master: RunningMaster | None

    def add_user(self, name: str, role: Role = Role.USER, **quotas: int | None) -> None:
        digest = hash_password(PASSWORD, n=2**10)
        self.repo.transaction(lambda tx: create_user(tx, name, role, digest))
        if quotas:
            values: dict[str, int | None] = {
                "max_executions": None,
                "max_cores_milli": None,
                "max_memory_bytes": None,
            }
            values.update(quotas)
            self.repo.transaction(lambda tx: tx.set_user_quota(name, **values))

    def login(self, name: str) -> dict[str, str]:
        """Headers with a fresh token of ``name``."""
        reply = self.client.post(
            "/api/v1/tokens", json={"user": name, "password": PASSWORD}
        )
        assert reply.status_code == 201, reply.text
        return {"Authorization": f"Bearer {reply.json()['token']}"}


@pytest.fixture
def running(
    postgres_dsn: str, deployment: str, tmp_path: Path
) -> Iterator[RunningMaster]:
    with master_thread(master_config(postgres_dsn, deployment, tmp_path)) as master:
        yield master


def open_api(
    dsn: str,
    deployment: str,
    repo: Repository,
    master: RunningMaster | None,
    address: str,
) -> Iterator[Api]:
    config = ApiConfig(
        database_url=dsn, deployment=deployment, master=address, master_timeout_ms=500
    )
    listen = f"127.0.0.1:{free_port()}"
    with serve_in_thread(config, listen) as url, httpx.Client(base_url=url) as client:
        yield Api(client, url, repo, master)


@pytest.fixture
def api(
    postgres_dsn: str, deployment: str, repo: Repository, running: RunningMaster
) -> Iterator[Api]:
    """The API in front of a running master, with users alice, bob, gus and root."""
    for api in open_api(postgres_dsn, deployment, repo, running, running.address):
        api.add_user("alice")
        api.add_user("bob")
        api.add_user("gus", Role.GUEST)
        api.add_user("root", Role.ADMIN)
        yield api


@pytest.fixture
def xapi(
    postgres_dsn: str, deployment: str, repo: Repository, tmp_path: Path
) -> Iterator[Any]:
    """The API with the users of :func:`api` and an experiment worker whose traces
    folder holds the test traces (see ``experiment_helpers.experiments_api``)."""
    from experiment_helpers import experiments_api  # it imports this module

    with experiments_api(postgres_dsn, deployment, repo, tmp_path) as served:
        yield served
