"""`zoe experiment` commands: exit statuses, printed table, redrawn figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from exp_helpers import write_spec
from typer.testing import CliRunner

from zoe.cli.main import app

SPEC = """
name = "cli"
clusters = ["1x4c16g"]
policies = ["rigid-fifo"]
seeds = [3]

[[traces]]
name = "tiny"
file = "tiny.jsonl"
"""


def _zoe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from zoe.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_validate_counts_the_grid(tmp_path: Path, tiny_trace: Path) -> None:
    result = CliRunner().invoke(
        app, ["experiment", "validate", str(write_spec(tmp_path, SPEC))]
    )
    assert result.exit_code == 0
    assert "valid; 1 runs = 1 traces x 1 clusters x 1 policies" in result.stdout


def test_invalid_spec_exits_2_with_one_line(tmp_path: Path, tiny_trace: Path) -> None:
    spec = write_spec(tmp_path, SPEC.replace("rigid-fifo", "rigid-nope"))
    completed = _zoe("experiment", "run", str(spec), "--out", str(tmp_path / "o"))
    assert completed.returncode == 2
    assert completed.stderr.startswith(f"error: {spec}: policies[0]: unknown policy")
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "o").exists()


def test_run_prints_the_table_and_report_then_plot_redraws(
    tmp_path: Path, tiny_trace: Path
) -> None:
    out = tmp_path / "out"
    completed = _zoe(
        "experiment",
        "run",
        str(write_spec(tmp_path, SPEC)),
        "--out",
        str(out),
        "-j",
        "1",
    )
    assert completed.returncode == 0, completed.stderr
    assert "rigid-fifo" in completed.stdout
    assert f"report: {out / 'report.html'}" in completed.stdout
    assert (out / "report.md").is_file()

    figure = out / "figures" / "load-sweep_tiny_1x4c16g_first-fit.png"
    figure.unlink()
    result = CliRunner().invoke(app, ["experiment", "plot", str(out)])
    assert result.exit_code == 0
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_failed_run_exits_1(tmp_path: Path, tiny_trace: Path) -> None:
    # 50 arrivals 4e11 s apart on average go past the limit of 1e12 s in the run
    spec = write_spec(
        tmp_path,
        SPEC + '[[traces]]\nname = "bad"\ngenerator = "poisson"\napps = 50\n'
        "params = {rate = 2.5e-12}\n",
    )
    out = str(tmp_path / "o")
    completed = _zoe(
        "experiment", "run", str(spec), "--out", out, "-j", "1", "--no-figures"
    )
    assert completed.returncode == 1
    assert "run bad_1x4c16g_rigid-fifo_first-fit_load1_seed3 failed" in completed.stderr
    assert "rigid-fifo" in completed.stdout  # the good run is still tabulated


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from zoe.cli.main import app; "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'distributed', 'pyarrow') "
        "if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_no_progress_bar_when_stderr_is_not_a_terminal(
    tmp_path: Path, tiny_trace: Path
) -> None:
    spec = write_spec(tmp_path, SPEC)
    completed = _zoe(
        "experiment",
        "run",
        str(spec),
        "--out",
        str(tmp_path / "o"),
        "-j",
        "1",
        "--no-figures",
    )
    assert completed.returncode == 0, completed.stderr
    assert "1 runs done, 0 reused, 0 failed" in completed.stderr
    assert "1/1" not in completed.stderr
    assert "━" not in completed.stderr


def test_out_that_is_a_file_exits_2_before_any_run(
    tmp_path: Path, tiny_trace: Path
) -> None:
    spec = write_spec(tmp_path, SPEC)
    taken = tmp_path / "taken"
    taken.write_text("a file\n", encoding="utf-8")

    completed = _zoe("experiment", "run", str(spec), "--out", str(taken))

    assert completed.returncode == 2
    assert completed.stderr.endswith(
        f"error: output folder {taken} is a file; give the path of a folder\n"
    )
    assert "Traceback" not in completed.stderr
    assert taken.read_text(encoding="utf-8") == "a file\n"


def test_malformed_trace_file_exits_2_before_any_run(
    tmp_path: Path, tiny_trace: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("[]\n", encoding="utf-8")
    spec = write_spec(
        tmp_path,
        SPEC.replace("seeds = [3]", "seeds = [1, 2, 3]")
        + '[[traces]]\nname = "bad"\nfile = "bad.jsonl"\n',
    )
    out = tmp_path / "o"

    completed = _zoe(
        "experiment", "run", str(spec), "--out", str(out), "-j", "1", "--no-figures"
    )

    assert completed.returncode == 2
    assert completed.stderr.endswith(
        f"error: {bad}:1: expected one JSON object on the line\n"
    )
    assert "failed" not in completed.stderr
    assert "Traceback" not in completed.stderr
    assert list((out / "runs").iterdir()) == []
