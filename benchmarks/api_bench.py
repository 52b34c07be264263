"""REST API benchmark: requests per second and latency under concurrent clients.

It starts a PostgreSQL (``$ZOE_TEST_DATABASE_URL`` if set, else an embedded
server in a temporary folder), a master (``zoe master``, simulated backend on 64
nodes of 32 cores at speed 0.001) and the API (``zoe api``, one uvicorn process)
in subprocesses on free loopback ports; stores 100 executions of one user; then
``--clients`` concurrent clients (one ``httpx.AsyncClient`` each, bearer token)
send, one request after the other:

- ``GET /api/v1/executions`` (a page of the 100 executions), ``--requests`` in all;
- ``POST /api/v1/executions`` (a submission of a one-service ZApp, stored and
  notified to the master), ``--submissions`` in all.

Prints requests per second, median and p99 latency; asserts nothing. All
processes share the machine's cores with the clients.

    python benchmarks/api_bench.py [--clients 16] [--requests 3200] [--submissions 800]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from master_bench import ZAPP, database, free_port, p99

PASSWORD = "bench-password"


def start(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from zoe.cli.main import main; main()", *command]
    )


def seed(dsn: str, deployment: str, count: int) -> None:
    """The user ``bench`` with a password, and ``count`` stored executions."""
    from zoe.api.security import hash_password
    from zoe.core.zapp_import import load_zapp
    from zoe.live.db import Database, Repository, Role
    from zoe.live.db.accounts import create_user

    zapp = load_zapp(ZAPP)
    with Database(dsn, deployment) as db:
        repo = Repository(db)
        repo.migrate()
        digest = hash_password(PASSWORD)
        repo.transaction(lambda tx: create_user(tx, "bench", Role.USER, digest))
        for i in range(count):
            repo.submit_execution("bench", f"seed{i}", zapp)


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/api/v1/health").json().get("master"):
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the API at {url} did not become ready")
        time.sleep(0.2)


async def load(
    url: str,
    token: str,
    clients: int,
    total: int,
    request: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
) -> tuple[float, list[float]]:
    """``total`` requests from ``clients`` clients; (requests/s, latencies)."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}

    async def client(share: int, offset: int) -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers) as http:
            await request(http, -1)  # open the connection
            for i in range(share):
                started = time.perf_counter()
                reply = await request(http, offset + i)
                latencies.append(time.perf_counter() - started)
                if reply.status_code >= 400:
                    raise SystemExit(f"HTTP {reply.status_code}: {reply.text}")

    share = total // clients
    started = time.perf_counter()
    await asyncio.gather(*(client(share, c * share) for c in range(clients)))
    return share * clients / (time.perf_counter() - started), latencies


def list_page(http: httpx.AsyncClient, _i: int) -> Awaitable[httpx.Response]:
    return http.get("/api/v1/executions", params={"limit": 100})


def submission(http: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
    if i < 0:
        return http.get("/api/v1/users/me")
    body: dict[str, Any] = {"name": f"b{i}", "zapp": ZAPP}
    return http.post("/api/v1/executions", json=body)


def report(name: str, rate: float, latencies: list[float]) -> None:
    median = statistics.median(latencies) * 1000
    print(f"{name:<28} {rate:>10.0f} {median:>12.2f} {p99(latencies) * 1000:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=3200)
    parser.add_argument("--submissions", type=int, default=800)
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="zoe-api-bench-"))
    dsn, stop_database = database(folder)
    deployment = f"apibench{os.getpid()}"
    master_address = f"tcp://127.0.0.1:{free_port()}"
    listen = f"127.0.0.1:{free_port()}"
    url = f"http://{listen}"
    processes = []
    try:
        seed(dsn, deployment, 100)
        common = ["--database-url", dsn, "--deployment", deployment]
        processes.append(start([
            "master", *common, "--listen", master_address, "--cluster", "64x32c128g",
            "--speed", "0.001", "--data-dir", str(folder / "data"),
            "--log-level", "WARNING",
        ]))  # fmt: skip
        processes.append(start([
            "api", *common, "--master", master_address, "--listen", listen,
            "--log-level", "WARNING",
        ]))  # fmt: skip
        wait_ready(url)
        reply = httpx.post(
            f"{url}/api/v1/tokens", json={"user": "bench", "password": PASSWORD}
        )
        token = reply.json()["token"]
        lists = asyncio.run(
            load(url, token, options.clients, options.requests, list_page)
        )
        submits = asyncio.run(
            load(url, token, options.clients, options.submissions, submission)
        )
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(20)
        stop_database()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"{options.clients} concurrent clients on loopback")
    print(f"{'request':<28} {'requests/s':>10} {'median (ms)':>12} {'p99 (ms)':>10}")
    report("GET /executions (100 rows)", *lists)
    report("POST /executions", *submits)


if __name__ == "__main__":
    main()
