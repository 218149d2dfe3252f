"""Stream the record elements of an XML document: a bare record, a collection, or an OAI-PMH
response whose ``<metadata>`` carries them.

lxml's ``iterparse`` with the safe options of :mod:`crosswalks.xmltext` (no entities, no network,
no DTD, no huge trees) reads one record at a time; each handled element is cleared and detached
so memory stays flat on a file of any size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from lxml import etree

from crosswalks.xmltext import UNTRUSTED

MARCXML_NS = "http://www.loc.gov/MARC21/slim"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
MODS_NS = "http://www.loc.gov/mods/v3"
OAI_NS = "http://www.openarchives.org/OAI/2.0/"

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


def iter_payloads(stream: BinaryIO, fmt: str, *, wrapped: bool) -> Iterator[XmlItem]:
    """Yield each ``fmt`` payload element of ``stream`` (a document of it or an OAI response)."""
    payload_tag = PAYLOAD_TAGS[fmt]
    tag = _OAI_RECORD if wrapped else payload_tag
    events = etree.iterparse(
        stream,
        events=("end",),
        tag=tag,
        remove_blank_text=False,
        **UNTRUSTED,
    )
    try:
        for _event, element in events:
            if wrapped:
                yield _from_oai_record(element, payload_tag)
            elif _nested(element, payload_tag):
                continue
            else:
                yield XmlItem(element, etree.tostring(element), None, None)
            _release(element)
    except etree.XMLSyntaxError as error:
        yield XmlItem(None, b"", None, f"XML not well-formed, reading stopped: {error}")


def _nested(element: etree._Element, payload_tag: str) -> bool:
    """True for a payload-named element inside another one (MODS relatedItem holds no mods)."""
    parent = element.getparent()
    while parent is not None:
        if parent.tag == payload_tag:
            return True
        parent = parent.getparent()
    return False


def _from_oai_record(element: etree._Element, payload_tag: str) -> XmlItem:
    raw = etree.tostring(element)
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
