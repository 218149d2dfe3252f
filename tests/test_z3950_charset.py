"""Character-set negotiation records in Init otherInfo, both directions."""

from __future__ import annotations

import pytest

from protocols.z3950 import oids
from protocols.z3950.charset import (
    Agreement,
    negotiable,
    negotiated_charset,
    proposal_other_info,
    proposed_charsets,
    response_other_info,
)
from protocols.z3950.codec import PduError, decode_pdu, encode_pdu


def through_the_wire(other_info: list) -> list:
    close = {"closeReason": 0, "otherInfo": other_info}
    return decode_pdu(encode_pdu("close", close))[1]["otherInfo"]


@pytest.mark.parametrize("name", ["UTF-8", "utf-16", "ISO-8859-1", "MARC-8"])
def test_proposal_round_trip(name: str) -> None:
    names, records = proposed_charsets(through_the_wire(proposal_other_info(name, records=False)))
    assert names == [name.upper()] and records is False


@pytest.mark.parametrize(
    ("name", "proposed"),
    [("UTF-8", True), ("cp1251", True), ("ISO-8859-1", True), ("marc-8", False),
     ("MARC8", False), ("marc_8", False), ("ANSEL", False)],
)  # fmt: skip
def test_marc8_is_never_proposed(name: str, proposed: bool) -> None:
    # Zebra selects a proposed MARC-8 and then cannot encode its Init response
    assert negotiable(name) is proposed


def test_utf8_is_proposed_as_iso10646_like_yaz() -> None:
    # yaz-client's proposal for "charset UTF-8", as captured on the wire
    yaz = bytes.fromhex("a10fa10aa208820628d3160100088301")
    external = proposal_other_info("UTF-8")[0]["information"][1]
    assert external["encoding"][1].startswith(yaz)


@pytest.mark.parametrize(
    ("charset", "records", "agreement"),
    [
        ("UTF-8", True, Agreement("UTF-8", True)),
        ("ISO-8859-1", None, Agreement("ISO-8859-1", None)),
        (None, False, Agreement(None, False)),
    ],
)
def test_response_round_trip(charset: str | None, records: bool | None, agreement: Agreement):
    assert negotiated_charset(through_the_wire(response_other_info(charset, records))) == agreement


def test_no_negotiation() -> None:
    assert negotiated_charset(None) is None
    assert proposed_charsets([{"information": ("characterInfo", "x")}]) == ([], False)
    assert negotiated_charset(proposal_other_info("UTF-8")) is None


def test_broken_negotiation_record_is_pdu_error() -> None:
    external = {"direct-reference": oids.CHARSET_NEGOTIATION_3,
                "encoding": ("single-ASN1-type", b"\x04\x00")}  # fmt: skip
    with pytest.raises(PduError):
        negotiated_charset([{"information": ("externallyDefinedInfo", external)}])
