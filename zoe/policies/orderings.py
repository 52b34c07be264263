"""Orderings: which execution of the queue comes first.

Every ordering sorts by a key, ascending, and breaks ties by submit time and then
submission order (``seq``), so the order is total and deterministic.

========== ===========================================================================
``fifo``     submit time, then submission order.
``size``     the ZApp's size hint ``size`` (seconds at full allocation); executions
             without one come last.
``dynsize``  the size hint times ``2 ** (-waiting / 3600 s)``: an execution's size
             halves with every hour in the queue. The order of two waiting
             executions never changes once both are queued (both shrink alike), and
             one of size ``b`` is passed only by executions of size ``s`` submitted
             less than ``3600 s * log2(b / s)`` after it: finitely many, so
             nothing starves.
``psjf``     the estimated duration at full allocation (shortest first).
``srpt``     the estimated remaining work at full allocation (shortest first).
``hrrn``     highest response ratio first: ``1 + waiting / S`` with ``S`` the
             estimated duration.
========== ===========================================================================

Each size-based ordering (all but ``fifo``) takes a dimension suffix, ``1d`` by
default: in ``2d`` the size is multiplied by the number of services; in ``3d`` by
the sum over services of cores times memory in GiB (``hrrn3d``: ``S`` is that
product). Durations come from the snapshot (the simulator knows them, the master
uses the size hint); an unknown duration sorts last (``hrrn``: ratio 1).

Estimation error, for studies of wrong estimates: with ``sigma > 0`` every duration
an ordering reads is multiplied by a log-normal factor ``exp(N(0, sigma))`` drawn
once per execution from a generator seeded with the policy's seed and the execution
id, so an execution keeps its factor across rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from operator import attrgetter
from random import Random

from zoe.core.errors import UnknownName
from zoe.core.snapshot import ExecutionView

GIB = 1024**3
DYNSIZE_HALVING_SECONDS = 3600.0

Key = Callable[[ExecutionView], float]


class Estimates:
    """Duration estimates with an optional seeded log-normal error per execution."""

    def __init__(self, sigma: float = 0.0, seed: int = 0) -> None:
        if sigma < 0:
            raise ValueError(f"estimation error sigma must be >= 0, got {sigma}")
        self.sigma = sigma
        self.seed = seed
        self._factors: dict[str, float] = {}

    def factor(self, execution_id: str) -> float:
        """The error factor of an execution (1.0 without error); fixed per id."""
        if self.sigma == 0:
            return 1.0
        found = self._factors.get(execution_id)
        if found is None:
            rng = Random(f"{self.seed}/{execution_id}")
            found = self._factors[execution_id] = rng.lognormvariate(0.0, self.sigma)
        return found

    def forget_except(self, active: set[str]) -> None:
        """Drop the factors of executions no longer active (bounds memory)."""
        if len(self._factors) > 2 * len(active) + 1024:
            self._factors = {k: v for k, v in self._factors.items() if k in active}

    def duration(self, view: ExecutionView) -> float:
        """Estimated duration at full allocation; ``inf`` when unknown."""
        value = view.duration if view.duration is not None else view.size
        return math.inf if value is None else value * self.factor(view.id)

    def remaining(self, view: ExecutionView) -> float:
        """Estimated remaining work at full allocation; ``inf`` when unknown."""
        if view.remaining is None:
            return self.duration(view)
        return view.remaining * self.factor(view.id)


def weight(view: ExecutionView, dimensions: int) -> float:
    """The factor that turns a duration into a size of 1, 2 or 3 dimensions."""
    if dimensions == 1:
        return 1.0
    if dimensions == 2:
        return float(view.service_count)
    return sum(
        g.total_count * (g.millicores / 1000) * (g.memory / GIB) for g in view.groups
    )


class Ordering:
    """Sorts a queue by ``key`` (ascending), then by submit time and ``seq``."""

    def __init__(self, name: str, make_key: Callable[[float, Estimates], Key]) -> None:
        self.name = name
        self._make_key = make_key

    def sort(
        self, queue: Sequence[ExecutionView], time: float, estimates: Estimates
    ) -> list[ExecutionView]:
        """Return ``queue`` in priority order; the first is served first."""
        if self._make_key is _fifo:
            return sorted(queue, key=_TIES)  # no key of its own: the ties alone
        key = self._make_key(time, estimates)
        return sorted(queue, key=lambda v: (key(v), v.submit_time, v.seq))


_TIES = attrgetter("submit_time", "seq")


def _fifo(time: float, estimates: Estimates) -> Key:
    return lambda view: 0.0


def _size(dimensions: int) -> Callable[[float, Estimates], Key]:
    def make(time: float, estimates: Estimates) -> Key:
        def key(view: ExecutionView) -> float:
            if view.size is None:
                return math.inf
            return view.size * estimates.factor(view.id) * weight(view, dimensions)

        return key

    return make


def _dynsize(dimensions: int) -> Callable[[float, Estimates], Key]:
    size = _size(dimensions)

    def make(time: float, estimates: Estimates) -> Key:
        static = size(time, estimates)

        def key(view: ExecutionView) -> float:
            waiting = max(0.0, time - view.submit_time)
            return static(view) * math.exp2(-waiting / DYNSIZE_HALVING_SECONDS)

        return key

    return make


def _psjf(dimensions: int) -> Callable[[float, Estimates], Key]:
    def make(time: float, estimates: Estimates) -> Key:
        return lambda view: estimates.duration(view) * weight(view, dimensions)

    return make


def _srpt(dimensions: int) -> Callable[[float, Estimates], Key]:
    def make(time: float, estimates: Estimates) -> Key:
        return lambda view: estimates.remaining(view) * weight(view, dimensions)

    return make


def _hrrn(dimensions: int) -> Callable[[float, Estimates], Key]:
    def make(time: float, estimates: Estimates) -> Key:
        def key(view: ExecutionView) -> float:
            size = estimates.duration(view) * weight(view, dimensions)
            waiting = max(0.0, time - view.submit_time)
            # highest ratio first: sort on its negation
            return -(1.0 + waiting / size) if size > 0 else -math.inf

        return key

    return make


ORDERING_HELP = {
    "fifo": "first in, first out: submit time, then submission order",
    "size": "smallest ZApp size hint first",
    "dynsize": "size hint halving with every hour waited, so nothing starves",
    "psjf": "shortest estimated duration first",
    "srpt": "shortest estimated remaining work first",
    "hrrn": "highest response ratio (1 + waiting / size) first",
}
_SIZED = {
    "size": _size,
    "dynsize": _dynsize,
    "psjf": _psjf,
    "srpt": _srpt,
    "hrrn": _hrrn,
}


def ordering_names() -> list[str]:
    """Every ordering name, with its dimension variants."""
    names = ["fifo"]
    for base in _SIZED:
        names += [base, f"{base}1d", f"{base}2d", f"{base}3d"]
    return names


def make_ordering(name: str) -> Ordering:
    """Return the ordering called ``name``; :class:`UnknownName` if there is none."""
    if name == "fifo":
        return Ordering(name, _fifo)
    base, dimensions = name, 1
    if name[-2:] in ("1d", "2d", "3d"):
        base, dimensions = name[:-2], int(name[-2])
    if base not in _SIZED:
        raise UnknownName("ordering", name, ordering_names())
    return Ordering(name, _SIZED[base](dimensions))
