"""xml_safe keeps exactly the characters XML 1.0 allows (its ``Char`` production)."""

from __future__ import annotations

from crosswalks.xmltext import has_forbidden, xml_safe


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
