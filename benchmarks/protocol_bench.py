"""Protocol benchmark: round-trip time of ``ping`` and ``get`` through the client.

Without ``--address`` it starts a stand-in master in a subprocess: a
:class:`~zoe.live.transport.ProtocolServer` on a free loopback port whose ``get``
returns a fixed execution record with three services, so the figures are those of
the protocol alone (encoding, validation, sockets). With ``--address`` it measures
a running master instead; ``--execution-id`` must then name an execution it has.
Each request is sent by :class:`~zoe.live.client.MasterClient` and timed from the
call to its return; a warm-up is not counted. Prints a table; asserts nothing.

    python benchmarks/protocol_bench.py [--requests 2000] [--address tcp://...]
                                        [--execution-id N] [--token T]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

RECORD: dict[str, Any] = {
    "id": 1,
    "name": "spark-wordcount",
    "user": "alice",
    "status": "running",
    "kind": "batch",
    "submit_time": "2026-01-05T10:00:00+00:00",
    "start_time": "2026-01-05T10:00:02+00:00",
    "end_time": None,
    "reason": None,
    "size": 3600,
    "services": [
        {
            "id": 10 + index,
            "name": name,
            "framework": "spark",
            "group": group,
            "index": index,
            "essential": index < 2,
            "status": "running",
            "node": f"node-{index}",
            "container_id": f"{index:064x}",
            "ip": f"10.0.0.{index + 2}",
            "ports": [],
            "cores": 2.0,
            "memory": 4 * 1024**3,
        }
        for index, (name, group) in enumerate(
            [("master-0", "master"), ("worker-0", "worker"), ("worker-1", "worker")]
        )
    ],
}


def serve() -> None:
    """Stand-in master: print the bound address, serve until stdin closes."""
    import selectors

    from zoe.live.protocol import Request
    from zoe.live.transport import ProtocolServer, ServerConfig

    def handler(request: Request) -> Mapping[str, Any]:
        return RECORD

    server = ProtocolServer(ServerConfig(address="tcp://127.0.0.1:*"))
    print(server.address, flush=True)
    watcher = selectors.DefaultSelector()
    watcher.register(sys.stdin, selectors.EVENT_READ)
    with server:
        while not watcher.select(timeout=0):
            server.serve_once(handler, 50)


def measure(call: Callable[[], object], requests: int, warmup: int) -> list[float]:
    """Round-trip times of ``requests`` calls, in microseconds."""
    for _ in range(warmup):
        call()
    times: list[float] = []
    for _ in range(requests):
        started = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - started) / 1000)
    return times


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def report(rows: dict[str, list[float]], address: str) -> None:
    print(f"round trips to {address}, microseconds")
    print(f"{'op':<6} {'n':>6} {'median':>9} {'p99':>9} {'mean':>9} {'max':>9}")
    for op, times in rows.items():
        print(
            f"{op:<6} {len(times):>6} {statistics.median(times):>9.1f} "
            f"{percentile(times, 0.99):>9.1f} {statistics.fmean(times):>9.1f} "
            f"{max(times):>9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--address", help="a running master; default: a stand-in")
    parser.add_argument("--execution-id", type=int, default=1)
    parser.add_argument("--token", default=None)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        serve()
        return

    from zoe.live.client import MasterClient

    stand_in = None
    address = options.address
    if address is None:
        stand_in = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert stand_in.stdout is not None
        address = stand_in.stdout.readline().strip()
    try:
        with MasterClient(address, timeout_ms=5000, token=options.token) as client:
            rows = {
                "ping": measure(client.ping, options.requests, options.warmup),
                "get": measure(
                    lambda: client.get(options.execution_id),
                    options.requests,
                    options.warmup,
                ),
            }
    finally:
        if stand_in is not None:
            stand_in.communicate(timeout=10)
    report(rows, address)


if __name__ == "__main__":
    main()
