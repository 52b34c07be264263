"""The tidy results table and the statistics drawn from it.

``runs.parquet`` (and ``runs.csv``) hold one row per run and metric, with the
columns :data:`COLUMNS`. The metrics are the numeric values of each run's
``summary.json``, nested keys joined by dots (``turnaround.mean``). Per-execution
data (for distributions) stays in each run's ``executions.csv`` and
``timeline.csv`` under ``runs/<run_id>/``.

Confidence intervals are Student-t 95 % intervals of a metric across the seeds of
one cell of the grid (the seeds are the replications).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoe.experiments.grid import DIMENSIONS

if TYPE_CHECKING:
    import pandas as pd

    from zoe.experiments.grid import Run

COLUMNS = ("run_id", *DIMENSIONS, "metric", "value")

TURNAROUND_MEAN = "turnaround.mean"
TURNAROUND_P90 = "turnaround.p90"
QUEUE_MEAN = "queue_duration.mean"
REJECTED = "counts.rejected"
CORES_FRACTION = "allocated_fraction.cores"
MEMORY_FRACTION = "allocated_fraction.memory"
PARAMETERS = frozenset({"seed", "think_time", "until"})
"""Numeric summary keys that are parameters of the run, not metrics."""

# Two-sided 95 % quantiles of Student's t, t(0.975; df), for df = 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
# Beyond 30, tabulated points interpolated linearly in 1/df (the usual rule).
_T975_TAIL = ((30, 2.042), (40, 2.021), (60, 2.000), (120, 1.980), (math.inf, 1.960))


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` >= 1 degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    for (lo, t_lo), (hi, t_hi) in itertools.pairwise(_T975_TAIL):
        if lo <= df <= hi:
            span = 1 / lo - (0 if hi == math.inf else 1 / hi)
            return t_lo + (t_hi - t_lo) * (1 / lo - 1 / df) / span
    return 1.960  # unreachable: the last interval ends at infinity


def mean_ci(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, 95 % half-width (Student t) and count of the finite ``values``.

    The half-width is NaN with fewer than two values; the mean is NaN with none.
    """
    data = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(data)
    if n == 0:
        return math.nan, math.nan, 0
    mean = sum(data) / n
    if n < 2:
        return mean, math.nan, n
    variance = sum((x - mean) ** 2 for x in data) / (n - 1)
    return mean, t975(n - 1) * math.sqrt(variance / n), n


def flatten(summary: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric leaves of ``summary``, nested keys joined by dots.

    Booleans, strings, lists and nulls are left out, and so are the top-level
    :data:`PARAMETERS`: they describe the run, they do not measure it.
    """
    metrics: dict[str, float] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if not prefix and key in PARAMETERS:
            continue
        if isinstance(value, Mapping):
            metrics.update(flatten(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            metrics[name] = float(value)
    return metrics


def tidy_rows(runs: Iterable[Run], runs_dir: Path) -> list[dict[str, Any]]:
    """One row per run and metric, for the runs whose ``summary.json`` exists."""
    rows = []
    for run in runs:
        summary_path = runs_dir / run.run_id / "summary.json"
        if not summary_path.is_file():
            continue
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        for metric, value in flatten(summary).items():
            rows.append(
                {"run_id": run.run_id, **run.keys(), "metric": metric, "value": value}
            )
    return rows


def write_table(rows: list[dict[str, Any]], out_dir: Path) -> pd.DataFrame:
    """Write ``runs.parquet`` and ``runs.csv`` into ``out_dir``; return the frame."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["load"] = frame["load"].astype(float)
    frame["seed"] = frame["seed"].astype(int)
    frame["value"] = frame["value"].astype(float)
    frame.to_parquet(out_dir / "runs.parquet", index=False)
    frame.to_csv(out_dir / "runs.csv", index=False)
    return frame


def read_table(out_dir: Path) -> pd.DataFrame:
    """The tidy table of a finished experiment (``runs.parquet``, else ``runs.csv``)."""
    import pandas as pd

    parquet = out_dir / "runs.parquet"
    if parquet.is_file():
        return pd.read_parquet(parquet)
    return pd.read_csv(out_dir / "runs.csv")


def summarise(table: pd.DataFrame, metric: str, by: Sequence[str]) -> pd.DataFrame:
    """Mean, 95 % CI half-width and count of ``metric`` across seeds, per ``by`` cell.

    Columns: ``by`` then ``mean``, ``ci``, ``n``; cells keep their first-seen order.
    """
    import pandas as pd

    rows = table[table["metric"] == metric]
    out = []
    for key, group in rows.groupby(list(by), sort=False):
        mean, ci, n = mean_ci(group["value"])
        keys = key if isinstance(key, tuple) else (key,)
        out.append({**dict(zip(by, keys, strict=True)), "mean": mean, "ci": ci, "n": n})
    return pd.DataFrame(out, columns=[*by, "mean", "ci", "n"])


def run_frame(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run (run_id and the grid keys), in first-seen order."""
    columns = ["run_id", *DIMENSIONS]
    return table[columns].drop_duplicates("run_id").reset_index(drop=True)


def read_run_csv(out_dir: Path, runs: pd.DataFrame, name: str) -> pd.DataFrame:
    """Concatenate ``runs/<run_id>/<name>`` of ``runs``, with the grid keys added.

    Runs without the file are left out.
    """
    import pandas as pd

    frames = []
    for run in runs.itertuples(index=False):
        path = out_dir / "runs" / str(run.run_id) / name
        if not path.is_file():
            continue
        frame = pd.read_csv(path)
        for column in ("run_id", *DIMENSIONS):
            frame[column] = getattr(run, column)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["run_id", *DIMENSIONS])
    return pd.concat(frames, ignore_index=True)
