"""Container output with Docker's stamps: parsing, following, keeping."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from zoe.core.errors import BackendError
from zoe.core.execution import ServiceStatus
from zoe.live.db import ServiceRecord
from zoe.live.output import (
    KeptOutput,
    StampedLine,
    docker_since,
    parse_stamped,
    seconds_text,
    select,
    service_output,
    since_ns,
)
from zoe.live.protocol import decode_request
from zoe.live.protocol_errors import BadRequestError

# 2026-01-05T10:00:02Z is 1767607202 s after the epoch (20458 days * 86400 + 36002)
T = "2026-01-05T10:00:02"
T_NS = 1_767_607_202 * 10**9


def stamped(*lines: tuple[int, str]) -> str:
    """Docker's ``-t`` output of lines at ``T`` plus the given nanoseconds."""
    return "".join(f"{T}.{ns:09d}Z {text}" for ns, text in lines)


def record(status: ServiceStatus, backend_id: str | None = "local/c") -> ServiceRecord:
    now = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    return ServiceRecord(
        1,
        1,
        0,
        0,
        "s-0",
        True,
        status,
        "local",
        backend_id,
        now,
        None,
        None,
        None,
        None,
    )


class Reader:
    """A backend's ``logs`` over fixed stamped output; records its calls."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.calls: list[dict[str, Any]] = []

    def __call__(self, backend_id: str, **options: Any) -> str:
        self.calls.append({"backend_id": backend_id, **options})
        lines = parse_stamped(self.output)
        return select(lines, options["tail"], options["since"], True)


def test_stamps_are_read_to_the_nanosecond_and_removed() -> None:
    text = stamped((5, "one\n"), (120, "two\n")) + "2026-01-05T11:00:02+01:00 three\n"

    lines = parse_stamped(text)

    assert lines == [
        StampedLine(T_NS + 5, f"{T}.000000005Z", "one\n"),
        StampedLine(T_NS + 120, f"{T}.000000120Z", "two\n"),
        StampedLine(T_NS, "2026-01-05T11:00:02+01:00", "three\n"),
    ]


def test_the_pieces_of_a_long_line_are_joined() -> None:
    # Docker writes a line over 16 KiB in pieces, each with the first one's stamp
    piece = f"{T}.000000007Z "
    text = piece + "a" * 5 + piece + "b" * 3 + "\n" + stamped((9, "next\n"))

    lines = parse_stamped(text)

    assert [(line.time_ns, line.text) for line in lines] == [
        (T_NS + 7, "aaaaabbb\n"),
        (T_NS + 9, "next\n"),
    ]


def test_since_is_read_as_its_decimal_form() -> None:
    assert since_ns("1767607202.5") == T_NS + 500_000_000
    assert since_ns("1767607202.000000001") == T_NS + 1
    assert since_ns(1767607202.25) == T_NS + 250_000_000
    assert since_ns(3) == 3 * 10**9
    assert seconds_text(T_NS + 7) == "1767607202.000000007"
    # a float cannot carry nanoseconds: Docker is asked from the microsecond before
    assert docker_since(T_NS + 2_500) == 1767607202.000001
    assert docker_since(999_999_999) is None


def test_select_keeps_the_tail_then_what_is_at_or_after_since() -> None:
    lines = parse_stamped(
        stamped((0, "a\n"), (500_000_000, "b\n"), (900_000_000, "c\n"))
    )

    assert select(lines, tail=2) == "b\nc\n"
    assert select(lines, since=1767607202.5) == "b\nc\n"
    assert select(lines, tail=1, since=1767607202.5, timestamps=True) == (
        "2026-01-05T10:00:02.900000000Z c\n"
    )


def test_a_follower_gets_every_line_once() -> None:
    reader = Reader(stamped((10, "one\n"), (20, "two\n")))

    first = service_output(reader, record(ServiceStatus.RUNNING))
    reader.output += stamped((20, "two again\n"), (30, "three\n"))
    second = service_output(
        reader, record(ServiceStatus.EXITED), since=first["next_since"]
    )

    assert first == {
        "name": "s-0",
        "logs": "one\ntwo\n",
        "missing": None,
        "last_time": "1767607202.000000020",
        "next_since": "1767607202.000000021",
        "ended": False,
    }
    # a line stamped in the same nanosecond as one already returned is not returned
    assert (second["logs"], second["next_since"], second["ended"]) == (
        "three\n",
        "1767607202.000000031",
        True,
    )
    # Docker was asked from the microsecond before, at most: nothing in between lost
    assert reader.calls[1]["since"] == 1767607201.999999
    assert reader.calls[1]["timestamps"] is True


def test_a_line_being_written_waits_until_it_is_whole_or_the_service_ended() -> None:
    reader = Reader(stamped((10, "one\n"), (40, "half")))

    running = service_output(reader, record(ServiceStatus.RUNNING))
    ended = service_output(reader, record(ServiceStatus.FAILED))
    nothing_new = service_output(
        reader, record(ServiceStatus.RUNNING), since=running["next_since"]
    )

    assert (running["logs"], running["last_time"]) == ("one\n", "1767607202.000000010")
    assert ended["logs"] == "one\nhalf"
    # nothing returned: the next since stays where it was
    assert (nothing_new["logs"], nothing_new["next_since"]) == (
        "",
        "1767607202.000000011",
    )


def test_a_service_without_container_or_output() -> None:
    def gone(backend_id: str, **options: Any) -> str:
        raise BackendError(f"docker: no logs of {backend_id}: 404")

    waiting = service_output(gone, record(ServiceStatus.CREATED, None))
    lost = service_output(gone, record(ServiceStatus.REMOVED), since=5)

    assert waiting == {
        "name": "s-0",
        "logs": "",
        "missing": None,
        "last_time": None,
        "next_since": None,
        "ended": False,
    }
    assert lost["missing"] == "docker: no logs of local/c: 404"
    assert (lost["next_since"], lost["ended"]) == ("5.000000000", True)


def test_kept_output_is_cut_at_a_line_and_the_oldest_service_goes() -> None:
    kept = KeptOutput(max_services=2, max_chars=10)

    kept.keep("a", "1234\n5678\nabc\n")  # 14 characters: "5678\nabc\n" fits
    kept.keep("b", "12345\n6789\n")  # 11: the first line does not fit whole
    kept.keep("c", "123456789012")  # no line to cut at: the last 10 characters

    assert kept.get("a") is None  # the oldest of three
    assert (kept.get("b"), kept.get("c")) == ("6789\n", "3456789012")
    kept.keep("b", "b\n")
    kept.keep("d", "d\n")
    assert (kept.get("b"), kept.get("c"), kept.get("d")) == ("b\n", None, "d\n")
    kept.keep("b", "1234\n5678\nabc\n")
    assert kept.get("b") == "5678\nabc\n"


def logs_request(since: object) -> bytes:
    args = {"execution_id": 1, "since": since}
    return json.dumps({"v": 1, "id": "r1", "op": "logs", "args": args}).encode()


@pytest.mark.parametrize("since", [0, 1767607202, 1.5, "1767607202.000000001", "7"])
def test_the_logs_op_takes_since_as_a_number_or_decimal_text(since: object) -> None:
    assert decode_request(logs_request(since)).args.since == since  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("since", "shown"),
    [
        (-1, "-1"),
        (True, "true"),
        ("1.", '"1."'),
        ("1.0000000001", '"1.0000000001"'),
        (10**11, "100000000000"),
        ([1], "[1]"),
    ],
)
def test_a_bad_since_is_refused_saying_what_is_valid(since: object, shown: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        decode_request(logs_request(since))

    assert caught.value.message == (
        "args.since: since is UNIX seconds: a number from 0 to 99999999999, or a "
        'string of decimal seconds with up to 9 decimals such as "1767607202.'
        f'123456789"; got {shown}'
    )
    assert caught.value.details["path"] == "args.since"
