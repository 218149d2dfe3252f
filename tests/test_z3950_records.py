"""Records from a Z39.50 target made ready for the catalogue (harvester.z3950_records), and one
batch stored with its rejects (harvester.z3950_harvest.store_batch), without a target."""

from __future__ import annotations

import pytest
from pymarc import Field, Leader, Record, Subfield
from sqlalchemy import select

from catalog import Catalog
from catalog.harvest_state import harvest_rejects
from crosswalks import charsets
from crosswalks.iso2709 import RecordError
from crosswalks.marc_io import record_to_iso2709
from harvester.ingest import IngestTarget
from harvester.z3950_harvest import store_batch
from harvester.z3950_origin import RetrievedRecord, Z3950Diagnostic
from harvester.z3950_records import (
    Z3950Address,
    charset_label,
    decode_usmarc,
    parse_address,
)
from protocols.z3950 import oids


def marc(title: str, control: str | None = "rec1", leader9: str = "a") -> Record:
    record = Record(leader=Leader(f"00000nam {leader9}2200000 a 4500"))
    if control is not None:
        record.add_field(Field(tag="001", data=control))
    record.add_field(Field(tag="245", indicators=["1", "0"], subfields=[Subfield("a", title)]))
    return record


def legacy_bytes(title: str, codec: str) -> bytes:
    """ISO 2709 with ``title`` in an 8-bit ``codec`` (pymarc writes str as ISO 8859-1)."""
    record = marc(title.encode(codec).decode("latin-1"), leader9=" ")
    record.to_unicode = False  # else pymarc writes UTF-8 and sets leader/09
    return record.as_marc()


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("z3950://z3950.loc.gov:7090/Voyager", Z3950Address("z3950.loc.gov", 7090, "Voyager")),
        ("127.0.0.1:2100/Default", Z3950Address("127.0.0.1", 2100, "Default")),
        ("Z3950://host", Z3950Address("host", 210, "Default")),
        ("host/Books", Z3950Address("host", 210, "Books")),
    ],
)
def test_parse_address(text: str, address: Z3950Address) -> None:
    assert parse_address(text) == address
    assert parse_address(address.url) == address


@pytest.mark.parametrize(("text", "reason"), [
    ("", "no host"),
    (":2100/Default", "no host"),
    ("host:port/db", "bad port 'port'"),
    ("host:²/db", "bad port '²'"),  # a digit to str.isdigit, not to int()
    ("host:70000/db", "port 70000 out of range"),
    ("http://127.0.0.1:2100/db", "is not a Z39.50 address"),  # was host "http", port 210
    ("\udcff:2100/db", "is not UTF-8 text"),  # undecodable bytes on the command line
    ("a..bücher.example/db", "host 'a..bücher.example' is not a valid internationalized domain "
     r"name \(IDNA: label empty or too long\) in"),  # no lookup could find it
])  # fmt: skip
def test_parse_address_refuses(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_address(text)


def test_charset_labels() -> None:
    assert charset_label("UTF-8") == charset_label("utf8") == charsets.UTF8
    assert charset_label("MARC-8") == charset_label("marc8") == charsets.MARC8
    assert charset_label("windows-1251") == charset_label("CP1251") == charsets.CP1251
    assert charset_label("ISO-8859-1") == charset_label("latin1") == charsets.LATIN1
    assert charset_label("KOI8-R") == charsets.KOI8R
    assert charset_label("IBM866") == charsets.CP866
    with pytest.raises(ValueError, match="unknown"):
        charset_label("shift_jis")
    with pytest.raises(ValueError, match="unknown"):
        charset_label("no-such-set")


def test_utf8_agreed_is_read_as_utf8_even_if_leader_says_otherwise() -> None:
    data = record_to_iso2709(marc("Oʻtgan kunlar — Ўтган кунлар"))
    undeclared = data[:9] + b" " + data[10:]
    for expected in (charsets.UTF8, None):
        record = decode_usmarc(undeclared, expected)
        assert record["245"]["a"] == "Oʻtgan kunlar — Ўтган кунлар"
        assert str(record.leader)[9] == "a"


def test_marc8_is_detected_and_refused_when_utf8_was_agreed() -> None:
    data = charsets.record_to_iso2709_marc8(marc("Café crème"))
    assert decode_usmarc(data)["245"]["a"] == "Café crème"
    assert decode_usmarc(data, charsets.MARC8)["245"]["a"] == "Café crème"
    with pytest.raises(RecordError, match="not UTF-8 as agreed: the bytes read as marc-8"):
        decode_usmarc(data, charsets.UTF8)


def test_configured_charset_decides_what_detection_cannot() -> None:
    short = legacy_bytes("Я", "cp1251")  # one 8-bit byte: detection guesses ISO 8859-1
    assert decode_usmarc(short)["245"]["a"] == "ß"
    assert decode_usmarc(short, charsets.CP1251)["245"]["a"] == "Я"
    mixed = legacy_bytes("Pushkin А.", "cp1251")
    assert decode_usmarc(mixed, charsets.CP1251)["245"]["a"] == "Pushkin А."
    words = legacy_bytes("Война и мир", "cp1251")
    assert decode_usmarc(words)["245"]["a"] == "Война и мир"
    # valid multi-byte UTF-8 is proof, whatever the configuration says
    utf8 = record_to_iso2709(marc("Война и мир"))
    assert decode_usmarc(utf8, charsets.CP1251)["245"]["a"] == "Война и мир"


def test_broken_records_are_refused_with_the_reason() -> None:
    data = record_to_iso2709(marc("Title"))
    with pytest.raises(RecordError, match="leader says"):
        decode_usmarc(data[:-5])
    bad_indicator = marc("Title")
    bad_indicator["245"].indicators = ["X", "0"]  # MARCXML allows digits, a-z and blank
    with pytest.raises(RecordError, match="field 245"):
        decode_usmarc(record_to_iso2709(bad_indicator))


def test_store_batch_stores_and_quarantines(catalog: Catalog) -> None:
    good = record_to_iso2709(marc("Good", control="g1"))
    batch = [
        RetrievedRecord(1, "Default", oids.USMARC, good),
        RetrievedRecord(2, "Default", oids.USMARC, good[:-3]),
        RetrievedRecord(3, "Default", "", b"", diagnostic=Z3950Diagnostic(14, "record 3")),
        RetrievedRecord(4, "Default", oids.SUTRS, b"plain text"),
    ]
    target = IngestTarget("partner", "z3950://h:210/Default", None)
    counts, reasons = store_batch(catalog, target, batch, charsets.UTF8)
    assert (counts.added, counts.unchanged, counts.rejected) == (1, 0, 3)
    assert [reason.split(":")[0] for reason in reasons] == ["record 2", "record 3", "record 4"]
    assert "diagnostic 14" in reasons[1] and "target sent sutrs" in reasons[2]
    with catalog.engine.connect() as connection:
        rows = connection.execute(
            select(harvest_rejects.c.identifier, harvest_rejects.c.raw).order_by(
                harvest_rejects.c.id
            )
        ).all()
    assert [row.raw for row in rows] == [good[:-3], b"", b"plain text"]
    assert rows[0].identifier.startswith("sha1:") and rows[1].identifier is None
    entry = catalog.get_entry("partner:g1")
    assert entry is not None and entry.provenance is not None
    assert entry.provenance.metadata_namespace == oids.USMARC
    again, _ = store_batch(catalog, target, batch[:1], charsets.UTF8)
    assert (again.added, again.unchanged) == (0, 1)
