"""Search and Present responses written directly are byte for byte what asn1tools writes, read
directly they are the very values asn1tools reads, and whatever is outside their shape is left
to asn1tools (encoded or decoded by it, or refused as before)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.z3950 import direct, oids
from protocols.z3950.ber import BerError, to_definite
from protocols.z3950.codec import (
    PduError,
    _compiled,
    decode_pdu,
    encode_pdu,
    encode_value,
    make_external,
)

OIDS = st.sampled_from([oids.USMARC, oids.XML, oids.SUTRS, oids.BIB1_DIAGNOSTIC_SET, "1.2.3",
                        "2.5.4.16384"])  # fmt: skip
INTEGERS = st.integers(min_value=-(2**40), max_value=2**40) | st.sampled_from(
    [0, 127, 128, 255, 256, -1, -128, -129, 32767, 32768]
)
# Records long enough for every length form: short, one length octet, two and three.
CONTENTS = st.binary(max_size=300) | st.integers(0, 70_000).map(lambda n: b"x" * n)
TEXT = st.text(max_size=40)


def diagnostics() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "diagnosticSetId": OIDS,
        "condition": INTEGERS,
        "addinfo": st.tuples(st.sampled_from(["v2Addinfo", "v3Addinfo"]), TEXT),
    })  # fmt: skip


def externals() -> st.SearchStrategy[dict[str, Any]]:
    octets = st.builds(make_external, st.sampled_from([oids.USMARC, oids.XML]), CONTENTS)
    sutrs = st.builds(make_external, st.just(oids.SUTRS), TEXT)
    anonymous = st.builds(lambda data: {"encoding": ("octet-aligned", data)}, CONTENTS)
    return octets | sutrs | anonymous


def name_plus_records() -> st.SearchStrategy[dict[str, Any]]:
    record = st.tuples(st.just("retrievalRecord"), externals()) | st.tuples(
        st.just("surrogateDiagnostic"), st.tuples(st.just("defaultFormat"), diagnostics())
    )
    return st.fixed_dictionaries({"record": record}, optional={"name": TEXT})


RECORDS = st.tuples(
    st.just("responseRecords"), st.lists(name_plus_records(), max_size=12)
) | st.tuples(st.just("nonSurrogateDiagnostic"), diagnostics())
OPTIONAL = {"referenceId": st.binary(max_size=20), "records": RECORDS}

SEARCH_RESPONSES = st.fixed_dictionaries(
    {"resultCount": INTEGERS, "numberOfRecordsReturned": INTEGERS,
     "nextResultSetPosition": INTEGERS, "searchStatus": st.booleans()},
    optional={**OPTIONAL, "resultSetStatus": INTEGERS, "presentStatus": INTEGERS},
)  # fmt: skip
PRESENT_RESPONSES = st.fixed_dictionaries(
    {"numberOfRecordsReturned": INTEGERS, "nextResultSetPosition": INTEGERS,
     "presentStatus": INTEGERS},
    optional=OPTIONAL,
)  # fmt: skip


def by_asn1tools(name: str, value: dict[str, Any]) -> bytes:
    return encode_value("PDU", (name, value))


def read_by_asn1tools(data: bytes) -> str:
    """asn1tools' value, as a repr: types (bytes or bytearray) and member order count too."""
    return repr(_compiled().decode("PDU", data))


@settings(max_examples=300, deadline=None)
@given(SEARCH_RESPONSES)
def test_search_responses_are_the_bytes_asn1tools_writes(value: dict[str, Any]) -> None:
    encoded = direct.encode("searchResponse", value)
    assert encoded == by_asn1tools("searchResponse", value)
    assert repr(direct.decode(encoded)) == read_by_asn1tools(encoded)


@settings(max_examples=300, deadline=None)
@given(PRESENT_RESPONSES)
def test_present_responses_are_the_bytes_asn1tools_writes(value: dict[str, Any]) -> None:
    encoded = direct.encode("presentResponse", value)
    assert encoded == by_asn1tools("presentResponse", value)
    assert repr(direct.decode(encoded)) == read_by_asn1tools(encoded)
    assert decode_pdu(encoded) == ("presentResponse", value)


def mutated(data: bytes, changes: list[tuple[int, int]], cut: int) -> bytes:
    out = bytearray(data)
    for position, octet in changes:
        out[position % len(out)] = octet
    return bytes(out[: max(1, len(out) - cut)])


@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(
        SEARCH_RESPONSES.map(lambda v: by_asn1tools("searchResponse", v)),
        PRESENT_RESPONSES.map(lambda v: by_asn1tools("presentResponse", v)),
    ),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3),
    st.integers(0, 2),
)
def test_bytes_read_directly_are_read_as_asn1tools_reads_them(
    data: bytes, changes: list[tuple[int, int]], cut: int
) -> None:
    """Whatever the bytes, a value read directly is asn1tools' own (else None, and asn1tools
    reads them or refuses them)."""
    data = mutated(data, changes, cut)
    try:
        definite = to_definite(data)
    except BerError:
        return  # refused before either reader sees it
    found = direct.decode(definite)
    if found is not None:
        assert repr(found) == read_by_asn1tools(definite)


def test_responses_of_other_shapes_are_read_by_asn1tools() -> None:
    other = encode_pdu("searchResponse", {
        "resultCount": 1, "numberOfRecordsReturned": 0, "nextResultSetPosition": 1,
        "searchStatus": True, "otherInfo": [{"information": ("characterInfo", "x")}]})  # fmt: skip
    close = encode_pdu("close", {"closeReason": 0})
    assert direct.decode(other) is None and direct.decode(close) is None
    assert decode_pdu(other)[1]["otherInfo"] == [{"information": ("characterInfo", "x")}]


def test_a_response_with_ten_marc_records_round_trips() -> None:
    records = [{"name": "Default", "record": ("retrievalRecord", make_external(oids.USMARC,
               b"00026nam  2200025   4500\x1e\x1d" * n))} for n in range(1, 11)]  # fmt: skip
    value = {"referenceId": b"ref", "numberOfRecordsReturned": 10, "nextResultSetPosition": 11,
             "presentStatus": 0, "records": ("responseRecords", records)}  # fmt: skip
    encoded = encode_pdu("presentResponse", value)
    assert encoded == by_asn1tools("presentResponse", value)
    assert decode_pdu(encoded) == ("presentResponse", value)


OUTSIDE = [
    ("close", {"closeReason": 0}),  # another PDU
    ("searchResponse", {"resultCount": 1, "numberOfRecordsReturned": 0,
                        "nextResultSetPosition": 1, "searchStatus": True,
                        "otherInfo": [{"information": ("characterInfo", "x")}]}),  # a field
    ("presentResponse", {"numberOfRecordsReturned": 0, "nextResultSetPosition": 1,
                         "presentStatus": 0, "records": ("multipleNonSurDiagnostics", [])}),
    ("presentResponse", {"numberOfRecordsReturned": True, "nextResultSetPosition": 1,
                         "presentStatus": 0}),  # a bool for an INTEGER: asn1tools takes it
]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), OUTSIDE)
def test_values_outside_the_shape_are_left_to_asn1tools(name: str, value: dict[str, Any]) -> None:
    assert direct.encode(name, value) is None
    assert encode_pdu(name, value) == by_asn1tools(name, value)


REFUSED = [
    {"numberOfRecordsReturned": 0, "nextResultSetPosition": 1},  # presentStatus missing
    {"numberOfRecordsReturned": 0, "nextResultSetPosition": 1, "presentStatus": 0,
     "records": ("responseRecords", [{"name": "Default"}])},  # a record's record missing
    {"numberOfRecordsReturned": 0, "nextResultSetPosition": 1, "presentStatus": 0,
     "records": ("nonSurrogateDiagnostic", {"condition": 1, "addinfo": ("v2Addinfo", "")})},
    {"numberOfRecordsReturned": 0, "nextResultSetPosition": 1, "presentStatus": None},
    {"numberOfRecordsReturned": "0", "nextResultSetPosition": 1, "presentStatus": 0},
    {"numberOfRecordsReturned": 0, "nextResultSetPosition": 1, "presentStatus": 0,
     "records": ("responseRecords", [{"record": ("retrievalRecord",
                                                 {"direct-reference": "not an oid",
                                                  "encoding": ("octet-aligned", b"x")})}])},
    {"numberOfRecordsReturned": 0, "nextResultSetPosition": 1, "presentStatus": 0,
     "records": ("responseRecords", [{"name": "\ud800", "record": ("retrievalRecord",
                                                                   make_external(oids.USMARC,
                                                                                 b"x"))}])},
]  # fmt: skip


@pytest.mark.parametrize("value", REFUSED)
def test_values_asn1tools_refuses_are_still_refused(value: dict[str, Any]) -> None:
    assert direct.encode("presentResponse", value) is None
    with pytest.raises(PduError):
        encode_pdu("presentResponse", value)


def test_a_search_status_that_is_not_a_boolean_is_still_refused() -> None:
    value = {"resultCount": 1, "numberOfRecordsReturned": 0, "nextResultSetPosition": 1,
             "searchStatus": 1}  # fmt: skip
    assert direct.encode("searchResponse", value) is None
    with pytest.raises(PduError, match="bool"):
        encode_pdu("searchResponse", value)
