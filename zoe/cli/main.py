"""The ``zoe`` command.

Heavy libraries are imported inside the commands that need them, so ``zoe --help``
stays fast. Bad input ends with one line that says what to fix and exit status 2.
"""

from __future__ import annotations

import sys

import typer

from zoe import __version__
from zoe.cli import experiment, live, policies, rest, sim, trace, zapp

app = typer.Typer(
    name="zoe",
    help="Schedule container-based analytic applications, simulated or live.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(zapp.app, name="zapp")
app.add_typer(trace.app, name="trace")
app.add_typer(sim.app, name="sim")
app.add_typer(experiment.app, name="experiment")
app.command("policies")(policies.list_policies)
app.command("master")(live.master)
app.command("up")(live.up)
app.add_typer(live.exec_app, name="exec")
app.command("stats")(live.stats)
app.command("api")(rest.api)
app.command("login")(rest.login)
app.command("logout")(rest.logout)
app.add_typer(rest.admin_app, name="admin")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zoe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Schedule container-based analytic applications, simulated or live."""


def main() -> None:
    """Entry point: run the command; turn Zoe's input errors into exit status 2."""
    from zoe.core.errors import InvalidInput, ZoeError

    try:
        app()
    except InvalidInput as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ZoeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
