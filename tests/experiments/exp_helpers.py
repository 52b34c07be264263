"""Helpers for the experiment tests: tiny traces, specs and hand-written results."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXECUTION_COLUMNS = [
    "id", "submit_time", "start_time", "full_time", "end_time", "queue_duration",
    "turnaround", "status", "reason", "services", "essential", "cores", "memory",
    "duration",
]  # fmt: skip
TIMELINE_COLUMNS = [
    "time",
    "allocated_cores",
    "allocated_memory",
    "queue_length",
    "running",
]


def zapp(name: str, essential: int, total: int, cores: int = 1) -> dict[str, Any]:
    """A one-group ZApp of ``total`` services of ``cores`` cores and 2 GiB."""
    return {
        "name": name,
        "version": 4,
        "frameworks": [
            {
                "name": "f",
                "services": [
                    {
                        "name": "s",
                        "image": "img",
                        "essential_count": essential,
                        "total_count": total,
                        "resources": {"cores": cores, "memory": "2GiB"},
                    }
                ],
            }
        ],
    }


def write_native(path: Path, submits: Sequence[float], duration: float = 50.0) -> Path:
    """A native trace: one rigid two-service execution per submit time."""
    lines = [
        json.dumps(
            {
                "id": f"e{i}",
                "submit": t,
                "duration": duration,
                "zapp": zapp(f"a{i}", 2, 2),
            }
        )
        for i, t in enumerate(submits)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_spec(folder: Path, body: str, name: str = "spec.toml") -> Path:
    """Write a spec file into ``folder``."""
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


def summary(
    turnaround_mean: float, turnaround_p90: float, **extra: Any
) -> dict[str, Any]:
    """A summary.json document in the simulator's layout."""
    return {
        "counts": {"submitted": 4, "finished": 3, "rejected": 1, "unfinished": 0},
        "queue_duration": {"mean": 10.0, "median": 5.0, "p90": 20.0, "p99": 25.0},
        "turnaround": {
            "mean": turnaround_mean,
            "median": turnaround_mean,
            "p90": turnaround_p90,
            "p99": turnaround_p90,
        },
        "allocated_fraction": {"cores": 0.5, "memory": 0.25},
        "simulated_span": 400.0,
        "wall_clock_seconds": 0.01,
        "executions_per_second": 400.0,
        "rounds": 7,
        "policy": "rigid-fifo",
        "placement": "first-fit",
        "runtime_model": "linear",
        "think_time": 0.0,
        "seed": 1,
        "cluster": "2x4c16g",
        "trace": "t",
        **extra,
    }


def write_run_files(
    run_dir: Path,
    executions: Sequence[Sequence[object]],
    timeline: Sequence[Sequence[object]],
    document: dict[str, Any],
) -> None:
    """Write executions.csv, timeline.csv and summary.json by hand."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "executions.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(EXECUTION_COLUMNS)
        writer.writerows(executions)
    with (run_dir / "timeline.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(TIMELINE_COLUMNS)
        writer.writerows(timeline)
    (run_dir / "summary.json").write_text(json.dumps(document), encoding="utf-8")


def execution_row(
    eid: str, submit: float, start: float | None, end: float | None, cores: float
) -> list[object]:
    """One executions.csv row; ``None`` times are written empty."""
    status = "finished" if end is not None else "rejected"

    def cell(value: float | None) -> object:
        return "" if value is None else value

    return [
        eid,
        submit,
        cell(start),
        cell(start),
        cell(end),
        cell(None if start is None else start - submit),
        cell(None if end is None else end - submit),
        status,
        "" if end is not None else "too big",
        2,
        2,
        cores,
        2 * 1024**3,
        50.0,
    ]
