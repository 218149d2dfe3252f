"""harvester.oai_pages: reading pages, and salvaging malformed ones record by record."""

from __future__ import annotations

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


def test_a_page_whose_token_is_broken_cannot_be_salvaged() -> None:
    broken = PAGE.replace(b"next&amp;1", b"next&1")
    with pytest.raises(MalformedResponse, match="resumption token"):
        salvage_page(broken, [])
