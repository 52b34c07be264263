"""The grid of an experiment: one :class:`Run` per combination of the spec's lists.

The grid is the product trace x cluster x policy x placement x load x seed, in that
order (the last varies fastest). Each run has a readable, unique id (the name of its
folder) and a fingerprint: the SHA-256 of its parameters, including the SHA-256 of
its trace file, so a finished run is taken as done only while nothing it depends on
has changed.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoe.core.errors import InvalidSpec
from zoe.experiments.spec import ClusterSource, ExperimentSpec, TraceSource

DIMENSIONS = ("trace", "cluster", "policy", "placement", "load", "seed")
"""The grid's dimensions, in expansion order; also the key columns of the results."""

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True, slots=True)
class Run:
    """One simulation of the grid. Picklable: it travels to worker processes."""

    run_id: str
    trace: TraceSource
    cluster: ClusterSource
    policy: str
    placement: str
    load: float
    seed: int
    runtime_model: str = "linear"
    think_time: float = 0.0
    trace_digest: str = ""

    def params(self) -> dict[str, Any]:
        """Every parameter of the run, JSON-compatible (written to params.json)."""
        return {
            "run_id": self.run_id,
            "trace": self.trace.describe(),
            "trace_digest": self.trace_digest,
            "cluster": self.cluster.describe(),
            "policy": self.policy,
            "placement": self.placement,
            "load": self.load,
            "seed": self.seed,
            "runtime_model": self.runtime_model,
            "think_time": self.think_time,
        }

    def keys(self) -> dict[str, Any]:
        """The run's coordinates in the grid, by :data:`DIMENSIONS`."""
        return {
            "trace": self.trace.name,
            "cluster": self.cluster.name,
            "policy": self.policy,
            "placement": self.placement,
            "load": self.load,
            "seed": self.seed,
        }

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`params`."""
        text = json.dumps(self.params(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def run_id(
    trace: str, cluster: str, policy: str, placement: str, load: float, seed: int
) -> str:
    """The folder name of a run.

    E.g. ``paper_25x32c128g_rigid-fifo_first-fit_load0.8_seed1``; characters other
    than letters, digits, '.' and '-' become '-'.
    """
    parts = (trace, cluster, policy, placement, f"load{load:g}", f"seed{seed}")
    return "_".join(_UNSAFE.sub("-", part) for part in parts)


def axes(spec: ExperimentSpec) -> tuple[tuple[Any, ...], ...]:
    """The axes of ``spec``'s grid in expansion order: traces, clusters, policies,
    placements, loads, seeds; the grid is their product."""
    return (
        tuple(spec.traces),
        tuple(spec.clusters),
        tuple(spec.policies),
        tuple(spec.placements),
        tuple(spec.loads),
        tuple(spec.seeds),
    )


def grid_size(spec: ExperimentSpec) -> int:
    """How many runs ``spec``'s grid has, without making them."""
    return math.prod(len(axis) for axis in axes(spec))


def expand(spec: ExperimentSpec) -> list[Run]:
    """Every run of ``spec``'s grid, in expansion order.

    Reads each trace file once to fingerprint it. Raises :class:`InvalidSpec` if two
    runs would share an id (names that differ only in characters unsafe in a path).
    """
    digests = {trace.name: trace_digest(trace) for trace in spec.traces}
    runs = []
    for trace, cluster, policy, placement, load, seed in itertools.product(*axes(spec)):
        runs.append(
            Run(
                run_id=run_id(trace.name, cluster.name, policy, placement, load, seed),
                trace=trace,
                cluster=cluster,
                policy=policy,
                placement=placement,
                load=load,
                seed=seed,
                runtime_model=spec.runtime_model,
                think_time=spec.think_time,
                trace_digest=digests[trace.name],
            )
        )
    _check_unique(runs, spec.source)
    return runs


def trace_digest(trace: TraceSource) -> str:
    """SHA-256 of a trace's file or package resource; empty for a generated trace."""
    if trace.file is not None:
        return _sha256(Path(trace.file).read_bytes())
    if trace.package is not None and trace.resource is not None:
        data = importlib.resources.files(trace.package).joinpath(trace.resource)
        return _sha256(data.read_bytes())
    return ""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_unique(runs: list[Run], source: str) -> None:
    seen: dict[str, Run] = {}
    for run in runs:
        if run.run_id in seen:
            raise InvalidSpec(
                source,
                "",
                f"two runs would share the folder {run.run_id!r}; rename a trace or "
                "cluster so their names differ in letters or digits",
            )
        seen[run.run_id] = run
