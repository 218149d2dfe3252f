"""xml_safe keeps exactly the characters XML 1.0 allows (its ``Char`` production); libxml2's
limits are said in a reader's words (xml_error_said)."""

from __future__ import annotations

import io

import pytest
from lxml import etree

from crosswalks.xml_records import iter_payloads
from crosswalks.xmltext import has_forbidden, parse_untrusted, xml_error_said, xml_safe


def allowed_by_xml_1_0(code: int) -> bool:
    """XML 1.0 (Fifth Edition) section 2.2: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] |
    [#xE000-#xFFFD] | [#x10000-#x10FFFF]."""
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)  # fmt: skip


def test_every_code_point_is_kept_or_dropped_as_xml_1_0_says() -> None:
    """Each code point between two letters, and alone (printable or not, in every plane)."""
    for code in range(0x110000):
        char = chr(code)
        kept = allowed_by_xml_1_0(code)
        assert xml_safe(f"a{char}b") == (f"a{char}b" if kept else "ab"), hex(code)
        assert xml_safe(char) == (char if kept else ""), hex(code)
        assert has_forbidden(char) is not kept, hex(code)


def test_text_without_forbidden_characters_is_returned_as_is() -> None:
    text = "Oʻzbekiston tarixi :\tdarslik\r\n Ўзбекистон \U0001f600"
    assert xml_safe(text) is text
    assert xml_safe("bell\x07 nul\x00 \ud800\ufffe end") == "bell nul  end"


NESTED = b"<a>" * 300 + b"</a>" * 300
"""Elements nested deeper than the 256 levels libxml2 reads without XML_PARSE_HUGE."""
DEPTH_SAID = "elements nested more than 256 deep (refused)"


@pytest.mark.parametrize("message", [
    "Excessive depth in document: 256 use XML_PARSE_HUGE option, line 1, column 771",
    "Excessive depth in document: 256, use XML_PARSE_HUGE option, line 1, column 771",
])  # fmt: skip
def test_libxml2s_depth_limit_is_said_in_a_readers_words_in_both_its_forms(message: str) -> None:
    """Older libxml2 writes "256 use", 2.14 (the environment's) "256, use": only the first was
    said so."""
    assert xml_error_said(message) == f"{DEPTH_SAID}, line 1, column 771"


def test_elements_nested_too_deep_in_a_document_are_said_in_a_readers_words() -> None:
    """The lxml of the project's environment writes the comma: its whole message was shown."""
    with pytest.raises(etree.XMLSyntaxError) as raised:
        parse_untrusted(b"<record>" + NESTED + b"</record>")
    said = xml_error_said(raised.value)
    assert said.startswith(DEPTH_SAID) and "XML_PARSE_HUGE" not in said, said


def test_elements_nested_too_deep_in_a_record_read_again_are_said_in_a_readers_words() -> None:
    """A record after a broken one is parsed again as a fragment, under a stand-in root."""
    record = b'<record><datafield tag="500">' + NESTED + b"</datafield></record>"
    collection = (b'<collection xmlns="http://www.loc.gov/MARC21/slim">' + record * 2
                  + b"<record><leader>00000nam a2200000 a 4500</leader></record></collection>")
    items = list(iter_payloads(io.BytesIO(collection), "marcxml", wrapped=False))
    errors = [item.error for item in items if item.error is not None]
    assert len(errors) == 2 and items[-1].element is not None, items
    assert all(DEPTH_SAID in error and "XML_PARSE_HUGE" not in error for error in errors), errors


def test_a_document_parsed_after_a_broken_one_is_read_whole() -> None:
    """The parser one thread reuses (:func:`parse_untrusted`) keeps nothing of a document it
    failed on: not its error, not its elements, not its entity declarations."""
    with pytest.raises(etree.XMLSyntaxError):
        parse_untrusted(b"<a><b>unclosed</a>")
    with pytest.raises(etree.XMLSyntaxError, match="entities"):
        parse_untrusted(b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>')
    root = parse_untrusted(b"<c><d>text</d></c>")
    assert etree.tostring(root) == b"<c><d>text</d></c>"


def test_threads_parsing_at_once_each_read_their_own_documents() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def parse(number: int) -> bytes:
        return etree.tostring(parse_untrusted(b"<n>" + str(number).encode() + b"</n>"))

    with ThreadPoolExecutor(4) as pool:
        read = list(pool.map(parse, range(2000)))
    assert read == [b"<n>" + str(n).encode() + b"</n>" for n in range(2000)]
