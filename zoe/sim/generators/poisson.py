"""The ``poisson`` workload: a test of the simulator against queueing theory.

Arrivals form a Poisson process from time 0 with [``rate`` = 1.0] arrivals per
second (exponential inter-arrival times of mean 1 / rate). Durations are
exponential with mean [``mean_duration`` = 600 s]. Every execution is one essential
service of [``cores`` = 1] core and [``memory`` = ``1GiB``]. On ``c`` cores that is an
M/M/c queue (with ``c`` = cluster cores / ``cores`` when memory does not bind) of
load rate x mean_duration / c: 600 / 800 = 0.75 with the defaults on
``25x32c128g``. Times are not rounded, so the distributions stay exact. Ids are
``e1``, ``e2``... ``mean_duration`` and ``1 / rate`` are at most
:data:`~zoe.sim.traces.base.MAX_SECONDS`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from zoe.core.errors import InvalidInput
from zoe.core.resources import parse_cores
from zoe.sim.traces.base import MAX_SECONDS, MAX_SECONDS_TEXT, TraceEntry
from zoe.sim.traces.options import (
    ZAppCache,
    check_names,
    memory_option,
    number_option,
    seconds_option,
    service_group,
)


@dataclass(frozen=True, slots=True)
class PoissonModel:
    """The ``poisson`` model with its parameters; see the module docstring."""

    PARAMS: ClassVar[dict[str, str]] = {
        "rate": "arrivals per second (default 1.0)",
        "mean_duration": "mean duration, seconds (default 600)",
        "cores": "cores of the one service (default 1)",
        "memory": "memory of the one service (default 1GiB)",
    }

    rate: float = 1.0
    mean_duration: float = 600.0
    millicores: int = 1000
    memory: int = 1024**3

    @classmethod
    def from_params(cls, **params: object) -> PoissonModel:
        """Build the model; parameters may be values or strings."""
        check_names("poisson model parameter", params, cls.PARAMS)
        kwargs: dict[str, Any] = {}
        if "rate" in params:
            kwargs["rate"] = number_option("rate", params["rate"])
            if 1.0 / kwargs["rate"] > MAX_SECONDS:
                raise InvalidInput(
                    f"option rate: {params['rate']!r} arrivals per second means a "
                    f"mean inter-arrival time above the limit of {MAX_SECONDS_TEXT}; "
                    f"give a rate of at least {1.0 / MAX_SECONDS:g}"
                )
        if "mean_duration" in params:
            kwargs["mean_duration"] = seconds_option(
                "mean_duration", params["mean_duration"]
            )
        if "cores" in params:
            cores = number_option(
                "cores", params["cores"], minimum=0.001, inclusive=True
            )
            kwargs["millicores"] = parse_cores(cores)
        if "memory" in params:
            kwargs["memory"] = memory_option("memory", params["memory"])
        return cls(**kwargs)

    def entries(self, rng: random.Random, apps: int) -> Iterator[TraceEntry]:
        """Yield ``apps`` executions in submit order, drawing only from ``rng``."""
        zapp = ZAppCache(self._zapp).get(None)
        completion = 1.0 / self.mean_duration
        time = 0.0
        for number in range(1, apps + 1):
            time += rng.expovariate(self.rate)
            yield TraceEntry(f"e{number}", time, rng.expovariate(completion), zapp)

    def _zapp(self, _: None) -> dict[str, Any]:
        group = service_group("job", "zoe/poisson", 1, 1, self.millicores, self.memory)
        return {
            "name": "poisson-job",
            "version": 4,
            "kind": "batch",
            "frameworks": [{"name": "job", "services": [group]}],
        }
