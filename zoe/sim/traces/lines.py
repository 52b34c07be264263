"""The numbered text lines of a trace file, plain or gzip-compressed.

Every reader reads its file through :func:`text_lines`, so that a file that is not
text gives an :class:`~zoe.core.errors.InvalidTrace` naming the file and the line,
never a decoding error from deep inside a reader:

- a file that starts with the gzip magic bytes is decompressed as it is read (the
  public Google and Alibaba traces ship as ``.csv.gz`` parts);
- a line that is not UTF-8 is invalid (skippable, kind ``not text``);
- a compressed file that is truncated or corrupt, or a read that fails, stops the
  read with an error (not skippable: nothing after it can be trusted).
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path

from zoe.core.errors import InvalidTrace
from zoe.sim.traces.skiplog import LineErrors

GZIP_MAGIC = b"\x1f\x8b"


def text_lines(path: Path, errors: LineErrors) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` for each line of ``path``, counted from 1.

    ``text`` keeps its line ending. Lines that are not UTF-8 go to
    ``errors.invalid``; a file that cannot be read or decompressed raises
    :class:`InvalidTrace` at the line where the read failed.
    """
    number = 0
    try:
        with _open(path) as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    errors.invalid(number, "not text", _not_text(raw, exc))
                    continue
                yield number, text
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidTrace(
            str(path), number + 1, f"cannot read the file: {_reason(exc)}"
        ) from exc


def _open(path: Path) -> io.BufferedIOBase:
    """``path`` opened for reading bytes, through gzip when it is compressed."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else path.open("rb")


def _not_text(raw: bytes, exc: UnicodeDecodeError) -> str:
    byte = raw[exc.start]
    return (
        f"byte {exc.start + 1} (0x{byte:02x}) is not UTF-8 text; a trace must be a "
        "text file, plain or gzip-compressed"
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "the compressed data ends too early (truncated gzip file)"
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return f"the gzip data is corrupt ({exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
