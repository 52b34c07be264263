"""An API with experiments enabled (no master needed), tiny specs, waiting."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from conftest import Api
from master_harness import free_port

from zoe.api.config import ApiConfig
from zoe.api.server import serve_in_thread
from zoe.live.db import Repository, Role

MAX_RUNS = 6
FINAL = {"done", "failed", "cancelled"}

# 1 node of 4 cores; three rigid executions of 2 one-core services, 50 s each,
# submitted at 0, 10 and 20 s (load 1; at load 2: 0, 5 and 10 s). The first two
# fit together; the third starts when the first ends, at 50 s. Turnarounds:
# load 1: 50, 50, 80 (mean 60), queueing 0, 0, 30 (mean 10);
# load 2: 50, 50, 90 (mean 190/3), queueing 0, 0, 40 (mean 40/3).
# All services are essential, so rigid and flexible allocation agree.
SPEC = """
name = "tiny"
out = "/ignored/by/the/server"
clusters = ["1x4c16g"]
policies = ["rigid-fifo", "flexible-fifo"]
loads = [1.0, 2.0]

[[traces]]
name = "three"
file = "three.jsonl"
"""

# one run long enough to be cancelled while it runs
LONG_SPEC = """
name = "long"
clusters = ["4x8c32g"]
policies = ["flexible-fifo"]

[[traces]]
name = "many"
generator = "poisson"
apps = 200000
"""


def three_executions() -> str:
    """The native trace of :data:`SPEC`."""
    zapp = {
        "name": "a",
        "version": 4,
        "frameworks": [
            {
                "name": "f",
                "services": [
                    {
                        "name": "s",
                        "image": "img",
                        "essential_count": 2,
                        "total_count": 2,
                        "resources": {"cores": 1, "memory": "2GiB"},
                    }
                ],
            }
        ],
    }
    lines = [
        json.dumps({"id": f"e{i}", "submit": t, "duration": 50.0, "zapp": zapp})
        for i, t in enumerate((0.0, 10.0, 20.0))
    ]
    return "\n".join(lines) + "\n"


@dataclass
class ExperimentsApi:
    """The API, its data and traces folders, and the users' headers."""

    api: Api
    data_dir: Path
    traces_dir: Path
    deployment: str

    def folder(self, experiment_id: int) -> Path:
        return self.data_dir / "experiments" / self.deployment / str(experiment_id)

    def wait(
        self, experiment_id: int, headers: dict[str, str], statuses: set[str]
    ) -> dict[str, Any]:
        """The experiment once its status is one of ``statuses`` (60 s at most)."""
        deadline = time.monotonic() + 60
        while True:
            reply = self.api.client.get(
                f"/api/v1/experiments/{experiment_id}", headers=headers
            )
            assert reply.status_code == 200, reply.text
            body: dict[str, Any] = reply.json()
            if body["status"] in statuses:
                return body
            assert time.monotonic() < deadline, body
            time.sleep(0.2)


@contextmanager
def experiments_api(
    dsn: str,
    deployment: str,
    repo: Repository,
    tmp_path: Path,
    *,
    relative: bool = False,
) -> Iterator[ExperimentsApi]:
    """Serve the API with experiments; users alice, bob, gus (guest), root.

    ``relative``: configure the data and traces folders relative to
    ``tmp_path``, which the caller made the current folder.
    """
    data_dir, traces_dir = tmp_path / "data", tmp_path / "traces"
    traces_dir.mkdir()
    (traces_dir / "three.jsonl").write_text(three_executions(), encoding="utf-8")
    config = ApiConfig(
        database_url=dsn,
        deployment=deployment,
        master=f"tcp://127.0.0.1:{free_port()}",  # no master: not needed here
        master_timeout_ms=200,
        data_dir=data_dir.relative_to(tmp_path) if relative else data_dir,
        traces_dir=traces_dir.relative_to(tmp_path) if relative else traces_dir,
        max_experiment_runs=MAX_RUNS,
    )
    listen = f"127.0.0.1:{free_port()}"
    with serve_in_thread(config, listen) as url, httpx.Client(base_url=url) as client:
        api = Api(client, url, repo, None)
        for name, role in (
            ("alice", Role.USER),
            ("bob", Role.USER),
            ("gus", Role.GUEST),
            ("root", Role.ADMIN),
        ):
            api.add_user(name, role)
        yield ExperimentsApi(api, data_dir, traces_dir, deployment)


def experiment_processes(folder: Path) -> list[int]:
    """The ids of the running child processes whose command names ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(folder).encode() in command and b"zoe.api.experiment_child" in command:
            found.append(int(entry.name))
    return found


def group_members(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` (zombies excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members
