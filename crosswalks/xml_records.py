"""Stream the record elements of an XML document: a bare record, a collection, or an OAI-PMH
response whose ``<metadata>`` carries them.

An lxml pull parser with the safe options of :mod:`crosswalks.xmltext` (no entities, no
network, no DTD, no huge trees) reads one record at a time; every element is cleared and detached
once handled, records and anything else alike, so memory stays flat on a file of any size. A
record over the size limit is refused while it is read; after a record that is not well-formed,
reading resumes at the next record's start tag.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO
from xml.sax.saxutils import quoteattr

from lxml import etree

from crosswalks.framing import MAX_RECORD_BYTES, SAMPLE_BYTES, too_large
from crosswalks.namespaces import MARCXML_NS, MODS_NS, OAI_DC_NS, OAI_NS
from crosswalks.xmltext import UNTRUSTED, xml_error_said

PAYLOAD_TAGS = {
    "marcxml": f"{{{MARCXML_NS}}}record",
    "oai_dc": f"{{{OAI_DC_NS}}}dc",
    "mods": f"{{{MODS_NS}}}mods",
}
_NAMESPACE_FORMATS = {MARCXML_NS: "marcxml", OAI_DC_NS: "oai_dc", MODS_NS: "mods"}
_OAI_RECORD = f"{{{OAI_NS}}}record"
_ROOT_ELEMENT = re.compile(rb"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s/>]")
_NAMESPACE_URI = re.compile(rb"=\s*[\"']([^\"']+)[\"']")


@dataclass
class XmlItem:
    """One payload element (or the reason none could be read) and its OAI identifier."""

    element: etree._Element | None
    raw: bytes
    identifier: str | None
    error: str | None


def sniff(head: bytes) -> tuple[str | None, bool]:
    """(payload format or None, wrapped in OAI-PMH) of an XML document from its first bytes.

    The payload is named by the first of the MARCXML, oai_dc and MODS namespaces that the head
    declares; a document whose root is ``OAI-PMH`` is wrapped.
    """
    body = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head, flags=re.S)
    root = _ROOT_ELEMENT.search(body)
    wrapped = root is not None and root.group(2) == b"OAI-PMH"
    found: list[tuple[int, str]] = []
    for match in _NAMESPACE_URI.finditer(body):
        uri = match.group(1).decode("ascii", "replace")
        if uri in _NAMESPACE_FORMATS:
            found.append((match.start(), _NAMESPACE_FORMATS[uri]))
    if wrapped:
        # the response declares its payload's namespace after <metadata>, if the head reaches it
        metadata = body.find(b"metadata")
        later = [item for item in found if item[0] > metadata >= 0]
        found = later or found
    return (min(found)[1] if found else None), wrapped


BLOCK = 64 * 1024
_RESYNC_ROOT = "koprik-resync"
_POSITION = re.compile(r",? line \d+, column \d+$")
_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)")
_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>", re.S)


def iter_payloads(
    stream: BinaryIO, fmt: str, *, wrapped: bool, max_bytes: int = MAX_RECORD_BYTES
) -> Iterator[XmlItem]:
    """Yield each ``fmt`` payload element of ``stream`` (a document of it or an OAI response).

    A record larger than ``max_bytes`` is refused while it is read; a record that is not
    well-formed XML is refused and reading resumes at the next record's start tag.
    """
    yield from _RecordReader(stream, fmt, wrapped, max_bytes).items()


_Stop = tuple[int, bool, str]
"""Why a parse stopped: (record-named start tags it passed, inside a record, message)."""


class _RecordReader:
    """Feeds the document to an lxml pull parser a block at a time, holding only the record
    being read. The bytes are scanned for the start tags of records as they are read (their
    offsets kept for the last two blocks): after a syntax error, parsing starts again at the
    next record's start tag, under a stand-in root declaring the document's namespaces."""

    def __init__(self, stream: BinaryIO, fmt: str, wrapped: bool, max_bytes: int) -> None:
        self.stream = stream
        self.payload_tag = PAYLOAD_TAGS[fmt]
        self.wrapped = wrapped
        self.tag = _OAI_RECORD if wrapped else self.payload_tag
        self.local = self.tag.rpartition("}")[2]
        name = re.escape(self.local.encode())
        self.start_tag = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?" + name + rb"[\s/>]")
        self.max_bytes = max_bytes
        self.fed = 0  # bytes of the document read so far
        self.window = b""  # the last bytes read, from offset window_start
        self.window_start = 0
        self.starts: list[int] = []  # offsets of the record start tags numbered starts_base...
        self.starts_base = 0
        self.last_start = -1
        self.eof = False
        self.encoding = b"UTF-8"
        self.doctype = b""  # declared again when parsing restarts, so entities stay declared
        self.unclosed = False
        self.namespaces: dict[str | None, str] = {}
        self.pending = b""
        self.passed = self.inside = self.began = 0
        self.refused = False

    def items(self) -> Iterator[XmlItem]:
        segment: int | None = None  # number of the start tag the parse began at; None: byte 0
        while True:
            parser = self._parser(segment)
            if parser is None:  # the document's encoding, refused: its first parse said so
                return
            stop = yield from self._parse(parser, segment)
            if stop is None:
                return
            passed, in_record, message = stop
            # a restarted parse ends in the document's own closing tags: that is no fault
            if in_record or segment is None or passed == 0:
                yield XmlItem(None, b"", None, f"XML not well-formed: {xml_error_said(message)}")
            segment = self._reach(passed if segment is None else segment + max(passed, 1))
            if segment is None:
                return

    def _parser(self, segment: int | None) -> etree.XMLPullParser | None:
        """A parser from byte 0, or from record start tag ``segment`` under a stand-in root
        (None when lxml refuses the document's declaration, an encoding it does not know)."""
        parser = etree.XMLPullParser(
            events=("start", "end"), remove_blank_text=False, **UNTRUSTED
        )
        self.pending = b""
        if segment is not None:
            declarations = "".join(
                f" xmlns{':' + prefix if prefix else ''}={quoteattr(uri)}"
                for prefix, uri in self.namespaces.items()
            )
            try:
                parser.feed(
                    b'<?xml version="1.0" encoding="' + self.encoding + b'"?>' + self.doctype
                    + f"<{_RESYNC_ROOT}{declarations}>".encode("ascii", "xmlcharrefreplace")
                )
            except etree.XMLSyntaxError:
                return None
            offset = self.starts[segment - self.starts_base]
            self.pending = self.window[offset - self.window_start :]
        return parser

    def _parse(
        self, parser: etree.XMLPullParser, segment: int | None
    ) -> Generator[XmlItem, None, _Stop | None]:
        self.passed = self.inside = 0
        self.refused = self.unclosed = False
        while True:
            data = self.pending or self._read()
            self.pending = b""
            try:
                if data:
                    parser.feed(data)
                else:
                    parser.close()
            except etree.XMLSyntaxError as error:
                yield from self._events(parser, segment, ended=not data)
                if not self.unclosed:
                    message = _POSITION.sub("", error.msg or str(error))
                    return self.passed, self.inside > 0, message
            else:
                yield from self._events(parser, segment)
            if self.unclosed:
                return self.passed - 1, True, "record not closed before the next record began"
            if not data:
                return None
            if self.inside and self.fed - self.began > self.max_bytes + 2 * BLOCK:
                self.refused = True  # from now on its parts are released as they end

    def _events(
        self, parser: etree.XMLPullParser, segment: int | None, *, ended: bool = False
    ) -> Iterator[XmlItem]:
        """Handle the parser's events; ``ended``: its end of data failed. libxml2 (2.14 on)
        then reports the ends of the elements left open, closing them for itself: a record among
        them is not complete but cut off, and stays open to be rejected as such."""
        for event, element in parser.read_events():
            tag = element.tag
            if event == "start":
                if tag.rpartition("}")[2] == self.local:
                    self.passed += 1
                if tag == self.tag:
                    if self.inside:  # no record format nests records: this one was left open
                        self.unclosed = True
                        return
                    self.inside += 1
                    if self.inside == 1:
                        self.began, self.refused = self.fed - BLOCK, False
                        if segment is None and not self.namespaces:
                            self.namespaces = dict(element.nsmap)
            elif tag == self.tag and self.inside and ended:
                _release(element)
            elif tag == self.tag and self.inside:
                self.inside -= 1
                if self.inside == 0:
                    yield self._item(element)
                    _release(element)
            elif self.inside == 0 or self.refused:
                _release(element)

    def _item(self, element: etree._Element) -> XmlItem:
        if self.refused:
            return XmlItem(None, b"", None, too_large(self.max_bytes))
        raw = etree.tostring(element)
        if len(raw) > self.max_bytes:
            return XmlItem(None, raw[:SAMPLE_BYTES], None, too_large(self.max_bytes, len(raw)))
        item = (
            _from_oai_record(element, self.payload_tag, raw)
            if self.wrapped
            else XmlItem(element, raw, None, None)
        )
        entity = None if item.element is None else next(item.element.iter(etree.Entity), None)
        if entity is not None:
            reason = (
                f"the record uses the entity {entity.text}, which is never expanded: "
                "entities are refused in untrusted XML"
            )
            return XmlItem(None, raw, item.identifier, reason)
        return item

    def _read(self) -> bytes:
        """The next block of the document, its record start tags noted."""
        if self.eof:
            return b""
        block = self.stream.read(BLOCK)
        if not block:
            self.eof = True
            return b""
        if self.fed == 0:
            declared = _ENCODING.match(block)
            if declared:
                self.encoding = declared.group(1)
            doctype = _DOCTYPE.search(block)
            if doctype:
                self.doctype = doctype.group()
        overlap = self.window[-64:]
        for match in self.start_tag.finditer(overlap + block):
            offset = self.fed - len(overlap) + match.start()
            if offset > self.last_start:
                self.starts.append(offset)
                self.last_start = offset
        self.window = self.window[-BLOCK:] + block
        self.fed += len(block)
        self.window_start = self.fed - len(self.window)
        kept = [offset for offset in self.starts if offset >= self.window_start]
        self.starts_base += len(self.starts) - len(kept)
        self.starts = kept
        return block

    def _reach(self, segment: int) -> int | None:
        """The number of the first start tag from ``segment`` on whose bytes are still kept
        (reading on as needed); None when the document has no more."""
        while segment - self.starts_base >= len(self.starts):
            if not self._read():
                return None
        return max(segment, self.starts_base)


def _from_oai_record(element: etree._Element, payload_tag: str, raw: bytes) -> XmlItem:
    header = element.find(f"{{{OAI_NS}}}header")
    identifier = None
    if header is not None:
        identifier = header.findtext(f"{{{OAI_NS}}}identifier")
        if header.get("status") == "deleted":
            return XmlItem(None, raw, identifier, "deleted in the OAI-PMH header: no metadata")
    payload = element.find(f"{{{OAI_NS}}}metadata/{payload_tag}")
    if payload is None:
        return XmlItem(None, raw, identifier, f"OAI-PMH record without a {payload_tag} payload")
    return XmlItem(payload, raw, identifier, None)


def _release(element: etree._Element) -> None:
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
