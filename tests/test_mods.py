"""MARC21 -> MODS 3.7: schema validity, and agreement with the LoC stylesheet MARC21slim2MODS3-7.

Agreement is checked on titleInfo, name, originInfo, language, subject, identifier,
physicalDescription, note, abstract and accessCondition: each output is reduced to the multiset
of its leaves under those elements, as (path from the top element, the leaf's type/authority,
displayLabel and xlink:href attributes, normalized text). Leaves that LoC derives from coded
data we do not map are listed in INTENDED, with the reason.
"""

from __future__ import annotations

import random
from collections import Counter

import pymarc
import pytest
from lxml import etree

from crosswalks.mods import marc_to_mods
from tests.peers import unpack_loc_mods
from tests.test_dublin_core import (
    DATA,
    SAMPLES,
    as_peer_sees,
    load_xslt,
    norm,
    other_marc21_records,
)

MODS = "{http://www.loc.gov/mods/v3}"
COMPARED = {"titleInfo", "name", "originInfo", "language", "subject", "identifier",
            "physicalDescription", "note", "abstract", "accessCondition"}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"

INTENDED: dict[str, str] = {
    "physicalDescription/form[marcform]": "from 008 form of item: not mapped",
    "physicalDescription/form[marccategory]": "from 007/00: not mapped",
    "physicalDescription/form[marcsmd]": "from 007/01: not mapped",
    "physicalDescription/form[gmd]": "from 245 $h: not mapped",
    "physicalDescription/form[]": "256/538-like free-text forms: not mapped",
    "physicalDescription/digitalOrigin[]": "from 007: not mapped",
    "physicalDescription/reformattingQuality[]": "from 007: not mapped",
    "subject/cartographics/coordinates[]": "034/255: not mapped",
    "subject/cartographics/scale[]": "034/255: not mapped",
    "subject/hierarchicalGeographic/country[]": "752: not mapped",
    "name/nameIdentifier[]": "LoC writes an empty nameIdentifier for a bare $0/$1",
}


def leaves(root: etree._Element) -> Counter[tuple[str, str]]:
    """(path[attrs], text) for every leaf under the compared top-level elements."""
    found: Counter[tuple[str, str]] = Counter()
    for top in root:
        if etree.QName(top).localname not in COMPARED:
            continue
        for element in top.iter():
            if len(element):
                continue
            path = "/".join(etree.QName(e).localname
                            for e in reversed([element, *element.iterancestors()])
                            if e is not root)
            attrs = element.get("authority") or element.get("type") or ""
            for shown, name in (("label", "displayLabel"), ("href", XLINK_HREF)):
                if element.get(name) is not None:
                    attrs += f" {shown}={element.get(name)}"
            found[(f"{path}[{attrs}]", norm(element.text))] += 1
    return found


@pytest.fixture(scope="module")
def loc_mods(tmp_path_factory) -> etree.XSLT:
    """The LoC MODS 3.7 stylesheet, unpacked, with its include pointed at the local utils."""
    return load_xslt(unpack_loc_mods(tmp_path_factory.mktemp("loc-mods")))


@pytest.fixture(scope="module")
def mods_schema() -> etree.XMLSchema:
    doc = etree.parse(str(DATA / "schemas" / "mods-3-7.xsd"), etree.XMLParser(no_network=True))
    return etree.XMLSchema(doc)


@pytest.mark.parametrize(("label", "record"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_valid_mods(label: str, record: pymarc.Record, mods_schema) -> None:
    root = etree.fromstring(marc_to_mods(record))
    mods_schema.assertValid(root)
    assert root.get("version") == "3.7"


@pytest.mark.interop
@pytest.mark.parametrize(("label", "record"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_agrees_with_loc_stylesheet(label: str, record: pymarc.Record, loc_mods) -> None:
    record, document = as_peer_sees(record)
    ours = leaves(etree.fromstring(marc_to_mods(record)))
    loc = leaves(loc_mods(document).getroot())
    loc = Counter({k: n for k, n in loc.items() if k[0] not in INTENDED and k[1]})
    ours = Counter({k: n for k, n in ours.items() if k[1]})
    assert loc - ours == Counter(), f"{label}: LoC has, we lack: {loc - ours}"
    assert ours - loc == Counter(), f"{label}: we have, LoC lacks: {ours - loc}"


@pytest.mark.interop
def test_links_and_labels_of_notes_and_abstracts_agree_with_loc(loc_mods, mods_schema) -> None:
    """A note's or an abstract's $u or $0 is its xlink:href (the last one), and a 520's first
    indicator its displayLabel, as LoC writes them: both were left out."""
    record = pymarc.Record()
    record.add_field(
        pymarc.Field("245", ["1", "0"], [pymarc.Subfield("a", "Navoiy")]),
        pymarc.Field("500", [" ", " "], [pymarc.Subfield("a", "Online note."),
                                         pymarc.Subfield("u", "http://example.org/note")]),
        pymarc.Field("504", [" ", " "], [pymarc.Subfield("a", "Bibliography."),
                                         pymarc.Subfield("u", "http://example.org/first"),
                                         pymarc.Subfield("u", "http://example.org/last")]),
        pymarc.Field("530", [" ", " "], [pymarc.Subfield("a", "Also online."),
                                         pymarc.Subfield("u", "http://example.org/online"),
                                         pymarc.Subfield("0", "(uzNL)n2026-17")]),
        pymarc.Field("520", ["3", " "], [pymarc.Subfield("a", "An abstract &amp; <more>."),
                                         pymarc.Subfield("u", "http://example.org/a?b=1&c=2")]),
        pymarc.Field("520", ["8", " "], [pymarc.Subfield("a", "No label.")]),
        pymarc.Field("520", [" ", " "], [pymarc.Subfield("a", "A summary.")]),
        pymarc.Field("530", [" ", " "], [pymarc.Subfield("u", "http://example.org/alone")]),
    )
    record, document = as_peer_sees(record)
    root = etree.fromstring(marc_to_mods(record))
    mods_schema.assertValid(root)
    ours, loc = leaves(root), leaves(loc_mods(document).getroot())
    assert ours == Counter({k: n for k, n in loc.items() if k[0] not in INTENDED})
    assert ("note[additional physical form href=http://example.org/alone]", "") in ours
    assert ("note[bibliography href=http://example.org/last]",
            "Bibliography. http://example.org/first http://example.org/last") in ours
    assert ("abstract[ label=Abstract href=http://example.org/a?b=1&c=2]",
            "An abstract &amp; <more>.") in ours


@pytest.mark.parametrize(("link", "href"), [
    ("50%", "50%25"), ("http://a.example/b#c#d", "http://a.example/b#c%23d"),
    ("http://[bad", "http://%5Bbad"), ("%zz", "%25zz"), ("http://[::1]/x", "http://[::1]/x"),
    ("(DLC)n79021164", "(DLC)n79021164"), ("a b|c", "a b|c"),
])
def test_a_link_that_is_no_uri_is_escaped_and_the_mods_stays_valid(
    link: str, href: str, mods_schema
) -> None:
    """LoC copies a $u into xlink:href as it stands: ``50%`` made the whole record's MODS
    invalid (xs:anyURI)."""
    record = pymarc.Record()
    record.add_field(
        pymarc.Field("245", ["1", "0"], [pymarc.Subfield("a", "Navoiy")]),
        pymarc.Field("500", [" ", " "], [pymarc.Subfield("a", "A note."),
                                         pymarc.Subfield("u", link)]),
        pymarc.Field("520", [" ", " "], [pymarc.Subfield("a", "An abstract."),
                                         pymarc.Subfield("0", link)]),
        pymarc.Field("856", ["4", "0"], [pymarc.Subfield("u", link)]),
    )
    root = etree.fromstring(marc_to_mods(record))
    mods_schema.assertValid(root)
    assert [e.get(XLINK_HREF) for e in root.iter(MODS + "note", MODS + "abstract")] == [href] * 2
    assert [e.text for e in root.iter(MODS + "url")] == [href]


def test_sandburg_values() -> None:
    record = pymarc.parse_xml_to_array(
        str(DATA / "marc21" / "loc" / "collection-sandburg-1.xml"))[0]
    root = etree.fromstring(marc_to_mods(record))
    ns = {"m": MODS[1:-1]}
    assert root.xpath("m:titleInfo/m:title/text()", namespaces=ns) == ["Arithmetic"]
    assert root.xpath("m:name[@usage='primary']/m:namePart[@type='date']/text()",
                      namespaces=ns) == ["1878-1967"]
    assert root.xpath("m:identifier[@type='isbn']/text()", namespaces=ns) == ["0152038655 :"]
    assert root.xpath("m:originInfo/m:publisher/text()", namespaces=ns) == [
        "Harcourt Brace Jovanovich"]


def test_valid_on_other_test_data(mods_schema) -> None:
    records = other_marc21_records()
    assert len(records) > 50
    for record in records:
        mods_schema.assertValid(etree.fromstring(marc_to_mods(record)))


def test_script_labels_come_from_the_text_when_6_has_no_code() -> None:
    from catalog.demo import demo_records

    record = next(r for r in demo_records(40) if r.get_fields("880"))
    root = etree.fromstring(marc_to_mods(record))
    titles = root.findall("{http://www.loc.gov/mods/v3}titleInfo")
    scripts = {t.get("script") for t in titles if t.get("altRepGroup")}
    assert scripts == {"Cyrl", "Latn"}  # the Cyrillic 245 and its Latin 880
    record["880"]["6"] = "100-01/(N"  # an explicit code wins over the text
    root = etree.fromstring(marc_to_mods(record))
    names = root.findall("{http://www.loc.gov/mods/v3}name")
    assert [n.get("script") for n in names if n.get("altRepGroup")] == ["Cyrl", "Cyrl"]


def test_empty_elements_of_mods_are_left_out_and_nested_ones_kept(mods_schema) -> None:
    """A top-level element with neither content nor text is not written (MODS requires content
    in it); an empty element within another is written, as LoC writes it."""
    record = pymarc.Record(leader=pymarc.Leader("00000nam a2200000 a 4500"))
    record.add_field(
        pymarc.Field("245", pymarc.Indicators("0", "0"), [pymarc.Subfield("a", "Title")]),
        pymarc.Field("110", pymarc.Indicators("2", " "), [pymarc.Subfield("6", "880-01")]),
        pymarc.Field("520", pymarc.Indicators(" ", " "), [pymarc.Subfield("a", "  ")]),
        pymarc.Field("651", pymarc.Indicators(" ", "0"), [pymarc.Subfield("9", "x")]),
        pymarc.Field("610", pymarc.Indicators("2", "0"), [pymarc.Subfield("x", "History")]),
    )
    mods = marc_to_mods(record)
    root = etree.fromstring(mods)
    mods_schema.assertValid(root)
    assert [etree.QName(e).localname for e in root] == [
        "titleInfo", "typeOfResource", "subject", "recordInfo"]
    assert b'<subject authority="lcsh"><name type="corporate"/><topic>History</topic>' in mods


def test_control_characters_in_values_made_attributes_are_dropped(mods_schema) -> None:
    """A $2, a $6 group or an identifier's type holding a character XML forbids loses it, as
    element text does: the record still has its MODS (it used to be left without)."""
    fields = [
        ("245", "00", [("6", "880-0\x01"), ("a", "Title")]),
        ("024", "7 ", [("a", "10.1000/1"), ("2", "d\x02oi")]),
        ("338", "  ", [("a", "volume"), ("2", "rda\x0bcarrier")]),
        ("650", " 7", [("a", "Topic"), ("2", "fa\x1bst")]),
        ("648", " 7", [("a", "1900-1999"), ("2", "fa\x1bst")]),
    ]
    record = pymarc.Record(leader=pymarc.Leader("00000nam a2200000 a 4500"))
    for tag, indicators, subfields in fields:
        record.add_field(pymarc.Field(tag, pymarc.Indicators(*indicators),
                                      [pymarc.Subfield(code, value) for code, value in subfields]))
    root = etree.fromstring(marc_to_mods(record))
    mods_schema.assertValid(root)
    ns = {"m": MODS[1:-1]}
    assert root.xpath("m:titleInfo/@altRepGroup", namespaces=ns) == ["0"]
    assert root.xpath("m:identifier/@type", namespaces=ns) == ["doi"]
    assert root.xpath("m:physicalDescription/m:form/@authority", namespaces=ns) == ["rdacarrier"]
    assert root.xpath("m:subject/@authority", namespaces=ns) == ["fast", "fast"]


MAPPED_TAGS = ("010", "020", "022", "024", "028", "035", "037", "041", "043", "050", "082",
               "100", "110", "111", "130", "210", "240", "245", "246", "250", "260", "264",
               "300", "310", "321", "337", "338", "362", "500", "502", "504", "506", "508",
               "518", "520", "530", "538", "540", "546", "600", "610", "611", "630", "648",
               "650", "651", "653", "700", "710", "711", "720", "730", "740", "856", "880")
"""Data fields the MODS crosswalk reads (and 880, whose $6 links it to one of them)."""
PIECES = ("Navoiy", "Навоий", "oʻzbek", "1999", "19uu", "[1999?]", "c1999.", "1441-1501",
          "http://x.example/a b", "50%", "#a#b", "[", "]", "http://[::1]/", "mailto:a@b",
          "urn:isbn:978", "(DLC)n79021164", "<&>", "\u00a0", "\u200b", "\ufeff", "abc\u0301",
          "\x1b(N", " ", "-", ":", "/", "eng", "uzb", "xx", "880-01", "245-01/(N",
          "100-01/$1", "-01", "0", "9", "x" * 300)
"""What values are made of: scripts, dates, links, codes and $6 links, and what breaks a
writer (markup, forbidden and invisible characters, MARC-8 escapes, long text)."""


def random_record(draw: random.Random) -> pymarc.Record:
    """A record of a random kind, a randomly altered 008 and up to 12 random data fields."""
    def value() -> str:
        return "".join(draw.choice(PIECES) for _ in range(draw.randint(0, 4)))

    kind, level = draw.choice("acdefgijkmoprt"), draw.choice("abcdims")
    record = pymarc.Record(force_utf8=True, leader=f"00000n{kind}{level} a2200000 a 4500")
    fixed = list("990101s1999    uz            000 0 uzb d")
    for _ in range(draw.randint(0, 6)):
        fixed[draw.randrange(40)] = draw.choice("| u0123456789abcdxz")
    record.add_field(pymarc.Field("008", data="".join(fixed)))
    for tag in ("001", "003", "005"):
        if draw.random() < 0.3:
            record.add_field(pymarc.Field(tag, data=value()))
    for _ in range(draw.randint(1, 12)):
        indicators = [draw.choice(" 0123478"), draw.choice(" 0123478")]
        subfields = [pymarc.Subfield(draw.choice("abcdefghklnpqstuvxyz02368"), value())
                     for _ in range(draw.randint(1, 5))]
        record.add_field(pymarc.Field(draw.choice(MAPPED_TAGS), indicators, subfields))
    return record


def test_the_mods_of_any_record_is_valid(mods_schema) -> None:
    """The MODS of whatever the mapped fields hold is valid by the official schema: an 856 $u
    of ``50%`` (xs:anyURI) made a record's MODS invalid once. The records are random, and the
    same in every run (seeded)."""
    draw = random.Random(20261205)
    for number in range(1500):
        record = random_record(draw)
        valid = mods_schema.validate(etree.fromstring(marc_to_mods(record)))
        assert valid, f"random record {number}: {mods_schema.error_log.last_error}\n{record}"
