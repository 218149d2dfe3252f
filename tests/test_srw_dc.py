"""crosswalks/srw_dc.py: SRU's Dublin Core record of a stored oai_dc rendition (the SRU front
end's tests compare it with LoC's MARC21slim2SRWDC.xsl and validate its elements)."""

from __future__ import annotations

import pytest
from lxml import etree

from catalog.demo import demo_records
from crosswalks.dublin_core import marc_to_dc
from crosswalks.namespaces import SRW_DC_NS
from crosswalks.srw_dc import srw_dc_of


def test_the_elements_are_the_oai_dc_s_under_the_srw_dc_root() -> None:
    for record in demo_records(50):
        oai_dc = etree.fromstring(marc_to_dc(record))
        srw_dc = etree.fromstring(srw_dc_of(marc_to_dc(record)))
        assert srw_dc.tag == f"{{{SRW_DC_NS}}}dc"
        assert [(e.tag, e.text, dict(e.attrib)) for e in srw_dc] == \
            [(e.tag, e.text, dict(e.attrib)) for e in oai_dc]  # fmt: skip


def test_an_empty_record_stays_empty() -> None:
    empty = etree.fromstring(srw_dc_of(b'<oai_dc:dc xmlns:oai_dc="x"></oai_dc:dc>'))
    assert empty.tag == f"{{{SRW_DC_NS}}}dc" and len(empty) == 0


@pytest.mark.parametrize("rendition", [
    b"<dc>damaged</dc>",
    b"<oai_dc:dc/>",
    b'<oai_dc:dc a="b"/></oai_dc:dc>',
    b"<oai_dc:dcx></oai_dc:dc>",
    b"<oai_dc:dc></oai_dc:dc>trailing",
    b"<oai_dc:dc><dc:title>cut short",
    b"",
])  # fmt: skip
def test_what_is_no_oai_dc_rendition_is_refused(rendition: bytes) -> None:
    with pytest.raises(ValueError, match="not an oai_dc:dc rendition"):
        srw_dc_of(rendition)
