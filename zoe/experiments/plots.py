"""Figures of an experiment, drawn with matplotlib's Agg canvas (no display needed).

Each ``plot_*`` function takes data frames and the one policy -> colour mapping of
the experiment, and returns the :class:`~matplotlib.figure.Figure` without saving
it, so tests can inspect its axes. Every series is a line or a container labelled
with its policy name and given the SVG id ``policy-<name>``. Legends are drawn
outside the axes, below them. :func:`draw_figures` saves them all as PNG and SVG.

Application size classes, by the cores an execution asks for in all (essential and
elastic services; column ``cores`` of ``executions.csv``): :data:`SIZE_CLASSES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from zoe.experiments.results import (
    TURNAROUND_MEAN,
    TURNAROUND_P90,
    mean_ci,
    read_run_csv,
    run_frame,
    summarise,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.container import BarContainer
    from matplotlib.figure import Figure

SIZE_CLASSES = (("small", 0.0, 8.0), ("medium", 8.0, 32.0), ("large", 32.0, math.inf))
"""(name, lower bound excluded, upper bound included) of the total cores asked for."""

_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173",
)  # fmt: skip
_GIB = 1024**3


def policy_colours(policies: Sequence[str]) -> dict[str, str]:
    """The experiment's one mapping from policy name to colour, by order of the list.

    Beyond the palette's 15 colours, colours repeat.
    """
    unique = list(dict.fromkeys(policies))
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(unique)}


def size_class(cores: float) -> str:
    """The name of the :data:`SIZE_CLASSES` entry that ``cores`` falls in."""
    for name, low, high in SIZE_CLASSES:
        if low < cores <= high:
            return name
    return SIZE_CLASSES[0][0]


def _figure(rows: int = 1) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.2 + 2.3 * rows), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    return fig, list(axes)


def _legend(fig: Figure, axes: Axes) -> None:
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        ncol = min(len(labels), 3)
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol)


def _gid(bars: BarContainer, policy: str) -> None:
    for i, patch in enumerate(bars):
        patch.set_gid(f"policy-{policy}-{i}")


def _time_unit(max_seconds: float) -> tuple[float, str]:
    if max_seconds < 600:
        return 1.0, "s"
    if max_seconds < 36000:
        return 60.0, "min"
    return 3600.0, "h"


def plot_cdf(
    executions: pd.DataFrame,
    column: str,
    colours: Mapping[str, str],
    *,
    title: str,
    label: str,
) -> Figure:
    """Empirical CDF of ``column`` (seconds) per policy, all seeds pooled.

    One step line per policy that has values; the x axis is logarithmic (symmetric
    logarithmic when some values are 0, as queueing times often are).
    """
    fig, (ax,) = _figure()
    has_zero = False
    for policy in colours:
        values = executions.loc[executions["policy"] == policy, column].dropna()
        if values.empty:
            continue
        ordered = values.sort_values().to_numpy()
        has_zero = has_zero or bool(ordered[0] <= 0)
        fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
        (line,) = ax.step(
            ordered, fractions, where="post", color=colours[policy], label=policy
        )
        line.set_gid(f"policy-{policy}")
    if has_zero:
        ax.set_xscale("symlog", linthresh=1.0)
    else:
        ax.set_xscale("log")
    ax.set_xlabel(f"{label} (s, log scale)")
    ax.set_ylabel("fraction of executions")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    _legend(fig, ax)
    return fig


def plot_mean_p90(
    table: pd.DataFrame, colours: Mapping[str, str], *, title: str
) -> Figure:
    """Mean and 90th percentile of turnaround per policy, with 95 % CIs across seeds.

    ``table`` is the tidy table restricted to one cell of every dimension but policy
    and seed. Two panels, one bar per policy each.
    """
    fig, axes = _figure(2)
    for ax, metric, name in zip(
        axes,
        (TURNAROUND_MEAN, TURNAROUND_P90),
        ("mean", "90th percentile"),
        strict=True,
    ):
        stats = summarise(table, metric, ["policy"]).set_index("policy")
        for x, policy in enumerate(colours):
            if policy not in stats.index:
                continue
            mean, ci = stats.loc[policy, "mean"], stats.loc[policy, "ci"]
            bars = ax.bar(
                x,
                mean,
                yerr=None if math.isnan(ci) else ci,
                color=colours[policy],
                capsize=4,
                label=policy,
            )
            _gid(bars, policy)
        ax.set_xticks(range(len(colours)), list(colours), rotation=20, ha="right")
        ax.set_ylabel(f"{name} turnaround (s)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_title(f"{title}\n(error bars: 95 % CI across seeds)")
    return fig


def plot_timeline(
    timeline: pd.DataFrame, colours: Mapping[str, str], *, title: str
) -> Figure:
    """Allocated cores and allocated memory over simulated time, one line per policy.

    ``timeline`` holds the rows of one seed; memory is shown in GiB.
    """
    fig, (cores_ax, memory_ax) = _figure(2)
    scale, unit = _time_unit(float(timeline["time"].max()) if len(timeline) else 0.0)
    for policy in colours:
        rows = timeline[timeline["policy"] == policy]
        if rows.empty:
            continue
        time = rows["time"] / scale
        for ax, values in (
            (cores_ax, rows["allocated_cores"]),
            (memory_ax, rows["allocated_memory"] / _GIB),
        ):
            (line,) = ax.step(
                time, values, where="post", color=colours[policy], label=policy
            )
            line.set_gid(f"policy-{policy}")
    cores_ax.set_ylabel("allocated cores")
    memory_ax.set_ylabel("allocated memory (GiB)")
    memory_ax.set_xlabel(f"simulated time ({unit})")
    for ax in (cores_ax, memory_ax):
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    cores_ax.set_title(title)
    _legend(fig, cores_ax)
    return fig


def plot_queue_length(
    timeline: pd.DataFrame, colours: Mapping[str, str], *, title: str
) -> Figure:
    """Queue length (executions waiting) over simulated time, one line per policy."""
    fig, (ax,) = _figure()
    scale, unit = _time_unit(float(timeline["time"].max()) if len(timeline) else 0.0)
    for policy in colours:
        rows = timeline[timeline["policy"] == policy]
        if rows.empty:
            continue
        (line,) = ax.step(
            rows["time"] / scale,
            rows["queue_length"],
            where="post",
            color=colours[policy],
            label=policy,
        )
        line.set_gid(f"policy-{policy}")
    ax.set_xlabel(f"simulated time ({unit})")
    ax.set_ylabel("queue length (executions)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    _legend(fig, ax)
    return fig


def plot_size_classes(
    executions: pd.DataFrame, colours: Mapping[str, str], *, title: str
) -> Figure:
    """Mean turnaround per application size class, one bar per policy and class.

    The mean is taken per seed, then across seeds, with a 95 % CI across seeds.
    """
    fig, (ax,) = _figure()
    finished = executions.dropna(subset=["turnaround"])
    classes = finished["cores"].map(size_class)
    width = 0.8 / max(len(colours), 1)
    for i, policy in enumerate(colours):
        means, cis = [], []
        for name, _low, _high in SIZE_CLASSES:
            cell = finished[(finished["policy"] == policy) & (classes == name)]
            mean, ci, _n = mean_ci(cell.groupby("seed")["turnaround"].mean())
            means.append(mean)
            cis.append(0.0 if math.isnan(ci) else ci)
        xs = [
            c + (i - (len(colours) - 1) / 2) * width for c in range(len(SIZE_CLASSES))
        ]
        bars = ax.bar(
            xs, means, width, yerr=cis, color=colours[policy], capsize=3, label=policy
        )
        _gid(bars, policy)
    ax.set_xticks(range(len(SIZE_CLASSES)), [_class_label(c) for c in SIZE_CLASSES])
    ax.set_xlabel("application size (cores asked for, essential + elastic)")
    ax.set_ylabel("mean turnaround (s)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(f"{title}\n(error bars: 95 % CI across seeds)")
    _legend(fig, ax)
    return fig


def _class_label(size: tuple[str, float, float]) -> str:
    name, low, high = size
    if math.isinf(high):
        return f"{name}\n(> {low:g} cores)"
    return f"{name}\n({low:g} < cores ≤ {high:g})"


def plot_load_sweep(
    table: pd.DataFrame, colours: Mapping[str, str], *, title: str
) -> Figure:
    """Mean turnaround against load factor, one line per policy, 95 % CI bars.

    ``table`` is the tidy table restricted to one trace, cluster and placement.
    """
    fig, (ax,) = _figure()
    stats = summarise(table, TURNAROUND_MEAN, ["policy", "load"])
    for policy in colours:
        rows = stats[stats["policy"] == policy].sort_values("load")
        if rows.empty:
            continue
        container = ax.errorbar(
            rows["load"],
            rows["mean"],
            yerr=rows["ci"].fillna(0.0),
            color=colours[policy],
            marker="o",
            capsize=4,
            label=policy,
        )
        container.lines[0].set_gid(f"policy-{policy}")
    ax.set_xlabel("load factor (arrival rate relative to the trace)")
    ax.set_ylabel("mean turnaround (s)")
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{title}\n(error bars: 95 % CI across seeds)")
    _legend(fig, ax)
    return fig


def draw_figures(out_dir: Path, table: pd.DataFrame) -> list[Path]:
    """Draw every figure of the experiment in ``out_dir`` into ``out_dir/figures``.

    One set per trace, cluster and placement: per load, CDFs of turnaround and
    queueing time, mean and p90 turnaround, the timeline and queue length of the
    smallest seed, turnaround by size class; then the load sweep. Returns the PNG
    paths in drawing order (each has an SVG twin).
    """
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    runs = run_frame(table)
    colours = policy_colours(list(runs["policy"]))
    saved: list[Path] = []
    scenario_keys = ["trace", "cluster", "placement"]
    for keys, scenario in runs.groupby(scenario_keys, sort=False):
        tag = "_".join(str(k) for k in keys)
        label = " / ".join(str(k) for k in keys)
        cell = table[table["run_id"].isin(scenario["run_id"])]
        for load, at_load in scenario.groupby("load", sort=False):
            saved += _draw_load(
                out_dir, at_load, cell, colours, f"{tag}_load{load:g}", label, load
            )
        fig = plot_load_sweep(cell, colours, title=f"Load sweep: {label}")
        saved.append(save(fig, figures / f"load-sweep_{tag}"))
    return saved


def _draw_load(
    out_dir: Path,
    runs: pd.DataFrame,
    table: pd.DataFrame,
    colours: Mapping[str, str],
    tag: str,
    label: str,
    load: float,
) -> list[Path]:
    figures = out_dir / "figures"
    where = f"{label}, load {load:g}"
    executions = read_run_csv(out_dir, runs, "executions.csv")
    first_seed = runs[runs["seed"] == runs["seed"].min()]
    timeline = read_run_csv(out_dir, first_seed, "timeline.csv")
    seed = int(runs["seed"].min())
    cell = table[table["run_id"].isin(runs["run_id"])]
    drawn = [
        ("cdf-turnaround", plot_cdf(executions, "turnaround", colours,
                                    title=f"Turnaround: {where}", label="turnaround")),
        ("cdf-queue", plot_cdf(executions, "queue_duration", colours,
                               title=f"Queueing time: {where}", label="queueing time")),
        ("turnaround-mean-p90", plot_mean_p90(cell, colours,
                                              title=f"Turnaround: {where}")),
        ("allocation", plot_timeline(timeline, colours,
                                     title=f"Allocation: {where}, seed {seed}")),
        ("queue-length", plot_queue_length(timeline, colours,
                                           title=f"Queue: {where}, seed {seed}")),
        ("size-classes", plot_size_classes(executions, colours,
                                           title=f"Turnaround by size: {where}")),
    ]  # fmt: skip
    return [save(fig, figures / f"{kind}_{tag}") for kind, fig in drawn]


def save(fig: Figure, stem: Path) -> Path:
    """Write ``stem.png`` and ``stem.svg``; return the PNG path."""
    png = stem.with_name(stem.name + ".png")
    fig.savefig(png, dpi=110)
    fig.savefig(stem.with_name(stem.name + ".svg"))
    return png
