"""crosswalks.xmlwrite writes what lxml writes for the same tree, and refuses what lxml refuses.

Trees of random shape with text and attribute values drawn from every character class that
matters (markup characters, tab, line feed, carriage return, C0 controls, lone surrogates,
U+FFFE, non-ASCII letters) are built with lxml and serialized, and written as text with
xmlwrite; the bytes, or the exception type and message, must be equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from crosswalks import xmlwrite

MODS_NS = "http://www.loc.gov/mods/v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

CHARACTERS = list(
    "aZ09 &<>\"'=;\t\n\r\x00\x01\x1f\x7f\x85éЖ\u02bb\ufdd0\ufffe\uffff\ud800\U0001f600"
)
values = st.text(alphabet=st.sampled_from(CHARACTERS), max_size=6)
NAMES = ["title", "name", "namePart", "originInfo"]
ATTRIBUTES = ["type", "authority", "script", "xml:space"]


@dataclass
class Node:
    name: str
    attributes: list[tuple[str, str]]
    text: str | None
    children: list[Node] = field(default_factory=list)


nodes = st.recursive(
    st.builds(Node, st.sampled_from(NAMES),
              st.lists(st.tuples(st.sampled_from(ATTRIBUTES), values), max_size=3),
              st.none() | values),
    lambda children: st.builds(Node, st.sampled_from(NAMES),
                               st.lists(st.tuples(st.sampled_from(ATTRIBUTES), values),
                                        max_size=3),
                               st.none() | values, st.lists(children, max_size=3)),
    max_leaves=12,
)


def lxml_name(name: str) -> str:
    return "{http://www.w3.org/XML/1998/namespace}space" if name == "xml:space" else name


def with_lxml(node: Node) -> bytes:
    root = etree.Element(f"{{{MODS_NS}}}mods", {"version": "3.7"},
                         nsmap={None: MODS_NS, "xsi": XSI_NS})

    def build(parent: etree._Element, node: Node) -> None:
        element = etree.SubElement(parent, f"{{{MODS_NS}}}{node.name}")
        for key, value in node.attributes:
            element.set(lxml_name(key), value)
        if node.text is not None:
            element.text = node.text
        for child in node.children:
            build(element, child)

    build(root, node)
    return etree.tostring(root, encoding="utf-8")


def with_xmlwrite(node: Node) -> bytes:
    def write(node: Node) -> str:
        attributes = {}  # an attribute set again keeps its place, as in lxml
        for key, value in node.attributes:
            attributes[key] = xmlwrite.attribute(key, value)
        if node.text is not None:  # lxml refuses a text when it is set, before any child
            xmlwrite.text(node.text)
        content = "".join(write(child) for child in node.children)
        return xmlwrite.element(node.name, node.text, "".join(attributes.values()), content)

    root = "".join([xmlwrite.attribute("xmlns", MODS_NS), xmlwrite.attribute("xmlns:xsi", XSI_NS),
                    xmlwrite.attribute("version", "3.7")])
    return xmlwrite.element("mods", None, root, write(node)).encode("utf-8")


def outcome(write, node: Node) -> bytes | tuple[str, str]:  # type: ignore[no-untyped-def]
    try:
        return write(node)
    except (ValueError, UnicodeEncodeError) as error:
        return type(error).__name__, str(error)


@settings(max_examples=1500, deadline=None)
@given(nodes)
def test_random_trees_are_written_as_lxml_writes_them(node: Node) -> None:
    assert outcome(with_xmlwrite, node) == outcome(with_lxml, node)


SAMPLED_CODE_POINTS = [*range(0x3000), *range(0xD700, 0xE100), *range(0xFD00, 0x10000),
                       *range(0x10000, 0x110000, 97)]
"""Every code point where XML and lxml have rules (controls, surrogates, non-characters), the
rest of the first blocks, and a sample of the planes above."""


def test_each_character_in_text_and_attribute_as_lxml() -> None:
    """Each code point alone, as text and as an attribute value (the escaping rules)."""
    for code in SAMPLED_CODE_POINTS:
        node = Node("title", [("type", chr(code))], chr(code))
        assert outcome(with_xmlwrite, node) == outcome(with_lxml, node), hex(code)


def test_a_refused_value_is_refused() -> None:
    refused = [("a\x01", ValueError), ("\ufffe", ValueError), ("\ud800", UnicodeEncodeError)]
    for bad, kind in refused:
        with pytest.raises(kind):
            xmlwrite.attribute("type", bad)
        with pytest.raises(kind):
            xmlwrite.element("title", bad)
        with pytest.raises(kind):
            xmlwrite.text(bad)


def test_empty_text_and_no_text_differ() -> None:
    content = xmlwrite.element("b", "") + xmlwrite.element("c")
    assert xmlwrite.element("a", content=content) == "<a><b></b><c/></a>"
