"""The native trace format: JSON Lines, one execution a line (DESIGN.md section 5).

A line is one JSON object with these keys, and no other (an unknown key is an
error naming it):

- ``id``: a string (an integer is taken as its decimal text), unique in the trace:
  a line that repeats an earlier id is invalid (skippable);
- ``submit``: the submit time in seconds from the trace start, >= 0;
- ``duration``: seconds of work at full allocation, > 0;
- ``submit`` and ``duration`` are at most
  :data:`~zoe.sim.traces.base.MAX_SECONDS` (1e12 s);
- exactly one of ``zapp`` (an inline ZApp of version 1 to 4) and ``zapp_file`` (the
  path of a ZApp JSON file, relative to the folder of the trace);
- ``serial_fraction`` (optional): a number in [0, 1] or null, for the ``amdahl``
  runtime model.

Blank lines and lines whose first non-blank character is ``#`` are comments. Submit
times must not decrease from one line to the next: a line that goes back in time
is invalid (skippable), since the simulator replays in trace order.

A ZApp is validated like any other (:func:`zoe.core.zapp_import.load_zapp`); its
faults make the line invalid, with the JSON path of each fault in the message.
ZApps are cached: a ZApp file is read once, and an inline ZApp written the same way
on many lines is validated once. A line whose text from ``"zapp":`` to its end was
seen before (``zapp`` as the last key, as :func:`write_native` writes it) has only
its other keys parsed.

:func:`write_native` writes ZApps inline and compactly, ``zapp`` last on the line;
each distinct ZApp object is serialised once. Fields at their default (null, an
empty list or object) are left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from zoe.core.errors import InvalidZApp, NotAZApp
from zoe.core.zapp import ZApp
from zoe.core.zapp_import import load_zapp
from zoe.sim.traces.base import MAX_SECONDS, MAX_SECONDS_TEXT, TraceEntry
from zoe.sim.traces.lines import text_lines
from zoe.sim.traces.options import check_names
from zoe.sim.traces.skiplog import BadLineError, LineErrors, SubmitOrder

KEYS = ("id", "submit", "duration", "zapp", "zapp_file", "serial_fraction")
_KEY_SET = frozenset(KEYS)
_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class NativeReader:
    """Reads native traces; it has no options."""

    OPTIONS: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_options(cls, **options: object) -> NativeReader:
        """Build the reader; any option is unknown."""
        check_names("native format option", options, cls.OPTIONS)
        return cls()

    def read(self, path: Path, errors: LineErrors) -> Iterator[TraceEntry]:
        """Yield the executions of ``path`` in file order (see the module docstring)."""
        lines = _LineParser(path.parent)
        order = SubmitOrder(errors, "line", "sort the trace by submit time")
        for number, text in text_lines(path, errors):
            stripped = text.lstrip()
            if not stripped or stripped[0] == "#":
                continue
            try:
                entry = lines.entry(text)
            except BadLineError as exc:
                errors.bad(number, exc)
                continue
            if order.accepts(number, entry):
                yield entry


class _LineParser:
    """Turns one line into an entry; holds the ZApp caches of one read.

    Fast path: a line that ends with ``"zapp":<text>}`` where that tail was seen
    before on a line with ``zapp`` as its last key. Then only the head (the line
    before ``"zapp":``, closed with ``}``) is parsed, and the cached ZApp is used.
    If the head parses as an object, the whole line is that object plus ``zapp`` as
    its last key, so this gives what a full parse gives. Any other line is parsed
    in full; its ZApp is cached by its JSON text.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.by_tail: dict[str, ZApp] = {}
        self.by_document: dict[str, ZApp] = {}
        self.files: dict[str, ZApp] = {}

    def entry(self, text: str) -> TraceEntry:
        start = text.find('"zapp":')
        if start > 0:
            zapp = self.by_tail.get(text[start:])
            if zapp is not None:
                head = text[:start].rstrip()
                if head.endswith(","):
                    entry = self._fast_entry(head[:-1] + "}", zapp)
                    if entry is not None:
                        return entry
        record = _record(text)
        entry = _entry(record, self._zapp(record))
        # only a valid line is remembered: its keys are all known and none but
        # zapp holds an object, so its first '"zapp":' is the top-level key
        zapp_last = next(reversed(record)) == "zapp"
        if start > 0 and zapp_last and record["zapp"] is not None:
            _remember(self.by_tail, text[start:], entry.zapp)
        return entry

    def _fast_entry(self, head: str, zapp: ZApp) -> TraceEntry | None:
        try:
            record = _record(head)
        except BadLineError:
            return None  # the full parse says what is wrong, with the right column
        if "zapp" in record or "zapp_file" in record:
            return None
        return _entry(record, zapp)

    def _zapp(self, record: Mapping[str, Any]) -> ZApp:
        document = record.get("zapp")
        name = record.get("zapp_file")
        if (document is None) == (name is None):
            raise BadLineError(
                "missing zapp", "give exactly one of 'zapp' and 'zapp_file'"
            )
        if name is not None:
            return self._file_zapp(name)
        key = json.dumps(document)
        zapp = self.by_document.get(key)
        if zapp is None:
            zapp = _load(document, "zapp", None)
            _remember(self.by_document, key, zapp)
        return zapp

    def _file_zapp(self, name: object) -> ZApp:
        if not isinstance(name, str) or not name:
            raise BadLineError(
                "bad value", "zapp_file: expected a non-empty path string"
            )
        zapp = self.files.get(name)
        if zapp is None:
            path = self.folder / name
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise BadLineError(
                    "zapp file",
                    f"zapp_file {name!r}: cannot read {path}: {exc.strerror}",
                ) from None
            except json.JSONDecodeError as exc:
                raise BadLineError(
                    "zapp file", f"zapp_file {name!r}: {path} is not valid JSON: {exc}"
                ) from None
            zapp = _load(document, f"zapp_file {name!r}", str(path))
            self.files[name] = zapp
        return zapp


def _remember(cache: dict[str, ZApp], key: str, zapp: ZApp) -> None:
    if len(cache) >= _CACHE_LIMIT:
        del cache[next(iter(cache))]
    cache[key] = zapp


def _entry(record: Mapping[str, Any], zapp: ZApp) -> TraceEntry:
    unknown = record.keys() - _KEY_SET
    if unknown:
        raise BadLineError(
            "unknown key",
            f"unknown key {sorted(unknown)[0]!r}; valid keys: {', '.join(KEYS)}",
        )
    return TraceEntry(
        _identifier(record),
        _number(record, "submit", allow_zero=True),
        _number(record, "duration", allow_zero=False),
        zapp,
        _serial_fraction(record.get("serial_fraction")),
    )


def _record(text: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadLineError(
            "bad JSON", f"not valid JSON: {exc.msg} at column {exc.colno}"
        ) from None
    if not isinstance(record, dict):
        raise BadLineError("bad JSON", "expected one JSON object on the line")
    return record


def _load(document: object, what: str, source: str | None) -> ZApp:
    try:
        return load_zapp(document, source)
    except (InvalidZApp, NotAZApp) as exc:
        raise BadLineError("invalid zapp", f"{what}: {exc}") from None


def _identifier(record: Mapping[str, Any]) -> str:
    value = record.get("id")
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if "id" not in record:
        raise BadLineError("missing key", "key 'id' is missing")
    raise BadLineError(
        "bad value", f"id: must be a non-empty string, got {json.dumps(value)}"
    )


def _number(record: Mapping[str, Any], key: str, *, allow_zero: bool) -> float:
    if key not in record:
        raise BadLineError("missing key", f"key {key!r} is missing")
    value = record[key]
    if value is None:
        raise BadLineError("bad value", f"{key}: expected a number, got null")
    if type(value) is not float and type(value) is not int:  # bool is no number
        raise BadLineError("bad value", f"{key}: expected a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise BadLineError(
            "bad value", f"{key}: expected a finite number {bound}, got {value!r}"
        )
    if number > MAX_SECONDS:
        raise BadLineError(
            "bad value",
            f"{key}: {value!r} seconds is above the limit of {MAX_SECONDS_TEXT}",
        )
    return number


def _serial_fraction(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadLineError(
            "bad value", f"serial_fraction: expected a number, got {value!r}"
        )
    if not 0.0 <= value <= 1.0:
        raise BadLineError(
            "bad value", f"serial_fraction: expected [0, 1], got {value!r}"
        )
    return float(value)


def write_native(entries: Iterable[TraceEntry], path: Path) -> int:
    """Write ``entries`` to ``path`` as a native trace; return how many were written.

    Overwrites ``path``. One compact JSON object a line, keys in the order id,
    submit, duration, serial_fraction (when set), zapp. Raises ``ValueError`` for
    a time that is not finite.
    """
    texts: dict[int, tuple[ZApp, str]] = {}
    count = 0
    with Path(path).open("w", encoding="utf-8") as out:
        for entry in entries:
            line = (
                f'{{"id":{json.dumps(entry.id)},'
                f'"submit":{_float(entry.submit_time)},'
                f'"duration":{_float(entry.duration)}'
            )
            if entry.serial_fraction is not None:
                line += f',"serial_fraction":{_float(entry.serial_fraction)}'
            out.write(f'{line},"zapp":{_zapp_text(entry.zapp, texts)}}}\n')
            count += 1
    return count


def _float(value: float) -> str:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"cannot write {value!r} to a trace: not a finite number")
    return repr(number)


def _zapp_text(zapp: ZApp, texts: dict[int, tuple[ZApp, str]]) -> str:
    # keyed by identity; the ZApp is kept in the value so its id is not reused
    known = texts.get(id(zapp))
    if known is not None:
        return known[1]
    text = json.dumps(_compact(zapp.to_dict()), separators=(",", ":"))
    if len(texts) >= _CACHE_LIMIT:
        texts.clear()
    texts[id(zapp)] = (zapp, text)
    return text


def _compact(value: Any) -> Any:
    """Drop keys whose value is null, [] or {}: in a ZApp each means the default."""
    if isinstance(value, dict):
        return {
            key: _compact(item)
            for key, item in value.items()
            if item is not None and item != [] and item != {}
        }
    if isinstance(value, list):
        return [_compact(item) for item in value]
    return value
