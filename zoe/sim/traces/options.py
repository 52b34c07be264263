"""Options of trace formats and workload models, and the building of ZApps by shape.

Options come from Python (numbers) or from the command line (strings): every
converter here takes both. A bad value raises :class:`InvalidInput` naming the
option and what would be valid; an unknown option name raises :class:`UnknownName`.

Many executions of a trace share one shape (an SWF job of 16 processors looks like
every other one), so readers build ZApps through a :class:`ZAppCache` keyed by the
shape: a million-line trace builds each distinct ZApp once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from zoe.core.errors import InvalidInput, UnknownName
from zoe.core.resources import format_cores, parse_memory
from zoe.core.zapp import ZApp, parse_zapp
from zoe.sim.traces.base import MAX_SECONDS, MAX_SECONDS_TEXT

K = TypeVar("K", bound=Hashable)


def check_names(
    kind: str, given: Mapping[str, object], valid: Mapping[str, Any]
) -> None:
    """Raise :class:`UnknownName` for the first name of ``given`` not in ``valid``."""
    for name in given:
        if name not in valid:
            raise UnknownName(kind, name, valid)


def converted(
    kind: str,
    given: Mapping[str, object],
    valid: Mapping[str, Any],
    converters: Mapping[str, Callable[[str, object], Any]],
) -> dict[str, Any]:
    """``given`` checked by name against ``valid`` (see :func:`check_names`), each
    value turned by its converter, called with the option's name and value."""
    check_names(kind, given, valid)
    return {name: converters[name](name, value) for name, value in given.items()}


def number_option(
    name: str, value: object, *, minimum: float = 0.0, inclusive: bool = False
) -> float:
    """Return ``value`` as a finite float above ``minimum`` (or equal, if
    ``inclusive``)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    low_ok = number >= minimum if inclusive else number > minimum
    if isinstance(value, bool) or not math.isfinite(number) or not low_ok:
        bound = "at least" if inclusive else "greater than"
        raise InvalidInput(
            f"option {name}: expected a number {bound} {minimum:g}, got {value!r}"
        )
    return number


def seconds_option(
    name: str, value: object, *, minimum: float = 0.0, inclusive: bool = False
) -> float:
    """:func:`number_option` for a time or duration: at most
    :data:`~zoe.sim.traces.base.MAX_SECONDS`."""
    number = number_option(name, value, minimum=minimum, inclusive=inclusive)
    if number > MAX_SECONDS:
        raise InvalidInput(
            f"option {name}: {number:g} seconds is above the limit of "
            f"{MAX_SECONDS_TEXT}"
        )
    return number


def fraction_option(name: str, value: object) -> float:
    """Return ``value`` as a float in [0, 1]."""
    number = number_option(name, value, minimum=0.0, inclusive=True)
    if not 0.0 <= number <= 1.0:
        raise InvalidInput(f"option {name}: expected a number in [0, 1], got {value!r}")
    return number


def int_option(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` as an integer of at least ``minimum``."""
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value).strip())
        except ValueError:
            number = None
    if number is None or number < minimum:
        raise InvalidInput(
            f"option {name}: expected a whole number of at least {minimum}, got "
            f"{value!r}"
        )
    return number


def memory_option(name: str, value: object) -> int:
    """Return ``value`` (bytes, or a string such as ``"128GiB"``) as bytes > 0."""
    try:
        nbytes = parse_memory(value)
    except ValueError as exc:
        raise InvalidInput(f"option {name}: {exc}") from None
    if nbytes <= 0:
        raise InvalidInput(f"option {name}: memory must be greater than zero")
    return nbytes


@dataclass(frozen=True, slots=True)
class Essential:
    """How many of ``n`` instances are essential: all, a count, or a fraction.

    ``count`` None means all; otherwise ``count`` instances (at most ``n``) or, when
    ``fraction`` is set, ``ceil(fraction * n)`` and at least one.
    """

    count: int | None = None
    fraction: Decimal | None = None

    def of(self, total: int) -> int:
        """The number of essential instances among ``total`` (at least 1)."""
        if self.fraction is not None:
            return max(1, min(total, math.ceil(self.fraction * total)))
        if self.count is None:
            return total
        return min(self.count, total)


ALL = Essential()
"""Every instance is essential."""
ONE = Essential(count=1)
"""One instance is essential, the rest elastic."""

ESSENTIAL_HELP = (
    "'all', a whole number of essential instances (e.g. 1), or a fraction in (0, 1] "
    "written with a point (e.g. 0.25: a quarter, rounded up, at least one)"
)


def essential_option(name: str, value: object) -> Essential:
    """Parse ``all``, an integer >= 1, or a fraction in (0, 1] (see ESSENTIAL_HELP)."""
    if isinstance(value, Essential):
        return value
    text = str(value).strip().lower()
    if text == "all":
        return Essential()
    try:
        if isinstance(value, float) or "." in text:
            fraction = Decimal(text)
            if Decimal(0) < fraction <= Decimal(1):
                return Essential(fraction=fraction)
        elif not isinstance(value, bool) and int(text) >= 1:
            return Essential(count=int(text))
    except (ValueError, InvalidOperation):
        pass
    raise InvalidInput(f"option {name}: expected {ESSENTIAL_HELP}; got {value!r}")


def service_group(
    name: str,
    image: str,
    essential: int,
    total: int,
    millicores: int,
    memory: int,
) -> dict[str, Any]:
    """A version 4 service group document with the given counts and demand."""
    return {
        "name": name,
        "image": image,
        "essential_count": essential,
        "total_count": total,
        "resources": {"cores": format_cores(millicores), "memory": memory},
    }


class ZAppCache(Generic[K]):
    """ZApps built once per shape key, keeping at most ``limit`` of them.

    ``build`` turns a key into a version 4 document; the cache validates it with
    :func:`parse_zapp` (faults raise :class:`InvalidZApp`). When full, the oldest
    entry goes first.
    """

    def __init__(self, build: Callable[[K], dict[str, Any]], limit: int = 4096) -> None:
        self._build = build
        self._limit = limit
        self._zapps: dict[K, ZApp] = {}

    def get(self, key: K) -> ZApp:
        """The ZApp of ``key``, built on first use."""
        zapp = self._zapps.get(key)
        if zapp is None:
            zapp = parse_zapp(self._build(key))
            if len(self._zapps) >= self._limit:
                del self._zapps[next(iter(self._zapps))]
            self._zapps[key] = zapp
        return zapp

    def __len__(self) -> int:
        return len(self._zapps)
