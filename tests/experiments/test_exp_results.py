"""Statistics and the tidy table, against values worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from exp_helpers import summary

from zoe.experiments.results import (
    COLUMNS,
    flatten,
    mean_ci,
    read_table,
    summarise,
    t975,
    write_table,
)


def test_t_quantiles() -> None:
    assert t975(1) == 12.706
    assert t975(4) == 2.776
    assert t975(30) == 2.042
    # between 30 and 40, linear in 1/df: 2.042 - 0.021 * (1/30 - 1/35) / (1/30 - 1/40)
    assert t975(35) == pytest.approx(2.042 - 0.021 * 4 / 7)
    assert t975(10_000) == pytest.approx(1.960 + 0.020 * 120 / 10_000)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t975(0)


def test_mean_ci_of_three_values() -> None:
    # mean 2, sample standard deviation 1, t(2) = 4.303: 4.303 / sqrt(3)
    mean, half, n = mean_ci([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert half == pytest.approx(4.303 / math.sqrt(3))


def test_mean_ci_small_samples() -> None:
    mean, half, n = mean_ci([5.0])
    assert (mean, n) == (5.0, 1)
    assert math.isnan(half)
    mean, half, n = mean_ci([float("nan")])
    assert n == 0
    assert math.isnan(mean)


def test_flatten_keeps_numeric_leaves_only() -> None:
    metrics = flatten(summary(100.0, 180.0, skipped={"count": 2, "reasons": {}}))
    assert metrics["turnaround.mean"] == 100.0
    assert metrics["turnaround.p90"] == 180.0
    assert metrics["counts.rejected"] == 1.0
    assert metrics["allocated_fraction.memory"] == 0.25
    assert metrics["skipped.count"] == 2.0
    assert "policy" not in metrics  # a string
    assert "seed" not in metrics  # a parameter, not a measure
    assert "think_time" not in metrics


def test_summarise_across_seeds(tmp_path: Path) -> None:
    rows = [
        {"run_id": f"r{seed}", "trace": "t", "cluster": "c", "policy": "p",
         "placement": "first-fit", "load": 1.0, "seed": seed,
         "metric": "turnaround.mean", "value": value}
        for seed, value in ((1, 10.0), (2, 20.0), (3, 30.0))
    ]  # fmt: skip
    table = write_table(rows, tmp_path)

    stats = summarise(table, "turnaround.mean", ["policy"])
    assert list(stats.columns) == ["policy", "mean", "ci", "n"]
    assert stats.loc[0, "mean"] == 20.0
    # standard deviation 10: 4.303 * 10 / sqrt(3)
    assert stats.loc[0, "ci"] == pytest.approx(43.03 / math.sqrt(3))
    assert stats.loc[0, "n"] == 3

    back = read_table(tmp_path)
    assert list(back.columns) == list(COLUMNS)
    pd.testing.assert_frame_equal(back, pd.read_csv(tmp_path / "runs.csv"))
