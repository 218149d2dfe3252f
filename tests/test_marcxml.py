"""Our MARCXML against yaz-marcdump's, field by field, and against the MARC21 slim schema.

Intended differences from ``yaz-marcdump -f CHARSET -t UTF-8 -o marcxml``, each asserted below:
- leader/20-23 is always "4500" (yaz copies "450 " and the like from the input);
- text converted from MARC-8 is NFC (pymarc composes; yaz leaves base letter + mark);
- MARC-8 double diacritics (0xEB/0xEC ligature, 0xFA/0xFB double tilde) keep both halves as
  U+FE20/U+FE21 and U+FE22/U+FE23 (pymarc's table, reversible), where yaz writes one U+0361
  or U+0360 for the first half and drops the second.
Records we reject (see tests/test_marc_io.py) are not compared.
"""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from lxml import etree
from pymarc import Field, Indicators, Record, Subfield

from crosswalks import iso2709
from crosswalks.marc_io import iter_records
from crosswalks.marcxml import record_to_marcxml
from tests.conftest import DATA
from tests.test_marc_io import MARC21_ISO_FILES

MARC21 = DATA / "marc21"
NS = "{http://www.loc.gov/MARC21/slim}"
YAZ_CHARSETS = {
    "utf-8": "UTF-8",
    "marc-8": "MARC-8",
    "cp1251": "CP1251",
    "iso-8859-1": "ISO-8859-1",
}
DOUBLE_DIACRITICS_AS_YAZ = str.maketrans(
    {"\ufe20": "\u0361", "\ufe21": None, "\ufe22": "\u0360", "\ufe23": None}
)

needs_yaz = pytest.mark.skipif(shutil.which("yaz-marcdump") is None, reason="yaz not installed")


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.parse(str(DATA / "schemas" / "MARC21slim.xsd"), parser))


def fields(record: etree._Element) -> list[tuple]:
    out: list[tuple] = []
    for element in record:
        if element.tag == NS + "controlfield":
            out.append((element.get("tag"), element.text or ""))
        elif element.tag == NS + "datafield":
            subfields = [(s.get("code"), s.text or "") for s in element]
            out.append((element.get("tag"), element.get("ind1"), element.get("ind2"), subfields))
    return out


def yaz_records(path: Path, charset: str) -> list[etree._Element]:
    command = [
        "yaz-marcdump",
        "-i",
        "marc",
        "-o",
        "marcxml",
        "-f",
        YAZ_CHARSETS[charset],
        "-t",
        "UTF-8",
        str(path),
    ]
    output = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    return etree.fromstring(output).findall(NS + "record")


@needs_yaz
@pytest.mark.parametrize("path", MARC21_ISO_FILES, ids=lambda p: p.name)
def test_marcxml_equals_yaz_marcdump_field_by_field(path: Path, schema: etree.XMLSchema) -> None:
    items = [item for item in iter_records(path) if item.record is not None]
    assert items
    by_charset: dict[str, list[etree._Element]] = {}
    for item in items:
        _record, charset = iso2709.decode_record(item.raw)
        if charset not in by_charset:
            by_charset[charset] = yaz_records(path, charset)
        theirs = by_charset[charset][item.index]
        ours = etree.fromstring(record_to_marcxml(item.record))  # type: ignore[arg-type]
        assert schema.validate(ours), schema.error_log
        if charset == "marc-8":
            expected = unicodedata.normalize("NFC", repr(fields(theirs)))
            assert repr(fields(ours)).translate(DOUBLE_DIACRITICS_AS_YAZ) == expected
        else:
            assert fields(ours) == fields(theirs)
        ours_leader, their_leader = ours.findtext(NS + "leader"), theirs.findtext(NS + "leader")
        assert ours_leader[:20] == their_leader[:20]  # type: ignore[index]
        assert ours_leader[20:] == "4500"  # type: ignore[index]


def test_loc_marcxml_collections_come_back_field_by_field(schema: etree.XMLSchema) -> None:
    for path in sorted((MARC21 / "loc").glob("*.xml")):
        source = etree.parse(str(path), etree.XMLParser(no_network=True)).getroot()
        theirs = source.findall(NS + "record")
        ours = [item.record for item in iter_records(path)]
        assert len(ours) == len(theirs) and all(ours)
        for record, element in zip(ours, theirs, strict=True):
            mine = etree.fromstring(record_to_marcxml(record))  # type: ignore[arg-type]
            assert schema.validate(mine), schema.error_log
            assert fields(mine) == fields(element)


def test_escaping_and_forbidden_characters() -> None:
    record = Record(leader="00000nam a2200000 a 4500")
    record.add_field(Field(tag="001", data="x<1>&y"))
    record.add_field(
        Field(
            tag="245",
            indicators=Indicators("1", "0"),
            subfields=[Subfield("a", 'A & B <c> "d" \x0bgone\r'), Subfield('"', "quote code")],
        )
    )
    element = etree.fromstring(record_to_marcxml(record))
    assert element.tag == NS + "record"
    assert fields(element) == [
        ("001", "x<1>&y"),
        ("245", "1", "0", [("a", 'A & B <c> "d" gone\r'), ('"', "quote code")]),
    ]


def test_no_xml_declaration_and_utf8() -> None:
    record = Record(leader="00000nam a2200000 a 4500")
    record.add_field(
        Field(tag="245", indicators=Indicators("0", "0"), subfields=[Subfield("a", "Oʻzbekiston")])
    )
    data = record_to_marcxml(record)
    assert data.startswith(b'<record xmlns="http://www.loc.gov/MARC21/slim">')
    assert "Oʻzbekiston".encode() in data
