"""Text that is safe to put in XML 1.0, and parsing of untrusted XML.

Stored data can hold characters XML 1.0 forbids (C0 controls other than tab, newline and
carriage return; lone surrogates; U+FFFE/U+FFFF). Every XML writer in Koprik passes text through
:func:`xml_safe` so that no response is ever ill-formed, whatever a partner sent us.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

XML_FORBIDDEN_CHARACTERS = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
"""The characters XML 1.0 forbids, as the inside of a regular expression's character class."""
XML_FORBIDDEN = re.compile(f"[{XML_FORBIDDEN_CHARACTERS}]")
"""Characters XML 1.0 forbids. None of them is printable (controls, surrogates, noncharacters),
and ``str.isprintable`` says a text has no such character at a third of a search's cost: most
texts (no tab or line break, no unusual space) are told fit by it alone."""

MAX_XML_BYTES = 64 * 1024 * 1024
"""Upper bound on one XML document read from a file or the wire."""


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (they are dropped, not escaped)."""
    if text.isprintable() or XML_FORBIDDEN.search(text) is None:  # see XML_FORBIDDEN
        return text
    return XML_FORBIDDEN.sub("", text)


def has_forbidden(text: str) -> bool:
    """True when ``text`` holds a character XML 1.0 forbids."""
    return XML_FORBIDDEN.search(text) is not None


UNTRUSTED: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
}
"""lxml options for untrusted input: no entity expansion, no network, no DTD loading, the
default size limits. Every parser and ``iterparse`` of untrusted XML takes exactly these."""


def safe_parser(**options: object) -> etree.XMLParser:
    """An lxml parser for untrusted input (:data:`UNTRUSTED`), with further ``options``."""
    return etree.XMLParser(**UNTRUSTED, **options)


def parse_untrusted(data: bytes) -> etree._Element:
    """Parse an untrusted XML document and return its root element.

    Raises :class:`etree.XMLSyntaxError` (also for documents larger than :data:`MAX_XML_BYTES`,
    or declaring entities, which no metadata format we read needs).
    """
    if len(data) > MAX_XML_BYTES:
        raise etree.XMLSyntaxError("document larger than the limit", None, 0, 0)
    root = etree.fromstring(data, _thread_parser())
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None and docinfo.internalDTD.entities():
        raise etree.XMLSyntaxError("documents declaring entities are refused", None, 0, 0)
    return root


_PARSERS = threading.local()
"""Each thread's parser for :func:`parse_untrusted` (an lxml parser may parse one document
after another, but not two at once)."""


def _thread_parser() -> etree.XMLParser:
    """This thread's :func:`safe_parser`, made on first use: a harvest parses each record's
    metadata on its own, and a new parser made parsing an oai_dc record 13.6 µs, not 10.8."""
    parser: etree.XMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = safe_parser()
    return parser


_LIBXML_LIMITS = (
    (re.compile(r"Resource limit exceeded: Text node too long, try XML_PARSE_HUGE"),
     "a text longer than the 10,000,000 bytes libxml2 reads"),
    (re.compile(r"Maximum entity amplification factor exceeded, see "
                r"xmlCtxtSetMaxAmplification\.?"),
     "entities expanding far past the document's own size (refused)"),
    # ("256 use" in older libxml2, "256, use" in 2.14)
    (re.compile(r"Excessive depth in document: (\d+),? use XML_PARSE_HUGE option"),
     r"elements nested more than \1 deep (refused)"),
)


def xml_error_said(error: etree.XMLSyntaxError | str) -> str:
    """An XML parser's message in a reader's words: libxml2's resource limits said as what they
    refuse, not by the parse option or call that lifts them ("try XML_PARSE_HUGE", "see
    xmlCtxtSetMaxAmplification"), which Koprik never sets (:data:`UNTRUSTED`)."""
    message = str(error)
    for pattern, said in _LIBXML_LIMITS:
        message = pattern.sub(said, message)
    return message


_ANY_URI_SCHEMA = (b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
                   b'<xs:element name="uri" type="xs:anyURI"/></xs:schema>')
"""A schema of one ``xs:anyURI`` element: what libxml2, which validates our output against the
official schemas, and so most harvesters' checks, accept as a URI."""
_PER_THREAD = threading.local()
"""Each thread's validator of :data:`_ANY_URI_SCHEMA` (lxml's validators keep an error log of
their own, not made to be shared by threads validating at once)."""

_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def as_any_uri(value: str) -> str | None:
    """``value`` as an ``xs:anyURI`` (an ``xlink:href``): as it is when libxml2 takes it, else
    with a ``%`` that starts no escape, a ``#`` after the first and square brackets escaped
    (``50%`` is ``50%25``), else None. LoC's stylesheet copies a $u into ``xlink:href`` as it
    stands, and one such as ``50%`` made the whole MODS record invalid."""
    value = xml_safe(value)
    if _is_any_uri(value):
        return value
    head, mark, fragment = value.partition("#")
    escaped = _LONE_PERCENT.sub("%25", head + mark + fragment.replace("#", "%23"))
    escaped = escaped.replace("[", "%5B").replace("]", "%5D")
    return escaped if _is_any_uri(escaped) else None


def _is_any_uri(value: str) -> bool:
    schema = getattr(_PER_THREAD, "any_uri", None)
    if schema is None:
        schema = _PER_THREAD.any_uri = etree.XMLSchema(etree.XML(_ANY_URI_SCHEMA))
    uri = etree.Element("uri")
    uri.text = value
    return bool(schema.validate(uri))
