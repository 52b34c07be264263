"""Experiment specifications as the API accepts them: a TOML text, checked.

On top of :mod:`zoe.experiments.spec`, a specification from a client may name a
file (a trace's ``file``, a cluster's JSON file, a package's ``resource``) only
by a path relative to the server's traces folder, without ``..``; a file that a
link takes out of that folder is refused too, so an experiment cannot read the
server's files. Its grid may have at most ``max_runs`` runs, and a generated
trace at most :data:`MAX_GENERATED_APPS` applications. Its ``out`` key is
ignored: the server chooses the folder. Every fault raises
:class:`~zoe.core.errors.InvalidSpec` with the key path, and the server's own
paths never appear in a message.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from zoe.core.errors import InvalidSpec

if TYPE_CHECKING:
    from zoe.experiments.spec import ExperimentSpec

SOURCE = "spec"
MAX_SPEC_CHARS = 100_000
MAX_GENERATED_APPS = 1_000_000
"""The most applications a generated trace of a submitted experiment may have."""


@dataclass(frozen=True, slots=True)
class CheckedSpec:
    """A valid specification and the number of runs of its grid."""

    spec: ExperimentSpec
    runs_total: int


def check_spec(text: str, traces_dir: Path, max_runs: int) -> CheckedSpec:
    """Parse and validate ``text``; files resolve inside ``traces_dir`` only.

    Blocking (it may read and hash trace files). Raises :class:`InvalidSpec`.
    """
    from zoe.experiments.grid import expand
    from zoe.experiments.spec import parse_spec

    if len(text) > MAX_SPEC_CHARS:
        raise InvalidSpec(SOURCE, "", f"longer than {MAX_SPEC_CHARS} characters")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidSpec(SOURCE, "", f"not valid TOML: {exc}") from None
    check_file_names(document)
    root = traces_dir.resolve()
    try:
        spec = parse_spec(
            document, source=SOURCE, base_dir=root, text=text, stem="experiment"
        )
        check_inside(spec, root)
        check_generated_sizes(spec)
        runs = len(expand(spec))
    except InvalidSpec as exc:
        raise InvalidSpec(SOURCE, exc.path, _hide(exc.reason, root)) from None
    if runs > max_runs:
        raise InvalidSpec(
            SOURCE,
            "",
            f"the grid has {runs} runs; this server runs at most {max_runs} per "
            "experiment: give fewer traces, clusters, policies, placements, loads "
            "or seeds",
        )
    return CheckedSpec(spec, runs)


def check_file_names(document: Mapping[str, Any]) -> None:
    """Refuse absolute paths and ``..`` wherever the document names a file."""
    traces = document.get("traces")
    for i, trace in enumerate(traces if isinstance(traces, list) else []):
        if isinstance(trace, Mapping):
            for key in ("file", "resource"):
                _relative(trace.get(key), f"traces[{i}].{key}")
    clusters = document.get("clusters")
    for i, cluster in enumerate(clusters if isinstance(clusters, list) else []):
        _relative(cluster, f"clusters[{i}]")


def _relative(value: object, path: str) -> None:
    if not isinstance(value, str):
        return  # absent, or a type fault that the spec module reports
    parts = PurePosixPath(value).parts
    if value.startswith(("/", "~", "\\")) or ".." in parts or "\\" in value:
        raise InvalidSpec(
            SOURCE,
            path,
            f"{value!r} is not allowed: name a file by its path relative to the "
            "server's traces folder, without '..'",
        )


def check_generated_sizes(spec: ExperimentSpec) -> None:
    """Refuse a generated trace of more than :data:`MAX_GENERATED_APPS`."""
    for i, trace in enumerate(spec.traces):
        if trace.generator is not None and (trace.apps or 0) > MAX_GENERATED_APPS:
            raise InvalidSpec(
                SOURCE,
                f"traces[{i}].apps",
                f"{trace.apps} applications; this server generates at most "
                f"{MAX_GENERATED_APPS:,} per trace: give fewer",
            )


def check_inside(spec: ExperimentSpec, root: Path) -> None:
    """Refuse a file that resolves outside ``root`` (through a link)."""
    files = [(f"traces[{i}].file", t.file) for i, t in enumerate(spec.traces)]
    files += [(f"clusters[{i}]", c.path) for i, c in enumerate(spec.clusters)]
    for path, file in files:
        if file is not None and not Path(file).resolve().is_relative_to(root):
            raise InvalidSpec(
                SOURCE, path, "the file leads out of the server's traces folder"
            )


def _hide(message: str, root: Path) -> str:
    """``message`` with the traces folder's absolute path left out."""
    return message.replace(f"{root}/", "").replace(str(root), "the traces folder")
