"""The native reader and writer, the format registry, the skip log and the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zoe.core.errors import InvalidInput, InvalidTrace, UnknownName
from zoe.core.zapp import parse_zapp
from zoe.sim.traces import (
    FORMATS,
    SkipLog,
    TraceEntry,
    read_trace,
    summarize,
    write_native,
)

ZAPP = {
    "name": "spark",
    "version": 4,
    "frameworks": [
        {
            "name": "spark",
            "services": [
                {
                    "name": "master",
                    "image": "zoe/spark",
                    "essential_count": 1,
                    "total_count": 1,
                    "resources": {"cores": 1, "memory": "1GiB"},
                },
                {
                    "name": "worker",
                    "image": "zoe/spark",
                    "essential_count": 2,
                    "total_count": 6,
                    "resources": {"cores": 2, "memory": "4GiB"},
                },
            ],
        }
    ],
}


def line(**fields: object) -> str:
    return json.dumps(fields)


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{text}\n" for text in lines), encoding="utf-8")
    return path


def test_reads_inline_and_file_zapps_with_comments(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "spark.json").write_text(json.dumps(ZAPP))
    trace = write(
        tmp_path / "t.jsonl",
        "# a comment",
        line(id="e1", submit=0.0, duration=120.0, zapp=ZAPP),
        "",
        line(id="e2", submit=5, duration=60, zapp_file="apps/spark.json"),
        line(id="e3", submit=5, duration=1.5, zapp=ZAPP, serial_fraction=0.1),
    )

    entries = list(read_trace(trace))

    assert [e.id for e in entries] == ["e1", "e2", "e3"]
    assert [e.submit_time for e in entries] == [0.0, 5.0, 5.0]
    assert [e.duration for e in entries] == [120.0, 60.0, 1.5]
    assert [e.serial_fraction for e in entries] == [None, None, 0.1]
    # 1 master + 6 workers; 1 + 2 essential
    assert entries[1].zapp.service_count == 7
    assert entries[1].zapp.essential_count == 3
    assert entries[0].zapp is entries[2].zapp  # one ZApp per distinct text


def test_reads_an_older_zapp_version(tmp_path: Path) -> None:
    v3 = {
        "name": "nb",
        "version": 3,
        "will_end": False,
        "services": [
            {
                "name": "notebook",
                "image": "zoe/nb",
                "essential_count": 1,
                "total_count": 1,
                "startup_order": 0,
                "resources": {"memory": {"min": 1073741824, "max": None}},
            }
        ],
    }
    trace = write(tmp_path / "t.jsonl", line(id="a", submit=0, duration=1, zapp=v3))
    (entry,) = read_trace(trace)
    assert entry.zapp.kind == "interactive"
    assert entry.zapp.service_count == 1


def test_round_trip_through_the_writer(tmp_path: Path) -> None:
    zapp = parse_zapp(ZAPP)
    entries = [
        TraceEntry("e1", 0.0, 120.0, zapp),
        TraceEntry("e2", 2.5, 30.25, zapp, serial_fraction=0.2),
    ]
    out = tmp_path / "out.jsonl"

    assert write_native(entries, out) == 2

    lines = out.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith('{"id":"e1","submit":0.0,"duration":120.0,"zapp":{')
    assert ", " not in lines[0]  # compact
    assert '"serial_fraction":0.2,"zapp"' in lines[1]
    assert list(read_trace(out)) == entries


def test_writer_refuses_a_time_that_is_not_finite(tmp_path: Path) -> None:
    entry = TraceEntry("e1", float("inf"), 1.0, parse_zapp(ZAPP))
    with pytest.raises(ValueError, match="finite"):
        write_native([entry], tmp_path / "x.jsonl")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": "e1", "submit": 0, "duration": 1', "not valid JSON"),
        (line(id="e1", submit="x", duration=1, zapp=ZAPP), "submit: expected a number"),
        (line(id="e1", submit=0, duration=0, zapp=ZAPP), "duration: expected a finite"),
        (line(id="e1", submit=0, duration=1), "exactly one of 'zapp' and 'zapp_file'"),
        (
            line(id="e1", submit=0, duration=1, zapp=ZAPP, extra=1),
            "unknown key 'extra'",
        ),
        (line(submit=0, duration=1, zapp=ZAPP), "key 'id' is missing"),
        (
            line(id=None, submit=0, duration=1, zapp=ZAPP),
            "^[^ ]+:2: id: must be a non-empty string, got null$",
        ),
        (line(id="", submit=0, duration=1, zapp=ZAPP), "id: must be a non-empty"),
        (line(id="e1", submit=None, duration=1, zapp=ZAPP), "submit: expected a num"),
        (line(id="e1", submit=1e308, duration=1, zapp=ZAPP), "submit: .* limit of 1e"),
        (line(id="e1", submit=0, duration=1e308, zapp=ZAPP), "duration: .* limit"),
        (line(id="e1", submit=0, duration=2e12, zapp=ZAPP), "duration: .* limit"),
        (line(id="e1", submit=0, duration=10**400, zapp=ZAPP), "duration: expected"),
        (
            line(id="e1", submit=0, duration=1, zapp=ZAPP, serial_fraction=2),
            "serial_fraction",
        ),
        (line(id="e1", submit=0, duration=1, zapp_file="none.json"), "cannot read"),
    ],
)
def test_a_bad_line_names_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    good = line(id="e0", submit=0, duration=1, zapp=ZAPP)
    trace = write(tmp_path / "bad.jsonl", good, text)

    with pytest.raises(InvalidTrace, match=message) as caught:
        list(read_trace(trace))

    assert caught.value.line == 2
    assert caught.value.source == str(trace)
    assert str(caught.value).startswith(f"{trace}:2: ")


def test_an_invalid_zapp_names_the_line_and_the_zapp_path(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(ZAPP))
    broken["frameworks"][0]["services"][1]["essential_count"] = 9
    trace = write(
        tmp_path / "t.jsonl", line(id="e1", submit=0, duration=1, zapp=broken)
    )

    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(trace))

    assert caught.value.line == 1
    assert "frameworks[0].services[1].essential_count" in str(caught.value)


def test_a_cached_tail_after_a_broken_head_still_fails(tmp_path: Path) -> None:
    # the second line repeats the ZApp text of the first, so it takes the fast path
    first = '{"id":"e1","submit":0.0,"duration":1.0,"zapp":' + json.dumps(ZAPP) + "}"
    second = '{"id":"e2","submit":0.0,"duration":"x","zapp":' + json.dumps(ZAPP) + "}"
    trace = write(tmp_path / "t.jsonl", first, second)

    with pytest.raises(InvalidTrace, match="duration: expected a number") as caught:
        list(read_trace(trace))
    assert caught.value.line == 2


def test_a_null_zapp_is_never_taken_from_the_cache(tmp_path: Path) -> None:
    (tmp_path / "spark.json").write_text(json.dumps(ZAPP))
    trace = write(
        tmp_path / "t.jsonl",
        '{"id":"e1","submit":0,"duration":1,"zapp_file":"spark.json","zapp":null}',
        '{"id":"e2","submit":0,"duration":1,"zapp":null}',
    )
    with pytest.raises(InvalidTrace, match="exactly one of") as caught:
        list(read_trace(trace))
    assert caught.value.line == 2


def test_a_line_going_back_in_time_is_invalid(tmp_path: Path) -> None:
    trace = write(
        tmp_path / "t.jsonl",
        line(id="e1", submit=10, duration=1, zapp=ZAPP),
        line(id="e2", submit=9, duration=1, zapp=ZAPP),
    )
    with pytest.raises(InvalidTrace, match="sort the trace") as caught:
        list(read_trace(trace))
    assert caught.value.line == 2


def test_skip_invalid_counts_reasons_and_goes_on(tmp_path: Path) -> None:
    trace = write(
        tmp_path / "t.jsonl",
        line(id="e1", submit=0, duration=1, zapp=ZAPP),
        '{"id": "e2", "submit": 1, "duration"',
        line(id="e3", submit=2, duration=-1, zapp=ZAPP),
        line(id="e4", submit=3, duration=1, zapp=ZAPP),
        line(id="e5", submit=4, duration="1s", zapp=ZAPP),
    )
    skipped = SkipLog()

    entries = list(read_trace(trace, skip_invalid=True, skipped=skipped))

    assert [e.id for e in entries] == ["e1", "e4"]
    assert skipped.total == 3
    assert skipped.counts == {"bad JSON": 1, "bad value": 2}
    assert [s.line for s in skipped.examples] == [2, 3, 5]
    assert skipped.summary() == "3 skipped: 2 bad value, 1 bad JSON"


def test_skip_log_keeps_a_few_examples() -> None:
    log = SkipLog()
    for number in range(1, 9):
        log.add("bad value", number, "x")
    assert log.total == 8
    assert [s.line for s in log.examples] == [1, 2, 3, 4, 5]
    assert log.details()[1] == "  line 1: bad value: x"


def test_unknown_format_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownName) as caught:
        read_trace(tmp_path / "t", "csv")
    assert caught.value.valid == ["alibaba2018", "google2011", "native", "swf"]
    assert sorted(FORMATS) == caught.value.valid


def test_unknown_option_and_bad_value_fail_before_reading(tmp_path: Path) -> None:
    with pytest.raises(UnknownName, match="essential, memory"):
        read_trace(tmp_path / "missing.swf", "swf", essentials="all")
    with pytest.raises(InvalidInput, match="option memory"):
        read_trace(tmp_path / "missing.swf", "swf", memory="lots")
    with pytest.raises(UnknownName):
        read_trace(tmp_path / "missing.jsonl", "native", anything=1)


def test_a_missing_file_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(InvalidTrace, match="no such file"):
        read_trace(tmp_path / "missing.jsonl")


def test_summary_by_hand(tmp_path: Path) -> None:
    zapp = parse_zapp(ZAPP)  # 7 services, 3 essential, 1 + 6 x 2 = 13 cores
    entries = [
        TraceEntry("a", 10.0, 100.0, zapp),
        TraceEntry("b", 20.0, 50.0, zapp),
        TraceEntry("c", 40.0, 10.0, zapp),
    ]

    summary = summarize(entries)

    assert summary.executions == 3
    assert summary.services == 21
    assert summary.essential_services == 9
    assert summary.elastic_services == 12
    assert summary.span_duration == 30.0
    assert summary.mean_interarrival == 15.0
    assert summary.work_core_seconds == pytest.approx(13 * 160)
    assert summary.offered_load(800) == pytest.approx(13 * 160 / (800 * 30))
    assert summarize([]).offered_load(800) is None


def test_a_repeated_id_is_invalid_and_skippable(tmp_path: Path) -> None:
    trace = write(
        tmp_path / "t.jsonl",
        line(id="a", submit=0, duration=5, zapp=ZAPP),
        line(id="b", submit=1, duration=5, zapp=ZAPP),
        line(id="a", submit=2, duration=5, zapp=ZAPP),
        line(id="c", submit=3, duration=5, zapp=ZAPP),
    )

    with pytest.raises(InvalidTrace) as caught:
        list(read_trace(trace))
    assert (caught.value.source, caught.value.line) == (str(trace), 3)
    assert caught.value.reason == (
        "execution id 'a' was used by an earlier line; ids must be unique"
    )

    skipped = SkipLog()
    entries = list(read_trace(trace, skip_invalid=True, skipped=skipped))
    assert [(e.id, e.submit_time) for e in entries] == [
        ("a", 0.0),
        ("b", 1.0),
        ("c", 3.0),
    ]
    assert skipped.counts == {"duplicate id": 1}
    assert skipped.examples[0].line == 3
