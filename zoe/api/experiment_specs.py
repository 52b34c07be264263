"""Experiment specifications as the API accepts them: a TOML text, checked.

On top of :mod:`zoe.experiments.spec`, a specification from a client may name a
file (a trace's ``file``, a cluster's JSON file, a package's ``resource``) only
by a path relative to the server's traces folder, without ``..``; a file that a
link takes out of that folder is refused too, before anything reads it, so an
experiment cannot read the server's files. A trace's ``package`` must be one of
:data:`TRACE_PACKAGES`, as naming a package imports it. Its grid may have at
most ``max_runs`` runs (counted before the grid is made), a cluster ``NxCcMg``
at most :data:`MAX_CLUSTER_NODES` nodes, a generated trace at most
:data:`MAX_GENERATED_APPS` applications, its ``name`` at most
:data:`MAX_NAME_CHARS` characters, and a run's id (the name of its folder) at
most :data:`MAX_RUN_ID_BYTES` bytes. Its ``out`` key is ignored: the server
chooses the folder. Every fault raises :class:`~zoe.core.errors.InvalidSpec`
with the key path, and the server's own paths never appear in a message.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
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
MAX_CLUSTER_NODES = 10_000
"""The most nodes a cluster ``NxCcMg`` of a submitted experiment may have."""
TRACE_PACKAGES = ("spar",)
"""The Python packages whose files a submitted experiment may name as traces."""
MAX_NAME_CHARS = 128
"""The longest ``name`` of a submitted experiment, the title the API shows."""
MAX_RUN_ID_BYTES = 200
"""The longest run id (the name of a run's folder, and in those of its figures)."""
_SHORTHAND = re.compile(r"^\s*([0-9]+)x[0-9.]+c[0-9.]+g\s*$")


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
    except RecursionError:
        raise InvalidSpec(
            SOURCE, "", "not valid TOML: arrays or tables nested too deeply"
        ) from None
    root = traces_dir.resolve()
    check_file_names(document, root)
    check_packages(document)
    check_cluster_sizes(document)
    try:
        spec = parse_spec(
            document, source=SOURCE, base_dir=root, text=text, stem="experiment"
        )
        check_inside(spec, root)
        check_name(spec)
        check_generated_sizes(spec)
        check_grid_size(spec, max_runs)  # before expanding: the grid may be huge
        runs = expand(spec)
    except InvalidSpec as exc:
        raise InvalidSpec(SOURCE, exc.path, _hide(exc.reason, root)) from None
    check_run_ids(run.run_id for run in runs)
    return CheckedSpec(spec, len(runs))


def check_run_ids(run_ids: Iterable[str]) -> None:
    """Refuse a run id over :data:`MAX_RUN_ID_BYTES`: its folder could not be made."""
    longest = max(run_ids, key=lambda r: len(r.encode()), default="")
    size = len(longest.encode())
    if size > MAX_RUN_ID_BYTES:
        raise InvalidSpec(
            SOURCE,
            "",
            f"the run {longest[:40]}... would have a folder name of {size} bytes; "
            f"at most {MAX_RUN_ID_BYTES} are allowed: give shorter names of traces "
            "and clusters",
        )


def check_grid_size(spec: ExperimentSpec, max_runs: int) -> None:
    """Refuse a grid of more than ``max_runs`` runs, without expanding it."""
    from zoe.experiments.grid import grid_size

    runs = grid_size(spec)
    if runs > max_runs:
        raise InvalidSpec(
            SOURCE,
            "",
            f"the grid has {runs} runs; this server runs at most {max_runs} per "
            "experiment: give fewer traces, clusters, policies, placements, loads "
            "or seeds",
        )


def _traces(document: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    traces = document.get("traces")
    items = traces if isinstance(traces, list) else []
    return [(i, t) for i, t in enumerate(items) if isinstance(t, Mapping)]


def _clusters(document: Mapping[str, Any]) -> list[tuple[int, object]]:
    clusters = document.get("clusters")
    return list(enumerate(clusters if isinstance(clusters, list) else []))


def check_file_names(document: Mapping[str, Any], root: Path) -> None:
    """Refuse absolute paths, ``..``, NUL characters and links out of ``root``
    wherever the document names a file, before anything reads the file."""
    for i, trace in _traces(document):
        _relative(trace.get("resource"), f"traces[{i}].resource")
        _relative(trace.get("file"), f"traces[{i}].file")
        _inside(trace.get("file"), f"traces[{i}].file", root)
    for i, cluster in _clusters(document):
        if isinstance(cluster, str) and not _SHORTHAND.match(cluster):
            _relative(cluster, f"clusters[{i}]")
            _inside(cluster, f"clusters[{i}]", root)


def _relative(value: object, path: str) -> None:
    if not isinstance(value, str):
        return  # absent, or a type fault that the spec module reports
    if "\0" in value:
        raise InvalidSpec(SOURCE, path, "a file name may not hold a NUL character")
    parts = PurePosixPath(value).parts
    if value.startswith(("/", "~", "\\")) or ".." in parts or "\\" in value:
        raise InvalidSpec(
            SOURCE,
            path,
            f"{value!r} is not allowed: name a file by its path relative to the "
            "server's traces folder, without '..'",
        )


def _inside(value: object, path: str, root: Path) -> None:
    if not isinstance(value, str):
        return
    try:
        file = (root / value).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a loop of links
        raise InvalidSpec(SOURCE, path, f"{value!r} cannot be resolved") from None
    if not file.is_relative_to(root):
        raise InvalidSpec(
            SOURCE, path, "the file leads out of the server's traces folder"
        )


def check_packages(document: Mapping[str, Any]) -> None:
    """Refuse a trace ``package`` that is not one of :data:`TRACE_PACKAGES`."""
    for i, trace in _traces(document):
        package = trace.get("package")
        if isinstance(package, str) and package not in TRACE_PACKAGES:
            raise InvalidSpec(
                SOURCE,
                f"traces[{i}].package",
                f"{package!r} is not allowed: this server reads trace files of the "
                f"packages {', '.join(TRACE_PACKAGES)} only; or give a 'file' in "
                "its traces folder",
            )


def check_cluster_sizes(document: Mapping[str, Any]) -> None:
    """Refuse a cluster ``NxCcMg`` of more than :data:`MAX_CLUSTER_NODES` nodes."""
    for i, cluster in _clusters(document):
        match = _SHORTHAND.match(cluster) if isinstance(cluster, str) else None
        count = match[1].lstrip("0") if match is not None else ""
        if len(count) > 9 or int(count or 0) > MAX_CLUSTER_NODES:
            raise InvalidSpec(
                SOURCE,
                f"clusters[{i}]",
                f"{count[:12]} nodes; this server simulates at most "
                f"{MAX_CLUSTER_NODES:,} nodes per cluster: give fewer",
            )


def check_name(spec: ExperimentSpec) -> None:
    """Refuse a ``name`` of more than :data:`MAX_NAME_CHARS` characters."""
    if len(spec.name) > MAX_NAME_CHARS:
        raise InvalidSpec(
            SOURCE,
            "name",
            f"{len(spec.name)} characters; at most {MAX_NAME_CHARS}: give a "
            "shorter name",
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
