"""`zoe zapp` commands: validate ZApp files, print the JSON Schema of version 4."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from zoe.core.zapp_import import ImportResult

app = typer.Typer(no_args_is_help=True, help="Validate ZApps; print their schema.")

INVALID_EXIT = 2


@app.command("validate")
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE...", help="ZApp JSON files of any version."),
    ],
) -> None:
    """Check ZApp files; exit 0 when all are valid, 2 when any is not.

    For a valid file, one line on stdout gives its name, version and counts, then
    one line per import note. For an invalid one, one line on stderr per fault:
    ``FILE: PATH: message``.
    """
    failed = False
    for path in files:
        lines, ok = check_file(path)
        for line in lines:
            typer.echo(line, err=not ok)
        failed = failed or not ok
    if failed:
        raise typer.Exit(INVALID_EXIT)


def check_file(path: Path) -> tuple[list[str], bool]:
    """Read and validate one ZApp file; return its report lines and validity.

    Never raises for bad input: an unreadable file, invalid JSON, a document that
    is not a ZApp and an invalid ZApp each give lines that name the file.
    """
    import json

    from zoe.core.errors import InvalidZApp, NotAZApp
    from zoe.core.zapp_import import import_zapp

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return [f"{path}: cannot read the file: {reason}"], False
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        return [
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ], False
    except ValueError as exc:
        return [f"{path}: invalid JSON: {exc}"], False
    except RecursionError:
        return [f"{path}: invalid JSON: nested too deeply"], False
    try:
        result = import_zapp(document, str(path))
    except InvalidZApp as exc:
        return [f"{path}: {fault}" for fault in exc.faults], False
    except NotAZApp as exc:
        return [str(exc)], False
    return summary_lines(path, result), True


def _refuse_constant(name: str) -> object:
    # Python reads NaN and Infinity, which JSON does not have
    raise ValueError(f"{name} is not a JSON number; write a finite number")


def summary_lines(path: Path, result: ImportResult) -> list[str]:
    """The report of a valid ZApp: one summary line, then its import notes."""
    zapp = result.zapp
    groups = sum(1 for _ in zapp.groups())
    imported = "" if result.version == zapp.version else ", imported"
    lines = [
        f"{path}: valid: {zapp.name} (version {result.version}{imported}, "
        f"{zapp.kind}): {_count(len(zapp.frameworks), 'framework')}, "
        f"{_count(groups, 'service group')}, {_count(zapp.service_count, 'service')} "
        f"({zapp.essential_count} essential)"
    ]
    lines.extend(f"{path}: note: {note}" for note in result.notes)
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of ZApp version 4 (the content of zapp_schema.json)."""
    import json

    from zoe.core.zapp import json_schema

    typer.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
