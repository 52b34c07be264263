"""Every reader on files that are not plain text: binary bytes, gzip, broken gzip."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from zoe.core.errors import InvalidTrace
from zoe.sim.traces import FORMATS, SkipLog, read_trace

ZAPP = {
    "name": "one",
    "version": 4,
    "frameworks": [
        {
            "name": "app",
            "services": [
                {
                    "name": "worker",
                    "image": "zoe/one",
                    "essential_count": 1,
                    "total_count": 1,
                    "resources": {"cores": 1, "memory": "1GiB"},
                }
            ],
        }
    ],
}


def native_lines(count: int) -> list[bytes]:
    return [
        json.dumps(
            {"id": f"e{i}", "submit": float(i), "duration": 10.0, "zapp": ZAPP}
        ).encode()
        + b"\n"
        for i in range(count)
    ]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_binary_bytes_name_the_file_and_line_in_every_format(
    fmt: str, tmp_path: Path
) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"\x00\xe8\x9f\xff\xfe binary\n")

    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(path, fmt))

    assert caught.value.source == str(path)
    assert caught.value.line == 1
    assert "byte 2 (0xe8) is not UTF-8 text" in caught.value.reason


def test_a_line_that_is_not_text_is_skippable(tmp_path: Path) -> None:
    lines = native_lines(4)
    lines[2] = b'{"id": "\xff"}\n'
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b"".join(lines))

    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(path))
    assert caught.value.line == 3

    skipped = SkipLog()
    entries = list(read_trace(path, skip_invalid=True, skipped=skipped))
    assert [e.id for e in entries] == ["e0", "e1", "e3"]
    assert skipped.counts == {"not text": 1}
    assert skipped.examples[0].line == 3


def test_gzip_native_trace_reads_like_the_plain_one(tmp_path: Path) -> None:
    data = b"".join(native_lines(5))
    plain, packed = tmp_path / "t.jsonl", tmp_path / "t.jsonl.gz"
    plain.write_bytes(data)
    packed.write_bytes(gzip.compress(data))

    assert [(e.id, e.submit_time) for e in read_trace(packed)] == [
        ("e0", 0.0),
        ("e1", 1.0),
        ("e2", 2.0),
        ("e3", 3.0),
        ("e4", 4.0),
    ]
    assert list(read_trace(packed)) == list(read_trace(plain))


def test_gzip_swf_sample_reads_like_the_plain_one(
    shared_dir: Path, tmp_path: Path
) -> None:
    source = shared_dir / "traces" / "lublin-swf" / "lublin_256.swf"
    head = b"".join(source.read_bytes().splitlines(keepends=True)[:40])
    plain, packed = tmp_path / "part.swf", tmp_path / "part.swf.gz"
    plain.write_bytes(head)
    packed.write_bytes(gzip.compress(head))

    entries = list(read_trace(packed, "swf"))
    assert entries == list(read_trace(plain, "swf"))
    # lines 1-7 are the ';' header: 33 jobs, numbered 1 to 33
    assert [e.id for e in entries] == [str(n) for n in range(1, 34)]


def test_truncated_gzip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    packed = gzip.compress(b"".join(native_lines(200)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])

    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(path))

    assert caught.value.source == str(path)
    assert caught.value.line > 1
    assert "truncated gzip file" in caught.value.reason


def test_a_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidTrace) as caught:
        read_trace(tmp_path)
    assert (
        str(caught.value) == f"{tmp_path}: is a folder; give the path of a trace file"
    )
