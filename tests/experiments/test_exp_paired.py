"""The paired comparison of the report: each policy against the first, by seed."""

from __future__ import annotations

import pandas as pd
import pytest

from zoe.experiments.report import paired_rows, paired_table
from zoe.experiments.results import TURNAROUND_MEAN


def _table(values: dict[tuple[str, int], float]) -> pd.DataFrame:
    rows = [
        {
            "run_id": f"{policy}-{seed}",
            "trace": "t",
            "cluster": "c",
            "policy": policy,
            "placement": "first-fit",
            "load": 1.0,
            "seed": seed,
            "metric": TURNAROUND_MEAN,
            "value": value,
        }
        for (policy, seed), value in values.items()
    ]
    return pd.DataFrame(rows)


def test_differences_are_paired_by_seed_against_the_first_policy() -> None:
    # A is first, so the baseline. B - A per seed: 90 - 100 = -10, 150 - 200 =
    # -50: mean -30, sample sd sqrt(800), CI t(1) * sqrt(800) / sqrt(2) = 12.706 *
    # 20 = 254.12. Relative: -10 % and -25 %: mean -17.5, CI 12.706 * 7.5.
    table = _table({("A", 1): 100, ("A", 2): 200, ("B", 1): 90, ("B", 2): 150})

    paired = paired_table(table)

    (row,) = paired.to_dict("records")
    assert (row["policy"], row["baseline"], row["pairs"]) == ("B", "A", 2)
    assert row["difference"] == pytest.approx(-30)
    assert row["difference_ci"] == pytest.approx(254.12)
    assert row["relative"] == pytest.approx(-17.5)
    assert row["relative_ci"] == pytest.approx(12.706 * 7.5)


def test_only_seeds_both_policies_ran_are_paired() -> None:
    # seed 2 of B failed: the pair is seed 1 alone, 120 - 100 = 20, no CI
    table = _table({("A", 1): 100, ("A", 2): 200, ("B", 1): 120})

    (row,) = paired_table(table).to_dict("records")
    headers, cells = paired_rows(paired_table(table))

    assert (row["pairs"], row["difference"]) == (1, pytest.approx(20))
    assert headers[-2:] == ["Δ turnaround mean (s)", "Δ (%)"]
    assert cells == [["1", "B", "1", "20", "20.0"]]


def test_a_single_policy_has_nothing_to_compare() -> None:
    assert paired_table(_table({("A", 1): 100.0})).empty
