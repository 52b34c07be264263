"""Schemathesis over the OpenAPI document: no 500, every reply as documented.

A bounded run: a few examples per operation, derandomised (a fixed seed), as an
administrator (who may call every operation) against a real master and a real
PostgreSQL. Another test does the same without a token, where every protected
operation must answer a documented 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from master_harness import free_port, master_config, master_thread, zapp
from postgres_fixtures import unique_deployment
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from zoe.api.config import ApiConfig
from zoe.api.security import hash_password
from zoe.api.server import serve_in_thread
from zoe.live.db import Database, Repository, Role, drop_deployment
from zoe.live.db.accounts import create_user

pytestmark = pytest.mark.integration

CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
)
BOUNDED = settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def served(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """The API's URL and an administrator's headers; one master for the module."""
    deployment = unique_deployment()
    folder: Path = tmp_path_factory.mktemp("master")
    config = master_config(postgres_dsn, deployment, folder)
    with Database(postgres_dsn, deployment, give_up_duration=5) as db:
        repo = Repository(db)
        repo.migrate()
        digest = hash_password("schema-pass", n=2**10)
        repo.transaction(lambda tx: create_user(tx, "root", Role.ADMIN, digest))
        try:
            with master_thread(config) as master:
                api = ApiConfig(postgres_dsn, deployment, master=master.address)
                listen = f"127.0.0.1:{free_port()}"
                with serve_in_thread(api, listen) as url:
                    yield url, _seed(url)
        finally:
            drop_deployment(db)


def _seed(url: str) -> dict[str, str]:
    """Log in and submit two executions, so that ids 1 and 2 exist."""
    reply = httpx.post(
        f"{url}/api/v1/tokens", json={"user": "root", "password": "schema-pass"}
    )
    headers = {"Authorization": f"Bearer {reply.json()['token']}"}
    for name in ("a", "b"):
        httpx.post(
            f"{url}/api/v1/executions",
            json={"name": name, "zapp": zapp(kind="interactive")},
            headers=headers,
        )
    return headers


def operations(url: str) -> list[Any]:
    """Every operation of the API's OpenAPI document."""
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def run_bounded(operation: Any, call: Any) -> None:
    """Call ``operation`` with a few generated cases; raise on the first fault."""

    @given(operation.as_strategy())
    @BOUNDED
    def cases(case: Any) -> None:
        call(case)

    cases()


def test_as_an_administrator(served: tuple[str, dict[str, str]]) -> None:
    url, headers = served
    found = operations(url)
    assert len(found) >= 15
    for operation in found:
        if operation.path == "/api/v1/tokens/current":
            continue  # it would revoke the token the other cases use
        run_bounded(
            operation,
            lambda case: case.call_and_validate(
                base_url=url, headers=headers, checks=CHECKS
            ),
        )


def test_without_a_token(served: tuple[str, dict[str, str]]) -> None:
    url, _headers = served
    for operation in operations(url):
        run_bounded(
            operation,
            lambda case: case.call_and_validate(base_url=url, checks=CHECKS[:4]),
        )
