"""harvester.harvested: the identifier of a record from a source that gives none, and the
same found without reading the record (ISO 2709, MARCXML) or not guessed."""

from __future__ import annotations

import pytest
from lxml import etree
from pymarc import Field, Leader, Record, Subfield

from crosswalks import charsets
from crosswalks.marc_io import record_to_iso2709
from crosswalks.marcxml import record_to_marcxml
from harvester.harvested import identifier_of, marcxml_identifier, usmarc_identifier
from harvester.ingest import to_marc
from harvester.z3950_records import decode_usmarc


def _with_001(control: str | None) -> Record:
    record = Record(leader=Leader("00000nam a2200000 a 4500"))
    if control is not None:
        record.add_field(Field(tag="001", data=control))
    return record


def test_the_001_without_spaces_else_a_digest_of_the_payload() -> None:
    assert identifier_of(_with_001("  70813420 /AJ/r86 "), b"") == "70813420/AJ/r86"
    assert identifier_of(_with_001(None), b"abc") == "sha1:a9993e364706816aba3e25717850c26c9cd0d89d"
    assert identifier_of(_with_001("   "), b"abc").startswith("sha1:")
    assert identifier_of(None, b"abc").startswith("sha1:")


def _marc(control: str | None, title: str = "Title") -> Record:
    record = _with_001(control)
    record.add_field(Field("245", ["1", "0"], [Subfield("a", title)]))
    return record


@pytest.mark.parametrize(
    ("data", "charset"),
    [
        (record_to_iso2709(_marc("  70813420 /AJ/r86 ")), None),
        (record_to_iso2709(_marc(None)), None),
        (record_to_iso2709(_marc("   ")), None),
        (record_to_iso2709(_marc("r1", "Война и мир")), charsets.CP1251),
        (charsets.record_to_iso2709_marc8(_marc("m 8", "Café crème")), None),
        (charsets.record_to_iso2709_marc8(_marc("m 8", "Война и мир")), charsets.MARC8),
        (charsets.record_to_iso2709_marc8(_marc("m 8", "Война и мир")), charsets.CP1251),
    ],
)
def test_the_001_of_a_usmarc_record_is_found_in_its_directory_as_decoding_finds_it(
    data: bytes, charset: str | None
) -> None:
    assert usmarc_identifier(data) == identifier_of(decode_usmarc(data, charset), data)


@pytest.mark.parametrize(
    "data",
    [
        record_to_iso2709(_marc("ü1")),  # read otherwise by another charset
        charsets.record_to_iso2709_marc8(_marc("Ж1")),  # an escape in the 001
        record_to_iso2709(_marc("r1"))[:-3],  # its structure is not flawless
        b"not a record at all",
    ],
)
def test_a_usmarc_001_that_decoding_may_read_otherwise_is_not_guessed(data: bytes) -> None:
    assert usmarc_identifier(data) is None


MARC = "http://www.loc.gov/MARC21/slim"


def _element(fields: str, root: str = "record") -> etree._Element:
    return etree.fromstring(f'<{root} xmlns="{MARC}"><leader>00000nam a2200000 a 4500</leader>'
                            f"{fields}</{root}>")


TITLE = '<datafield tag="245" ind1="1" ind2="0"><subfield code="a">T</subfield></datafield>'


@pytest.mark.parametrize(
    "fields",
    [
        f'<controlfield tag="001">  70813420 /AJ/r86 </controlfield>{TITLE}',
        f'<controlfield tag="003">X</controlfield>{TITLE}',
        f'<controlfield tag="001"> </controlfield>{TITLE}',
        '<controlfield tag="001">a1</controlfield><controlfield tag="001">b2</controlfield>'
        + TITLE,
        record_to_marcxml(_marc("ид 1")).decode().split("</leader>")[1].split("</record>")[0],
    ],
)
def test_the_001_of_marcxml_is_found_without_reading_it_as_reading_finds_it(fields: str) -> None:
    element = _element(fields)
    payload = etree.tostring(element)
    expected = identifier_of(to_marc(element), payload)
    assert marcxml_identifier(element, payload) == expected


@pytest.mark.parametrize(
    ("fields", "root"),
    [
        (f'<controlfield tag="1">x1</controlfield>{TITLE}', "record"),  # pymarc pads it to 001
        (f'<datafield tag="001" ind1=" " ind2=" "/><controlfield tag="001">a</controlfield>{TITLE}',
         "record"),
        (f'<controlfield tag="001">a<!-- c -->b</controlfield>{TITLE}', "record"),
        (f'<datafield tag="245" ind1="1" ind2="0"><controlfield tag="001">in</controlfield>'
         f'</datafield><controlfield tag="001">out</controlfield>{TITLE}', "record"),
        (f'<controlfield tag="001">a</controlfield><x xmlns="urn:x"/>{TITLE}', "record"),
        (f'<record><controlfield tag="001">a</controlfield>{TITLE}</record>', "collection"),
    ],
)
def test_marcxml_whose_001_reading_may_find_otherwise_is_not_guessed(
    fields: str, root: str
) -> None:
    element = _element(fields, root)
    assert marcxml_identifier(element, etree.tostring(element)) is None
