"""The Dask executor against a real local Dask cluster started by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from exp_helpers import write_spec

from zoe.experiments.runner import RunnerOptions, run_experiment
from zoe.experiments.spec import load_spec

SPEC = """
clusters = ["1x4c16g"]
policies = ["rigid-fifo", "elastic-fifo"]
loads = [1.0]
seeds = [1, 2]

[[traces]]
name = "tiny"
file = "tiny.jsonl"

# 50 arrivals 4e11 s apart on average go past the limit of 1e12 s: every run of
# this trace fails in its worker
[[traces]]
name = "bad"
generator = "poisson"
apps = 50
params = {rate = 2.5e-12}
"""


@pytest.mark.integration
def test_dask_executor_runs_the_grid_on_a_local_cluster(
    tmp_path: Path, tiny_trace: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    spec = load_spec(write_spec(tmp_path, SPEC))
    out = tmp_path / "out"

    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        options = RunnerOptions(
            out_dir=out, executor="dask", scheduler=cluster.scheduler_address,
            figures=False,
        )  # fmt: skip
        result = run_experiment(spec, options)

    # 2 traces x 2 policies x 2 seeds; the 4 runs of the bad trace fail
    assert len(result.executed) == 4
    assert all(run_id.startswith("tiny_") for run_id in result.executed)
    assert sorted(f["run_id"] for f in result.failures) == [
        "bad_1x4c16g_elastic-fifo_first-fit_load1_seed1",
        "bad_1x4c16g_elastic-fifo_first-fit_load1_seed2",
        "bad_1x4c16g_rigid-fifo_first-fit_load1_seed1",
        "bad_1x4c16g_rigid-fifo_first-fit_load1_seed2",
    ]
    for run_id in result.executed:
        summary = json.loads((out / "runs" / run_id / "summary.json").read_text())
        assert summary["counts"]["finished"] == 3
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["executor"] == "dask"
    assert provenance["scheduler"] == cluster.scheduler_address
