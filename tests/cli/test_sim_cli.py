"""`zoe sim run`: files written, summary printed, bad input exits 2 in one line."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from zoe.cli.main import main

ZAPP = {
    "name": "app",
    "version": 4,
    "frameworks": [
        {
            "name": "f",
            "services": [
                {
                    "name": "s",
                    "image": "i",
                    "essential_count": 1,
                    "total_count": 1,
                    "resources": {"cores": 2, "memory": "1GiB"},
                }
            ],
        }
    ],
}


def write_trace(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def line(eid: str, submit: float, duration: float) -> str:
    return json.dumps({"id": eid, "submit": submit, "duration": duration, "zapp": ZAPP})


def zoe(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run the `zoe` entry point; return (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["zoe", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_run_writes_the_three_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # one node of 2 cores: e1 runs 0..10, e2 (t=5) waits and runs 10..30
    trace = write_trace(tmp_path / "t.jsonl", [line("e1", 0, 10), line("e2", 5, 20)])
    out = tmp_path / "out"
    args = ["sim", "run", str(trace), "--policy", "rigid-fifo", "--cluster", "1x2c4g"]
    code, stdout, _ = zoe([*args, "--out", str(out)], monkeypatch, capsys)
    assert code == 0
    assert {p.name for p in out.iterdir()} == {
        "executions.csv",
        "summary.json",
        "timeline.csv",
    }
    with (out / "executions.csv").open(newline="") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    assert (rows["e2"]["start_time"], rows["e2"]["end_time"]) == ("10.0", "30.0")
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["counts"]["finished"], summary["trace"]) == (2, "t.jsonl")
    assert "2 executions: 2 finished" in stdout


def test_cluster_from_a_json_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = write_trace(tmp_path / "t.jsonl", [line("e1", 0, 10)])
    nodes = tmp_path / "nodes.json"
    nodes.write_text(
        json.dumps({"nodes": [{"name": "n1", "cores": 4, "memory": "8GiB"}]})
    )
    args = [
        "sim",
        "run",
        str(trace),
        "--policy",
        "flexible-fifo",
        "--cluster",
        str(nodes),
    ]
    code, _, _ = zoe([*args, "--out", str(tmp_path / "o")], monkeypatch, capsys)
    assert code == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["cluster"] == str(nodes)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--cluster", "25x32", "cluster '25x32' is not understood"),
        ("--policy", "fastest", "unknown policy 'fastest'"),
        ("--runtime-model", "quick", "unknown runtime model 'quick'"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    message: str,
) -> None:
    trace = write_trace(tmp_path / "t.jsonl", [line("e1", 0, 10)])
    options = {"--policy": "rigid-fifo", "--cluster": "1x2c4g", flag: value}
    args = ["sim", "run", str(trace), "--out", str(tmp_path / "o")]
    for name, setting in options.items():
        args += [name, setting]
    code, _, stderr = zoe(args, monkeypatch, capsys)
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_malformed_line_stops_or_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = write_trace(
        tmp_path / "t.jsonl",
        [line("e1", 0, 10), '{"id": "e2", "submit": "soon"', line("e3", 5, 1)],
    )
    args = ["sim", "run", str(trace), "--policy", "rigid-fifo", "--cluster", "1x2c4g"]
    args += ["--out", str(tmp_path / "o")]
    code, _, stderr = zoe(args, monkeypatch, capsys)
    assert code == 2
    assert f"{trace}:2:" in stderr

    code, stdout, _ = zoe([*args, "--skip-invalid"], monkeypatch, capsys)
    assert code == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["counts"]["submitted"] == 2
    assert summary["skipped"]["count"] == 1
    assert "skipped trace lines: 1" in stdout
