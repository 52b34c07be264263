"""The report of an experiment: a summary table, a paired comparison, the figures.

``report.html`` is self-contained (figures embedded as base64 PNG); ``report.md``
holds the same tables in Markdown and links the figures by relative path. The
summary has one row per trace, cluster, placement, policy and load: mean and 90th
percentile turnaround with their 95 % CI across seeds, mean queueing time, rejected
executions (mean per run) and the mean allocated fraction of cores and memory.

The paired comparison sets each policy against the first policy of the
experiment (its baseline) on the same trace, cluster, placement, load and seed:
the difference of mean turnaround, in seconds and in percent of the baseline's,
averaged over the seeds with its 95 % CI. Pairing by seed removes the variation
between workloads that widens the intervals of the summary, so a difference that
the summary's overlapping intervals hide can still be told apart from zero.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from zoe.experiments.results import (
    CORES_FRACTION,
    MEMORY_FRACTION,
    QUEUE_MEAN,
    REJECTED,
    TURNAROUND_MEAN,
    TURNAROUND_P90,
    mean_ci,
)

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

KEYS = ("trace", "cluster", "placement", "policy", "load")
HEADERS = (
    "runs",
    "turnaround mean (s)",
    "turnaround p90 (s)",
    "queueing mean (s)",
    "rejected per run",
    "cores used %",
    "memory used %",
)


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of :data:`KEYS` (first-seen order) with numeric columns.

    Columns: the keys, ``runs``, ``turnaround_mean``, ``turnaround_mean_ci``,
    ``turnaround_p90``, ``turnaround_p90_ci``, ``queue_mean``, ``rejected``,
    ``cores_pct``, ``memory_pct``. A metric absent from the table gives NaN.
    """
    import pandas as pd

    rows = []
    for key, cell in table.groupby(list(KEYS), sort=False):
        row = dict(zip(KEYS, key, strict=True))
        row["runs"] = cell["run_id"].nunique()

        def stat(metric: str, cell: pd.DataFrame = cell) -> tuple[float, float]:
            mean, ci, _n = mean_ci(cell.loc[cell["metric"] == metric, "value"])
            return mean, ci

        row["turnaround_mean"], row["turnaround_mean_ci"] = stat(TURNAROUND_MEAN)
        row["turnaround_p90"], row["turnaround_p90_ci"] = stat(TURNAROUND_P90)
        row["queue_mean"] = stat(QUEUE_MEAN)[0]
        row["rejected"] = stat(REJECTED)[0]
        row["cores_pct"] = 100 * stat(CORES_FRACTION)[0]
        row["memory_pct"] = 100 * stat(MEMORY_FRACTION)[0]
        rows.append(row)
    return pd.DataFrame(rows)


PAIR_KEYS = ("trace", "cluster", "placement", "load")


def paired_table(table: pd.DataFrame) -> pd.DataFrame:
    """Each policy against the first one, paired by seed (see the module doc).

    Columns: :data:`PAIR_KEYS`, ``policy``, ``baseline``, ``pairs``,
    ``difference`` and ``difference_ci`` (seconds), ``relative`` and
    ``relative_ci`` (percent). Empty with a single policy.
    """
    import pandas as pd

    rows = table[table["metric"] == TURNAROUND_MEAN]
    baseline = str(rows["policy"].iloc[0]) if len(rows) else ""
    out = []
    for key, cell in rows.groupby(list(PAIR_KEYS), sort=False):
        base = cell[cell["policy"] == baseline].set_index("seed")["value"]
        for policy, other in cell.groupby("policy", sort=False):
            if policy == baseline:
                continue
            values = other.set_index("seed")["value"]
            seeds = base.index.intersection(values.index)
            diff, diff_ci, n = mean_ci(values[seeds] - base[seeds])
            rel, rel_ci, _ = mean_ci(100 * (values[seeds] / base[seeds] - 1))
            row = dict(zip(PAIR_KEYS, key, strict=True))
            row.update(policy=policy, baseline=baseline, pairs=n)
            row.update(difference=diff, difference_ci=diff_ci)
            row.update(relative=rel, relative_ci=rel_ci)
            out.append(row)
    return pd.DataFrame(out)


def paired_rows(paired: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headers and text cells of the paired comparison."""
    keys = [k for k in PAIR_KEYS if k == "load" or paired[k].nunique() > 1]
    headers = [*keys, "policy", "pairs", "Δ turnaround mean (s)", "Δ (%)"]
    rows = []
    for row in paired.itertuples(index=False):
        cells = [
            f"{getattr(row, k):g}" if k == "load" else str(getattr(row, k))
            for k in keys
        ]
        cells += [
            str(row.policy),
            str(row.pairs),
            _with_ci(row.difference, row.difference_ci),
            _with_ci(row.relative, row.relative_ci, 1),
        ]
        rows.append(cells)
    return headers, rows


def _number(value: float, digits: int = 0) -> str:
    return "–" if math.isnan(value) else f"{value:,.{digits}f}"


def _with_ci(value: float, ci: float, digits: int = 0) -> str:
    if math.isnan(ci):
        return _number(value, digits)
    return f"{_number(value, digits)} ± {_number(ci, digits)}"


def formatted_rows(summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headers and text cells of the summary; keys that never vary are left out."""
    keys = [k for k in KEYS if k in ("policy", "load") or summary[k].nunique() > 1]
    rows = []
    for row in summary.itertuples(index=False):
        cells = [
            f"{getattr(row, k):g}" if k == "load" else str(getattr(row, k))
            for k in keys
        ]
        cells += [
            str(row.runs),
            _with_ci(row.turnaround_mean, row.turnaround_mean_ci),
            _with_ci(row.turnaround_p90, row.turnaround_p90_ci),
            _number(row.queue_mean),
            _number(row.rejected, 1),
            _number(row.cores_pct, 1),
            _number(row.memory_pct, 1),
        ]
        rows.append(cells)
    return [*keys, *HEADERS], rows


def markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table."""
    return _markdown_table(*formatted_rows(summary))


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def rich_table(summary: pd.DataFrame, title: str = "") -> Table:
    """The summary as a :class:`rich.table.Table` for the console."""
    from rich.table import Table

    headers, rows = formatted_rows(summary)
    table = Table(title=title or None)
    for i, header in enumerate(headers):
        left = i < len(headers) - len(HEADERS)
        table.add_column(header, justify="left" if left else "right", no_wrap=left)
    for cells in rows:
        table.add_row(*cells)
    return table


def write_report(
    out_dir: Path,
    summary: pd.DataFrame,
    figures: Sequence[Path],
    *,
    title: str,
    intro: str,
    paired: pd.DataFrame | None = None,
) -> Path:
    """Write ``report.md`` and ``report.html`` into ``out_dir``; return the HTML path.

    ``figures`` are PNG paths inside ``out_dir``; ``intro`` is plain text;
    ``paired`` is :func:`paired_table`'s result (left out when None or empty).
    """
    relative = [f.relative_to(out_dir).as_posix() for f in figures]
    md = [f"# {title}", "", intro, "", "## Summary", "", markdown(summary), ""]
    md += [
        "Turnaround and queueing time in seconds; ± is the 95 % confidence interval",
        "(Student t) across seeds.",
        "",
    ]
    if paired is not None and not paired.empty:
        md += [
            f"## Against {paired['baseline'].iloc[0]}, paired by seed",
            "",
            _markdown_table(*paired_rows(paired)),
            "",
            _PAIRED_NOTE,
            "",
        ]
    md += ["## Figures", ""]
    md += [f"![{Path(r).stem}]({r})  \n[SVG]({r[:-4]}.svg)\n" for r in relative]
    (out_dir / "report.md").write_text("\n".join(md), encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(
        _html(summary, paired, figures, title, intro), encoding="utf-8"
    )
    return html_path


_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; }
img { max-width: 100%; }
"""


_PAIRED_NOTE = (
    "Δ is the policy's mean turnaround minus the baseline's on the same seeds, "
    "averaged over the seeds; negative is faster. ± is the 95 % confidence "
    "interval (Student t)."
)


def _html_table(headers: list[str], rows: list[list[str]], first_numeric: int) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{html.escape(c)}</td>' if i >= first_numeric
            else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(cells)
        )
        + "</tr>"
        for cells in rows
    )  # fmt: skip
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(
    summary: pd.DataFrame,
    paired: pd.DataFrame | None,
    figures: Sequence[Path],
    title: str,
    intro: str,
) -> str:
    headers, rows = formatted_rows(summary)
    table = _html_table(headers, rows, len(headers) - len(HEADERS))
    comparison = ""
    if paired is not None and not paired.empty:
        headers, rows = paired_rows(paired)
        comparison = (
            f"<h2>Against {html.escape(str(paired['baseline'].iloc[0]))}, paired by "
            f"seed</h2>{_html_table(headers, rows, len(headers) - 3)}"
            f"<p>{html.escape(_PAIRED_NOTE)}</p>"
        )
    images = "".join(
        f'<figure><img alt="{html.escape(f.stem)}" '
        f'src="data:image/png;base64,{base64.b64encode(f.read_bytes()).decode()}">'
        f"<figcaption>{html.escape(f.stem)}</figcaption></figure>"
        for f in figures
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"
        f"<h2>Summary</h2>{table}<p>Turnaround and queueing time in seconds; ± is "
        "the 95 % confidence interval (Student t) across seeds.</p>"
        f"{comparison}<h2>Figures</h2>{images}</body></html>\n"
    )
