"""Master benchmark: round trips through the protocol to a real master, and the
rate of submissions it sustains with the simulated backend.

It starts a PostgreSQL (``$ZOE_TEST_DATABASE_URL`` if set, else an embedded
server in a temporary folder) and a master in a subprocess on a free loopback
port (policy ``flexible-fifo``, simulated backend on 64 nodes of 32 cores at
speed 0.001, so executions end within milliseconds). It measures:

- ``ping`` and ``get`` round-trip times: median and p99 over ``--requests``;
- submissions per second: ``--submissions`` submissions of a one-service ZApp
  from one client, then from 4 concurrent clients (threads), each submission
  acknowledged after its commit.

Prints a table; asserts nothing.

    python benchmarks/master_bench.py [--requests 2000] [--submissions 500]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from live_setup import database, free_port

ZAPP: dict[str, Any] = {
    "name": "tiny",
    "version": 4,
    "size": 1.0,
    "frameworks": [
        {
            "name": "f",
            "services": [
                {
                    "name": "s",
                    "image": "busybox",
                    "essential_count": 1,
                    "total_count": 1,
                    "resources": {"cores": 1, "memory": "1GiB"},
                }
            ],
        }
    ],
}


def start_master(dsn: str, folder: Path, address: str) -> subprocess.Popen[bytes]:
    config = folder / "master.toml"
    deployment = f"bench{os.getpid()}"
    config.write_text(
        f"database_url = {dsn!r}\ndeployment = {deployment!r}\n"
        f"listen = {address!r}\ndata_dir = {str(folder / 'data')!r}\n"
        'cluster = "64x32c128g"\nspeed = 0.001\nlog_level = "WARNING"\n'
    )
    command = [sys.executable, "-c", "from zoe.cli.main import main; main()"]
    return subprocess.Popen([*command, "master", "--config", str(config)])


def timed(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(50):
        call()
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return durations


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def submissions_per_second(address: str, total: int, clients: int) -> float:
    from zoe.live.client import MasterClient

    def submit(count: int) -> None:
        with MasterClient(address, timeout_ms=10000, retries=1) as client:
            for i in range(count):
                client.submit(f"b{i}", ZAPP, "bench")

    threads = [
        threading.Thread(target=submit, args=(total // clients,))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (total // clients * clients) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--submissions", type=int, default=500)
    options = parser.parse_args()

    from zoe.live.client import MasterClient

    folder = Path(tempfile.mkdtemp(prefix="zoe-master-bench-"))
    dsn, stop_database = database(folder)
    address = f"tcp://127.0.0.1:{free_port()}"
    master = start_master(dsn, folder, address)
    try:
        with MasterClient(address, timeout_ms=10000, retries=3) as client:
            client.ping()
            execution_id = client.submit("probe", ZAPP, "bench")["execution_id"]
            ping = timed(client.ping, options.requests)
            get = timed(lambda: client.get(execution_id), options.requests)
        one = submissions_per_second(address, options.submissions, 1)
        four = submissions_per_second(address, options.submissions, 4)
    finally:
        master.terminate()
        master.wait(10)
        stop_database()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"{'measure':<36} {'median':>10} {'p99':>10}")
    for name, values in (("ping round trip (ms)", ping), ("get round trip (ms)", get)):
        median = statistics.median(values) * 1000
        print(f"{name:<36} {median:>10.3f} {p99(values) * 1000:>10.3f}")
    print(f"{'submissions/s, 1 client':<36} {one:>10.0f}")
    print(f"{'submissions/s, 4 clients':<36} {four:>10.0f}")


if __name__ == "__main__":
    main()
