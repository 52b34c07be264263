"""Grid expansion: counts, order, ids and fingerprints, computed by hand."""

from __future__ import annotations

from pathlib import Path

from exp_helpers import write_native, write_spec

from zoe.experiments.grid import expand, run_id
from zoe.experiments.spec import load_spec

SPEC = """
clusters = ["2x4c16g", "3x2c8g"]
policies = ["rigid-fifo", "elastic-fifo"]
loads = [0.5, 2.0]
seeds = [7, 8, 9]

[[traces]]
name = "a"
file = "a.jsonl"

[[traces]]
name = "b"
file = "b.jsonl"
"""


def _spec(tmp_path: Path) -> Path:
    write_native(tmp_path / "a.jsonl", [0.0, 1.0])
    write_native(tmp_path / "b.jsonl", [0.0, 2.0])
    return write_spec(tmp_path, SPEC)


def test_grid_is_the_full_product_in_order(tmp_path: Path) -> None:
    runs = expand(load_spec(_spec(tmp_path)))

    # 2 traces x 2 clusters x 2 policies x 1 placement x 2 loads x 3 seeds
    assert len(runs) == 48
    assert len({r.run_id for r in runs}) == 48
    first, second, last = runs[0], runs[1], runs[-1]
    assert first.keys() == {
        "trace": "a",
        "cluster": "2x4c16g",
        "policy": "rigid-fifo",
        "placement": "first-fit",
        "load": 0.5,
        "seed": 7,
    }
    assert second.keys()["seed"] == 8  # the seed varies fastest
    assert runs[3].keys()["load"] == 2.0
    assert last.keys() == {
        "trace": "b",
        "cluster": "3x2c8g",
        "policy": "elastic-fifo",
        "placement": "first-fit",
        "load": 2.0,
        "seed": 9,
    }
    assert first.run_id == "a_2x4c16g_rigid-fifo_first-fit_load0.5_seed7"
    assert (
        sum(1 for r in runs if r.policy == "elastic-fifo" and r.trace.name == "b") == 12
    )


def test_run_id_replaces_unsafe_characters() -> None:
    assert run_id("t", "my cluster/x", "p", "first-fit", 1.0, 3) == (
        "t_my-cluster-x_p_first-fit_load1_seed3"
    )


def test_fingerprint_follows_parameters_and_trace_content(tmp_path: Path) -> None:
    spec_path = _spec(tmp_path)
    before = expand(load_spec(spec_path))

    again = expand(load_spec(spec_path))
    assert [r.fingerprint for r in again] == [r.fingerprint for r in before]
    assert len({r.fingerprint for r in before}) == 48

    write_native(tmp_path / "b.jsonl", [0.0, 3.0])
    after = expand(load_spec(spec_path))
    changed = {
        r.run_id
        for r, s in zip(before, after, strict=True)
        if r.fingerprint != s.fingerprint
    }
    assert changed == {r.run_id for r in before if r.trace.name == "b"}
