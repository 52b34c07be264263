"""The ``paper`` workload: the structure of the experiments of Pace et al.

Pace, Venzano, Carra and Michiardi evaluated flexible scheduling with a workload of
batch analytic applications on a cluster of 25 nodes of 32 cores and 128 GiB
(``25x32c128g``): 80 % elastic applications with 1 to 4 essential services and many
elastic ones, 20 % rigid ones, with heavy-tailed durations. This model draws such a
workload; every distribution and default is below (parameters in brackets).

- Arrivals: a Poisson process from time 0: inter-arrival times are exponential with
  mean [``mean_interarrival`` = 120 s]. A load factor scales this mean.
- Kind: rigid with probability [``rigid_fraction`` = 0.2], elastic otherwise.
- Elastic application: one framework ``app`` with a group ``core`` of ``k``
  essential services, ``k`` uniform in [``essential_min`` = 1, ``essential_max`` =
  4], and a group ``worker`` of ``m`` elastic services, ``m`` uniform in
  [``elastic_min`` = 4, ``elastic_max`` = 32] (no group when ``m`` is 0).
- Rigid application: one framework ``app`` with a group ``worker`` of ``n``
  essential services, ``n`` uniform in [``rigid_min`` = 2, ``rigid_max`` = 16].
- Service size: one per application, uniform among 1 core and 4 GiB, 2 cores and
  8 GiB, 4 cores and 16 GiB (the 4 GiB per core of the nodes, so cores and memory
  load the cluster alike). The largest application (4 + 32 services of 4 cores,
  144 cores) fits the cluster several times over.
- Duration (seconds of work at full allocation): log-normal with median
  [``duration_median`` = 600 s] and shape [``duration_sigma`` = 1.5], clamped to
  [``duration_min`` = 60 s, ``duration_max`` = 86,400 s] (about 6 % of draws are
  raised to the minimum, 0.05 % cut to the maximum). Its mean is about 1,825 s; the
  median is a tenth of the largest one in two hundred.

With the defaults an application has on average 0.8 x 20.5 x 7/3 + 0.2 x 9 x 7/3 =
42.5 cores and does 42.5 x 1,825 = 77,500 core-seconds of work, so the offered load
on the 800 cores of ``25x32c128g`` is 77,500 / (800 x 120) = 0.81: a queue forms
when large applications bunch up, yet the cluster is not saturated for ever.

The parameters in seconds are at most :data:`~zoe.sim.traces.base.MAX_SECONDS`.
Submit times and durations are rounded to milliseconds. Ids are ``e1``, ``e2``...
ZApps are built once per shape (kind, counts, size): at most a few hundred.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from zoe.core.errors import InvalidInput
from zoe.sim.traces.base import TraceEntry
from zoe.sim.traces.options import (
    ZAppCache,
    check_names,
    fraction_option,
    int_option,
    number_option,
    seconds_option,
    service_group,
)

GIB = 1024**3
SIZES: tuple[tuple[int, int], ...] = (
    (1000, 4 * GIB),
    (2000, 8 * GIB),
    (4000, 16 * GIB),
)
"""Service sizes as (millicores, bytes); each application draws one uniformly."""

# (kind, essential count, elastic count, size index)
_Shape = tuple[str, int, int, int]


@dataclass(frozen=True, slots=True)
class PaperModel:
    """The ``paper`` model with its parameters; see the module docstring."""

    PARAMS: ClassVar[dict[str, str]] = {
        "mean_interarrival": "mean seconds between arrivals (default 120)",
        "rigid_fraction": "probability that an application is rigid (default 0.2)",
        "duration_median": "median duration, seconds (default 600)",
        "duration_sigma": "shape of the log-normal duration (default 1.5)",
        "duration_min": "least duration, seconds (default 60)",
        "duration_max": "greatest duration, seconds (default 86400)",
        "essential_min": "least essential services of an elastic app (default 1)",
        "essential_max": "most essential services of an elastic app (default 4)",
        "elastic_min": "least elastic services of an elastic app (default 4)",
        "elastic_max": "most elastic services of an elastic app (default 32)",
        "rigid_min": "least services of a rigid app (default 2)",
        "rigid_max": "most services of a rigid app (default 16)",
    }

    mean_interarrival: float = 120.0
    rigid_fraction: float = 0.2
    duration_median: float = 600.0
    duration_sigma: float = 1.5
    duration_min: float = 60.0
    duration_max: float = 86400.0
    essential_min: int = 1
    essential_max: int = 4
    elastic_min: int = 4
    elastic_max: int = 32
    rigid_min: int = 2
    rigid_max: int = 16

    @classmethod
    def from_params(cls, **params: object) -> PaperModel:
        """Build the model; parameters may be values or strings."""
        check_names("paper model parameter", params, cls.PARAMS)
        defaults = {f.name: f.default for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, value in params.items():
            if name == "rigid_fraction":
                kwargs[name] = fraction_option(name, value)
            elif name == "duration_sigma":
                kwargs[name] = number_option(name, value, inclusive=True)
            elif isinstance(defaults[name], int):
                kwargs[name] = int_option(
                    name, value, minimum=_INT_MINIMUM.get(name, 1)
                )
            else:
                kwargs[name] = seconds_option(name, value)
        model = cls(**kwargs)
        model.check()
        return model

    def check(self) -> None:
        """Raise :class:`InvalidInput` unless every ``*_min`` is at most its max."""
        for low, high in (
            ("duration_min", "duration_max"),
            ("essential_min", "essential_max"),
            ("elastic_min", "elastic_max"),
            ("rigid_min", "rigid_max"),
        ):
            if getattr(self, low) > getattr(self, high):
                raise InvalidInput(
                    f"parameter {low} ({getattr(self, low)}) must be at most {high} "
                    f"({getattr(self, high)})"
                )

    def entries(self, rng: random.Random, apps: int) -> Iterator[TraceEntry]:
        """Yield ``apps`` executions in submit order, drawing only from ``rng``."""
        cache: ZAppCache[_Shape] = ZAppCache(_zapp)
        rate = 1.0 / self.mean_interarrival
        mu = math.log(self.duration_median)
        time = 0.0
        for number in range(1, apps + 1):
            time += rng.expovariate(rate)
            shape = self._shape(rng)
            duration = rng.lognormvariate(mu, self.duration_sigma)
            duration = min(max(duration, self.duration_min), self.duration_max)
            yield TraceEntry(
                f"e{number}",
                round(time, 3),
                max(round(duration, 3), 0.001),
                cache.get(shape),
            )

    def _shape(self, rng: random.Random) -> _Shape:
        if rng.random() < self.rigid_fraction:
            count = rng.randint(self.rigid_min, self.rigid_max)
            return ("rigid", count, 0, rng.randrange(len(SIZES)))
        essential = rng.randint(self.essential_min, self.essential_max)
        elastic = rng.randint(self.elastic_min, self.elastic_max)
        return ("elastic", essential, elastic, rng.randrange(len(SIZES)))


_INT_MINIMUM = {"elastic_min": 0, "elastic_max": 0}


def _zapp(shape: _Shape) -> dict[str, Any]:
    kind, essential, elastic, size = shape
    millicores, memory = SIZES[size]
    image = f"zoe/paper-{kind}"
    if kind == "rigid":
        groups = [
            service_group("worker", image, essential, essential, millicores, memory)
        ]
    else:
        groups = [
            service_group("core", image, essential, essential, millicores, memory)
        ]
        if elastic:
            groups.append(
                service_group("worker", image, 0, elastic, millicores, memory)
            )
    return {
        "name": f"paper-{kind}",
        "version": 4,
        "kind": "batch",
        "frameworks": [{"name": "app", "services": groups}],
    }
