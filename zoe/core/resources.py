"""Exact resource quantities: cores in millicores and memory in bytes, as integers.

Every comparison the scheduler makes is on integers, so two implementations of the
same rules agree to the last unit (DESIGN.md section 4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_MEMORY_UNITS = {
    "": 1,
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
}
_MEMORY_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*$")


def parse_memory(value: object) -> int:
    """Return ``value`` as whole bytes.

    Takes a non-negative integer of bytes or a string such as ``"512MiB"``,
    ``"4GiB"``, ``"1.5GB"``. Fractions of a byte are rounded down. Raises
    ``ValueError`` with what would be valid otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(
            "memory must be bytes or a string such as '4GiB', not a boolean"
        )
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"memory must not be negative, got {value!r}")
        return value
    if isinstance(value, str):
        match = _MEMORY_RE.match(value)
        if match is None:
            raise ValueError(
                f"memory {value!r} is not understood; write bytes or a number with a "
                "unit among B, KiB, MiB, GiB, TiB, KB, MB, GB, TB (e.g. '4GiB')"
            )
        number, unit = match.groups()
        return int(Decimal(number) * _MEMORY_UNITS[unit or ""])
    raise ValueError(
        f"memory must be an integer of bytes or a string such as '4GiB', got {value!r}"
    )


def parse_cores(value: object) -> int:
    """Return ``value`` (a number of CPUs, fractions allowed) as millicores.

    Sub-millicore fractions are rounded down. Raises ``ValueError`` for a value that
    is not a finite number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"cores must be a number such as 2 or 0.5, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise ValueError(f"cores must be a number such as 2 or 0.5, got {value!r}")
    return int(number * 1000)


def format_memory(nbytes: int) -> str:
    """Return ``nbytes`` in the largest binary unit that keeps it whole, e.g. '4GiB'."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        size = _MEMORY_UNITS[unit]
        if nbytes and nbytes % size == 0:
            return f"{nbytes // size}{unit}"
    return str(nbytes)


def format_cores(millicores: int) -> int | float:
    """Return ``millicores`` as a number of cores (an int when whole)."""
    whole, part = divmod(millicores, 1000)
    return whole if part == 0 else millicores / 1000


@dataclass(frozen=True, slots=True, order=True)
class Resources:
    """A vector of exact resource amounts: ``millicores`` and ``memory`` (bytes)."""

    millicores: int = 0
    memory: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.millicores + other.millicores, self.memory + other.memory)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.millicores - other.millicores, self.memory - other.memory)

    def __mul__(self, times: int) -> Resources:
        return Resources(self.millicores * times, self.memory * times)

    def fits_in(self, other: Resources) -> bool:
        """True when every component of ``self`` is at most that of ``other``."""
        return self.millicores <= other.millicores and self.memory <= other.memory

    def is_negative(self) -> bool:
        """True when any component is below zero."""
        return self.millicores < 0 or self.memory < 0

    @property
    def cores(self) -> float:
        """The number of cores, as a float (for display and metrics only)."""
        return self.millicores / 1000

    def __str__(self) -> str:
        return f"{format_cores(self.millicores)} cores, {format_memory(self.memory)}"
