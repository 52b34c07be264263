"""`zoe trace` commands: inspect, convert and generate traces."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from zoe.core.cluster import Node
    from zoe.sim.traces import SkipLog, TraceEntry, TraceSummary

app = typer.Typer(no_args_is_help=True, help="Inspect, convert and generate traces.")

FORMAT_HELP = "Trace format: native, swf, google2011 or alibaba2018."
OPTION_HELP = (
    "A format option as key=value; repeat for several. swf: essential (all, a "
    "count, or a fraction such as 0.25), memory (default 1GiB); google2011: "
    "machine_cores, machine_memory, min_cores, min_memory, essential; alibaba2018: "
    "machine_memory, essential (default 1 per task), min_duration."
)
PARAM_HELP = (
    "A model parameter as key=value; repeat for several. paper: mean_interarrival, "
    "rigid_fraction, duration_median, duration_sigma, duration_min, duration_max, "
    "essential_min, essential_max, elastic_min, elastic_max, rigid_min, rigid_max; "
    "poisson: rate, mean_duration, cores, memory."
)
SKIP_HELP = "Count malformed lines (printed at the end) and go on."
CLUSTER_HELP = (
    "Cluster for the offered load: NxCcMg (e.g. 25x32c128g) or a JSON file of nodes."
)


@app.command("inspect")
def inspect(
    file: Annotated[
        Path, typer.Argument(help="The trace file (plain or gzip-compressed).")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "native",
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help=SKIP_HELP)
    ] = False,
    cluster: Annotated[str, typer.Option(help=CLUSTER_HELP)] = "25x32c128g",
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help=OPTION_HELP)
    ] = None,
) -> None:
    """Print counts, span, work and offered load of a trace (only the count, and
    that it is empty, for a trace without executions).

    Offered load = core-seconds of work at full allocation / (cluster cores x span
    from the first to the last submit).
    """
    from zoe.sim.traces import SkipLog, read_trace, summarize

    nodes = _nodes(cluster)
    skipped = SkipLog()
    entries = read_trace(
        file,
        fmt,
        skip_invalid=skip_invalid,
        skipped=skipped,
        **key_values(option, "--option"),
    )
    cores = sum(node.capacity.millicores for node in nodes) / 1000
    for line in _summary_lines(summarize(entries), f"{file} ({fmt})", cluster, cores):
        typer.echo(line)
    _report_skips(skipped)


@app.command("convert")
def convert(
    file: Annotated[
        Path,
        typer.Argument(help="The trace file to convert (plain or gzip-compressed)."),
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)],
    out: Annotated[Path, typer.Option(help="The native trace to write.")],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help=SKIP_HELP)
    ] = False,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help=OPTION_HELP)
    ] = None,
) -> None:
    """Convert a trace into a native trace (JSON Lines, one execution a line).

    OUT is written only when the whole input was read: on an error it is left as it
    was.
    """
    from zoe.sim.traces import SkipLog, read_trace

    skipped = SkipLog()
    entries = read_trace(
        file,
        fmt,
        skip_invalid=skip_invalid,
        skipped=skipped,
        **key_values(option, "--option"),
    )
    count = _write(entries, out)
    typer.echo(f"wrote {count} executions to {out}")
    _report_skips(skipped)


@app.command("generate")
def generate(
    model: Annotated[str, typer.Argument(help="Workload model: paper or poisson.")],
    seed: Annotated[int, typer.Option(help="Seed of the random generator.")],
    out: Annotated[Path, typer.Option(help="The native trace to write.")],
    apps: Annotated[int, typer.Option(min=0, help="Number of executions.")] = 1000,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help=PARAM_HELP)
    ] = None,
) -> None:
    """Generate a native trace from a workload model; the same seed, the same trace."""
    from zoe.sim.generators import generate as generate_entries

    entries = generate_entries(
        model, seed=seed, apps=apps, **key_values(param, "--param")
    )
    count = _write(entries, out)
    typer.echo(f"wrote {count} executions of model {model} (seed {seed}) to {out}")


def key_values(values: Iterable[str] | None, flag: str) -> dict[str, str]:
    """``key=value`` strings as a dict; dashes in keys become underscores.

    Raises :class:`typer.BadParameter` naming ``flag`` for a string without ``=``.
    """
    pairs: dict[str, str] = {}
    for value in values or ():
        key, sep, text = value.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise typer.BadParameter(f"{value!r}: write key=value", param_hint=flag)
        pairs[key] = text.strip()
    return pairs


def _nodes(cluster: str) -> list[Node]:
    from zoe.sim.clusters import load_nodes

    return load_nodes(cluster)


def _write(entries: Iterator[TraceEntry], out: Path) -> int:
    """Write to a temporary file beside ``out``, renamed to ``out`` on success.

    Raises :class:`~zoe.core.errors.InvalidInput` before reading anything when
    ``out`` cannot be written: its folder is missing or read-only, or it is a folder.
    """
    from zoe.core.errors import InvalidInput
    from zoe.sim.traces import write_native

    if not out.parent.is_dir():
        raise InvalidInput(
            f"--out: folder {out.parent} does not exist; create it first"
        )
    if out.is_dir():
        raise InvalidInput(f"--out: {out} is a folder; give the path of a file")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise InvalidInput(
            f"--out: folder {out.parent} is not writable; write somewhere else"
        )
    partial = out.with_name(f".{out.name}.partial")
    written = False
    try:
        with _removed_on_sigterm(partial):
            count = write_native(entries, partial)
            os.replace(partial, out)
        written = True
    finally:
        if not written:
            partial.unlink(missing_ok=True)
    return count


@contextmanager
def _removed_on_sigterm(partial: Path) -> Iterator[None]:
    """Inside the block, SIGTERM removes ``partial`` and ends the process (143).

    The default SIGTERM ends the process at once, leaving what was half written.
    The handler cleans up itself rather than raise: an exception raised at an
    arbitrary point could be caught and wrapped on its way out.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, _frame: object) -> None:
        partial.unlink(missing_ok=True)
        os._exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _summary_lines(
    summary: TraceSummary, title: str, cluster: str, cores: float
) -> list[str]:
    if not summary.executions:
        # span, durations, work and load of nothing would be zeros that mean nothing
        return [
            f"trace: {title}",
            "executions: 0",
            "the trace has no executions: no span, durations, work or load to report",
        ]
    load = summary.offered_load(cores)
    return [
        f"trace: {title}",
        f"executions: {summary.executions}",
        f"services: {summary.services} (essential {summary.essential_services}, "
        f"elastic {summary.elastic_services})",
        f"span: {summary.span_duration:.1f} s (submits from "
        f"{summary.first_submit_time:.1f} to {summary.last_submit_time:.1f} s)",
        f"mean inter-arrival: {_maybe(summary.mean_interarrival, '.2f')} s",
        f"mean duration: {_maybe(summary.mean_duration, '.1f')} s",
        f"work: {summary.work_core_seconds:.1f} core-seconds",
        f"offered load on {cluster} ({cores:g} cores): {_maybe(load, '.3f')}",
    ]


def _maybe(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _report_skips(skipped: SkipLog) -> None:
    if skipped.total:
        for line in skipped.details():
            typer.echo(line, err=True)
