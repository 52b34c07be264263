"""The report of an experiment: a summary table and the figures.

``report.html`` is self-contained (figures embedded as base64 PNG); ``report.md``
holds the same table in Markdown and links the figures by relative path. The
summary has one row per trace, cluster, placement, policy and load: mean and 90th
percentile turnaround with their 95 % CI across seeds, mean queueing time, rejected
executions (mean per run) and the mean allocated fraction of cores and memory.
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


def _number(value: float, digits: int = 0) -> str:
    return "–" if math.isnan(value) else f"{value:,.{digits}f}"


def _with_ci(value: float, ci: float) -> str:
    if math.isnan(ci):
        return _number(value)
    return f"{_number(value)} ± {_number(ci)}"


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
    headers, rows = formatted_rows(summary)
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
) -> Path:
    """Write ``report.md`` and ``report.html`` into ``out_dir``; return the HTML path.

    ``figures`` are PNG paths inside ``out_dir``; ``intro`` is plain text.
    """
    relative = [f.relative_to(out_dir).as_posix() for f in figures]
    md = [f"# {title}", "", intro, "", "## Summary", "", markdown(summary), ""]
    md += [
        "Turnaround and queueing time in seconds; ± is the 95 % confidence interval",
        "(Student t) across seeds.",
        "",
        "## Figures",
        "",
    ]
    md += [f"![{Path(r).stem}]({r})  \n[SVG]({r[:-4]}.svg)\n" for r in relative]
    (out_dir / "report.md").write_text("\n".join(md), encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(_html(summary, figures, title, intro), encoding="utf-8")
    return html_path


_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; }
img { max-width: 100%; }
"""


def _html(
    summary: pd.DataFrame, figures: Sequence[Path], title: str, intro: str
) -> str:
    headers, rows = formatted_rows(summary)
    first_numeric = len(headers) - len(HEADERS)
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
        f"<h2>Summary</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        "</table><p>Turnaround and queueing time in seconds; ± is the 95 % "
        "confidence interval (Student t) across seeds.</p>"
        f"<h2>Figures</h2>{images}</body></html>\n"
    )
