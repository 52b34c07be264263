"""`zoe trace inspect | convert | generate`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoe.cli import trace as trace_cli
from zoe.cli.main import app, main
from zoe.sim.generators import model_params
from zoe.sim.traces import FORMATS, format_options, read_trace

runner = CliRunner()

SPARK = {
    "name": "spark",
    "version": 4,
    "frameworks": [
        {
            "name": "spark",
            "services": [
                {
                    "name": "worker",
                    "image": "zoe/spark",
                    "essential_count": 1,
                    "total_count": 4,
                    "resources": {"cores": 2, "memory": "4GiB"},
                }
            ],
        }
    ],
}


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["zoe", *args])
    with pytest.raises(SystemExit) as caught:
        main()
    return int(caught.value.code or 0)


@pytest.fixture
def small_trace(tmp_path: Path) -> Path:
    # 3 executions of 4 services x 2 cores = 8 cores; durations 100, 200, 300 s
    lines = [
        {"id": "a", "submit": 0, "duration": 100, "zapp": SPARK},
        {"id": "b", "submit": 50, "duration": 200, "zapp": SPARK},
        {"id": "c", "submit": 100, "duration": 300, "zapp": SPARK},
    ]
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_inspect_by_hand(small_trace: Path) -> None:
    result = runner.invoke(
        app, ["trace", "inspect", str(small_trace), "--cluster", "2x4c8g"]
    )

    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert "executions: 3" in out
    assert "services: 12 (essential 3, elastic 9)" in out
    assert "span: 100.0 s (submits from 0.0 to 100.0 s)" in out
    assert "mean inter-arrival: 50.00 s" in out
    # 8 cores x (100 + 200 + 300) s = 4800 core-seconds over 8 cores x 100 s
    assert "work: 4800.0 core-seconds" in out
    assert "offered load on 2x4c8g (8 cores): 6.000" in out


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n\n", '{"id": "a", "submit": "soon"}\n'],
    ids=["empty", "comments", "all-skipped"],
)
def test_inspect_of_a_trace_without_executions_says_so(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(text)

    result = runner.invoke(app, ["trace", "inspect", str(path), "--skip-invalid"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"trace: {path} (native)",
        "executions: 0",
        "the trace has no executions: no span, durations, work or load to report",
    ]


def test_inspect_with_a_cluster_file(small_trace: Path, tmp_path: Path) -> None:
    cluster = tmp_path / "cluster.json"
    cluster.write_text(
        json.dumps({"nodes": [{"name": "n1", "cores": 16, "memory": "64GiB"}]})
    )
    result = runner.invoke(
        app, ["trace", "inspect", str(small_trace), "--cluster", str(cluster)]
    )
    assert result.exit_code == 0, result.output
    # 4800 / (16 x 100)
    assert f"offered load on {cluster} (16 cores): 3.000" in result.output


def test_inspect_swf_sample(shared_dir: Path) -> None:
    path = shared_dir / "traces" / "lublin-swf" / "lublin_256.swf"
    result = runner.invoke(
        app, ["trace", "inspect", str(path), "--format", "swf", "-o", "essential=1"]
    )
    assert result.exit_code == 0, result.output
    # 10,000 jobs, one essential service each, 221,010 services (awk: sum of field 5)
    assert "services: 221010 (essential 10000, elastic 211010)" in result.output


def test_convert_with_options_and_skips(shared_dir: Path, tmp_path: Path) -> None:
    source = shared_dir / "traces" / "lublin-swf" / "lublin_256.swf"
    lines = source.read_text().splitlines()[:12]  # 7 header lines, jobs 1-5
    lines[8] = lines[8].replace("5170", "51x0")  # job 2
    broken = tmp_path / "part.swf"
    broken.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"

    result = runner.invoke(
        app,
        [
            "trace",
            "convert",
            str(broken),
            "--format",
            "swf",
            "--out",
            str(out),
            "--skip-invalid",
            "--option",
            "memory=2GiB",
        ],
    )

    assert result.exit_code == 0, result.output
    assert f"wrote 4 executions to {out}" in result.output
    assert "1 skipped: 1 not a number" in result.output
    entries = list(read_trace(out))
    assert [e.id for e in entries] == ["1", "3", "4", "5"]
    ((_, group),) = entries[0].zapp.groups()
    assert group.demand.memory == 2 * 1024**3


def test_generate_writes_the_same_trace_for_a_seed(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out in (first, second):
        result = runner.invoke(
            app,
            [
                "trace",
                "generate",
                "poisson",
                "--seed",
                "3",
                "--apps",
                "20",
                "--out",
                str(out),
                "--param",
                "mean-duration=10",
            ],
        )
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    assert len(first.read_text().splitlines()) == 20


def test_bad_key_value_is_a_usage_error(small_trace: Path) -> None:
    result = runner.invoke(app, ["trace", "inspect", str(small_trace), "-o", "memory"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["trace", "inspect", "missing.jsonl"],
        ["trace", "inspect", "{trace}", "--format", "sfw"],
        ["trace", "inspect", "{trace}", "--cluster", "3nodes"],
        ["trace", "convert", "{trace}", "--format", "swf", "--out", "{out}"],
        ["trace", "generate", "paper", "--seed", "1", "--out", "{out}", "-p", "rate=2"],
    ],
)
def test_input_errors_exit_2_with_one_line(
    args: list[str],
    small_trace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out.jsonl"
    filled = [a.format(trace=small_trace, out=out) for a in args]

    assert run_main(monkeypatch, *filled) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # a failed convert leaves no output behind
    assert not list(tmp_path.glob(".*.partial"))


def test_help_lists_every_option_and_parameter() -> None:
    for fmt in FORMATS:
        for name in format_options(fmt):
            assert name in trace_cli.OPTION_HELP, (fmt, name)
    for model in ("paper", "poisson"):
        for name in model_params(model):
            assert name in trace_cli.PARAM_HELP, (model, name)


def test_convert_of_binary_bytes_exits_2_naming_file_and_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x8b\x00\xff\n\x01\x02\n")
    out = tmp_path / "out.jsonl"

    code = run_main(
        monkeypatch,
        "trace",
        "convert",
        str(garbage),
        "--format",
        "swf",
        "--out",
        str(out),
    )

    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {garbage}:1: byte 1 (0x8b) is not UTF-8 text")
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert not list(tmp_path.glob(".*.partial"))


def test_generate_into_a_folder_exits_2_and_writes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "results"
    folder.mkdir()

    code = run_main(
        monkeypatch,
        "trace",
        "generate",
        "paper",
        "--seed",
        "1",
        "--apps",
        "3",
        "--out",
        str(folder),
    )

    assert code == 2
    assert (
        capsys.readouterr().err
        == f"error: --out: {folder} is a folder; give the path of a file\n"
    )
    assert list(folder.iterdir()) == []
    assert not list(tmp_path.glob(".*.partial"))


def test_terminated_generate_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "big.jsonl"
    partial = tmp_path / ".big.jsonl.partial"
    command = [sys.executable, "-c", "from zoe.cli.main import main; main()"]
    command += ["trace", "generate", "paper", "--seed", "1", "--apps", "1000000000"]
    process = subprocess.Popen([*command, "--out", str(out)])
    try:
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.stat().st_size > 0):
            assert time.monotonic() < deadline, "the generator never started writing"
            assert process.poll() is None
            time.sleep(0.05)
        process.terminate()
        code = process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()

    assert code == 128 + signal.SIGTERM
    assert not partial.exists()
    assert not out.exists()
