"""protocols.z3950.ber.to_definite: its check-only walk for definite-length BER refuses exactly
what the rewriting walk refuses, and hands such BER on as it is."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.z3950 import ber, oids
from protocols.z3950.codec import encode_pdu, make_external
from protocols.z3950.pqf import parse_pqf, rpn_to_pdu

QUERY = rpn_to_pdu(parse_pqf('@and @attr 1=4 "war and peace" @attr 1=7 1'))
SEARCH = encode_pdu("searchRequest", {
    "smallSetUpperBound": 0, "largeSetLowerBound": 1, "mediumSetPresentNumber": 0,
    "replaceIndicator": True, "resultSetName": "default", "databaseNames": ["Default"],
    "query": ("type-1", QUERY)})  # fmt: skip
PRESENT = encode_pdu("presentResponse", {
    "numberOfRecordsReturned": 1, "nextResultSetPosition": 2, "presentStatus": 0,
    "records": ("responseRecords", [{"name": "Default", "record": (
        "retrievalRecord", make_external(oids.USMARC, b"r" * 300))}])})  # fmt: skip
# The same value with indefinite lengths: a constructed value inside a constructed one.
INDEFINITE = b"\x30\x80\xa1\x80\x02\x01\x05\x00\x00\x04\x02hi\x00\x00"
DEFINITE = b"\x30\x09\xa1\x03\x02\x01\x05\x04\x02hi"  # fmt: skip


def rewritten(data: bytes, max_values: int | None) -> bytes:
    """What to_definite gave before it had a check-only walk: every value rewritten."""
    encoded, end = ber._definite_value(data, 0, 0, ber._Budget(max_values))
    if end != len(data):
        raise ber.BerError(f"{len(data) - end} bytes after the value")
    return encoded


def outcome(convert, data: bytes, max_values: int | None) -> tuple[str, object]:  # type: ignore[no-untyped-def]
    try:
        return "value", convert(data, max_values)
    except ber.BerError as error:
        return type(error).__name__, str(error)


def mutations() -> st.SearchStrategy[bytes]:
    """Real PDUs cut, extended, and with octets overwritten (mostly near-valid BER)."""
    base = st.sampled_from([SEARCH, PRESENT, INDEFINITE, DEFINITE])

    def mutate(data: bytes, changes: list[tuple[int, int]], cut: int, tail: bytes) -> bytes:
        out = bytearray(data)
        for position, octet in changes:
            out[position % len(out)] = octet
        return bytes(out[: max(0, len(out) - cut)]) + tail

    return st.builds(
        mutate, base, st.lists(st.tuples(st.integers(0, 500), st.integers(0, 255)), max_size=3),
        st.integers(0, 3) | st.just(0), st.binary(max_size=3) | st.just(b""),
    )  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(mutations() | st.binary(max_size=40), st.sampled_from([None, 3, 10_000]))
def test_the_check_walk_refuses_what_the_rewriting_walk_refuses(
    data: bytes, max_values: int | None
) -> None:
    new = outcome(ber.to_definite, data, max_values)
    old = outcome(rewritten, data, max_values)
    if old[0] != "value":
        assert new == old  # the same error, said the same way
        return
    assert new[0] == "value"
    value = new[1]
    assert isinstance(value, bytes)
    assert rewritten(value, None) == old[1]  # the same BER, if perhaps with longer lengths
    assert not ber._check_value(value, 0, 0, ber._Budget(None))[1]  # only definite lengths


@pytest.mark.parametrize("data", [SEARCH, PRESENT, DEFINITE])
def test_definite_ber_is_handed_on_as_it_is(data: bytes) -> None:
    assert ber.to_definite(data) is data


def test_indefinite_lengths_are_rewritten() -> None:
    assert ber.to_definite(INDEFINITE) == DEFINITE
    with pytest.raises(ber.TooManyValues):
        ber.to_definite(INDEFINITE, max_values=3)
