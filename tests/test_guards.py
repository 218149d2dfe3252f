"""harvester.guards: datestamps after our clock are counted, whatever way they are written; a
list short of its completeListSize is said."""

from __future__ import annotations

from datetime import UTC, datetime

from harvester import dates
from harvester.guards import CLOCK_SKEW, FutureDatestamps, ListSize, own_clock

CLOCK = datetime(2024, 6, 15, 12, 0, 0, tzinfo=UTC)
HORIZON = dates.render(CLOCK + CLOCK_SKEW, dates.SECONDS)  # 2024-06-15T12:05:00Z

FUTURE = [
    "2024-06-15T12:05:01Z",  # one second past the horizon
    "2024-06-15T12:05:01.5Z",  # with a fraction
    "2024-06-16",  # a day after ours
    " 2024-06-15T13:00:00Z ",  # spaces around
    "2024-06-15T1３:00:00Z",  # a fullwidth digit, which Python's strptime reads
    "2024-06-15T13:00:00.123456Z",  # parsed from its first 19 characters
    "2030-01-01T00:00:00Z",
]
NOT_FUTURE = [
    HORIZON,  # at the horizon itself
    "2024-06-15T12:04:59Z",
    "2024-06-15",  # our day
    "2024-06-15T12:05:00.999Z",  # the fraction is dropped
    "1999-12-31T23:59:59Z",
    "2024-13-01T00:00:00Z",  # not a date
    "2024-06-31T00:00:00Z",
    "2099-06-15T12:05:01",  # no Z: not a datestamp
    "2099-06-15T12:05:01Z trailing",
    "tomorrow",
    "",
]


def test_datestamps_after_our_clock_and_the_skew_are_counted() -> None:
    future = FutureDatestamps()
    future.check([*NOT_FUTURE, None, *FUTURE], CLOCK)
    assert future.count == len(FUTURE)
    assert future.example == FUTURE[0]
    assert future.fault() == (
        f"future-datestamps: {len(FUTURE)} record(s) dated after our clock (e.g. {FUTURE[0]})"
    )


def test_each_datestamp_is_counted_as_parsing_it_says() -> None:
    """The count agrees, one datestamp at a time, with :func:`harvester.dates.parse`."""
    for datestamp in [*FUTURE, *NOT_FUTURE]:
        future = FutureDatestamps()
        future.check([datestamp], CLOCK)
        try:
            expected = dates.parse(datestamp) - CLOCK > CLOCK_SKEW
        except ValueError:
            expected = False
        assert future.count == int(expected), datestamp
        assert (datestamp in FUTURE) == expected


def test_a_run_without_future_datestamps_has_no_fault() -> None:
    future = FutureDatestamps()
    future.check(NOT_FUTURE, CLOCK)
    assert (future.count, future.fault()) == (0, None)


def test_a_partners_long_datestamp_is_quoted_in_part() -> None:
    """A datestamp (and a responseDate) of a million characters between its date and its Z
    is read by its first 19: the faults quote 500 characters of it, not all of it."""
    said = "2099-01-01T00:00:00" + "x" * 1_000_000 + "Z"
    _mine, fault = own_clock(said, CLOCK)
    assert fault is not None and "... (999520 more characters)" in fault and len(fault) < 700
    future = FutureDatestamps()
    future.check([said], CLOCK)
    line = future.fault()
    assert line is not None and len(line) < 700


def test_a_list_short_of_its_complete_list_size_is_said_and_an_excess_is_not() -> None:
    size = ListSize()
    assert size.page(10, "t1", 0, 30) is None
    shortfall = size.page(10, None, 10, 30)
    assert shortfall is not None and (shortfall.missing, str(shortfall)) == (
        10, "the list ended at 20 of the 30 records its completeListSize announced")
    assert ListSize().page(12, None, None, 10) is None  # more than announced: no fault
    assert ListSize().page(5, None, 0, None) is None  # nothing announced
    assert ListSize().page(30, None, None, 30) is None  # one page, no cursor: the count seen
    assert ListSize(seen=None).page(10, None, 20, 30) is None  # resumed: its cursor counts
    assert ListSize(seen=None).page(5, None, None, 30) is None  # nothing to hold it against
    wrong = ListSize()  # a cursor that says less than was seen: the entries seen count
    assert wrong.page(10, "t1", 0, 20) is None
    assert wrong.page(10, None, 0, 20) is None


def test_a_list_ended_by_no_records_match_is_held_against_what_its_tokens_announced() -> None:
    ended = ListSize()  # noRecordsMatch answered to the second token: an empty last page
    assert ended.page(10, "t1", 0, 30) is None
    assert str(ended.page(0, None, None, None)) == (
        "the list ended at 10 of the 30 records its completeListSize announced")
    resumed = ListSize(seen=None)  # taken up at a token: the cursor and the pages since count
    assert resumed.page(10, "t2", 10, 30) is None
    assert str(resumed.page(5, None, None, None)) == (
        "the list ended at 25 of the 30 records its completeListSize announced")
    whole = ListSize()
    assert whole.page(10, "t1", 0, 20) is None
    assert whole.page(10, None, None, None) is None  # the last token says nothing: 20 of 20
