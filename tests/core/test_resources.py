"""Exact resource quantities: parsing memory and cores, the Resources vector."""

from __future__ import annotations

import pytest

from zoe.core.resources import (
    Resources,
    format_cores,
    format_memory,
    parse_cores,
    parse_memory,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1, 1),
        (536_870_912, 536_870_912),
        (2048.0, 2048),
        ("100", 100),
        ("100B", 100),
        ("1KiB", 1024),
        ("1KB", 1000),
        ("512MiB", 536_870_912),
        ("4GiB", 4_294_967_296),
        ("1.5GB", 1_500_000_000),
        ("1.5GiB", 1_610_612_736),
        ("2TiB", 2_199_023_255_552),
        (" 2 GiB ", 2_147_483_648),
        ("0.5KiB", 512),
        ("1.9B", 1),  # fractions of a byte are rounded down
    ],
)
def test_parse_memory(value: object, expected: int) -> None:
    assert parse_memory(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "not a boolean"),
        (-1, "must not be negative"),
        (-2.0, "must not be negative"),
        (1.5, "integer of bytes"),
        (float("inf"), "integer of bytes"),
        (None, "integer of bytes"),
        ([4], "integer of bytes"),
        ("4G", "not understood"),
        ("4gib", "not understood"),
        ("-1GiB", "not understood"),
        ("", "not understood"),
        ("GiB", "not understood"),
        ("1,5GiB", "not understood"),
    ],
)
def test_parse_memory_refuses(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_memory(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1000),
        (32, 32_000),
        (0.5, 500),
        (0.1, 100),
        (1.125, 1125),
        ("2.5", 2500),
        (0.001, 1),
        (0.0009, 0),  # sub-millicore fractions are rounded down
        (0, 0),
    ],
)
def test_parse_cores(value: object, expected: int) -> None:
    assert parse_cores(value) == expected


@pytest.mark.parametrize(
    "value",
    [True, None, "two", "", [1], {"min": 1}, float("inf"), float("nan"), "Infinity"],
)
def test_parse_cores_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="cores must be a number"):
        parse_cores(value)


def test_format_memory_uses_the_largest_whole_binary_unit() -> None:
    assert format_memory(4 * 1024**3) == "4GiB"
    assert format_memory(1536 * 1024**2) == "1536MiB"
    assert format_memory(1000) == "1000"
    assert format_memory(0) == "0"


def test_format_cores_is_an_int_when_whole() -> None:
    assert format_cores(2000) == 2
    assert isinstance(format_cores(2000), int)
    assert format_cores(1500) == 1.5


def test_resources_arithmetic_and_fit() -> None:
    a = Resources(1500, 2048)
    b = Resources(500, 1024)

    assert a + b == Resources(2000, 3072)
    assert a - b == Resources(1000, 1024)
    assert b * 3 == Resources(1500, 3072)
    assert b.fits_in(a)
    assert not a.fits_in(b)
    assert not Resources(1500, 4096).fits_in(a)  # memory alone decides
    assert (b - a).is_negative()
    assert not Resources().is_negative()
    assert a.cores == 1.5
    assert str(Resources(2000, 4 * 1024**3)) == "2 cores, 4GiB"
