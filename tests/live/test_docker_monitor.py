"""The pure parts of the Docker monitoring: stats readings, rates, orphans, passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoe.core.errors import InvalidInput
from zoe.live.backends import BackendSettings, UsageSample
from zoe.live.backends.docker_engine import DockerEngineBackend
from zoe.live.backends.docker_monitor import (
    OrphanBook,
    Reading,
    UsageBook,
    cores_between,
    parse_time,
    reading_of,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:01.5Z", 1.5),
        ("1970-01-01T01:00:00.25+01:00", 0.25),
        ("2024-01-01T00:00:00Z", 1_704_067_200.0),
        ("1970-01-01T00:00:02.000000001Z", 2.000000001),
    ],
)
def test_docker_times_are_read_to_the_nanosecond(text: str, expected: float) -> None:
    assert parse_time(text) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00Z", "", None, "yesterday"])
def test_unset_or_bad_docker_times_are_none(text: object) -> None:
    assert parse_time(text) is None


def _stats(
    total: int, read: str, pre_total: int = 0, preread: str = "0001-01-01T00:00:00Z"
) -> dict[str, object]:
    return {
        "read": read,
        "preread": preread,
        "cpu_stats": {"cpu_usage": {"total_usage": total}},
        "precpu_stats": {"cpu_usage": {"total_usage": pre_total}},
        "memory_stats": {"usage": 10_000_000, "stats": {"total_inactive_file": 10**6}},
    }


def test_a_one_shot_reading_has_no_rate_and_memory_without_page_cache() -> None:
    reading = reading_of(_stats(3 * 10**9, "1970-01-01T00:00:10Z"), 99.0)

    # 10 MB used, 1 MB of it inactive file cache (cgroup v1 name)
    assert reading == Reading(3 * 10**9, 9_000_000, 10.0, None)


def test_a_reading_with_the_daemons_previous_one_has_its_rate() -> None:
    stats = _stats(3 * 10**9, "1970-01-01T00:00:10Z", 2 * 10**9, "1970-01-01T00:00:08Z")

    # one second of CPU over two seconds: half a core
    assert reading_of(stats, 0.0).cores == pytest.approx(0.5)


def test_memory_of_cgroup_v2_and_a_reading_without_time() -> None:
    stats = {"memory_stats": {"usage": 1500, "stats": {"inactive_file": 500}}}
    odd = {"memory_stats": {"usage": 1500, "stats": {"inactive_file": 4000}}}

    assert reading_of(stats, 42.0) == Reading(0, 1000, 42.0, None)
    assert reading_of(odd, 42.0).memory == 1500  # as docker stats: never below 0


def test_the_rate_between_two_readings_is_cpu_seconds_per_second() -> None:
    first = Reading(10**9, 0, 100.0)
    second = Reading(25 * 10**8, 0, 102.0)
    restarted = Reading(10**8, 0, 104.0)

    assert cores_between(first, second) == pytest.approx(0.75)
    assert cores_between(None, second) is None
    assert cores_between(second, restarted) is None
    assert cores_between(second, Reading(0, 0, 102.0)) is None  # no time passed
    assert cores_between(None, Reading(5, 0, 1.0, 1.25)) == 1.25


def test_an_orphan_is_due_once_listings_over_the_grace_showed_it() -> None:
    book = OrphanBook(5.0)

    assert book.due("h", ["h/a"], 100.0) == []
    assert book.due("h", ["h/a", "h/b"], 104.0) == []
    assert book.due("h", ["h/a", "h/b"], 105.0) == ["h/a"]
    assert book.due("g", ["g/x"], 105.0) == []
    # h/b not listed at 106 (tracked or gone by then): its clock starts again
    assert book.due("h", [], 106.0) == []
    assert book.due("h", ["h/b"], 107.0) == []
    assert book.due("h", ["h/b"], 111.9) == []
    assert book.due("h", ["h/b"], 112.0) == ["h/b"]
    # another host's listing leaves g/x counting
    assert book.due("g", ["g/x"], 110.0) == ["g/x"]


def test_without_a_grace_an_orphan_is_due_at_once() -> None:
    assert OrphanBook(0.0).due("h", ["h/b", "h/a"], 1.0) == ["h/a", "h/b"]


def test_a_usage_pass_starts_when_due_and_when_the_last_came_back() -> None:
    book = UsageBook(30.0)
    start = book.next_time
    labels = {"zoe.service": "7"}

    before = book.due(start - 1.0)
    at_start = book.due(start)
    book.started(2, start)
    in_flight = book.due(start + 31.0)
    book.on_reading("h/a", labels, Reading(10**9, 100, 10.0))
    book.on_failure("h/b")
    first = book.take()
    book.started(1, start + 31.0)
    book.on_reading("h/a", labels, Reading(3 * 10**9, 200, 12.0))
    second = book.take()

    assert (before, at_start, in_flight) == (False, True, False)
    assert first == [UsageSample("h/a", labels, None, 100, 10.0)]
    assert second == [UsageSample("h/a", labels, 1.0, 200, 12.0)]
    assert book.take() == []
    assert book.due(start + 61.0)
    assert not book.due(start + 60.0)


def test_a_reading_of_a_container_no_longer_running_is_dropped() -> None:
    book = UsageBook(1.0)
    book.started(2, 0.0)
    book.on_reading("h/a", None, Reading(10**9, 100, 10.0))
    book.on_reading("h/a", {"x": "y"}, Reading(2 * 10**9, 100, 11.0))

    # the first reading was forgotten: no rate from it
    assert book.take() == [UsageSample("h/a", {"x": "y"}, None, 100, 11.0)]
    assert book.in_flight == 0
    assert not UsageBook(0.0).due(10**9)


@pytest.mark.parametrize(
    ("key", "value"), [("usage_duration", -1), ("probe_duration", "2s")]
)
def test_a_bad_monitoring_option_says_what_to_fix(key: str, value: object) -> None:
    host = {"name": "h", "address": "unix:///nowhere.sock", "cores": 1, "memory": 1}
    settings = BackendSettings("d", Path("."), options={"hosts": [host], key: value})

    with pytest.raises(InvalidInput, match=f"{key} = {value!r}; expected a number"):
        DockerEngineBackend.from_settings(settings)
