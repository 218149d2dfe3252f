"""``--repair`` (crosswalks.repair): yaz's edge-case files that are rejected as they are get
read, each repair listed; records that need none are not touched."""

from __future__ import annotations

import io

import pytest
from pymarc import Field, Indicators, Subfield

from catalog.demo import demo_records
from crosswalks import iso2709
from crosswalks.marc_io import ReadItem, iter_records, record_to_iso2709
from crosswalks.repair import repair_item, repair_record
from tests.conftest import DATA

YAZ = DATA / "marc21" / "yaz"
EXPECTED = {
    "marc0": ["field 092: indicators ' á' are not ASCII; set blank"],
    "marc1": ["leader/10-11 '32': fields read with 3 indicators, written with 2",
              "field 001: control field held subfields; their values kept, joined",
              "field 021: indicators beyond two ('0') dropped"],
    "marc2": ["field 795: delimiter before '\ufffd40' is not followed by a subfield code; "
              "read as $a"],
    "marc3": ["leader/20-23 '45  ' set to '4500'",
              "field 648: 'Granlund, Tom' before the first subfield taken as $a"],
    "marc4": ["5 bytes before the leader skipped"],
    "marc5": ["field 250: '2η εκδ.' before the first subfield taken as $a"],
    "marc8": ['leader: "^" read as blanks'],
    "marc12": ["field 880: MARC-8 codes no set defines left out (0xfd, 0xfd)",
               "field 880: control characters left out (0x0c, 0x1a)"],  # in MARC-8 CJK
}


def only_item(name: str) -> ReadItem:
    (item,) = iter_records(YAZ / f"{name}.marc")
    return item


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rejected_yaz_files_are_read_with_their_repairs_listed(name: str) -> None:
    item = only_item(name)
    assert item.record is None and item.error  # rejected as it is, with its reason
    repaired = repair_item(item)
    assert repaired.record is not None, repaired.error
    assert repaired.repairs and set(EXPECTED[name]) <= set(repaired.repairs), repaired.repairs


def test_what_the_repairs_give() -> None:
    assert repair_item(only_item("marc5")).record["250"]["a"] == "2η εκδ."  # type: ignore[index]
    record = repair_item(only_item("marc3")).record
    assert record.get_fields("648")[2].get_subfields("a", "c")[:2] == [  # type: ignore[union-attr]
        "Granlund, Tom", "Kristian Augustsgate"]
    record = repair_item(only_item("marc12")).record
    assert any("开车司机先生" in f.value() for f in record.get_fields("880"))  # type: ignore[union-attr]
    marc4 = repair_item(only_item("marc4")).record
    marc3 = repair_item(only_item("marc3")).record
    assert marc4.as_marc() == marc3.as_marc()  # type: ignore[union-attr]  # same record


def test_a_sound_record_needs_no_repair() -> None:
    with (DATA / "marc21" / "marc.dat").open("rb") as stream:
        for chunk, _problem in iso2709.iter_chunks(stream):
            assert repair_record(chunk) == (chunk, [])


def test_a_superscript_digit_as_the_indicator_count_is_read_as_two() -> None:
    chunk = bytearray(record_to_iso2709(next(demo_records(1))))
    chunk[10] = 0xB2  # "²" in latin-1, a digit to str.isdigit()
    repaired, repairs = repair_record(bytes(chunk))
    assert repaired[10:12] == b"22" and any("leader/10-11" in r for r in repairs)


def test_repair_notes_are_text_not_python_bytes() -> None:
    """A directory entry left out was shown as ``b'001001XX0000'``."""
    chunk = bytearray(record_to_iso2709(next(demo_records(1))))
    chunk[24 + 12 + 7 : 24 + 12 + 9] = b"XX"  # the second entry's offset
    entry = chunk[24 + 12 : 24 + 24].decode("ascii")
    _repaired, repairs = repair_record(bytes(chunk))
    assert f"directory entry {entry!r} left out" in repairs
    assert not any("b'" in repair or 'b"' in repair for repair in repairs), repairs


def test_whitespace_controls_become_spaces_and_others_are_left_out() -> None:
    """A tab or vertical tab between words was left out, joining them (``Title withtab``)."""
    record = next(demo_records(1))
    record["245"]["a"] = "Title with\ttab and vt\x0bend"
    record.add_field(Field("500", Indicators(" ", " "), [Subfield("a", "bell\x07 here")]))
    # Windows line ends: one space between the lines, none left at the end of a subfield
    record.add_field(Field("504", Indicators(" ", " "), [Subfield("a", "line1\r\nline2 \r\n"),
                                                       Subfield("b", "\r\nnext")]))
    (item,) = iter_records(io.BytesIO(record_to_iso2709(record)))
    assert item.record is None  # rejected as it is
    repaired = repair_item(item)
    assert repaired.record is not None
    assert repaired.record["245"]["a"] == "Title with tab and vt end"
    assert repaired.record["500"]["a"] == "bell here"
    assert repaired.record["504"]["a"] == "line1 line2" and repaired.record["504"]["b"] == "next"
    assert "field 245: control characters made spaces (0x09, 0x0b)" in repaired.repairs
    assert "field 500: control characters left out (0x07)" in repaired.repairs
