"""Datestamps: seconds granularity, day granularity accepted, inclusive until."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.oaipmh import BadArgument, format_datestamp, parse_datestamp, parse_range


def test_format_is_seconds_granularity_utc() -> None:
    assert format_datestamp(1012867200 + 5 * 3600 + 35 * 60) == "2002-02-05T05:35:00Z"


@given(st.integers(min_value=-62135596800, max_value=253402300799))
def test_seconds_round_trip(seconds: int) -> None:
    parsed = parse_datestamp(format_datestamp(seconds))
    assert (parsed.seconds, parsed.day) == (seconds, False)


def test_day_granularity_is_the_start_of_the_day() -> None:
    parsed = parse_datestamp("2002-02-05")
    assert parsed.day and parsed.seconds == calendar.timegm((2002, 2, 5, 0, 0, 0))


@pytest.mark.parametrize(
    "text",
    [
        "junk",
        "2002-02-30",
        "2002-13-01",
        "0000-01-01",
        "2002-02-05T05:35:00",
        "2002-02-05T05:35Z",
        "2002-02-05T24:00:00Z",
        "2002-02-05T05:35:00.5Z",
        "2002-02-05T05:35:00+01:00",
        " 2002-02-05",
        "2002-2-5",
    ],
)
def test_malformed_datestamps_are_bad_arguments(text: str) -> None:
    with pytest.raises(BadArgument):
        parse_datestamp(text)


def test_day_until_is_inclusive_to_the_last_second() -> None:
    start, end = parse_range("2002-02-05", "2002-02-05")
    assert start == calendar.timegm((2002, 2, 5, 0, 0, 0))
    assert end == calendar.timegm((2002, 2, 5, 23, 59, 59))


def test_seconds_until_is_exact() -> None:
    assert parse_range(None, "2002-02-05T05:35:00Z") == (
        None,
        calendar.timegm((2002, 2, 5, 5, 35, 0)),
    )


def test_mixed_granularity_is_a_bad_argument() -> None:
    with pytest.raises(BadArgument, match="granularity"):
        parse_range("2002-02-05", "2002-02-06T05:35:00Z")


def test_from_after_until_is_a_bad_argument() -> None:
    with pytest.raises(BadArgument):
        parse_range("2003-01-01", "2002-01-01")


def test_open_ranges() -> None:
    assert parse_range(None, None) == (None, None)
    assert parse_range("1970-01-01T00:00:01Z", None) == (1, None)


@pytest.mark.parametrize(
    "text", ["٢٠٢٠-01-01", "２０２０-01-01", "2020-01-01T00:00:0٥Z", "x" * 500]
)
def test_other_digits_are_bad_arguments_and_never_repeated(text: str) -> None:
    with pytest.raises(BadArgument) as raised:
        parse_range(text, None)
    assert raised.value.message == "from is not a datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)"
