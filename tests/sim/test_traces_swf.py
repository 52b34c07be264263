"""The SWF reader, on the Lublin sample and on small files.

Expected values come from the raw sample: its data lines 1, 4 and 10,000 read by eye,
and sums over fields 4 and 5 computed with awk::

    awk '!/^;/{s+=$5; w+=$4*$5} END{printf "%d %.0f\\n", s, w}'  # 221010 2092781168
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zoe.core.errors import InvalidTrace
from zoe.sim.traces import SkipLog, read_trace, summarize

GIB = 1024**3
HEADER = "; Version: 2\n; MaxNodes: 256\n"


def job(number: int, submit: int, run: int, procs: int, **fields: str) -> str:
    values = [str(number), str(submit), "-1", str(run), str(procs)] + ["-1"] * 13
    for index, value in fields.items():
        values[int(index.removeprefix("f")) - 1] = value
    return " ".join(values)


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "t.swf"
    path.write_text(HEADER + "".join(f"{text}\n" for text in lines))
    return path


@pytest.fixture
def lublin(shared_dir: Path) -> Path:
    return shared_dir / "traces" / "lublin-swf" / "lublin_256.swf"


def test_lublin_counts_and_rows(lublin: Path) -> None:
    entries = list(read_trace(lublin, "swf"))

    assert len(entries) == 10000
    first, fourth, last = entries[0], entries[3], entries[-1]
    # "1    5094 -1   12072  16 ..."
    assert (first.id, first.submit_time, first.duration) == ("1", 5094.0, 12072.0)
    assert first.zapp.service_count == 16
    assert first.zapp.essential_count == 16
    ((_, group),) = first.zapp.groups()
    assert group.demand.millicores == 1000
    assert group.demand.memory == GIB  # memory unknown (-1): the default
    # "4    7287 -1    9053 128 ..."
    assert (fourth.submit_time, fourth.duration) == (7287.0, 9053.0)
    assert fourth.zapp.service_count == 128
    # "10000 7711701 -1   13929   3 ..."
    assert (last.id, last.submit_time, last.duration) == ("10000", 7711701.0, 13929.0)
    assert last.zapp.service_count == 3


def test_lublin_totals(lublin: Path) -> None:
    summary = summarize(read_trace(lublin, "swf"))
    assert summary.services == 221010
    assert summary.work_core_seconds == 2092781168


def test_same_shape_same_zapp(lublin: Path) -> None:
    entries = list(read_trace(lublin, "swf"))
    single = [e.zapp for e in entries if e.zapp.service_count == 1]
    assert len(single) > 100
    assert all(z is single[0] for z in single)


def test_essential_and_memory_options(tmp_path: Path) -> None:
    # requested memory (field 10) wins over used memory (field 7), KB per processor
    trace = write(
        tmp_path,
        job(1, 0, 100, 8, f7="2048", f10="1048576"),
        job(2, 10, 100, 10, f7="2048"),
        job(3, 20, 100, 3),
    )

    as_count = list(read_trace(trace, "swf", essential="2", memory="512MiB"))
    as_fraction = list(read_trace(trace, "swf", essential=0.25))

    assert [e.zapp.essential_count for e in as_count] == [2, 2, 2]
    # ceil(0.25 x 8) = 2, ceil(0.25 x 10) = 3, ceil(0.25 x 3) = 1
    assert [e.zapp.essential_count for e in as_fraction] == [2, 3, 1]
    memories = [next(e.zapp.groups())[1].demand.memory for e in as_count]
    assert memories == [1048576 * 1024, 2048 * 1024, 512 * 1024**2]


def test_requested_processors_when_allocated_unknown(tmp_path: Path) -> None:
    trace = write(tmp_path, job(1, 0, 100, -1, f8="6"))
    (entry,) = read_trace(trace, "swf")
    assert entry.zapp.service_count == 6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (job(2, 5, 100, 4)[:-6], "expected 18 whitespace-separated fields, found 16"),
        (job(2, 5, 100, 4).replace(" 100 ", " 1O0 "), "field 4 is '1O0'"),
        (job(2, 5, 0, 4), "run time"),
        (job(2, 5, 100, 0), "processors"),
        (job(2, 0, 100, 4), "before the previous job's"),
        (
            job(2, 5, 100, 4).replace(" 100 ", " 1e308 "),
            r"run time \(field 4\) is 1e308 s, above the limit of 1e\+12 s",
        ),
        (
            job(2, 5, 100, 4).replace(" 5 ", " 2000000000000 "),
            r"submit time \(field 2\) is 2000000000000 s, above the limit",
        ),
    ],
)
def test_bad_lines(tmp_path: Path, text: str, message: str) -> None:
    trace = write(tmp_path, job(1, 1, 10, 1), text)

    with pytest.raises(InvalidTrace, match=message) as caught:
        list(read_trace(trace, "swf"))

    assert caught.value.line == 4  # two header lines, then job 1
    assert str(caught.value).startswith(f"{trace}:4: ")


def test_broken_copy_of_the_sample(lublin: Path, tmp_path: Path) -> None:
    lines = lublin.read_text().splitlines()
    # header lines 1-7, job 1 on line 8; break jobs 2 and 3 (lines 9 and 10)
    lines[8] = lines[8][:12]
    lines[9] = lines[9].replace("24089", "24O89")
    broken = tmp_path / "broken.swf"
    broken.write_text("\n".join(lines) + "\n")

    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(broken, "swf"))
    assert (caught.value.source, caught.value.line) == (str(broken), 9)

    skipped = SkipLog()
    entries = list(read_trace(broken, "swf", skip_invalid=True, skipped=skipped))
    assert len(entries) == 9998
    assert skipped.counts == {"wrong field count": 1, "not a number": 1}
    assert [s.line for s in skipped.examples] == [9, 10]


def test_a_repeated_job_number_is_invalid_and_skippable(tmp_path: Path) -> None:
    path = write(tmp_path, job(1, 0, 10, 1), job(2, 5, 10, 1), job(1, 9, 10, 1))

    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(path, "swf"))
    assert caught.value.line == 5  # after the 2 header lines
    assert "execution id '1' was used by an earlier line" in caught.value.reason

    skipped = SkipLog()
    entries = list(read_trace(path, "swf", skip_invalid=True, skipped=skipped))
    assert [(e.id, e.submit_time) for e in entries] == [("1", 0.0), ("2", 5.0)]
    assert skipped.counts == {"duplicate id": 1}


def test_a_time_above_the_limit_is_skippable(tmp_path: Path) -> None:
    huge = job(2, 5, 100, 4).replace(" 100 ", " 1e299 ")
    trace = write(tmp_path, job(1, 1, 10, 1), huge, job(3, 6, 20, 2))
    skipped = SkipLog()

    entries = list(read_trace(trace, "swf", skip_invalid=True, skipped=skipped))

    assert [entry.id for entry in entries] == ["1", "3"]
    assert skipped.counts == {"bad value": 1}
    assert skipped.examples[0].line == 4
