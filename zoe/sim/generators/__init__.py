"""Workload models that generate traces (DESIGN.md section 5, "generated").

:func:`generate` streams :class:`~zoe.sim.traces.base.TraceEntry` values from a
named model of :data:`MODELS`; write them with
:func:`zoe.sim.traces.write_native`. A model is deterministic for a seed: all its
randomness comes from one ``random.Random(seed)`` passed to it, never from the
global generator. Parameters may be given as values or strings (the command line);
each model documents its parameters, their defaults and its distributions. No
parameter in seconds, and no generated submit time or duration, may exceed
:data:`~zoe.sim.traces.base.MAX_SECONDS` (an :class:`InvalidInput`):

- ``paper`` (:mod:`.paper`): the structure of the experiments of Pace et al.;
- ``poisson`` (:mod:`.poisson`): one-service executions with Poisson arrivals and
  exponential durations, for checks against queueing theory (M/M/c).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Protocol

from zoe.core.errors import InvalidInput, UnknownName
from zoe.sim.generators.paper import PaperModel
from zoe.sim.generators.poisson import PoissonModel
from zoe.sim.traces.base import MAX_SECONDS, MAX_SECONDS_TEXT, TraceEntry
from zoe.sim.traces.options import int_option

__all__ = ["MODELS", "WorkloadModel", "generate", "model_params"]


class WorkloadModel(Protocol):
    """A model with its parameters fixed; yields executions for a generator."""

    def entries(self, rng: random.Random, apps: int) -> Iterator[TraceEntry]:
        """Yield ``apps`` executions in submit order, drawing only from ``rng``."""
        ...


MODELS: dict[str, Callable[..., WorkloadModel]] = {
    "paper": PaperModel.from_params,
    "poisson": PoissonModel.from_params,
}
"""Model name -> factory taking the model's parameters as keywords."""

_PARAMS: dict[str, dict[str, str]] = {
    "paper": PaperModel.PARAMS,
    "poisson": PoissonModel.PARAMS,
}


def model_params(model: str) -> dict[str, str]:
    """The parameters of ``model``: name -> one line of help with the default."""
    if model not in MODELS:
        raise UnknownName("workload model", model, MODELS)
    return dict(_PARAMS[model])


def generate(
    model: str, *, seed: int, apps: int, **params: object
) -> Iterator[TraceEntry]:
    """Stream ``apps`` executions of ``model`` with ``params``, for ``seed``.

    The model name, the parameters, ``seed`` and ``apps`` are checked at once
    (:class:`UnknownName`, :class:`InvalidInput`); executions are made as the result
    is iterated. The same arguments always give the same executions.
    """
    factory = MODELS.get(model)
    if factory is None:
        raise UnknownName("workload model", model, MODELS)
    built = factory(**params)
    count = int_option("apps", apps, minimum=0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInput(f"seed: expected a whole number, got {seed!r}")
    return _bounded(model, built.entries(random.Random(seed), count))


def _bounded(model: str, entries: Iterator[TraceEntry]) -> Iterator[TraceEntry]:
    """``entries``, stopped with :class:`InvalidInput` at the first time above
    :data:`MAX_SECONDS` (many arrivals add up; a long-tailed draw can exceed its
    mean by far)."""
    for entry in entries:
        if entry.submit_time > MAX_SECONDS or entry.duration > MAX_SECONDS:
            raise InvalidInput(
                f"model {model}: execution {entry.id} would have submit time "
                f"{entry.submit_time:g} s and duration {entry.duration:g} s, above "
                f"the limit of {MAX_SECONDS_TEXT}; lower the model's times or apps"
            )
        yield entry
