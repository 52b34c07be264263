"""`zoe sim` commands: replay a trace in the simulator and write the results."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from zoe.core.cluster import Node

app = typer.Typer(no_args_is_help=True, help="Simulate scheduling policies on traces.")

#: The progress display is redrawn at most this often (seconds).
PROGRESS_INTERVAL = 0.2


@app.command("run")
def run(
    trace: Annotated[
        Path,
        typer.Argument(
            metavar="TRACE", help="The trace file (plain or gzip-compressed)."
        ),
    ],
    policy: Annotated[str, typer.Option(help="Policy name (see `zoe policies`).")],
    cluster: Annotated[
        str, typer.Option(help="NxCcMg (e.g. 25x32c128g) or a JSON file of nodes.")
    ],
    out: Annotated[Path, typer.Option(help="Folder for the result files.")],
    placement: Annotated[str, typer.Option(help="Placement rule.")] = "first-fit",
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="Trace format: native, swf, google2011 or alibaba2018."
        ),
    ] = "native",
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="A trace format option as key=value, as for `zoe trace convert`.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the policy's randomness.")] = 0,
    runtime_model: Annotated[
        str, typer.Option(help="Runtime model: linear, amdahl or rigid.")
    ] = "linear",
    think_time: Annotated[
        float, typer.Option(help="Seconds between a round and its plan's effect.")
    ] = 0.0,
    skip_invalid: Annotated[
        bool,
        typer.Option(help="Skip malformed trace lines (counted) instead of stopping."),
    ] = False,
    timeline_step: Annotated[
        float, typer.Option(help="Keep a timeline row at most every this many seconds.")
    ] = 0.0,
    until: Annotated[
        float | None,
        typer.Option(
            help="Stop the simulated clock at this time (s); executions still "
            "active then are counted unfinished, later arrivals are not read."
        ),
    ] = None,
) -> None:
    """Replay TRACE under a policy; write executions.csv, summary.json, timeline.csv.

    Bad input (unknown policy, bad cluster, malformed trace line) prints one line
    and exits with status 2; with --skip-invalid, malformed lines are counted in
    the summary instead.
    """
    from zoe.cli.trace import key_values
    from zoe.policies.registry import make_policy
    from zoe.sim.run import simulate
    from zoe.sim.traces import SkipLog, read_trace

    nodes = load_cluster(cluster)
    chosen = make_policy(policy, placement, seed=seed)
    skipped = SkipLog()
    options = key_values(option, "--option")
    entries = read_trace(
        trace, fmt, skip_invalid=skip_invalid, skipped=skipped, **options
    )
    with _ProgressDisplay() as progress:
        result = simulate(
            entries,
            nodes,
            chosen,
            runtime_model=runtime_model,
            think_time=think_time,
            out_dir=out,
            progress=progress,
            trace_name=trace.name,
            skipped=skipped,
            placement=placement,
            seed=seed,
            cluster=cluster,
            timeline_step=timeline_step,
            until=until,
            trace_format=fmt,
            trace_options=options,
        )
    for line in summary_lines(result.summary, out):
        typer.echo(line)


def load_cluster(text: str) -> list[Node]:
    """Nodes from ``NxCcMg`` or from the JSON file at path ``text``.

    Raises :class:`~zoe.core.errors.InvalidCluster` saying what to fix.
    """
    from zoe.sim.clusters import load_nodes

    return load_nodes(text)


class _ProgressDisplay:
    """A rich progress line on a terminal, redrawn at most every 0.2 s.

    Yields the callback for :func:`~zoe.sim.run.simulate` (None when stderr is not
    a terminal, so a redirected run costs nothing).
    """

    def __enter__(self) -> Callable[[int], None] | None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        if not console.is_terminal:
            self._bar: Any = None
            return None
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.completed:,.0f} executions simulated"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._bar.start()
        task = self._bar.add_task("simulating", total=None)
        last = [0.0]

        def update(done: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL:
                last[0] = now
                self._bar.update(task, completed=done)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def summary_lines(summary: dict[str, Any], out: Path) -> list[str]:
    """A few lines for the terminal: counts, times, utilisation, speed."""
    counts = summary["counts"]
    queue, turnaround = summary["queue_duration"], summary["turnaround"]
    fraction = summary["allocated_fraction"]
    lines = [
        f"{counts['submitted']} executions: {counts['finished']} finished, "
        f"{counts['rejected']} rejected, {counts['unfinished']} unfinished",
        f"queue duration: mean {_fmt(queue['mean'])} s, p90 {_fmt(queue['p90'])} s; "
        f"turnaround: mean {_fmt(turnaround['mean'])} s, "
        f"p90 {_fmt(turnaround['p90'])} s",
        f"allocated: cores {fraction['cores']:.1%}, memory {fraction['memory']:.1%} "
        f"over {summary['simulated_span']:.0f} simulated s",
        f"simulated in {summary['wall_clock_seconds']:.2f} s "
        f"({summary['executions_per_second'] or 0:,.0f} executions/s)",
    ]
    skipped = summary["skipped"]
    if skipped["count"]:
        reasons = ", ".join(f"{n} {why}" for why, n in skipped["reasons"].items())
        lines.append(f"skipped trace lines: {skipped['count']} ({reasons})")
    lines.append(f"results in {out}")
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"
