"""Result files: exact contents on a hand-worked trace, and determinism."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from zoe.core.cluster import Node, parse_cluster
from zoe.core.resources import Resources
from zoe.core.zapp import ZApp, parse_zapp
from zoe.policies.registry import make_policy
from zoe.sim.generators import generate
from zoe.sim.metrics import EXECUTION_COLUMNS, quantile
from zoe.sim.run import simulate
from zoe.sim.traces.base import TraceEntry

GIB = 1024**3


def zapp(essential: int, total: int) -> ZApp:
    """One group of 1-core, 1 GiB services."""
    service = {
        "name": "s",
        "image": "i",
        "essential_count": essential,
        "total_count": total,
        "resources": {"cores": 1, "memory": "1GiB"},
    }
    return parse_zapp(
        {
            "name": "a",
            "version": 4,
            "frameworks": [{"name": "f", "services": [service]}],
        }
    )


NODE = [Node("node-0", Resources(4000, 16 * GIB))]
# rigid-fifo on one node of 4 cores, 16 GiB: A (4 services, D=100) runs 0..100;
# B (2 services, D=50, t=10) waits until 100 and runs 100..150; "big" (5 cores)
# is rejected at t=10.
TRACE = [
    TraceEntry("A", 0, 100, zapp(1, 4)),
    TraceEntry("B", 10, 50, zapp(2, 2)),
    TraceEntry("big", 10, 10, zapp(5, 5)),
]


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def test_executions_csv_exact(tmp_path: Path) -> None:
    simulate(TRACE, NODE, make_policy("rigid-fifo"), out_dir=tmp_path)
    rows = read_csv(tmp_path / "executions.csv")
    assert tuple(rows[0]) == EXECUTION_COLUMNS
    assert rows[1] == [
        "A", "0.0", "0.0", "0.0", "100.0", "0.0", "100.0", "finished", "",
        "4", "1", "4", str(4 * GIB), "100.0",
    ]  # fmt: skip
    assert rows[2] == [
        "B", "10.0", "100.0", "100.0", "150.0", "90.0", "140.0", "finished", "",
        "2", "2", "2", str(2 * GIB), "50.0",
    ]  # fmt: skip
    big = rows[3]
    assert big[:8] == ["big", "10.0", "", "", "", "", "", "rejected"]
    assert big[8]  # the reason
    assert big[9:] == ["5", "5", "5", str(5 * GIB), "10.0"]


def test_summary_exact(tmp_path: Path) -> None:
    simulate(
        TRACE,
        NODE,
        make_policy("rigid-fifo"),
        out_dir=tmp_path,
        trace_name="hand.jsonl",
        seed=3,
        cluster="1x4c16g",
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {
        "submitted": 3,
        "finished": 2,
        "rejected": 1,
        "unfinished": 0,
    }
    # queue durations [0, 90]; turnarounds [100, 140]; p90 of two values a < b is
    # a + 0.9 (b - a) (linear interpolation between ranks)
    assert summary["queue_duration"] == {
        "mean": 45.0,
        "median": 45.0,
        "p90": 81.0,
        "p99": pytest.approx(89.1),
    }
    assert summary["turnaround"]["mean"] == 120.0
    assert summary["turnaround"]["p90"] == 136.0
    # 4 cores for 100 s then 2 cores for 50 s, over a span of 150 s on 4 cores:
    # 500 / 600; memory 4 GiB * 100 + 2 GiB * 50 over 16 GiB * 150
    assert summary["simulated_span"] == 150.0
    assert summary["allocated_fraction"]["cores"] == pytest.approx(500 / 600)
    assert summary["allocated_fraction"]["memory"] == pytest.approx(500 / 2400)
    assert (summary["policy"], summary["runtime_model"], summary["seed"]) == (
        "rigid-fifo",
        "linear",
        3,
    )
    assert (summary["trace"], summary["cluster"]) == ("hand.jsonl", "1x4c16g")
    assert summary["wall_clock_seconds"] > 0
    assert summary["skipped"]["count"] == 0
    assert summary["until"] is None  # the run went on until no event was left


def test_timeline_exact(tmp_path: Path) -> None:
    simulate(TRACE, NODE, make_policy("rigid-fifo"), out_dir=tmp_path)
    rows = read_csv(tmp_path / "timeline.csv")
    assert rows == [
        ["time", "allocated_cores", "allocated_memory", "queue_length", "running"],
        ["0.0", "4.0", str(4 * GIB), "0", "1"],
        ["10.0", "4.0", str(4 * GIB), "1", "1"],  # B waits; big rejected
        ["100.0", "2.0", str(2 * GIB), "0", "1"],
        ["150.0", "0.0", "0", "0", "0"],
    ]


def test_timeline_step_thins_rows_but_not_the_fractions(tmp_path: Path) -> None:
    result = simulate(
        TRACE, NODE, make_policy("rigid-fifo"), out_dir=tmp_path, timeline_step=60.0
    )
    rows = read_csv(tmp_path / "timeline.csv")
    assert [row[0] for row in rows[1:]] == ["0.0", "100.0"]
    assert result.summary["allocated_fraction"]["cores"] == pytest.approx(500 / 600)


def test_quantile_interpolates_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [quantile(values, q) for q in (0.0, 0.5, 0.9, 1.0)] == [1.0, 3.0, 4.6, 5.0]


@pytest.mark.parametrize("policy", ["rigid-fifo", "flexible-fifo", "flexible-hrrn3d"])
def test_same_input_gives_byte_identical_executions(
    tmp_path: Path, policy: str
) -> None:
    outputs = []
    for name in ("first", "second"):
        simulate(
            generate("paper", seed=5, apps=300),
            parse_cluster("4x32c128g"),
            make_policy(policy, seed=2),
            out_dir=tmp_path / name,
        )
        outputs.append((tmp_path / name / "executions.csv").read_bytes())
        outputs.append((tmp_path / name / "timeline.csv").read_bytes())
    assert outputs[0] == outputs[2]
    assert outputs[1] == outputs[3]
    assert outputs[0].count(b"\n") == 301


def test_bad_options_are_input_errors() -> None:
    from zoe.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="think time"):
        simulate(TRACE, NODE, make_policy("rigid-fifo"), think_time=-1.0)
    with pytest.raises(InvalidInput, match="unknown runtime model"):
        simulate(TRACE, NODE, make_policy("rigid-fifo"), runtime_model="fast")
