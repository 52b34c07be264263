"""`zoe experiment` commands: run a grid, validate a specification, redraw figures.

pandas, matplotlib and dask are imported inside the commands, never at import time.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    no_args_is_help=True,
    help="Run experiments: a TOML specification in, results, figures and a report out.",
)


class ExecutorName(StrEnum):
    """Where the runs of a grid are carried out."""

    local = "local"
    dask = "dask"


@app.command("run")
def run(
    spec_path: Annotated[
        Path, typer.Argument(metavar="SPEC", help="The TOML specification.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default: the spec's 'out')."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Run again the runs already done.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-j", min=1, help="Processes (default: one a core)."),
    ] = None,
    executor: Annotated[
        ExecutorName,
        typer.Option("--executor", help="Local processes or a Dask cluster."),
    ] = ExecutorName.local,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler address, e.g. tcp://host:8786 (with --executor "
            "dask; without it a local Dask cluster is started).",
        ),
    ] = None,
    figures: Annotated[
        bool, typer.Option("--figures/--no-figures", help="Draw figures and report.")
    ] = True,
) -> None:
    """Run every simulation of the grid not yet done, then tabulate, plot, report.

    Exit status 1 if any run failed (the others still run), 2 for a bad spec.
    """
    from rich.console import Console

    from zoe.experiments.report import rich_table, summary_table
    from zoe.experiments.runner import RunnerOptions, run_experiment
    from zoe.experiments.spec import load_spec

    if scheduler is not None and executor is not ExecutorName.dask:
        raise typer.BadParameter("--scheduler needs --executor dask")
    spec = load_spec(spec_path)
    out_dir = out or spec.out
    if out_dir is None:
        raise typer.BadParameter("give --out DIR (the spec has no 'out' key)")

    console = Console(stderr=True)
    console.print(f"experiment [bold]{spec.name}[/bold] -> {out_dir}")
    options = RunnerOptions(
        out_dir=out_dir,
        force=force,
        workers=workers,
        executor=executor.value,
        scheduler=scheduler,
        figures=figures,
    )
    result = run_experiment(spec, options, console=console)

    console.print(
        f"{len(result.executed)} runs done, {len(result.reused)} reused, "
        f"{len(result.failures)} failed"
    )
    out_console = Console()
    if not out_console.is_terminal:
        out_console = Console(width=160)
    if result.table is not None and not result.table.empty:
        out_console.print(rich_table(summary_table(result.table), spec.name))
    if result.report is not None:
        out_console.print(f"report: {result.report}")
    if result.failures:
        console.print(f"[red]failures: {out_dir / 'failures.json'}[/red]")
        raise typer.Exit(1)


@app.command("validate")
def validate(
    spec_path: Annotated[
        Path, typer.Argument(metavar="SPEC", help="The TOML specification.")
    ],
) -> None:
    """Check a specification and print the size of its grid; exit 2 if invalid."""
    from zoe.experiments.grid import expand
    from zoe.experiments.spec import load_spec

    spec = load_spec(spec_path)
    runs = expand(spec)
    typer.echo(
        f"{spec_path}: valid; {len(runs)} runs = {len(spec.traces)} traces x "
        f"{len(spec.clusters)} clusters x {len(spec.policies)} policies x "
        f"{len(spec.placements)} placements x {len(spec.loads)} loads x "
        f"{len(spec.seeds)} seeds"
    )


@app.command("plot")
def plot(
    out_dir: Annotated[
        Path, typer.Argument(metavar="DIR", help="A finished experiment.")
    ],
) -> None:
    """Redraw the figures and rewrite the report from an experiment's results."""
    import json

    from zoe.core.errors import InvalidInput
    from zoe.experiments.results import read_table
    from zoe.experiments.runner import draw_and_report

    if (
        not (out_dir / "runs.parquet").is_file()
        and not (out_dir / "runs.csv").is_file()
    ):
        raise InvalidInput(f"{out_dir}: no runs.parquet or runs.csv; run it first")
    table = read_table(out_dir)
    if table.empty:
        raise InvalidInput(f"{out_dir}: the results table is empty; nothing to plot")
    name, intro = out_dir.name, ""
    provenance = out_dir / "provenance.json"
    if provenance.is_file():
        record = json.loads(provenance.read_text(encoding="utf-8"))["spec"]
        name, intro = record["name"], record.get("description", "")
    report = draw_and_report(out_dir, table, name, intro)
    typer.echo(f"report: {report}")
