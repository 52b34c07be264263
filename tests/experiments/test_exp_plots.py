"""Figures and report from hand-written result files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from exp_helpers import execution_row, summary, write_run_files

from zoe.experiments.plots import (
    draw_figures,
    plot_cdf,
    plot_load_sweep,
    plot_mean_p90,
    plot_size_classes,
    plot_timeline,
    policy_colours,
    save,
    size_class,
)
from zoe.experiments.report import markdown, summary_table, write_report
from zoe.experiments.results import read_run_csv, run_frame, tidy_rows, write_table

POLICIES = ("rigid-fifo", "flexible-fifo")
SVG = "{http://www.w3.org/2000/svg}"


def _executions(policy: str, seed: int) -> list[list[object]]:
    # turnarounds: rigid 100, 200, 300 (+ seed); flexible 50, 100, 150 (+ seed);
    # cores 2 (small), 16 (medium), 64 (large); one rejected execution
    scale = 1.0 if policy == "rigid-fifo" else 0.5
    rows = [
        execution_row(
            f"e{i}", 10.0 * i, 10.0 * i, 10.0 * i + scale * 100 * (i + 1) + seed, cores
        )
        for i, cores in enumerate((2, 16, 64))
    ]
    rows.append(execution_row("e3", 40.0, None, None, 900))
    return rows


def _grid(out: Path) -> pd.DataFrame:
    """2 policies x 2 loads x 2 seeds of hand-written results."""
    from zoe.experiments.grid import Run
    from zoe.experiments.spec import ClusterSource, TraceSource

    runs = []
    for policy in POLICIES:
        for load in (1.0, 2.0):
            for seed in (1, 2):
                run = Run(
                    run_id=f"{policy}_load{load:g}_seed{seed}",
                    trace=TraceSource(name="t", generator="paper", apps=4),
                    cluster=ClusterSource(name="2x4c16g", shorthand="2x4c16g"),
                    policy=policy,
                    placement="first-fit",
                    load=load,
                    seed=seed,
                )
                # mean turnaround: load 1 -> 100 + 10 x seed; load 2 -> 200 + 10 x seed
                document = summary(100.0 * load + 10 * seed, 300.0 * load)
                timeline = [
                    [0.0, 2.0, 4 * 1024**3, 1, 1],
                    [100.0, 4.0, 8 * 1024**3, 0, 2],
                ]
                write_run_files(
                    out / "runs" / run.run_id,
                    _executions(policy, seed),
                    timeline,
                    document,
                )
                runs.append(run)
    return write_table(tidy_rows(runs, out / "runs"), out)


def test_size_classes() -> None:
    assert [size_class(c) for c in (0.5, 8, 8.5, 32, 33)] == [
        "small", "small", "medium", "medium", "large"
    ]  # fmt: skip


def test_colours_are_one_mapping_in_list_order() -> None:
    colours = policy_colours(["b", "a", "b", "c"])
    assert list(colours) == ["b", "a", "c"]
    assert len(set(colours.values())) == 3
    assert policy_colours(["b", "a"]) == {"b": colours["b"], "a": colours["a"]}


def test_cdf_has_one_line_per_policy_with_its_colour(tmp_path: Path) -> None:
    table = _grid(tmp_path)
    runs = run_frame(table)
    executions = read_run_csv(tmp_path, runs[runs["load"] == 1.0], "executions.csv")
    colours = policy_colours([*POLICIES, "elastic-fifo"])  # elastic: no data

    fig = plot_cdf(executions, "turnaround", colours, title="t", label="turnaround")
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == list(POLICIES)
    assert [line.get_color() for line in lines] == [colours[p] for p in POLICIES]
    # 3 finished executions x 2 seeds; the rejected one has no turnaround
    rigid = lines[0]
    assert sorted(rigid.get_xdata()) == [101, 102, 201, 202, 301, 302]
    assert list(rigid.get_ydata()) == pytest.approx([i / 6 for i in range(1, 7)])
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "turnaround (s, log scale)"
    assert fig.legends  # the legend belongs to the figure, outside the axes
    assert ax.get_legend() is None


def test_mean_p90_and_load_sweep_carry_confidence_intervals(tmp_path: Path) -> None:
    table = _grid(tmp_path)
    colours = policy_colours(POLICIES)

    at_load_1 = table[table["load"] == 1.0]
    fig = plot_mean_p90(at_load_1, colours, title="t")
    mean_ax, p90_ax = fig.axes
    heights = [patch.get_height() for patch in mean_ax.patches]
    assert heights == [115.0, 115.0]  # mean of 110 and 120 for each policy
    assert [patch.get_height() for patch in p90_ax.patches] == [300.0, 300.0]

    fig = plot_load_sweep(table, colours, title="t")
    (ax,) = fig.axes
    assert [c.get_label() for c in ax.containers] == list(POLICIES)
    rigid_line, _caps, (rigid_bars,) = ax.containers[0].lines
    assert list(rigid_line.get_xdata()) == [1.0, 2.0]
    assert list(rigid_line.get_ydata()) == [115.0, 215.0]
    # CI of (110, 120): t(1) x 7.071 / sqrt(2) = 12.706 x 5
    bars = rigid_bars.get_segments()
    assert bars[0][1][1] - bars[0][0][1] == pytest.approx(2 * 12.706 * 5)


def test_timeline_and_size_classes(tmp_path: Path) -> None:
    table = _grid(tmp_path)
    runs = run_frame(table)
    one = runs[(runs["load"] == 1.0) & (runs["seed"] == 1)]
    colours = policy_colours(POLICIES)

    fig = plot_timeline(read_run_csv(tmp_path, one, "timeline.csv"), colours, title="t")
    cores_ax, memory_ax = fig.axes[:2]
    assert len(cores_ax.get_lines()) == 2
    assert list(memory_ax.get_lines()[0].get_ydata()) == [4.0, 8.0]  # GiB
    assert memory_ax.get_ylabel() == "allocated memory (GiB)"
    assert memory_ax.get_xlabel() == "simulated time (s)"

    both = runs[runs["load"] == 1.0]
    fig = plot_size_classes(
        read_run_csv(tmp_path, both, "executions.csv"), colours, title="t"
    )
    (ax,) = fig.axes
    rigid = [p.get_height() for p in ax.patches[:3]]
    # rigid small: turnaround 100 + seed -> 101, 102 -> 101.5; medium 201.5; large 301.5
    assert rigid == [101.5, 201.5, 301.5]


def test_draw_figures_writes_valid_png_and_svg(tmp_path: Path) -> None:
    table = _grid(tmp_path)
    pngs = draw_figures(tmp_path, table)

    assert len(pngs) == 2 * 6 + 1  # six figures per load, one load sweep
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        root = ET.parse(png.with_suffix(".svg")).getroot()
        assert root.tag == f"{SVG}svg"
    cdf = tmp_path / "figures" / "cdf-turnaround_t_2x4c16g_first-fit_load1.svg"
    ids = {e.get("id") for e in ET.parse(cdf).getroot().iter()}
    assert {"policy-rigid-fifo", "policy-flexible-fifo"} <= ids


def test_report_table_and_files(tmp_path: Path) -> None:
    table = _grid(tmp_path)
    summary_frame = summary_table(table)

    assert len(summary_frame) == 4  # 2 policies x 2 loads
    row = summary_frame.iloc[0]
    assert (row["policy"], row["load"], row["runs"]) == ("rigid-fifo", 1.0, 2)
    assert row["turnaround_mean"] == 115.0
    assert row["turnaround_mean_ci"] == pytest.approx(12.706 * 5)
    assert row["queue_mean"] == 10.0
    assert row["rejected"] == 1.0
    assert row["cores_pct"] == 50.0
    assert row["memory_pct"] == 25.0

    text = markdown(summary_frame)
    assert text.splitlines()[2] == (
        "| rigid-fifo | 1 | 2 | 115 ± 64 | 300 ± 0 | 10 | 1.0 | 50.0 | 25.0 |"
    )

    (tmp_path / "figures").mkdir()
    figures = [
        save(plot_load_sweep(table, policy_colours(POLICIES), title="t"),
             tmp_path / "figures" / name)
        for name in ("one", "two")
    ]  # fmt: skip
    html_path = write_report(tmp_path, summary_frame, figures, title="T", intro="i")
    html = html_path.read_text()
    assert html.count("data:image/png;base64,") == len(figures)
    assert "115 ± 64" in html
    md = (tmp_path / "report.md").read_text()
    assert "![one](figures/one.png)" in md
    assert "[SVG](figures/two.svg)" in md
