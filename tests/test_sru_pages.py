"""harvester.sru_pages: SRU 1.x and 2.0 responses read into data, diagnostics as errors."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest
from lxml import etree

from harvester.faults import MalformedResponse
from harvester.sru_pages import SRU_1, SRU_2, SruError, read_document, read_explain, read_search

MARC = '<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader>' \
    '<controlfield tag="001">x1</controlfield></record>'
DIAG_1 = "http://www.loc.gov/zing/srw/diagnostic/"


def _response(body: str, namespace: str = SRU_1, version: str = "1.2") -> bytes:
    said = f"<version>{version}</version>" if namespace == SRU_1 else ""
    return (f'<searchRetrieveResponse xmlns="{namespace}">{said}{body}'
            "</searchRetrieveResponse>").encode()


def test_records_packed_as_xml_or_as_strings_and_a_surrogate_diagnostic() -> None:
    body = (
        "<numberOfRecords>3</numberOfRecords><records>"
        f"<record><recordSchema>marcxml</recordSchema><recordPacking>xml</recordPacking>"
        f"<recordData>{MARC}</recordData><recordPosition>1</recordPosition></record>"
        f"<record><recordSchema>marcxml</recordSchema><recordPacking>string</recordPacking>"
        f"<recordData>{escape(MARC)}</recordData><recordPosition>2</recordPosition>"
        "<recordIdentifier>id-2</recordIdentifier></record>"
        "<record><recordSchema>info:srw/schema/1/diagnostics-v1.1</recordSchema>"
        f'<recordPacking>xml</recordPacking><recordData><diagnostic xmlns="{DIAG_1}">'
        "<uri>info:srw/diagnostic/1/64</uri><message>Record temporarily unavailable</message>"
        "</diagnostic></recordData><recordPosition>3</recordPosition></record>"
        "</records><nextRecordPosition>4</nextRecordPosition>"
    )
    page = read_search(read_document(_response(body)))
    assert (page.version, page.hits, page.next_position) == ("1.2", 3, 4)
    first, second, third = page.records
    assert first.data is not None and second.data is not None
    assert etree.tostring(first.data) == etree.tostring(second.data)
    assert (second.identifier, third.position, third.data) == ("id-2", 3, None)
    assert third.error == "surrogate diagnostic: info:srw/diagnostic/1/64 Record temporarily " \
        "unavailable"
    item = third.harvested()
    assert item.where == "record 3" and b"diagnostic/1/64" in item.raw


def test_version_2_is_read_by_its_namespace() -> None:
    body = ("<numberOfRecords>1</numberOfRecords><records><record><recordSchema>marcxml"
            "</recordSchema><recordXMLEscaping>xml</recordXMLEscaping>"
            f"<recordData>{MARC}</recordData></record></records>")
    page = read_search(read_document(_response(body, SRU_2)))
    assert page.version == "2.0" and page.records[0].data is not None


def test_a_diagnostic_for_the_request_and_a_foreign_document_are_errors() -> None:
    diagnostic = (f'<diagnostics><diagnostic xmlns="{DIAG_1}"><uri>info:srw/diagnostic/1/10'
                  "</uri><details>at 4</details><message>Query syntax error</message>"
                  "</diagnostic></diagnostics>")
    with pytest.raises(SruError, match=r"SRU diagnostic 10: Query syntax error \(at 4\)"):
        read_search(read_document(_response(diagnostic)))
    with pytest.raises(MalformedResponse, match="without numberOfRecords"):
        read_search(read_document(_response("")))
    with pytest.raises(MalformedResponse, match="numberOfRecords '\u00b2', not a count"):
        read_search(read_document(_response("<numberOfRecords>\u00b2</numberOfRecords>")))
    for said in ("1" + "0" * 30, "-5"):  # were "without numberOfRecords"
        with pytest.raises(MalformedResponse, match=f"with numberOfRecords '{said}', not a"):
            read_search(read_document(_response(f"<numberOfRecords>{said}</numberOfRecords>")))
    with pytest.raises(etree.XMLSyntaxError, match="not an SRU response"):
        read_document(b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"/>')
    with pytest.raises(MalformedResponse, match="not an explainResponse"):
        read_explain(read_document(_response("<numberOfRecords>0</numberOfRecords>")))


@pytest.mark.parametrize(("namespace", "diagnostics"), [
    (SRU_1, DIAG_1), (SRU_2, "http://docs.oasis-open.org/ns/search-ws/diagnostic"),
])
def test_a_diagnostic_beside_records_is_not_fatal(namespace: str, diagnostics: str) -> None:
    body = ("<numberOfRecords>1</numberOfRecords><records><record><recordSchema>marcxml"
            f"</recordSchema><recordData>{MARC}</recordData></record></records>"
            f'<diagnostics><diagnostic xmlns="{diagnostics}"><uri>info:srw/diagnostic/1/80'
            "</uri><message>Sort not supported</message></diagnostic></diagnostics>")
    page = read_search(read_document(_response(body, namespace)))
    assert page.records[0].data is not None
    (diagnostic,) = page.diagnostics
    assert (diagnostic.uri, str(diagnostic)) == (
        "info:srw/diagnostic/1/80", "SRU diagnostic 80: Sort not supported")


def test_a_record_with_more_namespaces_in_scope_than_a_server_declares_refuses_the_page() -> None:
    """Each record is serialized with every namespace in scope, at a cost in their square:
    more than 100 (a real server declares a handful) refuse the page, before any is."""
    declared = " ".join(f'xmlns:p{n}="urn:p{n}"' for n in range(150))
    record = f"<record><recordData>{MARC}</recordData></record>"
    on_records = f"<numberOfRecords>2</numberOfRecords><records {declared}>{record * 2}</records>"
    with pytest.raises(MalformedResponse, match="151 XML namespaces in scope"):
        read_search(read_document(_response(on_records)))
    in_data = (f"<numberOfRecords>1</numberOfRecords><records><record><recordData>"
               f"<x {declared}>{MARC}</x></recordData></record></records>")
    with pytest.raises(MalformedResponse, match="namespaces in scope"):
        read_search(read_document(_response(in_data)))
    fine = " ".join(f'xmlns:p{n}="urn:p{n}"' for n in range(10))
    page = read_search(read_document(_response(
        f"<numberOfRecords>1</numberOfRecords><records {fine}>{record}</records>")))
    assert page.records[0].data is not None


def test_records_past_the_maximum_asked_for_are_counted_not_read() -> None:
    record = f"<record><recordData>{MARC}</recordData></record>"
    body = f"<numberOfRecords>5000</numberOfRecords><records>{record * 3000}</records>"
    page = read_search(read_document(_response(body)), maximum=10)
    assert (len(page.records), page.surplus) == (10, 2990)
    page = read_search(read_document(_response(body)), maximum=3000)
    assert (len(page.records), page.surplus) == (3000, 0)
