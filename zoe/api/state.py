"""What the handlers share: the configuration and the pools, off the event loop.

:class:`ApiState` runs every blocking call (psycopg2, ZeroMQ) in a worker thread
with :func:`anyio.to_thread.run_sync`, on an object lent by its pool, so that the
event loop never waits for the database or the master.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import psycopg2
from anyio import to_thread

from zoe.api.pool import Pool
from zoe.core.errors import InvalidInput
from zoe.live.client import MasterClient
from zoe.live.db import Database, Repository

if TYPE_CHECKING:
    from zoe.api.config import ApiConfig

T = TypeVar("T")


class ApiState:
    """The pools of one API process; build it in the application's lifespan."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config
        self.repos: Pool[Repository] = Pool(
            lambda: Repository(
                Database(config.database_url, config.deployment, give_up_duration=2.0)
            ),
            lambda repo: repo.db.close(),
            config.pool_size,
        )
        self.masters: Pool[MasterClient] = Pool(
            lambda: MasterClient(
                config.master,
                timeout_ms=config.master_timeout_ms,
                retries=1,
                user="api",
                token=config.master_token,
            ),
            lambda client: client.close(),
            config.pool_size,
        )

    def migrate(self) -> None:
        """Bring the schema up to date (blocking; call it at start)."""
        with self.repos.lend() as repo:
            repo.migrate()

    async def db(self, work: Callable[[Repository], T]) -> T:
        """Run ``work`` with a repository in a worker thread."""

        def run() -> T:
            with self.repos.lend() as repo:
                return _refusing_bad_text(work, repo)

        return await to_thread.run_sync(run)

    async def master(self, work: Callable[[MasterClient], T]) -> T:
        """Run ``work`` with a client of the master in a worker thread."""

        def run() -> T:
            with self.masters.lend() as client:
                return work(client)

        return await to_thread.run_sync(run)

    async def master_as(self, user: str, work: Callable[[MasterClient], T]) -> T:
        """Like :meth:`master`, on a client whose requests name ``user``.

        The master records the user in the events of a termination; such
        requests are rare, so the client is made for the call and closed.
        """

        def run() -> T:
            with MasterClient(
                self.config.master,
                timeout_ms=self.config.master_timeout_ms,
                retries=1,
                user=user,
                token=self.config.master_token,
            ) as client:
                return work(client)

        return await to_thread.run_sync(run)

    def close(self) -> None:
        """Close the idle connections and sockets."""
        self.repos.close()
        self.masters.close()


def _refusing_bad_text(work: Callable[[Repository], T], repo: Repository) -> T:
    """Run ``work``; text PostgreSQL cannot store (a NUL) is bad input, not a fault."""
    try:
        return work(repo)
    except ValueError as exc:
        if "NUL" not in str(exc):
            raise
        raise InvalidInput("text must not contain NUL (0x00) characters") from None
    except psycopg2.DataError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
        raise InvalidInput(f"a value the database cannot store: {first}") from None
