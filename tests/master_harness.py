"""Helpers for the tests of the live master: ZApps, a master in a thread, waiting."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from zoe.live.backends import Backend
from zoe.live.client import MasterClient
from zoe.live.config import MasterConfig
from zoe.live.master import Master

FINAL = {"finished", "terminated", "rejected", "error"}


def group(
    name: str,
    essential: int = 1,
    total: int | None = None,
    cores: float = 1,
    memory: str = "1GiB",
    depends_on: list[str] | None = None,
) -> dict[str, Any]:
    """One service group of a version 4 ZApp."""
    return {
        "name": name,
        "image": "busybox",
        "essential_count": essential,
        "total_count": essential if total is None else total,
        "resources": {"cores": cores, "memory": memory},
        "depends_on": depends_on or [],
    }


def zapp(
    name: str = "app",
    groups: list[dict[str, Any]] | None = None,
    kind: str = "batch",
    size: float | None = 1.0,
) -> dict[str, Any]:
    """A version 4 ZApp of one framework."""
    document: dict[str, Any] = {
        "name": name,
        "version": 4,
        "kind": kind,
        "frameworks": [{"name": "f", "services": groups or [group("s")]}],
    }
    if size is not None:
        document["size"] = size
    return document


def master_config(
    dsn: str, deployment: str, data_dir: Path, **changes: Any
) -> MasterConfig:
    """A configuration for a test master: free port, fast simulated backend."""
    base = MasterConfig(
        database_url=dsn,
        deployment=deployment,
        listen="tcp://127.0.0.1:*",
        data_dir=data_dir,
        cluster="2x4c8g",
        speed=0.01,
        tick_duration=0.2,
        persist_backend=False,
        database_give_up_duration=0.5,
    )
    return replace(base, **changes)


@dataclass
class RunningMaster:
    """A master serving in a thread of the test process."""

    master: Master
    thread: threading.Thread
    stop: threading.Event

    @property
    def address(self) -> str:
        return self.master.address

    def client(self, **options: Any) -> MasterClient:
        options.setdefault("timeout_ms", 3000)
        options.setdefault("retries", 1)
        return MasterClient(self.address, user="alice", **options)


@contextmanager
def master_thread(
    config: MasterConfig, backend: Backend | None = None
) -> Iterator[RunningMaster]:
    """Run a master built from ``config`` in a thread; stop it at the end."""
    master = Master.open(config, backend=backend)
    stop = threading.Event()
    thread = threading.Thread(target=master.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        yield RunningMaster(master, thread, stop)
    finally:
        stop.set()
        thread.join(10)


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Poll ``condition`` until it returns something true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def wait_final(
    client: MasterClient, execution_id: int, timeout: float = 10.0
) -> dict[str, Any]:
    """The record of ``execution_id`` once it is in a final status."""

    def final() -> dict[str, Any] | None:
        record = client.get(execution_id)
        return record if record["status"] in FINAL else None

    record: dict[str, Any] = wait_for(final, timeout)
    return record
