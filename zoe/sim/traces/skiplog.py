"""What a reader does with a line it cannot use: raise, or count it and go on.

A reader reports two kinds of trouble through :class:`LineErrors`:

- an *invalid* line (malformed, a letter in a number, an impossible value): it
  raises :class:`~zoe.core.errors.InvalidTrace` naming the file and the line, unless
  the read skips invalid lines, in which case the line is counted in the
  :class:`SkipLog` and the read goes on;
- a *dropped* job (well-formed data that does not make an execution, e.g. a Google
  job that never finished inside the trace window): never an error, always counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zoe.core.errors import InvalidTrace

if TYPE_CHECKING:
    from zoe.sim.traces.base import TraceEntry


class BadLineError(Exception):
    """Raised inside a reader for a line it cannot use; ``kind`` names the reason.

    Internal to the readers: :class:`LineErrors` turns it into an
    :class:`InvalidTrace` or a count. ``line`` names the line to blame when it is
    not the one being read (a fault of a job found once all its rows are in).
    """

    def __init__(self, kind: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line


@dataclass(frozen=True, slots=True)
class Skip:
    """One skipped line or dropped job: why (``kind``), where and what was wrong."""

    kind: str
    line: int
    message: str


class SkipLog:
    """Counts of the lines skipped and jobs dropped by a read, by kind of reason.

    Keeps the first :attr:`max_examples` skips with their line numbers so a user can
    look at them; the counts cover every skip.
    """

    max_examples = 5

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.examples: list[Skip] = []

    def add(self, kind: str, line: int, message: str) -> None:
        """Count one skip of ``kind`` at ``line`` (0 if no single line is to blame)."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.examples) < self.max_examples:
            self.examples.append(Skip(kind, line, message))

    @property
    def total(self) -> int:
        """The number of skips of every kind."""
        return sum(self.counts.values())

    def __len__(self) -> int:
        return self.total

    def summary(self) -> str:
        """One line: the total, then the count of each kind, most frequent first."""
        if not self.counts:
            return "nothing skipped"
        kinds = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        listed = ", ".join(f"{count} {kind}" for kind, count in kinds)
        return f"{self.total} skipped: {listed}"

    def details(self) -> list[str]:
        """The summary, then one line per kept example (``line N: kind: message``)."""
        lines = [self.summary()]
        for skip in self.examples:
            where = f"line {skip.line}" if skip.line else "(no line)"
            lines.append(f"  {where}: {skip.kind}: {skip.message}")
        return lines


class LineErrors:
    """Where the readers of one file send their trouble (see the module docstring).

    ``source`` names the file in errors; ``skip_invalid`` chooses between raising
    and counting invalid lines; ``log`` receives the counts.
    """

    def __init__(self, source: str, skip_invalid: bool, log: SkipLog) -> None:
        self.source = source
        self.skip_invalid = skip_invalid
        self.log = log

    def invalid(self, line: int, kind: str, message: str) -> None:
        """Raise :class:`InvalidTrace` for ``line``, or count it when skipping."""
        if not self.skip_invalid:
            raise InvalidTrace(self.source, line, message)
        self.log.add(kind, line, message)

    def bad(self, line: int, exc: BadLineError) -> None:
        """:meth:`invalid` for a :class:`BadLineError` raised at ``line``."""
        self.invalid(line if exc.line is None else exc.line, exc.kind, exc.message)

    def dropped(self, line: int, kind: str, message: str) -> None:
        """Count a job that makes no execution; never raises."""
        self.log.add(kind, line, message)


class SubmitOrder:
    """Lets through the entries of a file in submit order whose ids are new.

    An entry submitted before the previous one, or with an id an earlier line
    used, is an invalid line of ``errors``. ``what`` names a line of the format
    in messages (``line``, ``job``), ``hint`` says how to fix an order.
    """

    def __init__(self, errors: LineErrors, what: str, hint: str) -> None:
        self.errors = errors
        self.what = what
        self.hint = hint
        self.previous = -math.inf
        self.seen: set[str] = set()

    def accepts(self, line: int, entry: TraceEntry) -> bool:
        """Whether ``entry``, read at ``line``, comes in order with a new id."""
        if entry.submit_time < self.previous:
            self.errors.invalid(
                line,
                "out of order",
                f"submit time {entry.submit_time:g} is before the previous "
                f"{self.what}'s {self.previous:g}; {self.hint}",
            )
            return False
        if entry.id in self.seen:
            self.errors.invalid(
                line,
                "duplicate id",
                f"execution id {entry.id!r} was used by an earlier line; ids must "
                "be unique",
            )
            return False
        self.seen.add(entry.id)
        self.previous = entry.submit_time
        return True
