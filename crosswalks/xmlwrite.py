"""XML written straight as text, exactly as lxml serializes the same tree, for the renditions
made on the catalogue's write path.

Creating an lxml element costs about 1.5 µs (a libxml2 node, a namespace search, a Python
proxy), and even a tree of plain Python objects walked afterwards cost MODS a third of its
time; MODS has some thirty elements per record. A writer here makes each element's text at once
(:func:`element`, :func:`attribute`), with lxml's rules, which ``tests/test_xmlwrite.py``
checks against lxml character by character:

- text escapes ``& < >`` and writes a carriage return as ``&#13;``; an attribute value also
  escapes ``"`` and writes tab, line feed and carriage return as character references;
- an element without text and content is written ``<name/>``; with empty text ``<name></name>``;
- a value holding a character XML 1.0 forbids is refused, as lxml refuses it when it is set (a
  lone surrogate: :class:`UnicodeEncodeError`; a C0 control, U+FFFE, U+FFFF:
  :class:`ValueError`).

Names are the writer's own constants and are not checked. Namespaces are plain attributes
(``xmlns``, ``xmlns:xsi``), written where the writer puts them.

>>> element("mods", content=element("title", "R&D"),
...         attributes=attribute("xmlns", "http://www.loc.gov/mods/v3"))
'<mods xmlns="http://www.loc.gov/mods/v3"><title>R&amp;D</title></mods>'
"""

from __future__ import annotations

import re

from crosswalks.xmltext import has_forbidden

_NOT_XML = (
    "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters"
)
"""lxml's message for a value it refuses."""
_TEXT_SPECIAL = re.compile("[&<>\r]")
_ATTRIBUTE_SPECIAL = re.compile('[&<>"\t\n\r]')


def _checked(value: str) -> str:
    """``value`` if lxml would accept it, else lxml's exception (a surrogate fails encoding
    first, as in lxml). A printable value holds none (see
    :data:`crosswalks.xmltext.XML_FORBIDDEN`)."""
    if not value.isprintable() and has_forbidden(value):
        value.encode("utf-8")
        raise ValueError(_NOT_XML)
    return value


def text(value: str) -> str:
    """``value`` checked (see :func:`_checked`) and escaped as element text."""
    if value.isprintable():  # no character XML forbids, no carriage return: the common case
        if "&" not in value and "<" not in value and ">" not in value:
            return value
    elif _TEXT_SPECIAL.search(_checked(value)) is None:
        return value
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def attribute(key: str, value: str) -> str:
    """`` key="value"``: one attribute as written in a start tag, ``value`` checked and
    escaped. A start tag's attributes are these strings joined, in the order they are set."""
    if _ATTRIBUTE_SPECIAL.search(_checked(value)) is None:
        return f' {key}="{value}"'
    value = (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
             .replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
             .replace("\r", "&#13;"))
    return f' {key}="{value}"'


def element(name: str, value: str | None = None, attributes: str = "", content: str = "") -> str:
    """An element: ``name``, its ``attributes`` (:func:`attribute` strings), its text
    ``value`` (None: none; checked and escaped here) and its ``content`` (the elements within
    it, already written)."""
    if value is None:
        if not content:
            return f"<{name}{attributes}/>"
        return f"<{name}{attributes}>{content}</{name}>"
    return f"<{name}{attributes}>{text(value)}{content}</{name}>"
