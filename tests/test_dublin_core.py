"""MARC21 -> oai_dc, compared element by element with the LoC stylesheet MARC21slim2DC.xsl.

The comparison is on multisets of (element, whitespace-normalized text). The LoC output is first
adjusted by the differences Koprik intends (DESIGN.md, "DC policy"), each one named below; what
remains must be equal, except for additions our policy makes (checked one by one).
"""

from __future__ import annotations

import copy
import glob
import io
from collections import Counter
from pathlib import Path

import pymarc
import pytest
from lxml import etree

from crosswalks.dublin_core import marc_languages, marc_to_dc
from crosswalks.xmltext import xml_safe
from tests.conftest import DATA

MARC = DATA / "marc21"
DC_XSL = Path("/usr/share/yaz/etc/MARC21slim2DC.xsl")
DC = "{http://purl.org/dc/elements/1.1/}"


def bibliographic_samples() -> list[tuple[str, pymarc.Record]]:
    """The LoC and yaz bibliographic sample records (LoC authority collections are left out:
    they describe names, subjects and class numbers, not resources, and have no DC rendering)."""
    samples: list[tuple[str, pymarc.Record]] = []
    files = [MARC / "loc" / "collection-2.xml", MARC / "loc" / "collection-sandburg-1.xml"]
    files += [Path(p) for p in sorted(glob.glob(str(MARC / "yaz" / "marc*.xml")))]
    for path in files:
        for n, record in enumerate(pymarc.parse_xml_to_array(str(path), strict=True)):
            samples.append((f"{path.name}#{n}", record))
    with (MARC / "loc" / "sample-marc.mrc").open("rb") as fh:
        for n, record in enumerate(pymarc.MARCReader(fh, permissive=True)):
            if record is not None:
                samples.append((f"sample-marc.mrc#{n}", record))
    return samples


SAMPLES = bibliographic_samples()


def marcxml_document(record: pymarc.Record) -> etree._ElementTree:
    """The record as an indented MARCXML document of its own, as a stylesheet peer reads it.

    XML cannot carry C0 controls, so they are dropped (one LoC sample has them in its 008).
    """
    text = pymarc.record_to_xml(record, namespace=True).decode("utf-8")
    root = etree.fromstring(xml_safe(text).encode("utf-8"))
    etree.indent(root)
    return etree.ElementTree(copy.deepcopy(root))


def as_peer_sees(record: pymarc.Record) -> tuple[pymarc.Record, etree._ElementTree]:
    """The MARCXML document for the peer, and the record read back from it for us, so that
    both sides convert the same data."""
    document = marcxml_document(record)
    source = io.BytesIO(etree.tostring(document))
    return pymarc.parse_xml_to_array(source, strict=True)[0], document


def load_xslt(path: Path) -> etree.XSLT:
    """A stylesheet from a local file, with the network off."""
    doc = etree.parse(str(path), etree.XMLParser(no_network=True))
    access = etree.XSLTAccessControl(read_network=False, write_network=False)
    return etree.XSLT(doc, access_control=access)


def norm(text: str | None) -> str:
    return " ".join((text or "").split())


def dc_multiset(root: etree._Element) -> Counter[tuple[str, str]]:
    return Counter((child.tag.removeprefix(DC), norm(child.text)) for child in root)


def field_text(field: pymarc.Field) -> str:
    return norm(" ".join(s.value for s in field.subfields if s.code != "6"))


def letter_text(field: pymarc.Field) -> str:
    return norm(" ".join(s.value for s in field.subfields if s.code.isalpha()))


def loc_adjusted(record: pymarc.Record, loc: Counter[tuple[str, str]]) -> Counter:
    """The LoC output with Koprik's intended differences applied, each named here."""
    linkages = {s.value for f in record.get_fields() if not f.is_control_field()
                for s in f.subfields if s.code == "6"}
    names = record.get_fields("100", "110", "111", "700", "710", "711", "720", "655")
    # INTENDED: names and 655 keep their letter subfields only; LoC also copies the control
    # subfields ($0 authority links, $4 relator codes, $2 sources) into the value
    letters_only = {field_text(f): letter_text(f) for f in names}
    contributors = {letter_text(f) for f in record.get_fields("700", "710", "711", "720")}
    expected: Counter[tuple[str, str]] = Counter()
    for (element, value), count in loc.items():
        if not value:
            continue  # INTENDED: no empty elements (LoC writes empty dc:type / dc:language)
        # INTENDED: $6 linkage text never leaks (LoC's creator copies the whole field)
        value = letters_only.get(value, value)
        value = norm(" ".join(w for w in value.split() if w not in linkages))
        if element == "creator" and value in contributors:
            element = "contributor"  # INTENDED: 700/710/711/720 -> contributor
        expected[(element, value)] += count
    for field in record.get_fields("520", "521"):
        # INTENDED: LoC writes 520/521 $a twice (its own rule and the 5XX note rule); we once
        if field.get("a"):
            expected[("description", norm(field.get("a")))] -= 1
    return +expected


def policy_addition(record: pymarc.Record, element: str, value: str) -> bool:
    """True when an element only we write is one that our DC policy adds to LoC's mapping."""
    if element == "identifier":  # 020/022/024 -> identifier, URN:ISBN:/URN:ISSN: forms
        numbers = [norm(s.value).split(" ")[0] for f in record.get_fields("020", "022", "024")
                   for s in f.subfields if s.code == "a"]
        if value.removeprefix("URN:ISBN:").removeprefix("URN:ISSN:") in numbers:
            return True
    if element == "language" and value in marc_languages(record):  # 041 -> language
        return True
    if element in ("publisher", "date") and any(  # 264 mapped like 260
        all(word in field_text(f) for word in value.split()) for f in record.get_fields("264")
    ):
        return True
    # 880: an original-script field is mapped like the field its $6 names
    return any(all(word in field_text(f) for word in value.split())
               for f in record.get_fields("880"))


@pytest.fixture(scope="module")
def loc_dc() -> etree.XSLT:
    return load_xslt(DC_XSL)


@pytest.fixture(scope="module")
def oai_dc_schema() -> etree.XMLSchema:
    doc = etree.parse(str(DATA / "schemas" / "oai_dc.xsd"), etree.XMLParser(no_network=True))
    return etree.XMLSchema(doc)


def test_samples_are_there() -> None:
    assert len(SAMPLES) >= 35


@pytest.mark.interop
@pytest.mark.parametrize(("label", "record"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_agrees_with_loc_stylesheet(label: str, record: pymarc.Record, loc_dc) -> None:
    record, document = as_peer_sees(record)
    ours = dc_multiset(etree.fromstring(marc_to_dc(record)))
    loc = dc_multiset(loc_dc(document).getroot())
    expected = loc_adjusted(record, loc)
    missing = expected - ours
    assert not missing, f"{label}: LoC has, we lack: {missing}"
    extra = [item for item in (ours - expected).elements() if not policy_addition(record, *item)]
    assert not extra, f"{label}: we have, LoC and policy lack: {extra}"


@pytest.mark.parametrize(("label", "record"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_output_is_valid_oai_dc(label: str, record: pymarc.Record, oai_dc_schema) -> None:
    root = etree.fromstring(marc_to_dc(record))
    oai_dc_schema.assertValid(root)
    assert root.tag == "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc"


def test_policy_on_sandburg() -> None:
    record = pymarc.parse_xml_to_array(str(MARC / "loc" / "collection-sandburg-1.xml"))[0]
    dc = dc_multiset(etree.fromstring(marc_to_dc(record)))
    assert dc[("creator", "Sandburg, Carl, 1878-1967.")] == 1
    assert dc[("contributor", "Rand, Ted, ill.")] == 1
    assert dc[("identifier", "URN:ISBN:0152038655")] == 1
    assert dc[("language", "eng")] == 1
    assert dc[("type", "text")] == 1


def built_record(*fields: pymarc.Field, leader_type: str = "a") -> pymarc.Record:
    record = pymarc.Record(force_utf8=True)
    record.leader = pymarc.Leader(f"00000n{leader_type}m a2200000 a 4500")
    record.add_field(*fields)
    return record


def test_linked_880_title_linkage_rda_and_languages() -> None:
    sf = pymarc.Subfield
    record = built_record(
        pymarc.Field("008", data="990101s1999    uz            000 0 uzb d"),
        pymarc.Field("041", [" ", " "], [sf("a", "uzbrus")]),
        pymarc.Field("245", ["1", "0"], [sf("6", "880-01"), sf("a", "O'tkan kunlar")]),
        pymarc.Field("880", ["1", "0"], [sf("6", "245-01/(N"), sf("a", "Ўткан кунлар")]),
        pymarc.Field("100", ["1", " "], [sf("6", "880-02"), sf("a", "Qodiriy,  Abdulla")]),
        pymarc.Field("264", [" ", "1"], [sf("a", "Toshkent :"), sf("b", "Sharq,"),
                                         sf("c", "1999.")]),
        pymarc.Field("022", [" ", " "], [sf("a", "1234-5679")]),
        pymarc.Field("500", [" ", " "], [sf("a", "bad \x0b char & <tag>")]),
        pymarc.Field("590", [" ", " "], [sf("a", "bad \x0b char & <tag>")]),
    )
    dc = dc_multiset(etree.fromstring(marc_to_dc(record)))
    assert dc[("title", "O'tkan kunlar")] == 1
    assert dc[("title", "Ўткан кунлар")] == 1
    assert dc[("creator", "Qodiriy, Abdulla")] == 1
    assert dc[("publisher", "Toshkent : Sharq,")] == 1
    assert dc[("date", "1999.")] == 1
    assert dc[("identifier", "URN:ISSN:1234-5679")] == 1
    assert [v for (e, v) in dc.elements() if e == "language"] == ["uzb", "rus"]
    assert dc[("description", "bad char & <tag>")] == 1  # 590 only: LoC maps 501-599


def test_empty_record_is_valid_and_has_no_empty_elements(oai_dc_schema) -> None:
    root = etree.fromstring(marc_to_dc(built_record(leader_type="z")))
    oai_dc_schema.assertValid(root)
    assert len(root) == 0


def other_marc21_records() -> list[pymarc.Record]:
    """The yaz multi-script collections and pymarc's test files (MARC-8 and UTF-8)."""
    records: list[pymarc.Record] = []
    paths = sorted(glob.glob(str(MARC / "yaz" / "marccol*.marc")))
    paths += sorted(glob.glob(str(MARC / "*.dat")))
    for path in paths:
        with open(path, "rb") as fh:
            records += [r for r in pymarc.MARCReader(fh, permissive=True) if r is not None]
    return records


def test_valid_on_other_test_data(oai_dc_schema) -> None:
    records = other_marc21_records()
    assert len(records) > 50
    for record in records:
        oai_dc_schema.assertValid(etree.fromstring(marc_to_dc(record)))


def test_control_subfields_of_names_stay_out_of_values() -> None:
    record = pymarc.Record()
    record.add_field(pymarc.Field(tag="245", indicators=pymarc.Indicators("0", "0"),
                                  subfields=[pymarc.Subfield("a", "Svetilnik")]))
    record.add_field(pymarc.Field(
        tag="700", indicators=pymarc.Indicators("1", " "),
        subfields=[pymarc.Subfield("a", "Titov, F. I.,"), pymarc.Subfield("e", "author."),
                   pymarc.Subfield("4", "aut"), pymarc.Subfield("0", "RU\\NLR\\auth\\779485")]))
    dc = dc_multiset(etree.fromstring(marc_to_dc(record)))
    assert dc[("contributor", "Titov, F. I., author.")] == 1
    assert not any("aut " in value or "779485" in value for _, value in dc)
