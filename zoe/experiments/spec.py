"""The experiment specification: a TOML file, read and validated at the boundary.

A specification names the grid of an experiment (see ``experiments/quick.toml``,
whose comments explain every key)::

    name = "quick"                      # optional, default: the file's stem
    description = "..."                 # optional
    out = "results/quick"               # optional default for --out (relative to cwd)
    clusters = ["25x32c128g"]           # NxCcMg or JSON files (relative to the spec)
    policies = ["rigid-fifo", "flexible-fifo"]
    placements = ["first-fit"]          # optional, default ["first-fit"]
    loads = [0.8, 1.0]                  # optional, default [1.0]
    seeds = [1, 2, 3]                   # optional, default [0]
    runtime_model = "linear"            # optional
    think_time = 0.0                    # optional, seconds

    [[traces]]                          # one table per trace, at least one
    name = "paper"
    generator = "paper"                 # a generated trace: model, apps, params
    apps = 400
    params = {}

    [[traces]]
    name = "alibaba"
    package = "spar"                    # or: file = "traces/x.csv"
    resource = "data/samples/sample_tasks.csv"
    format = "alibaba2018"
    options = {}                        # given to the trace reader
    limit = 2000                        # optional: only the first N executions
    skip_invalid = false

Every fault raises :class:`~zoe.core.errors.InvalidSpec` with the key path
(``traces[1].format``) and what would be valid. The seed drives both a generated
trace and the policy's random choices; for a trace read from a file it only drives
the policy, and otherwise numbers the replications.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import math
import re
import tomllib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from zoe.core.errors import InvalidCluster, InvalidInput, InvalidSpec, UnknownName

MIN_LOAD = 1e-3
MAX_LOAD = 1e3
"""The range of a load factor: submit times are divided by it, and beyond it they
would leave the range of times the simulator takes."""

TOP_KEYS = (
    "name",
    "description",
    "out",
    "traces",
    "clusters",
    "policies",
    "placements",
    "loads",
    "seeds",
    "runtime_model",
    "think_time",
)
GENERATOR_KEYS = ("name", "generator", "apps", "params")
FILE_KEYS = (
    "name",
    "file",
    "package",
    "resource",
    "format",
    "options",
    "limit",
    "skip_invalid",
)
TRACE_FORMATS = ("native", "swf", "google2011", "alibaba2018")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHORTHAND_RE = re.compile(r"^[0-9]+x[0-9.]+c[0-9.]+g$")


@dataclass(frozen=True, slots=True)
class TraceSource:
    """Where a run's executions come from: a generator, a file or a package file.

    ``file`` is an absolute path. ``package``/``resource`` name a file shipped in an
    installed Python package (read with :mod:`importlib.resources`).
    """

    name: str
    generator: str | None = None
    apps: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    file: str | None = None
    package: str | None = None
    resource: str | None = None
    format: str = "native"
    options: Mapping[str, Any] = field(default_factory=dict)
    limit: int | None = None
    skip_invalid: bool = False

    @property
    def kind(self) -> Literal["generator", "file", "package"]:
        """Which of the three sources this is."""
        if self.generator is not None:
            return "generator"
        return "file" if self.file is not None else "package"

    def describe(self) -> dict[str, Any]:
        """A JSON-compatible description (for params.json and fingerprints)."""
        if self.kind == "generator":
            return {
                "name": self.name,
                "generator": self.generator,
                "apps": self.apps,
                "params": dict(self.params),
            }
        where = (
            {"file": self.file}
            if self.kind == "file"
            else {"package": self.package, "resource": self.resource}
        )
        return {
            "name": self.name,
            **where,
            "format": self.format,
            "options": dict(self.options),
            "limit": self.limit,
            "skip_invalid": self.skip_invalid,
        }


@dataclass(frozen=True, slots=True)
class ClusterSource:
    """A cluster: the ``NxCcMg`` shorthand, or the parsed document of a JSON file.

    The document travels with the run, so a remote worker needs no access to the
    file.
    """

    name: str
    shorthand: str | None = None
    document: Mapping[str, Any] | None = None
    path: str | None = None

    def describe(self) -> dict[str, Any]:
        """A JSON-compatible description (for params.json and fingerprints)."""
        if self.shorthand is not None:
            return {"name": self.name, "shorthand": self.shorthand}
        return {"name": self.name, "path": self.path, "document": self.document}


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """A validated specification. ``source`` is the file name, ``text`` its text."""

    source: str
    text: str
    name: str
    description: str
    out: Path | None
    traces: tuple[TraceSource, ...]
    clusters: tuple[ClusterSource, ...]
    policies: tuple[str, ...]
    placements: tuple[str, ...]
    loads: tuple[float, ...]
    seeds: tuple[int, ...]
    runtime_model: str = "linear"
    think_time: float = 0.0


def load_spec(path: Path) -> ExperimentSpec:
    """Read and validate the specification at ``path``.

    Raises :class:`InvalidSpec` for a missing or unreadable file, bad TOML, and
    every fault listed in the module docstring.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidSpec(source, "", f"cannot read the file: {exc.strerror}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidSpec(source, "", f"not valid TOML: {exc}") from None
    return parse_spec(
        document, source=source, base_dir=path.parent, text=text, stem=path.stem
    )


def parse_spec(
    document: Mapping[str, Any],
    *,
    source: str,
    base_dir: Path,
    text: str = "",
    stem: str = "experiment",
) -> ExperimentSpec:
    """Validate a parsed TOML ``document``; relative files resolve from ``base_dir``."""
    check = _Checker(source)
    check.keys(document, TOP_KEYS, "")
    traces = check.traces(document.get("traces"), base_dir)
    clusters = check.clusters(document.get("clusters"), base_dir)
    policies = check.names(document.get("policies"), "policies")
    placements = check.names(document.get("placements", ["first-fit"]), "placements")
    spec = ExperimentSpec(
        source=source,
        text=text,
        name=check.slug(document.get("name", stem), "name"),
        description=check.string(document.get("description", ""), "description"),
        out=check.out(document.get("out")),
        traces=traces,
        clusters=clusters,
        policies=policies,
        placements=placements,
        loads=check.loads(document.get("loads", [1.0])),
        seeds=check.seeds(document.get("seeds", [0])),
        runtime_model=check.string(
            document.get("runtime_model", "linear"), "runtime_model"
        ),
        think_time=check.seconds(document.get("think_time", 0.0), "think_time"),
    )
    check.registries(spec)
    return spec


class _Checker:
    """Validation steps; each raises :class:`InvalidSpec` naming its key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> InvalidSpec:
        return InvalidSpec(self.source, path, message)

    def keys(self, table: Mapping[str, Any], valid: Sequence[str], path: str) -> None:
        unknown = sorted(set(table) - set(valid))
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            raise self.fail(
                where, f"unknown key {unknown[0]!r}; valid keys: {', '.join(valid)}"
            )

    def string(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {_kind(value)}")
        return value

    def slug(self, value: object, path: str) -> str:
        text = self.string(value, path)
        if not _NAME_RE.match(text):
            raise self.fail(
                path,
                f"{text!r} is not a valid name; use letters, digits, '.', '_' and "
                "'-', starting with a letter or digit",
            )
        return text

    def table(self, value: object, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a table, got {_kind(value)}")
        return value

    def array(self, value: object, path: str) -> list[Any]:
        if value is None:
            raise self.fail(path, "missing; this key is required")
        if not isinstance(value, list):
            raise self.fail(path, f"expected an array, got {_kind(value)}")
        if not value:
            raise self.fail(path, "is empty; give at least one value")
        return value

    def unique(self, values: Sequence[Hashable], path: str) -> None:
        seen: set[Hashable] = set()
        for i, value in enumerate(values):
            if value in seen:
                raise self.fail(f"{path}[{i}]", f"{value!r} appears twice")
            seen.add(value)

    def names(self, value: object, path: str) -> tuple[str, ...]:
        items = self.array(value, path)
        names = tuple(self.string(v, f"{path}[{i}]") for i, v in enumerate(items))
        self.unique(names, path)
        return names

    def out(self, value: object) -> Path | None:
        return None if value is None else Path(self.string(value, "out"))

    def positive_int(self, value: object, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(path, f"expected a positive integer, got {value!r}")
        return value

    def non_negative(self, value: object, path: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise self.fail(path, f"expected a number >= 0, got {value!r}")
        return float(value)

    def seconds(self, value: object, path: str) -> float:
        from zoe.sim.traces.base import MAX_SECONDS, MAX_SECONDS_TEXT

        seconds = self.non_negative(value, path)
        if seconds > MAX_SECONDS:
            raise self.fail(
                path, f"{seconds:g} seconds is above the limit of {MAX_SECONDS_TEXT}"
            )
        return seconds

    def loads(self, value: object) -> tuple[float, ...]:
        items = self.array(value, "loads")
        loads = []
        for i, item in enumerate(items):
            load = self.non_negative(item, f"loads[{i}]")
            if not MIN_LOAD <= load <= MAX_LOAD:
                raise self.fail(
                    f"loads[{i}]",
                    f"a load factor must be greater than 0, from {MIN_LOAD:g} to "
                    f"{MAX_LOAD:g} (it divides the submit times)",
                )
            loads.append(load)
        self.unique(loads, "loads")
        return tuple(loads)

    def seeds(self, value: object) -> tuple[int, ...]:
        items = self.array(value, "seeds")
        seeds = []
        for i, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, int) or item < 0:
                raise self.fail(
                    f"seeds[{i}]", f"expected an integer >= 0, got {item!r}"
                )
            seeds.append(item)
        self.unique(seeds, "seeds")
        return tuple(seeds)

    def traces(self, value: object, base_dir: Path) -> tuple[TraceSource, ...]:
        items = self.array(value, "traces")
        traces = tuple(
            self.trace(item, f"traces[{i}]", base_dir) for i, item in enumerate(items)
        )
        self.unique([t.name for t in traces], "traces")
        return traces

    def trace(self, value: object, path: str, base_dir: Path) -> TraceSource:
        table = self.table(value, path)
        name = self.slug(table.get("name"), f"{path}.name")
        sources = [k for k in ("generator", "file", "package") if k in table]
        if len(sources) != 1:
            raise self.fail(
                path,
                "give exactly one of 'generator' (a workload model), 'file' (a trace "
                f"file) or 'package' with 'resource'; found {sources or 'none'}",
            )
        if sources[0] == "generator":
            self.keys(table, GENERATOR_KEYS, path)
            trace = TraceSource(
                name=name,
                generator=self.string(table["generator"], f"{path}.generator"),
                apps=self.positive_int(table.get("apps"), f"{path}.apps"),
                params=dict(self.table(table.get("params", {}), f"{path}.params")),
            )
            self.model(trace, path)
            return trace
        self.keys(table, FILE_KEYS, path)
        return self.file_trace(table, name, path, base_dir)

    def file_trace(
        self, table: Mapping[str, Any], name: str, path: str, base_dir: Path
    ) -> TraceSource:
        fmt = self.string(table.get("format", "native"), f"{path}.format")
        if fmt not in TRACE_FORMATS:
            raise self.fail(
                f"{path}.format",
                f"unknown format {fmt!r}; valid formats: {', '.join(TRACE_FORMATS)}",
            )
        limit = table.get("limit")
        skip_invalid = table.get("skip_invalid", False)
        if not isinstance(skip_invalid, bool):
            raise self.fail(f"{path}.skip_invalid", "expected true or false")
        options = dict(self.table(table.get("options", {}), f"{path}.options"))
        self.format_options(fmt, options, f"{path}.options")
        common: dict[str, Any] = {
            "name": name,
            "format": fmt,
            "options": options,
            "limit": None
            if limit is None
            else self.positive_int(limit, f"{path}.limit"),
            "skip_invalid": skip_invalid,
        }
        if "file" in table:
            if "resource" in table:
                raise self.fail(f"{path}.resource", "only allowed with 'package'")
            file = self.existing_file(table["file"], f"{path}.file", base_dir)
            return TraceSource(file=str(file), **common)
        package = self.string(table["package"], f"{path}.package")
        resource = self.string(table.get("resource"), f"{path}.resource")
        self.package_resource(package, resource, path)
        return TraceSource(package=package, resource=resource, **common)

    def model(self, trace: TraceSource, path: str) -> None:
        """Build the workload model once, so a bad name or parameter fails early."""
        try:
            from zoe.sim.generators import MODELS
        except ImportError:
            return
        factory = MODELS.get(trace.generator or "")
        if factory is None:
            raise self.fail(
                f"{path}.generator",
                f"unknown workload model {trace.generator!r}; valid models: "
                f"{', '.join(MODELS)}",
            )
        try:
            factory(**trace.params)
        except InvalidInput as exc:
            raise self.fail(f"{path}.params", str(exc)) from None

    def format_options(self, fmt: str, options: dict[str, Any], path: str) -> None:
        """Build the format's reader once, so a bad option fails before any run."""
        try:
            from zoe.sim.traces import FORMATS
        except ImportError:
            return
        try:
            FORMATS[fmt](**options)
        except InvalidInput as exc:
            raise self.fail(path, str(exc)) from None

    def existing_file(
        self, value: object, path: str, base_dir: Path, otherwise: str = ""
    ) -> Path:
        file = (base_dir / self.string(value, path)).resolve()
        if file.is_dir():
            raise self.fail(path, f"{file} is a folder; give the path of a file")
        if not file.is_file():
            raise self.fail(path, f"no such file: {file}{otherwise}")
        return file

    def package_resource(self, package: str, resource: str, path: str) -> None:
        if importlib.util.find_spec(package) is None:
            hint = " (pip install 'zoe[alibaba]')" if package == "spar" else ""
            raise self.fail(
                f"{path}.package",
                f"package {package!r} is not installed; install it{hint} or give "
                "'file' instead",
            )
        if not importlib.resources.files(package).joinpath(resource).is_file():
            raise self.fail(
                f"{path}.resource", f"package {package!r} has no file {resource!r}"
            )

    def clusters(self, value: object, base_dir: Path) -> tuple[ClusterSource, ...]:
        items = self.array(value, "clusters")
        clusters = tuple(
            self.cluster(item, f"clusters[{i}]", base_dir)
            for i, item in enumerate(items)
        )
        self.unique([c.name for c in clusters], "clusters")
        return clusters

    def cluster(self, value: object, path: str, base_dir: Path) -> ClusterSource:
        from zoe.core.cluster import nodes_from_document, parse_cluster

        text = self.string(value, path)
        try:
            if _SHORTHAND_RE.match(text.strip()):
                parse_cluster(text)
                return ClusterSource(name=text.strip(), shorthand=text.strip())
            file = self.existing_file(
                text, path, base_dir, " (nor a cluster NxCcMg, e.g. 25x32c128g)"
            )
            document = json.loads(file.read_text(encoding="utf-8"))
            nodes_from_document(document, source=str(file))
        except InvalidCluster as exc:
            raise self.fail(path, str(exc)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self.fail(path, f"{file} is not valid JSON: {exc}") from None
        return ClusterSource(name=file.stem, document=document, path=str(file))

    def registries(self, spec: ExperimentSpec) -> None:
        """Check names against the registries that are installed."""
        self.policy_names(spec)
        try:
            from zoe.sim.runtime import make_runtime_model
        except ImportError:
            return
        try:
            make_runtime_model(spec.runtime_model)
        except UnknownName as exc:
            raise self.fail("runtime_model", str(exc)) from None

    def policy_names(self, spec: ExperimentSpec) -> None:
        try:
            from zoe.policies.registry import make_policy
        except ImportError:
            return
        for key, names in (
            ("policies", spec.policies),
            ("placements", spec.placements),
        ):
            for i, name in enumerate(names):
                policy, placement = (
                    (name, spec.placements[0])
                    if key == "policies"
                    else (spec.policies[0], name)
                )
                try:
                    make_policy(policy, placement, seed=0)
                except UnknownName as exc:
                    if exc.name == name:
                        raise self.fail(f"{key}[{i}]", str(exc)) from None


def _kind(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    if value is None:
        return "nothing"
    return names.get(type(value), type(value).__name__)
