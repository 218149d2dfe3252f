"""harvester.oai_pages: reading pages, and salvaging malformed ones record by record."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from harvester.oai_pages import Event, MalformedResponse, read_document, read_page, salvage_page

PAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<oai:OAI-PMH xmlns:oai="http://www.openarchives.org/OAI/2.0/"
             xmlns:marc="http://www.loc.gov/MARC21/slim">
<oai:responseDate>2024-02-03T04:05:06Z</oai:responseDate><oai:request>x</oai:request>
<oai:ListRecords>
 <oai:record><oai:header><oai:identifier>oai:x:1</oai:identifier>
  <oai:datestamp>2024-01-01</oai:datestamp><oai:setSpec>a</oai:setSpec></oai:header>
  <oai:metadata><marc:record><marc:leader>00000nam a2200000 a 4500</marc:leader>
  </marc:record></oai:metadata></oai:record>
 <oai:record><oai:header><oai:identifier>oai:x:2</oai:identifier>
  <oai:datestamp>2024-01-02</oai:datestamp></oai:header>
  <oai:metadata><marc:record><marc:leader>BROKEN</marc:leader></marc:record></oai:metadata>
 </oai:record>
 <oai:record><oai:header status="deleted"><oai:identifier>oai:x:3</oai:identifier>
  <oai:datestamp>2024-01-03</oai:datestamp></oai:header></oai:record>
 <oai:resumptionToken cursor="0" completeListSize="9">next&amp;1</oai:resumptionToken>
</oai:ListRecords></oai:OAI-PMH>"""


def test_a_well_formed_page() -> None:
    root = read_document(PAGE)
    page = read_page(root[2], "ListRecords", "2024-02-03T04:05:06Z")
    assert [r.identifier for r in page.records] == ["oai:x:1", "oai:x:2", "oai:x:3"]
    assert [r.deleted for r in page.records] == [False, False, True]
    assert page.records[0].set_specs == ["a"]
    assert page.records[0].metadata is not None
    assert etree.QName(page.records[0].metadata).localname == "record"
    assert (page.token, page.cursor, page.complete_list_size) == ("next&1", 0, 9)


def test_a_malformed_record_is_cut_out_with_its_bytes_and_the_rest_read() -> None:
    broken = PAGE.replace(b"BROKEN", b"bad \x02 char")
    with pytest.raises(etree.XMLSyntaxError):
        read_document(broken)
    events: list[Event] = []
    page = salvage_page(broken, events)
    assert [r.identifier for r in page.records] == ["oai:x:1", "oai:x:2", "oai:x:3"]
    good, bad, deleted = page.records
    assert good.error is None and good.metadata is not None and deleted.deleted
    assert bad.error is not None and bad.error.startswith("malformed XML")
    assert bad.raw.startswith(b"<oai:record>") and b"bad \x02 char" in bad.raw
    assert bad.raw.rstrip().endswith(b"</oai:record>")
    assert page.token == "next&1" and page.response_date == "2024-02-03T04:05:06Z"
    assert [str(e) for e in events] == ["quarantined: 1 of 3 records of a malformed page"]


@pytest.mark.parametrize(
    "edit",
    [
        # each record declares its namespace (equivalent XML): none was found, and the page
        # was read as one of no records, its records lost without a reject
        lambda page: page.replace(
            b"<oai:record>", b'<oai:record xmlns:oai="http://www.openarchives.org/OAI/2.0/">'
        ),
        # a prefix declared below the root, on ListRecords (and again, the same, on the root):
        # the good records were rejected as "Namespace prefix marc on record is not defined"
        lambda page: page.replace(
            b"<oai:ListRecords>",
            b'<oai:ListRecords xmlns:marc="http://www.loc.gov/MARC21/slim">',
        ),
        lambda page: page.replace(b'xmlns:marc="http://www.loc.gov/MARC21/slim"', b"").replace(
            b"<oai:ListRecords>",
            b"<oai:ListRecords\n xmlns:marc='http://www.loc.gov/MARC21/slim'>",
        ),
    ],
)
def test_records_are_salvaged_with_every_namespace_their_ancestors_declare(edit) -> None:  # type: ignore[no-untyped-def]
    broken = edit(PAGE).replace(b"BROKEN", b"bad \x02 char")
    page = salvage_page(broken, [])
    assert [r.identifier for r in page.records] == ["oai:x:1", "oai:x:2", "oai:x:3"]
    assert [r.error is None for r in page.records] == [True, False, True]
    assert page.records[0].metadata is not None


def test_a_malformed_page_whose_records_cannot_be_cut_out_is_refused_not_read_as_empty() -> None:
    broken = PAGE.replace(b"BROKEN", b"bad \x02 char").replace(
        b"<oai:record><oai:header", b"<oai:record><!-- c --><oai:header"
    )
    with pytest.raises(MalformedResponse, match="records cannot be told apart"):
        salvage_page(broken, [])


def test_a_page_whose_token_is_broken_cannot_be_salvaged() -> None:
    broken = PAGE.replace(b"next&amp;1", b"next&1")
    with pytest.raises(MalformedResponse, match="resumption token"):
        salvage_page(broken, [])


ODD = b"""<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:x="urn:x">
<responseDate>2024-02-03T04:05:06Z</responseDate><request>x</request><ListRecords>
 <record><header><!-- c --><identifier> oai:x:1 </identifier><identifier>oai:x:9</identifier>
  <x:datestamp>2000-01-01</x:datestamp><datestamp>2024-01-01</datestamp><datestamp>1999</datestamp>
  <setSpec> a </setSpec><setSpec/><x:setSpec>b</x:setSpec></header>
  <metadata><!-- c --><x:dc>x</x:dc><x:other/></metadata><metadata><x:late/></metadata></record>
 <record><header><identifier> </identifier></header><metadata><x:dc/></metadata></record>
 <record><header><identifier>oai:x:2</identifier></header></record>
 <record><header status="deleted"><identifier>oai:x:3</identifier></header></record>
 <record><metadata><x:dc/></metadata></record>
</ListRecords></OAI-PMH>"""


def test_headers_are_read_by_their_first_identifier_and_datestamp_and_every_set_spec() -> None:
    root = read_document(ODD)
    first, blank, bare, deleted, headless = read_page(root[2], "ListRecords", "").records
    assert (first.identifier, first.datestamp, first.set_specs) == ("oai:x:1", "2024-01-01",
                                                                   ["a", ""])
    assert first.error is None and first.metadata is not None
    assert etree.QName(first.metadata).localname == "dc"
    assert (blank.identifier, blank.error) == (None, "header without an identifier")
    assert (bare.identifier, bare.datestamp, bare.error) == ("oai:x:2", None,
                                                             "record without metadata")
    assert deleted.deleted and deleted.error is None
    assert headless.error == "record without a header" and headless.raw.startswith(b"<record")
    headers_only = re.sub(rb"</?record>|<metadata>.*?</metadata>", b"", ODD, flags=re.DOTALL)
    listed = read_document(headers_only.replace(b"ListRecords", b"ListIdentifiers"))
    headers = read_page(listed[2], "ListIdentifiers", "").records
    assert [(h.identifier, h.error) for h in headers] == [
        ("oai:x:1", None), (None, "header without an identifier"), ("oai:x:2", None),
        ("oai:x:3", None),
    ]


def test_a_cursor_or_list_size_of_other_digits_is_no_number() -> None:
    """"²" is a digit to Python but not to int(); "٣" is read by int() but is no XML number."""
    for cursor, size in (("\u00b2", "\u00b3"), ("\u0663", "\u0661\u0660")):
        page = PAGE.replace(b'cursor="0" completeListSize="9"',
                            f'cursor="{cursor}" completeListSize="{size}"'.encode())
        read = read_page(read_document(page)[2], "ListRecords", "2024-02-03T04:05:06Z")
        assert (read.token, read.cursor, read.complete_list_size) == ("next&1", None, None)
