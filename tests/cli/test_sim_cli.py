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


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("file", "is a file; give the path of a folder"),
        ("file/sub", "cannot be created (Not a directory)"),
    ],
)
def test_out_that_cannot_be_a_folder_fails_before_the_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
    message: str,
) -> None:
    (tmp_path / "file").write_text("not a folder\n")
    # line 2 is malformed: an error about it would mean the run started first
    trace = write_trace(tmp_path / "t.jsonl", [line("e1", 0, 10), "{"])
    out = tmp_path / where
    args = ["sim", "run", str(trace), "--policy", "rigid-fifo", "--cluster", "1x2c4g"]

    code, _, stderr = zoe([*args, "--out", str(out)], monkeypatch, capsys)

    assert code == 2
    assert stderr == f"error: output folder {out} {message}" + (
        "; give a folder that can be written\n" if "created" in message else "\n"
    )
    assert (tmp_path / "file").read_text() == "not a folder\n"


def test_until_stops_the_clock_and_leaves_active_executions_unfinished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # one node of 2 cores: e1 runs 0..10, e2 (t=5) waits and runs 10..30; at 15
    # e2 is running, and e3 (t=100) has not arrived
    trace = write_trace(
        tmp_path / "t.jsonl", [line("e1", 0, 10), line("e2", 5, 20), line("e3", 100, 1)]
    )
    out = tmp_path / "out"
    args = ["sim", "run", str(trace), "--policy", "rigid-fifo", "--cluster", "1x2c4g"]

    code, stdout, _ = zoe(
        [*args, "--out", str(out), "--until", "15"], monkeypatch, capsys
    )

    assert code == 0
    with (out / "executions.csv").open(newline="") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"e1", "e2"}
    assert (rows["e1"]["status"], rows["e1"]["end_time"]) == ("finished", "10.0")
    assert (rows["e2"]["status"], rows["e2"]["start_time"]) == ("unfinished", "10.0")
    assert rows["e2"]["end_time"] == ""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {
        "submitted": 2,
        "finished": 1,
        "rejected": 0,
        "unfinished": 1,
    }
    assert "2 executions: 1 finished, 0 rejected, 1 unfinished" in stdout
    assert summary["until"] == 15.0

    for bad in ("-1", "0"):
        code, _, stderr = zoe(
            [*args, "--out", str(out), "--until", bad], monkeypatch, capsys
        )
        expected = f"error: until must be a time > 0 (seconds), got {float(bad)!r}\n"
        assert (code, stderr) == (2, expected)


def test_format_options_reach_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # one SWF job of 2 processors, 10 s, memory unknown (-1): 2 one-core services
    swf = tmp_path / "one.swf"
    swf.write_text("1 0 -1 10 2 -1 -1 2 -1 -1 1 -1 -1 -1 -1 -1 -1 -1\n")
    args = ["sim", "run", str(swf), "--format", "swf", "--policy", "rigid-fifo"]
    args += ["--cluster", "1x4c4g", "--out", str(tmp_path / "o")]

    # default memory 1GiB a service: 2 GiB fit into 4 GiB
    code, stdout, _ = zoe(args, monkeypatch, capsys)
    assert code == 0
    assert "1 executions: 1 finished, 0 rejected" in stdout

    # 3GiB a service: 6 GiB never fit into 4 GiB
    code, stdout, _ = zoe([*args, "--option", "memory=3GiB"], monkeypatch, capsys)
    assert code == 0
    assert "1 executions: 0 finished, 1 rejected" in stdout

    code, _, stderr = zoe([*args, "-o", "colour=red"], monkeypatch, capsys)
    assert code == 2
    assert "unknown swf format option 'colour'" in stderr


def test_repeated_id_names_its_line_or_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = write_trace(
        tmp_path / "t.jsonl", [line("e1", 0, 10), line("e2", 5, 1), line("e1", 6, 1)]
    )
    args = ["sim", "run", str(trace), "--policy", "rigid-fifo", "--cluster", "1x2c4g"]
    args += ["--out", str(tmp_path / "o")]

    code, _, stderr = zoe(args, monkeypatch, capsys)
    assert code == 2
    assert stderr.startswith(f"error: {trace}:3: execution id 'e1' was used")

    code, stdout, _ = zoe([*args, "--skip-invalid"], monkeypatch, capsys)
    assert code == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["counts"]["submitted"] == 2
    assert summary["skipped"]["count"] == 1
    assert summary["skipped"]["reasons"] == {"duplicate id": 1}
    assert summary["skipped"]["examples"][0]["line"] == 3
    assert "skipped trace lines: 1 (1 duplicate id)" in stdout


@pytest.mark.parametrize(("key", "value"), [("duration", 1e308), ("submit", 1e299)])
def test_a_time_above_the_limit_stops_or_is_skipped(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key: str,
    value: float,
) -> None:
    huge = json.loads(line("e2", 5, 20))
    huge[key] = value
    trace = write_trace(
        tmp_path / "t.jsonl", [line("e1", 0, 10), json.dumps(huge), line("e3", 6, 1)]
    )
    out = tmp_path / "o"
    args = ["sim", "run", str(trace), "--policy", "rigid-fifo", "--cluster", "1x2c4g"]
    args += ["--out", str(out)]

    code, _, stderr = zoe(args, monkeypatch, capsys)
    assert code == 2
    assert stderr == (
        f"error: {trace}:2: {key}: {value!r} seconds is above the limit of "
        "1e+12 s (about 31,688 years)\n"
    )
    assert not (out / "summary.json").exists()

    code, _, _ = zoe([*args, "--skip-invalid"], monkeypatch, capsys)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    # e1 runs 0..10, e3 (t=6) waits for the node and runs 10..11
    assert summary["counts"]["finished"] == 2
    assert summary["turnaround"]["mean"] == (10 + 5) / 2
    assert summary["skipped"]["reasons"] == {"bad value": 1}


@pytest.mark.parametrize(
    ("flag", "value", "name"),
    [
        ("--think-time", "1e308", "think time"),
        ("--until", "2e12", "until"),
        ("--until", "inf", "until"),
        ("--timeline-step", "1e300", "timeline step"),
    ],
)
def test_a_time_flag_above_the_limit_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    name: str,
) -> None:
    trace = write_trace(tmp_path / "t.jsonl", [line("e1", 0, 10)])
    out = tmp_path / "o"
    args = ["sim", "run", str(trace), "--policy", "rigid-fifo", "--cluster", "1x2c4g"]

    code, _, stderr = zoe([*args, "--out", str(out), flag, value], monkeypatch, capsys)

    assert code == 2
    assert stderr == (
        f"error: {name} must be at most 1e+12 s (about 31,688 years), got "
        f"{float(value)!r}\n"
    )
    assert not (out / "summary.json").exists()


def test_the_summary_records_the_trace_format_and_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    swf = tmp_path / "one.swf"
    swf.write_text("1 0 -1 10 2 -1 -1 2 -1 -1 1 -1 -1 -1 -1 -1 -1 -1\n")
    out = tmp_path / "o"
    args = ["sim", "run", str(swf), "--format", "swf", "--policy", "rigid-fifo"]
    args += ["--cluster", "1x4c4g", "--out", str(out)]

    code, _, _ = zoe(
        [*args, "-o", "essential=1", "-o", "memory=1GiB"], monkeypatch, capsys
    )

    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trace_format"] == "swf"
    assert summary["trace_options"] == {"essential": "1", "memory": "1GiB"}
    # the keys that were there before stay
    assert summary["trace"] == "one.swf"
    assert summary["counts"]["finished"] == 1

    trace = write_trace(tmp_path / "t.jsonl", [line("e1", 0, 10)])
    args = ["sim", "run", str(trace), "--policy", "rigid-fifo", "--cluster", "1x2c4g"]
    code, _, _ = zoe([*args, "--out", str(out)], monkeypatch, capsys)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["trace_format"], summary["trace_options"]) == ("native", {})
