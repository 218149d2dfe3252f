"""A small element tree serialized exactly as lxml serializes the same tree, for the renditions
made on the catalogue's write path.

Creating an lxml element costs about 1.5 µs (a libxml2 node, a namespace search, a Python
proxy); MODS has some thirty elements per record, so building them was a third of the MODS
crosswalk's time. This tree holds plain Python objects and writes the text itself, with lxml's
rules, which ``tests/test_xmlwrite.py`` checks against lxml character by character:

- text escapes ``& < >`` and writes a carriage return as ``&#13;``; an attribute value also
  escapes ``"`` and writes tab, line feed and carriage return as character references;
- an element without text and children is written ``<name/>``; with empty text ``<name></name>``;
- a value holding a character XML 1.0 forbids is refused when set, as lxml refuses it (a lone
  surrogate: :class:`UnicodeEncodeError`; a C0 control, U+FFFE, U+FFFF: :class:`ValueError`).

Names are the writer's own constants and are not checked. Namespaces are plain attributes
(``xmlns``, ``xmlns:xsi``), written where the writer puts them.

>>> root = Element("mods", {"xmlns": "http://www.loc.gov/mods/v3"})
>>> sub_element(root, "title").text = "R&D"
>>> tostring(root)
b'<mods xmlns="http://www.loc.gov/mods/v3"><title>R&amp;D</title></mods>'
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from crosswalks.xmltext import XML_FORBIDDEN

_NOT_XML = (
    "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters"
)
"""lxml's message for a value it refuses."""
_TEXT_SPECIAL = re.compile("[&<>\r]")
_ATTRIBUTE_SPECIAL = re.compile('[&<>"\t\n\r]')


def _checked(value: str) -> str:
    """``value`` if lxml would accept it, else lxml's exception (a surrogate fails encoding
    first, as in lxml). A printable value holds none (see :data:`XML_FORBIDDEN`)."""
    if not value.isprintable() and XML_FORBIDDEN.search(value) is not None:
        value.encode("utf-8")
        raise ValueError(_NOT_XML)
    return value


class Element:
    """An element: its name, attributes in the order set, text (None: none) and children."""

    __slots__ = ("_text", "attrib", "children", "name")

    def __init__(self, name: str, attrib: dict[str, str] | None = None) -> None:
        self.name = name
        self.attrib = {key: _checked(value) for key, value in attrib.items()} if attrib else {}
        self._text: str | None = None
        self.children: list[Element] = []

    @property
    def text(self) -> str | None:
        return self._text

    @text.setter
    def text(self, value: str | None) -> None:
        self._text = None if value is None else _checked(value)

    def set(self, key: str, value: str) -> None:
        """Set attribute ``key`` (an attribute set again keeps its place, as in lxml)."""
        self.attrib[key] = _checked(value)

    def __len__(self) -> int:
        return len(self.children)

    def __iter__(self) -> Iterator[Element]:
        return iter(self.children)


def sub_element(parent: Element, name: str, attrib: dict[str, str] | None = None) -> Element:
    """A new element appended to ``parent``'s children."""
    element = Element(name, attrib)
    parent.children.append(element)
    return element


def _text(value: str) -> str:
    if _TEXT_SPECIAL.search(value) is None:
        return value
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def _attribute(value: str) -> str:
    if _ATTRIBUTE_SPECIAL.search(value) is None:
        return value
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
            .replace("\r", "&#13;"))


def _write(element: Element, out: list[str]) -> None:
    out.append("<" + element.name)
    if element.attrib:
        out.extend([f' {key}="{_attribute(value)}"' for key, value in element.attrib.items()])
    text = element._text
    if text is None and not element.children:
        out.append("/>")
        return
    out.append(">")
    if text:
        out.append(_text(text))
    for child in element.children:
        _write(child, out)
    out.append(f"</{element.name}>")


def tostring(root: Element) -> bytes:
    """``root`` as UTF-8 XML, without an XML declaration, as lxml's
    ``etree.tostring(root, encoding="utf-8")`` writes the same tree."""
    out: list[str] = []
    _write(root, out)
    return "".join(out).encode("utf-8")
