"""DC -> MARC21 on the 100 real oai_dc records of a Caltech OAI-PMH response."""

from __future__ import annotations

import io
import subprocess
from collections import Counter

import pymarc
import pytest
from lxml import etree

from crosswalks.dc_to_marc import dc_to_marc
from crosswalks.dublin_core import marc_to_dc
from crosswalks.marc_build import classify_identifier
from crosswalks.xmltext import parse_untrusted
from tests.conftest import DATA

NS = {"oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
      "dc": "http://purl.org/dc/elements/1.1/"}


@pytest.fixture(scope="module")
def caltech() -> list[etree._Element]:
    root = parse_untrusted((DATA / "oai" / "oai-caltech.xml").read_bytes())
    return root.xpath("//oai_dc:dc", namespaces=NS)


@pytest.fixture(scope="module")
def iso2709(caltech) -> bytes:
    return b"".join(dc_to_marc(dc).as_marc() for dc in caltech)


def test_all_records_are_valid_marc21(caltech, iso2709) -> None:
    assert len(caltech) == 100
    records = list(pymarc.MARCReader(io.BytesIO(iso2709), to_unicode=True, force_utf8=True))
    assert len(records) == 100 and all(r is not None for r in records)
    offset = 0
    for record in records:
        leader = str(record.leader)
        length = int(leader[:5])
        chunk = iso2709[offset : offset + length]
        assert chunk.endswith(b"\x1d") and len(chunk) == length
        assert leader[9] == "a" and leader[20:24] == "4500"
        assert int(leader[12:17]) == chunk.index(b"\x1e") + 1  # base address of data
        assert len(record["008"].data) == 40
        assert record["245"] is not None
        offset += length
    assert offset == len(iso2709)


@pytest.mark.interop
def test_yaz_marcdump_reads_them(iso2709, tmp_path) -> None:
    path = tmp_path / "caltech.mrc"
    path.write_bytes(iso2709)
    done = subprocess.run(["yaz-marcdump", "-i", "marc", "-o", "marcxml", str(path)],
                          capture_output=True, check=True)
    root = etree.fromstring(done.stdout)
    assert len(root.xpath("//m:record", namespaces={"m": "http://www.loc.gov/MARC21/slim"})) == 100
    assert b"error" not in done.stderr.lower()


def test_first_record_values(caltech) -> None:
    record = dc_to_marc(caltech[0])
    assert record["245"]["a"] == "A Language Processor and a Sample Language"
    assert list(record["245"].indicators) == ["1", "0"]
    assert record["100"]["a"] == "Ayres, Ronald" and record["100"].indicators[0] == "1"
    assert record["260"]["b"] == "California Institute of Technology"
    assert record["260"]["c"] == "1978-01-01"
    assert record["008"].data[6:11] == "s1978"
    assert record["653"]["a"] == "All Records"
    assert record["520"]["a"].startswith("This thesis explores shared data")
    uris = [(f.indicators[1], f["u"]) for f in record.get_fields("856") if f.get("u")]
    assert ("0", "http://resolver.caltech.edu/CaltechCSTR:1978.2276-tr-78") in uris
    assert ("2", "http://caltechcstr.library.caltech.edu/4/01/postscript.pdf") in uris
    assert sorted(f["q"] for f in record.get_fields("856") if f.get("q")) == [
        "application/octet-stream", "application/postscript"]
    assert [f["a"] for f in record.get_fields("655")] == ["Monograph", "NonPeerReviewed"]
    assert record.leader[6] == "a"


def test_several_creators(caltech) -> None:
    record = dc_to_marc(caltech[2])
    assert record["100"]["a"] == "Seitz, Charles L."
    assert [f["a"] for f in record.get_fields("700")] == [
        "Kajiya, James T.", "Martin, Alain J.", "McEliece, Robert J.", "Rem, Martin"]


def test_round_trip_through_dc_keeps_core_elements(caltech) -> None:
    for dc in caltech:
        before = Counter((etree.QName(e).localname, " ".join(e.text.split())) for e in dc)
        after = Counter((etree.QName(e).localname, e.text)
                        for e in etree.fromstring(marc_to_dc(dc_to_marc(dc))))
        for element in ("title", "subject", "publisher", "date", "description"):
            assert {v for (e, v) in before if e == element} == \
                   {v for (e, v) in after if e == element}, element
        names = {v for (e, v) in before if e == "creator"}
        assert names == {v for (e, v) in after if e in ("creator", "contributor")}
        resolver = {v for (e, v) in before if e == "identifier"}
        assert resolver <= {v for (e, v) in after if e == "identifier"}


@pytest.mark.parametrize("leader_type", "atefcdijkgrmp")
def test_the_type_a_record_has_in_dc_is_read_back_to_its_leader(leader_type: str) -> None:
    """The dc:type labels marc_to_dc writes (LoC's) were not all read: a sound recording, an
    image, a film, an object harvested as oai_dc from another Koprik came back a book, and the
    union catalogue kept it out of its group (material: book / music). What DC cannot tell
    apart comes back as one: a (t), e (f), c (d), i (j)."""
    record = pymarc.Record(leader=f"00000n{leader_type}m a2200000uu 4500")
    record.add_field(pymarc.Field("245", ["0", "0"], [pymarc.Subfield("a", "Title")]))
    back = dc_to_marc(etree.fromstring(marc_to_dc(record)))
    assert back.leader[6] == {"t": "a", "f": "e", "d": "c", "j": "i"}.get(leader_type,
                                                                          leader_type)


def test_identifiers_languages_and_untitled() -> None:
    dc = etree.fromstring(
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<dc:identifier>URN:ISBN:9789943012345</dc:identifier>"
        "<dc:identifier>ISSN 1234-5679</dc:identifier>"
        "<dc:identifier>local-42</dc:identifier>"
        "<dc:language>uz</dc:language><dc:language>rus</dc:language>"
        "<dc:language>Karakalpak dialect</dc:language>"
        "<dc:date>c2001</dc:date><dc:type>Image</dc:type>"
        "<dc:subject>Uzbekistan -- History</dc:subject></oai_dc:dc>")
    record = dc_to_marc(dc)
    assert record["020"]["a"] == "9789943012345"
    assert record["022"]["a"] == "1234-5679"
    assert record["024"]["a"] == "local-42" and record["024"].indicators[0] == "8"
    assert record["041"].get_subfields("a") == ["uzb", "rus"]
    assert record["008"].data[35:38] == "uzb" and record["008"].data[7:11] == "2001"
    assert record["546"]["a"] == "Karakalpak dialect"
    assert record["245"]["a"] == "[Untitled]" and record["245"].indicators[0] == "0"
    assert record["650"].get_subfields("a", "x") == ["Uzbekistan", "History"]
    assert record.leader[6] == "k"
    assert len(record.as_marc()) == int(pymarc.Record(data=record.as_marc()).leader[:5])


@pytest.mark.parametrize(("value", "expected"), [
    ("0152038655", "020"), ("978-0-15-203865-4", "020"), ("0378-5955", "022"),
    ("https://example.org/x", "856"), ("doi:10.1000/182", "856"), ("TR-78-12", "024"),
])
def test_classify_identifier(value: str, expected: str) -> None:
    assert classify_identifier(value)[0] == expected


def test_a_type_the_leader_says_is_not_added_again_by_each_round_trip(caltech) -> None:
    """DC -> MARC put a DCMI type both in leader/06 and in a 655, and MARC -> DC wrote both
    back: each trip through MARC added one more ``<dc:type>text</dc:type>``."""
    ns = {"dc": "http://purl.org/dc/elements/1.1/"}
    for element in caltech[:20]:
        once = etree.fromstring(marc_to_dc(dc_to_marc(element)))
        twice = etree.fromstring(marc_to_dc(dc_to_marc(once)))
        types = once.xpath("dc:type/text()", namespaces=ns)
        assert types.count("text") == 1, types
        assert twice.xpath("dc:type/text()", namespaces=ns) == types
