"""Docker benchmark: how long the master takes to run a ZApp on a real daemon.

It needs a Docker daemon and the test image (``bash scripts/docker.sh setup``),
and starts a PostgreSQL (``$ZOE_TEST_DATABASE_URL`` if set, else an embedded
server in a temporary folder) and a master in a subprocess with the Docker engine
backend on the local daemon (one host, the capacity its daemon reports). It
measures, in the same run:

- submission to all essential services running, for a one-service interactive
  ZApp (``sleep``): median and p99 over ``--executions`` executions, each
  terminated and its container removed before the next; the time is taken by
  polling ``get`` every 10 ms;
- a bare ``docker run -d`` of the same image and command, the same number of
  times (until the command returns, i.e. the container runs), as the reference,
  without limits and with the same CPU and memory limits Zoe sets (the limits
  alone cost the daemon a good part of the start time), with a network created
  first as Zoe does for each execution (the same work asked of Docker), and on
  one user-defined network made beforehand (the work of ``--network shared``);
- executions per minute sustained on one host: ``--batch`` batch executions of a
  one-service ZApp whose container exits at once, submitted together, from the
  first submission to the last one finished.

``--network shared`` runs the master with one network for all executions (the
backend's ``network = "shared"``), whose Docker work is that of the bare run
with limits. Prints a table; asserts nothing.

    python benchmarks/docker_bench.py [--executions 30] [--batch 60]
        [--network execution|shared]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from live_setup import database, free_port

IMAGE = os.environ.get("ZOE_TEST_IMAGE", "zoe-test/busybox:1")
FINAL = {"finished", "terminated", "error", "rejected"}


def zapp(kind: str, command: list[str]) -> dict[str, Any]:
    return {
        "name": "bench",
        "version": 4,
        "kind": kind,
        "frameworks": [
            {
                "name": "f",
                "services": [
                    {
                        "name": "s",
                        "image": IMAGE,
                        "command": command,
                        "essential_count": 1,
                        "total_count": 1,
                        "resources": {"cores": 0.1, "memory": "16MiB"},
                    }
                ],
            }
        ],
    }


def start_master(
    dsn: str, folder: Path, address: str, deployment: str, network: str
) -> subprocess.Popen[bytes]:
    config = folder / "master.toml"
    config.write_text(
        f"database_url = {dsn!r}\ndeployment = {deployment!r}\n"
        f"listen = {address!r}\ndata_dir = {str(folder / 'data')!r}\n"
        'backend = "docker"\nlog_level = "WARNING"\n'
        f"[backend_options]\nnetwork = {network!r}\n"
    )
    command = [sys.executable, "-c", "from zoe.cli.main import main; main()"]
    return subprocess.Popen([*command, "master", "--config", str(config)])


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def wait_status(client: Any, execution_id: int, wanted: set[str]) -> str:
    while True:
        status: str = client.get(execution_id)["status"]
        if status in wanted:
            return status
        time.sleep(0.01)


def master_start_times(client: Any, count: int, deployment: str) -> list[float]:
    app = zapp("interactive", ["sleep", "600"])
    durations = []
    for i in range(count + 2):
        started = time.perf_counter()
        execution_id = client.submit(f"run{i}", app, "bench")["execution_id"]
        status = wait_status(client, execution_id, {"running"} | FINAL)
        if status != "running":
            raise SystemExit(f"execution {execution_id} ended {status}")
        if i >= 2:  # the first two warm up
            durations.append(time.perf_counter() - started)
        client.terminate(execution_id)
        wait_status(client, execution_id, FINAL)
        wait_removed(deployment, execution_id)
    return durations


def wait_removed(deployment: str, execution_id: int) -> None:
    """Wait until the execution's container is gone, as ``docker rm -f`` does
    before the bare runs go on (so no removal slows the next start)."""
    filters = [
        f"--filter=label=zoe.deployment={deployment}",
        f"--filter=label=zoe.execution={execution_id}",
    ]
    while subprocess.run(
        ["docker", "ps", "-aq", *filters], capture_output=True, text=True
    ).stdout.strip():
        time.sleep(0.05)


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def bare_run_times(count: int, limited: bool, network: str = "") -> list[float]:
    """``docker run -d`` times; ``network``: "" (the default bridge), "each" (a
    network created for each run, timed) or "one" (one network made beforehand)."""
    durations = []
    shared = f"zoe-bench-{uuid.uuid4().hex[:8]}"
    if network == "one":
        run(["docker", "network", "create", shared])
    for i in range(count + 2):
        name = f"zoe-bench-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        limits = ["--cpus", "0.1", "--memory", "16m"] if limited else []
        if network == "each":
            run(["docker", "network", "create", name])
        if network:
            limits += ["--network", name if network == "each" else shared]
        run(["docker", "run", "-d", "--name", name, *limits, IMAGE, "sleep", "600"])
        if i >= 2:
            durations.append(time.perf_counter() - started)
        run(["docker", "rm", "-f", name])
        if network == "each":
            run(["docker", "network", "rm", name])
    if network == "one":
        run(["docker", "network", "rm", shared])
    return durations


def executions_per_minute(client: Any, count: int) -> float:
    app = zapp("batch", ["true"])
    started = time.perf_counter()
    ids = [client.submit(f"b{i}", app, "bench")["execution_id"] for i in range(count)]
    for execution_id in ids:
        status = wait_status(client, execution_id, FINAL)
        if status != "finished":
            raise SystemExit(f"batch execution {execution_id} ended {status}")
    return count / (time.perf_counter() - started) * 60


def remove_leftovers(deployment: str) -> None:
    """Remove the containers and networks of the benchmark's deployment."""
    label = f"label=zoe.deployment={deployment}"
    for kind, remove in (("ps", ["rm", "-f"]), ("network", ["network", "rm"])):
        listing = (
            ["docker", kind, "-aq"] if kind == "ps" else ["docker", kind, "ls", "-q"]
        )
        found = subprocess.run(
            [*listing, "--filter", label], capture_output=True, text=True
        ).stdout.split()
        if found:
            subprocess.run(["docker", *remove, *found], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=30)
    parser.add_argument("--batch", type=int, default=60)
    parser.add_argument(
        "--network",
        choices=("execution", "shared"),
        default="execution",
        help="the backend's network option: a network per execution, or one",
    )
    options = parser.parse_args()

    from zoe.live.client import MasterClient

    folder = Path(tempfile.mkdtemp(prefix="zoe-docker-bench-"))
    dsn, stop_database = database(folder)
    address = f"tcp://127.0.0.1:{free_port()}"
    deployment = f"bench{os.getpid()}"
    master = start_master(dsn, folder, address, deployment, options.network)
    try:
        with MasterClient(address, timeout_ms=10000, retries=3) as client:
            client.ping()
            zoe = master_start_times(client, options.executions, deployment)
            bare = bare_run_times(options.executions, limited=False)
            limited = bare_run_times(options.executions, limited=True)
            same = bare_run_times(options.executions, limited=True, network="each")
            one = bare_run_times(options.executions, limited=True, network="one")
            rate = executions_per_minute(client, options.batch)
    finally:
        master.terminate()
        master.wait(20)
        remove_leftovers(deployment)
        stop_database()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"{'measure (seconds)':<48} {'median':>8} {'p99':>8}")
    for name, values in (
        (f"zoe: submission to running ({options.network} network)", zoe),
        ("bare docker run -d", bare),
        ("bare docker run -d, same CPU/memory limits", limited),
        ("bare network create + run -d, same limits", same),
        ("bare run -d on one network, same limits", one),
    ):
        print(f"{name:<48} {statistics.median(values):>8.3f} {p99(values):>8.3f}")
    # Zoe's Docker work: a network per execution is "same work"; with the
    # shared network, "one network"
    references = (
        ("bare", bare),
        ("bare, limits", limited),
        ("bare, network each", same),
        ("bare, one network", one),
    )
    for name, values in references:
        ratio = statistics.median(zoe) / statistics.median(values)
        print(f"{'ratio of medians, zoe / ' + name:<48} {ratio:>8.2f}")
    print(f"{'batch executions per minute, one host':<48} {rate:>8.0f}")


if __name__ == "__main__":
    main()
