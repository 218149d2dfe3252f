"""The Z39.50 BER codec: round trips, EXTERNAL second-step decoding, UTF-8 strings, indefinite
lengths, PDUs written by yaz-client, and garbage that must only ever raise PduError."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.z3950 import charset, oids
from protocols.z3950.ber import to_definite
from protocols.z3950.codec import (
    ERROR_CHARS,
    PduError,
    bit_string,
    decode_external,
    decode_pdu,
    encode_pdu,
    make_external,
    set_bits,
)
from protocols.z3950.framing import read_pdu
from protocols.z3950.pqf import parse_pqf, rpn_from_pdu, rpn_to_pdu
from tests.conftest import DATA

MARCCOL = DATA / "marc21" / "yaz" / "marccol1.u8.marc"


def first_marc_record() -> bytes:
    data = MARCCOL.read_bytes()
    return data[: int(data[:5])]


def diag(code: int, addinfo: str = "") -> dict[str, Any]:
    return {
        "diagnosticSetId": oids.BIB1_DIAGNOSTIC_SET,
        "condition": code,
        "addinfo": ("v3Addinfo", addinfo),
    }


OPAC_RECORD = {
    "bibliographicRecord": make_external(oids.USMARC, b"00026nam  2200025   4500\x1e\x1d"),
    "holdingsData": [
        (
            "holdingsAndCirc",
            {
                "callNumber": "PL 8.3 Н-22",
                "localLocation": "Ўзбекистон Миллий кутубхонаси",
                "circulationData": [{"availableNow": True, "renewable": False, "onHold": False}],
            },
        )
    ],
}

PDUS: list[tuple[str, dict[str, Any]]] = [
    (
        "initRequest",
        {
            "referenceId": b"r1",
            "protocolVersion": bit_string([0, 1, 2]),
            "options": bit_string([0, 1, 7, 8, 14, 17]),
            "preferredMessageSize": 1 << 20,
            "exceptionalRecordSize": 1 << 20,
            "idAuthentication": ("idPass", {"userId": "u", "password": "p"}),
            "implementationName": "Koprik",
            "otherInfo": charset.proposal_other_info("UTF-8"),
        },
    ),
    (
        "initResponse",
        {
            "protocolVersion": bit_string([0, 1, 2]),
            "options": bit_string([0, 1]),
            "preferredMessageSize": 1 << 20,
            "exceptionalRecordSize": 1 << 20,
            "result": True,
            "implementationName": "Koprik — Milliy kutubxona",
            "otherInfo": charset.response_other_info("UTF-8", records=True),
        },
    ),
    (
        "searchRequest",
        {
            "smallSetUpperBound": 0,
            "largeSetLowerBound": 1,
            "mediumSetPresentNumber": 0,
            "replaceIndicator": True,
            "resultSetName": "default",
            "databaseNames": ["Default", "Uzbek"],
            "smallSetElementSetNames": ("genericElementSetName", "B"),
            "preferredRecordSyntax": oids.USMARC,
            "query": (
                "type-1",
                rpn_to_pdu(parse_pqf('@and @attr 1=4 "Навоий" @not @attr 1=1003 a @set s1')),
            ),
        },
    ),
    (
        "searchResponse",
        {
            "resultCount": 0,
            "numberOfRecordsReturned": 0,
            "nextResultSetPosition": 0,
            "searchStatus": False,
            "resultSetStatus": 3,
            "records": ("nonSurrogateDiagnostic", diag(114, "9999")),
        },
    ),
    (
        "presentRequest",
        {
            "resultSetId": "default",
            "resultSetStartPoint": 1,
            "numberOfRecordsRequested": 3,
            "recordComposition": ("simple", ("genericElementSetName", "F")),
            "preferredRecordSyntax": oids.XML,
        },
    ),
    (
        "presentResponse",
        {
            "numberOfRecordsReturned": 4,
            "nextResultSetPosition": 5,
            "presentStatus": 0,
            "records": (
                "responseRecords",
                [
                    {
                        "name": "Default",
                        "record": ("retrievalRecord", make_external(oids.USMARC, b"\x1d")),
                    },
                    {
                        "record": (
                            "retrievalRecord",
                            make_external(oids.SUTRS, "Alisher Navoiy — Хамса\n"),
                        )
                    },
                    {"record": ("retrievalRecord", make_external(oids.OPAC, OPAC_RECORD))},
                    {"record": ("surrogateDiagnostic", ("defaultFormat", diag(238, "opac")))},
                ],
            ),
        },
    ),
    (
        "scanRequest",
        {
            "databaseNames": ["Default"],
            "attributeSet": oids.BIB1_ATTRIBUTE_SET,
            "termListAndStartPoint": {
                "attributes": [{"attributeType": 1, "attributeValue": ("numeric", 4)}],
                "term": ("general", b"o'zbek"),
            },
            "stepSize": 0,
            "numberOfTermsRequested": 20,
            "preferredPositionInResponse": 1,
        },
    ),
    (
        "scanResponse",
        {
            "stepSize": 0,
            "scanStatus": 0,
            "numberOfEntriesReturned": 2,
            "positionOfTerm": 1,
            "entries": {
                "entries": [
                    ("termInfo", {"term": ("general", b"navoiy"), "globalOccurrences": 3}),
                    ("termInfo", {"term": ("characterString", "ўзбек"), "displayTerm": "Ўзбек"}),
                ]
            },
        },
    ),
    (
        "sortRequest",
        {
            "inputResultSetNames": ["default"],
            "sortedResultSetName": "sorted",
            "sortSequence": [
                {
                    "sortElement": (
                        "generic",
                        (
                            "sortAttributes",
                            {
                                "id": oids.BIB1_ATTRIBUTE_SET,
                                "list": [{"attributeType": 1, "attributeValue": ("numeric", 4)}],
                            },
                        ),
                    ),
                    "sortRelation": 0,
                    "caseSensitivity": 1,
                }
            ],
        },
    ),
    ("sortResponse", {"sortStatus": 2, "diagnostics": [("defaultFormat", diag(207))]}),
    ("deleteResultSetRequest", {"deleteFunction": 0, "resultSetList": ["default", "s1"]}),
    (
        "deleteResultSetResponse",
        {"deleteOperationStatus": 0, "deleteListStatuses": [{"id": "s1", "status": 1}]},
    ),
    ("close", {"closeReason": 0, "diagnosticInformation": "Xayr"}),
]


@pytest.mark.parametrize(("name", "value"), PDUS, ids=[name for name, _ in PDUS])
def test_round_trip(name: str, value: dict[str, Any]) -> None:
    encoded = encode_pdu(name, value)
    assert decode_pdu(encoded) == (name, value)


def test_international_string_is_utf8_on_the_wire() -> None:
    utf8 = "Ўзбек".encode()
    close = encode_pdu("close", {"closeReason": 0, "diagnosticInformation": "Ўзбек"})
    assert bytes([0x83, len(utf8)]) + utf8 in close  # [3] IMPLICIT InternationalString
    response = encode_pdu(*PDUS[3])
    assert bytes([0x1B, 4]) + b"9999" in response  # GeneralString (universal 27)
    diagnostic = ("nonSurrogateDiagnostic", diag(114, "Ўзбек"))
    response = encode_pdu(PDUS[3][0], {**PDUS[3][1], "records": diagnostic})
    assert bytes([0x1B, len(utf8)]) + utf8 in response
    assert decode_pdu(response)[1]["records"][1]["addinfo"] == ("v3Addinfo", "Ўзбек")


def test_externals_are_decoded_in_a_second_step() -> None:
    _, response = decode_pdu(encode_pdu(*PDUS[5]))
    usmarc, sutrs, opac, surrogate = response["records"][1]
    assert decode_external(usmarc["record"][1]) == b"\x1d"
    assert decode_external(sutrs["record"][1]) == "Alisher Navoiy — Хамса\n"
    decoded = decode_external(opac["record"][1])
    assert decoded["holdingsData"][0][1]["callNumber"] == "PL 8.3 Н-22"
    assert decode_external(decoded["bibliographicRecord"]).endswith(b"\x1d")
    assert surrogate["record"][1][1]["condition"] == 238


def test_unknown_external_stays_bytes() -> None:
    external = {"direct-reference": "1.2.3.4", "encoding": ("single-ASN1-type", b"\x04\x01a")}
    assert decode_external(external) == b"\x04\x01a"


def test_bad_single_type_external_raises_pdu_error() -> None:
    external = {"direct-reference": oids.OPAC, "encoding": ("single-ASN1-type", b"\x04\x01a")}
    with pytest.raises(PduError):
        decode_external(external)


def to_indefinite(data: bytes) -> bytes:
    """Rewrite every constructed value of a definite-length encoding with indefinite length
    (as yaz-ztest sends them), walking the TLVs independently of the code under test."""
    out, offset = bytearray(), 0
    while offset < len(data):
        start = offset
        offset += 1
        if data[start] & 0x1F == 0x1F:
            while data[offset] & 0x80:
                offset += 1
            offset += 1
        tag_end = offset
        length = data[offset]
        offset += 1
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        end = offset + length
        if data[start] & 0x20:
            out += data[start:tag_end] + b"\x80" + to_indefinite(data[offset:end]) + b"\x00\x00"
        else:
            out += data[start:end]
        offset = end
    return bytes(out)


def test_indefinite_lengths_everywhere_decode_like_definite() -> None:
    definite = encode_pdu(*PDUS[5])
    indefinite = to_indefinite(definite)
    assert indefinite != definite
    assert to_definite(indefinite) == definite
    name, value = decode_pdu(indefinite)
    assert (name, value) == PDUS[5]
    opac = value["records"][1][2]["record"][1]
    assert decode_external(opac)["holdingsData"][0][1]["localLocation"].startswith("Ўзбек")


def test_hand_made_indefinite_close() -> None:
    # close [48] constructed, indefinite; closeReason [211] = 0; diagnosticInformation [3] "ok"
    data = bytes.fromhex("bf30809f8153010083026f6b0000")
    assert decode_pdu(data) == ("close", {"closeReason": 0, "diagnosticInformation": "ok"})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        bytes.fromhex("bf30809f81530100"),  # no end-of-contents
        bytes.fromhex("bf30039f81530100"),  # inner value overruns
        bytes.fromhex("bf30059f8153010000"),  # trailing byte
        bytes.fromhex("bf3085ffffffffff"),  # length of five octets
        bytes.fromhex("bf3105020100"),  # [49] is not a PDU Koprik knows
        bytes.fromhex("bf30039f8153"),  # truncated
        bytes.fromhex("bf3080" * 200),  # nesting bomb
        bytes.fromhex("bf3003020101"),  # closeReason missing
    ],
)
def test_garbage_raises_pdu_error(data: bytes) -> None:
    with pytest.raises(PduError):
        decode_pdu(data)


def test_encoding_a_bad_value_raises_pdu_error() -> None:
    with pytest.raises(PduError):
        encode_pdu("close", {"closeReason": "soon"})
    with pytest.raises(PduError):
        encode_pdu("noSuchPdu", {})


def test_bit_strings() -> None:
    assert bit_string([0, 1, 2]) == (b"\xe0", 3)
    assert set_bits(bit_string([0, 7, 8, 17])) == {0, 7, 8, 17}


def test_invalid_utf8_string_is_pdu_error() -> None:
    data = bytes.fromhex("b0069f815301008301ff")
    with pytest.raises(PduError):
        decode_pdu(data)


@pytest.mark.parametrize(
    ("strings", "reason"),
    [("iso8859-1", "ÿüß"), ("cp1251", "яьЯ"), ("utf-8", "\ufffd\ufffd\ufffd")],
)
def test_strings_are_read_in_the_set_agreed_bytes_not_in_it_replaced(
    strings: str, reason: str
) -> None:
    """A Close's reason in ISO 8859-1 (a target that agreed to it) was a PduError."""
    data = encode_pdu("close", {"closeReason": 0, "diagnosticInformation": "abc"})
    data = data.replace(b"abc", "ÿüß".encode("iso8859-1"))
    assert decode_pdu(data, strings=strings) == (
        "close", {"closeReason": 0, "diagnosticInformation": reason})


def _in_ascii(value: Any) -> Any:
    """``value`` with its strings' characters outside ASCII made ``?`` (bytes as they are)."""
    if isinstance(value, str):
        return value.encode("ascii", "replace").decode("ascii")
    if isinstance(value, dict):
        return {key: _in_ascii(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_in_ascii(item) for item in value)
    return value


@pytest.mark.parametrize("strings", ["iso8859-1", "cp1251", "koi8-r"])
@pytest.mark.parametrize(("name", "value"), PDUS, ids=[name for name, _ in PDUS])
def test_ascii_strings_are_read_in_any_set_agreed_as_in_utf8(
    name: str, value: dict[str, Any], strings: str
) -> None:
    """Read in another set than UTF-8 (a copy of the module whose strings are read byte by
    byte, then read again), a PDU whose strings are all ASCII is what UTF-8 reads: its bytes,
    OIDs and the names of its CHOICE alternatives as they were."""
    data = encode_pdu(name, _in_ascii(value))
    assert decode_pdu(data, strings=strings) == decode_pdu(data) == (name, _in_ascii(value))


# --- property tests ------------------------------------------------------------------------

VALID = [encode_pdu(name, value) for name, value in PDUS]


def _decode_or_pdu_error(data: bytes) -> None:
    with contextlib.suppress(PduError):
        decode_pdu(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_pdu_error(data: bytes) -> None:
    _decode_or_pdu_error(data)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(VALID + [to_indefinite(pdu) for pdu in VALID]),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(min_value=0),
)
def test_mutated_pdus_only_raise_pdu_error(
    pdu: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(pdu)
    for position, value in flips:
        data[position % len(data)] = value
    _decode_or_pdu_error(bytes(data))
    _decode_or_pdu_error(bytes(data[: cut % (len(data) + 1)]))


# --- PDUs written by yaz-client ----------------------------------------------------------

YAZ_QUERIES = [
    '@attr 1=4 @attr 4=1 "computer science"',
    "@and @attr 1=1003 tolstoy @or @attr 1=4 war @attr 1=4 peace",
    '@attrset bib-1 @not @attr 1=21 @attr 5=1 histor @attr 1=31 @attr 2=4 "1990"',
    '@attr 1=4 "Навоий"',
]
CAPTURE_COMMANDS = [
    "charset UTF-8",
    "open tcp:127.0.0.1:{port}/Default",
    *(f"find {query}" for query in YAZ_QUERIES),
    "format usmarc",
    "elements F",
    "show 1+1",
    "scan @attr 1=4 navoiy",
    "sort 1=4 <i",
    "close",
    "quit",
]


def answer(name: str, request: dict[str, Any], record: bytes) -> tuple[str, dict[str, Any]]:
    """A minimal target's reply, built with our encoder, so yaz-client also checks it."""
    if name == "initRequest":
        return "initResponse", {
            "protocolVersion": bit_string([0, 1, 2]),
            "options": bit_string([0, 1, 7, 8, 14, 17]),
            "preferredMessageSize": 1 << 20,
            "exceptionalRecordSize": 1 << 20,
            "result": True,
            "implementationName": "capture",
            "otherInfo": charset.response_other_info("UTF-8", records=True),
        }
    if name == "searchRequest":
        return "searchResponse", {
            "resultCount": 5,
            "numberOfRecordsReturned": 0,
            "nextResultSetPosition": 1,
            "searchStatus": True,
        }
    if name == "presentRequest":
        named = {
            "name": "Default",
            "record": ("retrievalRecord", make_external(oids.USMARC, record)),
        }
        return "presentResponse", {
            "numberOfRecordsReturned": 1,
            "nextResultSetPosition": request["resultSetStartPoint"] + 1,
            "presentStatus": 0,
            "records": ("responseRecords", [named]),
        }
    if name == "scanRequest":
        entries = [
            ("termInfo", {"term": ("general", term.encode()), "globalOccurrences": count})
            for term, count in (("navoiy", 7), ("nazm", 2))
        ]
        return "scanResponse", {
            "scanStatus": 0,
            "numberOfEntriesReturned": 2,
            "positionOfTerm": 1,
            "entries": {"entries": entries},
        }
    if name == "sortRequest":
        return "sortResponse", {"sortStatus": 0}
    return "close", {"closeReason": 0}


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("yaz-client") is None, reason="yaz-client not installed")
async def test_decodes_what_yaz_client_sends(tmp_path: Path) -> None:
    record = first_marc_record()
    received: list[tuple[str, dict[str, Any]]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                data = await read_pdu(reader, 1 << 20)
            except PduError:
                break
            name, request = decode_pdu(data)
            received.append((name, request))
            writer.write(encode_pdu(*answer(name, request, record)))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    commands = tmp_path / "commands"
    commands.write_text("\n".join(CAPTURE_COMMANDS).format(port=port) + "\n", encoding="utf-8")
    async with server:
        process = await asyncio.create_subprocess_exec(
            "yaz-client", "-f", str(commands),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), 20)
    text = output.decode("utf-8", "replace")

    names = [name for name, _ in received]
    assert names == [
        "initRequest", *["searchRequest"] * len(YAZ_QUERIES), "presentRequest", "scanRequest",
        "sortRequest", "close",
    ]  # fmt: skip
    init = received[0][1]
    assert charset.proposed_charsets(init["otherInfo"]) == (["UTF-8"], True)
    assert {0, 1, 2} <= set_bits(init["protocolVersion"])
    for query, (_, search) in zip(YAZ_QUERIES, received[1:], strict=False):
        assert search["databaseNames"] == ["Default"]
        assert search["query"][0] == "type-1"
        assert rpn_from_pdu(search["query"][1]) == parse_pqf(query)
    present = received[1 + len(YAZ_QUERIES)][1]
    assert present["resultSetStartPoint"] == 1
    assert present["numberOfRecordsRequested"] == 1
    assert present["preferredRecordSyntax"] == oids.USMARC
    assert present["recordComposition"] == ("simple", ("genericElementSetName", "F"))
    scan = received[2 + len(YAZ_QUERIES)][1]
    assert scan["termListAndStartPoint"]["term"] == ("general", b"navoiy")
    sort = received[3 + len(YAZ_QUERIES)][1]
    assert sort["sortSequence"][0]["sortRelation"] == 0
    assert received[-1][1]["closeReason"] == 0

    # yaz-client read our answers: the hit count, the record, the scan terms.
    assert "Number of hits: 5" in text
    assert "Handa shishi" in text
    assert "navoiy" in text and "nazm" in text


@pytest.mark.parametrize("pdu", ["bf3503020101", "a003020101", "bf3500"])
def test_an_undecodable_pdu_is_said_in_a_short_line(pdu: str) -> None:
    with pytest.raises(PduError) as raised:
        decode_pdu(bytes.fromhex(pdu))
    message = str(raised.value)
    assert message.startswith("not a valid PDU: ") and "\n" not in message
    assert len(message) <= len("not a valid PDU: ") + ERROR_CHARS + 3
