"""Runtime models: how fast a simulated execution progresses with the services it has.

A runtime model maps "``placed`` of ``total`` services hold resources" to a *rate*:
the seconds of work (measured at full allocation) done per simulated second. The
engine asks for a rate only while an execution's essential services run (before,
the rate is 0 in every model) and again at every change of its placed count, so a
model is a pure function and never sees a clock.

Every model gives rate 1 at full allocation, so an execution of duration ``D`` that
gets all its services at once runs for exactly ``D``.

Models are looked up by name with :func:`make_runtime_model`; an unknown name
raises :class:`~zoe.core.errors.UnknownName` listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from zoe.core.errors import InvalidInput, UnknownName


class RuntimeModel(Protocol):
    """Turns an allocation into a progress rate."""

    @property
    def name(self) -> str:
        """The model's registry name."""
        ...

    def rate(self, placed: int, total: int, serial_fraction: float | None) -> float:
        """The progress rate with ``placed`` of ``total`` services placed.

        Called only while the essential services run, so ``placed >= 1``.
        ``serial_fraction`` is the trace entry's (None when the trace gives none).
        Returns a rate in (0, 1], equal to 1 when ``placed == total``.
        """
        ...


@dataclass(frozen=True, slots=True)
class LinearModel:
    """DESIGN.md section 4: rate ``placed / total`` while the essential services run.

    A rigid execution (all services essential) therefore runs for exactly ``D``.
    """

    name: str = "linear"

    def rate(self, placed: int, total: int, serial_fraction: float | None) -> float:
        """``placed / total``."""
        return placed / total


@dataclass(frozen=True, slots=True)
class AmdahlModel:
    """Amdahl's law, normalised to full allocation.

    With serial fraction ``s`` and ``k`` of ``n`` services placed, the time to do
    the work of one second at full allocation is ``s + (1 - s) * n / k``: the serial
    part does not speed up, the parallel part is shared by the ``k`` services. The
    rate is its inverse, ``1 / (s + (1 - s) * n / k)``: 1 at ``k = n``, and
    ``k / n`` (the linear model) when ``s = 0``. ``s`` is the trace entry's
    ``serial_fraction`` when it gives one, else ``serial_fraction`` of the model.
    """

    serial_fraction: float = 0.1
    name: str = "amdahl"

    def __post_init__(self) -> None:
        if not 0.0 <= self.serial_fraction <= 1.0:
            raise InvalidInput(
                f"amdahl serial_fraction must be between 0 and 1, got "
                f"{self.serial_fraction!r}"
            )

    def rate(self, placed: int, total: int, serial_fraction: float | None) -> float:
        """``1 / (s + (1 - s) * total / placed)``."""
        s = self.serial_fraction if serial_fraction is None else serial_fraction
        if placed == total:
            return 1.0
        return 1.0 / (s + (1.0 - s) * total / placed)


@dataclass(frozen=True, slots=True)
class RigidModel:
    """Rate 1 as soon as the essential services run: elastic services add nothing.

    Every execution thus runs for exactly ``D`` once started, whatever it gets.
    """

    name: str = "rigid"

    def rate(self, placed: int, total: int, serial_fraction: float | None) -> float:
        """Always 1."""
        return 1.0


RUNTIME_MODELS: dict[str, Callable[..., RuntimeModel]] = {
    "linear": LinearModel,
    "amdahl": AmdahlModel,
    "rigid": RigidModel,
}


def make_runtime_model(name: str, **options: object) -> RuntimeModel:
    """Build the runtime model called ``name`` with its ``options``.

    Raises :class:`UnknownName` for a name not in :data:`RUNTIME_MODELS` and
    :class:`InvalidInput` for options the model does not take.
    """
    try:
        factory = RUNTIME_MODELS[name]
    except KeyError:
        raise UnknownName("runtime model", name, RUNTIME_MODELS) from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise InvalidInput(f"runtime model {name!r}: {exc}") from None
