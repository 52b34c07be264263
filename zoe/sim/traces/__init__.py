"""Trace readers and the native writer (DESIGN.md section 5).

:func:`read_trace` streams the executions of a trace file in trace order (submit
times never decrease) as :class:`TraceEntry` values. Formats are named in
:data:`FORMATS`, a registry from a name to a reader factory; each reader module
documents its mapping and options:

- ``native`` (:mod:`.native`): JSON Lines, the format the simulator is fed;
- ``swf`` (:mod:`.swf`): the Standard Workload Format;
- ``google2011`` (:mod:`.google2011`): Google cluster-data 2011 ``task_events``;
- ``alibaba2018`` (:mod:`.alibaba2018`): Alibaba cluster-trace v2018 ``batch_task``.

Every reader takes plain or gzip-compressed files and refuses bytes that are not
UTF-8 text with an error naming the file and line (:mod:`.lines`). Every reader
refuses a submit time or duration above :data:`.base.MAX_SECONDS` (1e12 s) as an
invalid line.

:func:`write_native` writes any entries as a native trace; :func:`summarize`
computes the figures of ``zoe trace inspect``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from zoe.core.errors import InvalidTrace, UnknownName
from zoe.sim.traces.alibaba2018 import AlibabaReader
from zoe.sim.traces.base import TraceEntry
from zoe.sim.traces.google2011 import GoogleReader
from zoe.sim.traces.native import NativeReader, write_native
from zoe.sim.traces.skiplog import LineErrors, Skip, SkipLog
from zoe.sim.traces.summary import TraceSummary, summarize
from zoe.sim.traces.swf import SwfReader

__all__ = [
    "FORMATS",
    "ReaderFactory",
    "Skip",
    "SkipLog",
    "TraceEntry",
    "TraceReader",
    "TraceSummary",
    "format_options",
    "read_trace",
    "summarize",
    "write_native",
]

log = logging.getLogger(__name__)


class TraceReader(Protocol):
    """Reads one format. Built by a factory from the format's options."""

    def read(self, path: Path, errors: LineErrors) -> Iterator[TraceEntry]:
        """Yield the executions of ``path`` in trace order; report bad lines to
        ``errors``."""
        ...


ReaderFactory = Callable[..., TraceReader]
"""Takes the format's options as keywords (values or strings); raises
:class:`UnknownName` for an unknown option, :class:`InvalidInput` for a bad value."""

FORMATS: dict[str, ReaderFactory] = {
    "native": NativeReader.from_options,
    "swf": SwfReader.from_options,
    "google2011": GoogleReader.from_options,
    "alibaba2018": AlibabaReader.from_options,
}

_OPTIONS: dict[str, dict[str, str]] = {
    "native": NativeReader.OPTIONS,
    "swf": SwfReader.OPTIONS,
    "google2011": GoogleReader.OPTIONS,
    "alibaba2018": AlibabaReader.OPTIONS,
}


def format_options(fmt: str) -> dict[str, str]:
    """The options of format ``fmt``: name -> one line of help."""
    if fmt not in FORMATS:
        raise UnknownName("trace format", fmt, FORMATS)
    return dict(_OPTIONS.get(fmt, {}))


def read_trace(
    path: Path,
    fmt: str = "native",
    *,
    skip_invalid: bool = False,
    skipped: SkipLog | None = None,
    **options: object,
) -> Iterator[TraceEntry]:
    """Stream the executions of the trace at ``path`` in format ``fmt``.

    The format, its options and the file's existence are checked at once
    (:class:`UnknownName`, :class:`InvalidInput`, :class:`InvalidTrace`); the file
    is read lazily, as the result is iterated. A malformed line raises
    :class:`InvalidTrace` naming the file and line, unless ``skip_invalid``: then it
    is counted in ``skipped`` and the read goes on. Jobs a format drops on purpose
    (documented per format) are always counted in ``skipped``; without a log they
    are summed up in one warning at the end of the read.
    """
    factory = FORMATS.get(fmt)
    if factory is None:
        raise UnknownName("trace format", fmt, FORMATS)
    reader = factory(**options)
    path = Path(path)
    if path.is_dir():
        raise InvalidTrace(str(path), 0, "is a folder; give the path of a trace file")
    if not path.is_file():
        raise InvalidTrace(str(path), 0, "no such file; give the path of a trace file")
    return _read(reader, path, skip_invalid, skipped)


def _read(
    reader: TraceReader, path: Path, skip_invalid: bool, skipped: SkipLog | None
) -> Iterator[TraceEntry]:
    skip_log = SkipLog() if skipped is None else skipped
    yield from reader.read(path, LineErrors(str(path), skip_invalid, skip_log))
    if skipped is None and skip_log.total:
        log.warning("trace %s: %s", path, skip_log.summary())
