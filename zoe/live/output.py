"""Container output with Docker's timestamps: reading it, following it, keeping it.

Docker stamps every line a container writes with the nanosecond it read it
(``docker logs -t`` prints ``2026-01-05T10:00:02.123456789Z text``). A line over
16 KiB comes in pieces that share the stamp of the first piece, each piece with
its own copy of the stamp in front. :func:`parse_stamped` turns such output back
into :class:`StampedLine` values (a piece's stamp is removed from the middle of
its line).

A follower reads the output in steps, each asking for what was written at or
after a ``since``. To get every line once, :func:`service_output` returns only
complete lines while the service lives (a line still being written comes whole in
a later step) and the exact time just after the last line returned, as the
``since`` of the next step (:func:`seconds_text`, nanoseconds, which a JSON
number cannot carry). What Docker's stamps cannot order is not ordered here
either: a stderr line stamped a few microseconds before a stdout line that a step
already returned, but written to the log after that step, is not returned.

:class:`KeptOutput` keeps the last output of removed containers, so that the
end of a service's output survives the removal of its container; it is lost when
the master stops.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from zoe.core.errors import BackendError
from zoe.core.execution import ServiceStatus

if TYPE_CHECKING:
    from zoe.live.db import ServiceRecord

NS = 1_000_000_000
ENDED_STATUSES = frozenset(
    {ServiceStatus.EXITED, ServiceStatus.FAILED, ServiceStatus.REMOVED}
)
"""Statuses after which a service writes nothing more."""
SECONDS_PATTERN = r"^[0-9]{1,11}(\.[0-9]{1,9})?$"
"""Decimal UNIX seconds with up to nine digits after the point (nanoseconds)."""

_STAMP = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) "
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class StampedLine:
    """One line of output: the nanosecond Docker stamped it with, its stamp as
    written and its text (with its ``\\n``; the last line may lack one)."""

    time_ns: int
    stamp: str
    text: str


def parse_stamped(output: str) -> list[StampedLine]:
    """The lines of output written with timestamps (``docker logs -t``), in order.

    A line without a stamp of its own (never so in Docker's output) gets the time
    of the line before it, or 0.
    """
    found: list[StampedLine] = []
    for raw in output.splitlines(keepends=True):
        match = _STAMP.match(raw)
        if match is None:
            time_ns, stamp = (found[-1].time_ns, found[-1].stamp) if found else (0, "")
            found.append(StampedLine(time_ns, stamp, raw))
            continue
        stamp = match.group(0)
        text = raw[match.end() :].replace(stamp, "")  # stamps of the later pieces
        found.append(StampedLine(_time_ns(match), stamp[:-1], text))
    return found


def _time_ns(match: re.Match[str]) -> int:
    moment = dt.datetime.fromisoformat(match.group(1) + match.group(3))
    seconds = (moment - _EPOCH) // _SECOND
    return seconds * NS + int((match.group(2) or "0").ljust(9, "0"))


def since_ns(since: float | str) -> int:
    """The nanosecond of a ``since``: decimal seconds, or a number read as the
    shortest decimal that stands for it (as JSON writes it), rounded down."""
    if isinstance(since, str):
        whole, _, fraction = since.partition(".")
        return int(whole) * NS + int(fraction.ljust(9, "0"))
    return int(Decimal(repr(float(since))) * NS)


def seconds_text(time_ns: int) -> str:
    """Decimal UNIX seconds with nine digits after the point: ``"1767607202.1"``
    is written ``"1767607202.100000000"``."""
    return f"{time_ns // NS}.{time_ns % NS:09d}"


def docker_since(time_ns: int) -> float | None:
    """A ``since`` in float seconds no later than ``time_ns`` (floats lose the
    nanoseconds), or ``None`` for a time before the first second."""
    microseconds = time_ns // 1000 - 1
    return microseconds / 1_000_000 if microseconds >= 1_000_000 else None


def select(
    lines: list[StampedLine],
    tail: int | None = None,
    since: float | None = None,
    timestamps: bool = False,
) -> str:
    """The text of ``lines`` as a backend returns it: the last ``tail`` of them,
    those at or after ``since`` (UNIX seconds), with their stamps if asked."""
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    if since is not None:
        first = since_ns(since)
        lines = [line for line in lines if line.time_ns >= first]
    if timestamps:
        return "".join(f"{line.stamp} {line.text}" for line in lines)
    return "".join(line.text for line in lines)


Reader = Callable[..., str]
"""A backend's ``logs(backend_id, tail=, since=, timestamps=)``."""


def service_output(
    read: Reader,
    service: ServiceRecord,
    *,
    tail: int | None = None,
    since: float | str | None = None,
) -> dict[str, Any]:
    """The entry of one service in the reply of the ``logs`` op.

    ``{"name", "logs", "missing", "last_time", "next_since", "ended"}``: the text
    written at or after ``since`` (the last ``tail`` lines of it), why it could
    not be read, the exact time of its last line and the ``since`` that asks for
    what follows it (decimal seconds as strings), and whether the service has
    ended. ``ended`` is read from ``service`` before the output, so an ended
    service's text is all there is. While it lives, a last line without its
    ``\\n`` is left for a later read.
    """
    ended = service.status in ENDED_STATUSES
    first = None if since is None else since_ns(since)
    entry: dict[str, Any] = {"name": service.name, "logs": "", "missing": None}
    lines: list[StampedLine] = []
    if service.backend_id:
        try:
            lines = _read(read, service.backend_id, tail, first)
        except BackendError as exc:
            entry["missing"] = str(exc)
    if not ended and lines and not lines[-1].text.endswith("\n"):
        lines.pop()
    last = lines[-1].time_ns if lines else None
    following = first if last is None else last + 1
    entry["logs"] = "".join(line.text for line in lines)
    entry["last_time"] = None if last is None else seconds_text(last)
    entry["next_since"] = None if following is None else seconds_text(following)
    entry["ended"] = ended
    return entry


def _read(
    read: Reader, backend_id: str, tail: int | None, first: int | None
) -> list[StampedLine]:
    """The lines of ``backend_id`` at or after nanosecond ``first``."""
    since = None if first is None else docker_since(first)
    lines = parse_stamped(read(backend_id, tail=tail, since=since, timestamps=True))
    if first is None:
        return lines
    return [line for line in lines if line.time_ns >= first]


class KeptOutput:
    """The stamped output of the last ``max_services`` removed containers, each
    cut to its last ``max_chars`` characters (at the start of a line).
    Thread-safe: removals run on worker threads, reads on the master's."""

    def __init__(self, max_services: int = 256, max_chars: int = 256 * 1024) -> None:
        self.max_services = max_services
        self.max_chars = max_chars
        self._kept: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, backend_id: str, stamped: str) -> None:
        """Keep ``stamped`` (output with timestamps) as ``backend_id``'s last."""
        start = len(stamped) - self.max_chars
        if start > 0 and stamped[start - 1] != "\n":
            start = stamped.find("\n", start) + 1 or start
        stamped = stamped[max(start, 0) :]
        with self._lock:
            self._kept[backend_id] = stamped
            self._kept.move_to_end(backend_id)
            while len(self._kept) > self.max_services:
                self._kept.popitem(last=False)

    def get(self, backend_id: str) -> str | None:
        """The kept output of ``backend_id``, or ``None``."""
        with self._lock:
            return self._kept.get(backend_id)
