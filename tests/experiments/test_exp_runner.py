"""The runner, end to end with the real simulator on tiny traces."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from exp_helpers import write_native, write_spec

from zoe.core.errors import InvalidTrace
from zoe.experiments.grid import expand
from zoe.experiments.runner import RunnerOptions, check_traces, run_experiment
from zoe.experiments.spec import load_spec

SPEC = """
name = "tiny"
clusters = ["1x4c16g"]
policies = ["rigid-fifo"]
loads = [1.0, 2.0]
seeds = [1]

[[traces]]
name = "tiny"
file = "tiny.jsonl"
"""


def _run(spec_path: Path, out: Path, **options: object) -> object:
    opts = RunnerOptions(out_dir=out, workers=1, figures=False, **options)  # type: ignore[arg-type]
    return run_experiment(load_spec(spec_path), opts)


def test_run_writes_runs_table_and_provenance(tmp_path: Path, tiny_trace: Path) -> None:
    out = tmp_path / "out"
    result = _run(write_spec(tmp_path, SPEC), out)

    ids = ["tiny_1x4c16g_rigid-fifo_first-fit_load1_seed1",
           "tiny_1x4c16g_rigid-fifo_first-fit_load2_seed1"]  # fmt: skip
    assert sorted(result.executed) == ids
    assert result.failures == []
    for run_id in ids:
        folder = out / "runs" / run_id
        assert {p.name for p in folder.iterdir()} == {
            "executions.csv", "params.json", "summary.json", "timeline.csv"
        }  # fmt: skip

    # load 2 halves the submit times 0, 10, 20 of the trace
    executions = pd.read_csv(out / "runs" / ids[1] / "executions.csv")
    assert list(executions["submit_time"]) == [0.0, 5.0, 10.0]
    summary = json.loads((out / "runs" / ids[1] / "summary.json").read_text())
    assert (summary["trace_format"], summary["trace_options"]) == ("native", {})

    table = pd.read_parquet(out / "runs.parquet")
    assert list(table.columns) == [
        "run_id", "trace", "cluster", "policy", "placement", "load", "seed",
        "metric", "value",
    ]  # fmt: skip
    submitted = table[table["metric"] == "counts.submitted"]
    assert sorted(submitted["load"]) == [1.0, 2.0]
    assert list(submitted["value"]) == [3.0, 3.0]
    assert len(pd.read_csv(out / "runs.csv")) == len(table)

    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["spec"]["text"] == SPEC
    assert provenance["seeds"] == [1]
    assert provenance["runs"] == {"total": 2, "executed": 2, "reused": 0, "failed": 0}
    assert provenance["cores"] >= 1
    assert provenance["packages"]["pandas"] == pd.__version__
    assert json.loads((out / "failures.json").read_text()) == []


def test_interrupted_grid_resumes_with_only_the_missing_runs(
    tmp_path: Path, tiny_trace: Path
) -> None:
    spec_path = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    first = _run(spec_path, out)
    kept, lost = sorted(first.executed)
    kept_mtime = (out / "runs" / kept / "summary.json").stat().st_mtime_ns

    # an interruption: one run never renamed into place, its temporary folder left
    (out / "runs" / lost).rename(out / "runs" / f".tmp-{lost}-0000")
    second = _run(spec_path, out)

    assert second.executed == [lost]
    assert second.reused == [kept]
    assert (out / "runs" / kept / "summary.json").stat().st_mtime_ns == kept_mtime
    assert not list((out / "runs").glob(".tmp-*"))
    assert (out / "runs" / lost / "summary.json").is_file()

    third = _run(spec_path, out, force=True)
    assert sorted(third.executed) == [kept, lost]


def test_changed_trace_invalidates_its_runs(tmp_path: Path, tiny_trace: Path) -> None:
    spec_path = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    _run(spec_path, out)

    write_native(tiny_trace, [0.0, 10.0, 30.0])
    again = _run(spec_path, out)
    assert len(again.executed) == 2
    assert again.reused == []


def test_summary_without_params_is_not_taken_as_done(
    tmp_path: Path, tiny_trace: Path
) -> None:
    spec_path = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    first = _run(spec_path, out)
    (out / "runs" / first.executed[0] / "params.json").unlink()

    assert _run(spec_path, out).executed == [first.executed[0]]


def test_failed_run_is_reported_and_the_others_go_on(
    tmp_path: Path, tiny_trace: Path
) -> None:
    # a mean gap of 4e11 s: the 50 arrivals of each run add up to about 2e13 s,
    # past the limit of 1e12 s, so the generation fails inside each run
    spec_path = write_spec(
        tmp_path,
        SPEC
        + '\n[[traces]]\nname = "bad"\ngenerator = "poisson"\napps = 50\n'
        + "params = {rate = 2.5e-12}\n",
    )
    out = tmp_path / "out"
    result = _run(spec_path, out)

    runs = expand(load_spec(spec_path))
    good = sorted(r.run_id for r in runs if r.trace.name == "tiny")
    broken = sorted(r.run_id for r in runs if r.trace.name == "bad")
    assert sorted(result.executed) == good
    failures = json.loads((out / "failures.json").read_text())
    assert sorted(f["run_id"] for f in failures) == broken
    assert failures[0]["error_type"] == "InvalidInput"
    assert "model poisson: execution e" in failures[0]["error"]
    assert failures[0]["params"]["trace"]["name"] == "bad"
    assert not any((out / "runs" / run_id).exists() for run_id in broken)
    table = pd.read_parquet(out / "runs.parquet")
    assert set(table["trace"]) == {"tiny"}

    # the failed runs are tried again on the next invocation, the good ones are not
    again = _run(spec_path, out)
    assert sorted(again.reused) == good
    assert sorted(f["run_id"] for f in again.failures) == broken


def test_a_malformed_trace_file_stops_the_experiment_before_any_run(
    tmp_path: Path, tiny_trace: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(tiny_trace.read_text() + "{this is not json\n", encoding="utf-8")
    spec_path = write_spec(
        tmp_path, SPEC + '\n[[traces]]\nname = "bad"\nfile = "bad.jsonl"\n'
    )
    out = tmp_path / "out"

    with pytest.raises(InvalidTrace) as caught:
        _run(spec_path, out)

    assert (caught.value.source, caught.value.line) == (str(bad), 4)
    assert caught.value.reason.startswith("not valid JSON")
    # nothing ran, not even the runs of the good trace
    assert list((out / "runs").iterdir()) == []
    assert not (out / "failures.json").exists()


def test_the_check_honours_skip_invalid_and_limit(
    tmp_path: Path, tiny_trace: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(tiny_trace.read_text() + "{this is not json\n", encoding="utf-8")
    for extra in ("skip_invalid = true\n", "limit = 3\n"):
        spec_path = write_spec(
            tmp_path,
            SPEC.replace('file = "tiny.jsonl"', 'file = "bad.jsonl"\n' + extra),
        )
        result = _run(spec_path, tmp_path / f"out-{extra[:5]}")
        assert (len(result.executed), result.failures) == (2, [])


def test_each_trace_file_is_checked_once(tmp_path: Path, tiny_trace: Path) -> None:
    # 2 loads x 2 seeds: four runs of the file trace, four of the generated one
    spec = load_spec(
        write_spec(
            tmp_path,
            SPEC.replace("seeds = [1]", "seeds = [1, 2]")
            + '\n[[traces]]\nname = "gen"\ngenerator = "poisson"\napps = 5\n',
        )
    )
    runs = expand(spec)
    assert len(runs) == 8

    assert check_traces(runs) == ["tiny"]
