"""SRU responses as data, versions 1.1, 1.2 and 2.0: explain and searchRetrieve, read from bytes.

:func:`read_document` parses a response (entities refused, see
:func:`crosswalks.xmltext.parse_untrusted`) and checks that it is an SRU response of a version
we read; :func:`read_explain` and :func:`read_search` turn it into data. A diagnostic for the
whole request raises :class:`SruError`, a response without what its operation must carry
:class:`~harvester.faults.MalformedResponse`; a surrogate diagnostic in place of one record, or a
record whose data cannot be read, becomes that record's ``error`` (it is then quarantined with
its bytes, and the harvest goes on). Nothing here repairs a document.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from crosswalks.xmltext import parse_untrusted
from harvester.faults import HarvestError, MalformedResponse, quoted
from harvester.harvested import Harvested
from protocols.sru import VERSIONS

SRU_1 = "http://www.loc.gov/zing/srw/"
"""The response namespace of SRU 1.1 and 1.2."""
SRU_2 = "http://docs.oasis-open.org/ns/search-ws/sruResponse"
DIAGNOSTIC_NAMESPACES = (
    "http://www.loc.gov/zing/srw/diagnostic/",
    "http://docs.oasis-open.org/ns/search-ws/diagnostic",
)
EXPLAIN_NS = "http://explain.z3950.org/dtd/2.0/"
_RESPONSES = ("explainResponse", "searchRetrieveResponse")


class SruError(HarvestError):
    """An SRU diagnostic for the whole request (``info:srw/diagnostic/1/N``)."""

    def __init__(self, uri: str, message: str, details: str = "") -> None:
        text = " ".join(part for part in (message, details and f"({details})") if part)
        super().__init__(f"SRU diagnostic {uri.rsplit('/', 1)[-1]}: {text or uri}")
        self.uri = uri
        self.message = message
        self.details = details


@dataclass
class Explain:
    """What an explain response says about a server."""

    version: str
    """The SRU version the server answered in."""
    title: str = ""
    database: str = ""
    schemas: dict[str, str] = field(default_factory=dict)
    """Record schemas offered: short name -> identifier (empty when explain lists none)."""


@dataclass
class SruRecord:
    """One record of a searchRetrieve page: its data element, or why it cannot be used."""

    position: int | None
    schema: str
    data: etree._Element | None
    raw: bytes
    identifier: str | None = None
    error: str | None = None

    @property
    def key(self) -> str | bytes:
        """What tells this record from another in one result set: its identifier, else its
        data as sent (not the envelope, which carries its position)."""
        if self.identifier:
            return self.identifier
        return etree.tostring(self.data) if self.data is not None else self.raw

    def harvested(self) -> Harvested:
        """The record as ingest takes it (no identifier: the record's 001 or a digest)."""
        where = f"record {self.position}" if self.position is not None else ""
        return Harvested(self.identifier, self.raw, metadata=self.data, error=self.error,
                         where=where)


@dataclass
class SruPage:
    """One searchRetrieve response."""

    version: str
    hits: int
    records: list[SruRecord]
    next_position: int | None = None


def read_document(raw: bytes) -> etree._Element:
    """The root of an SRU response; raises XMLSyntaxError for anything else (and as
    :func:`parse_untrusted` does)."""
    root = parse_untrusted(raw)
    name = etree.QName(root)
    if name.namespace not in (SRU_1, SRU_2) or name.localname not in _RESPONSES:
        raise etree.XMLSyntaxError(f"root element is {root.tag}, not an SRU response", None, 0, 0)
    return root


def version_of(root: etree._Element) -> str:
    """The version of a response: 2.0 by its namespace, else its ``<version>`` (1.1 or 1.2)."""
    namespace = etree.QName(root).namespace
    if namespace == SRU_2:
        return "2.0"
    said = (root.findtext(f"{{{namespace}}}version") or "").strip()
    return said if said in VERSIONS else "1.2"


def read_explain(root: etree._Element) -> Explain:
    """The explain response's version, title, database and record schemas; raises SruError."""
    _raise_diagnostic(root)
    namespace = etree.QName(root).namespace
    if etree.QName(root).localname != "explainResponse":
        raise MalformedResponse("the answer to explain is not an explainResponse")
    explain = Explain(version_of(root))
    data = root.find(f"{{{namespace}}}record/{{{namespace}}}recordData")
    if data is None:
        return explain
    record = _payload(data, _packing(root.find(f"{{{namespace}}}record"), namespace))
    if record is None or etree.QName(record).namespace != EXPLAIN_NS:
        return explain
    e = f"{{{EXPLAIN_NS}}}"
    explain.title = (record.findtext(f"{e}databaseInfo/{e}title") or "").strip()
    explain.database = (record.findtext(f"{e}serverInfo/{e}database") or "").strip()
    for schema in record.iterfind(f"{e}schemaInfo/{e}schema"):
        if schema.get("name"):
            explain.schemas[schema.get("name", "")] = schema.get("identifier", "")
    return explain


def read_search(root: etree._Element) -> SruPage:
    """The searchRetrieve page in ``root``; raises SruError for a diagnostic of the request."""
    _raise_diagnostic(root)
    namespace = etree.QName(root).namespace
    s = f"{{{namespace}}}"
    if etree.QName(root).localname != "searchRetrieveResponse":
        raise MalformedResponse("the answer to searchRetrieve is not a searchRetrieveResponse")
    hits = _number(root.findtext(f"{s}numberOfRecords"))
    if hits is None:
        raise MalformedResponse("searchRetrieveResponse without numberOfRecords")
    records = [_read_record(element, s) for element in root.iterfind(f"{s}records/{s}record")]
    following = _number(root.findtext(f"{s}nextRecordPosition"))
    return SruPage(version_of(root), hits, records, following)


def _read_record(element: etree._Element, s: str) -> SruRecord:
    raw = etree.tostring(element)
    record = SruRecord(
        position=_number(element.findtext(f"{s}recordPosition")),
        schema=(element.findtext(f"{s}recordSchema") or "").strip(),
        data=None,
        raw=raw,
        identifier=(element.findtext(f"{s}recordIdentifier") or "").strip() or None,
    )
    data = element.find(f"{s}recordData")
    if data is None:
        record.error = "record without recordData"
        return record
    try:
        payload = _payload(data, _packing(element, s[1:-1]))
    except etree.XMLSyntaxError as error:
        record.error = f"recordData that is not well-formed XML: {error}"
        return record
    if payload is None:
        record.error = "empty recordData"
    elif etree.QName(payload).namespace in DIAGNOSTIC_NAMESPACES:
        record.error = f"surrogate diagnostic: {_diagnostic_text(payload)}"
    else:
        record.data = payload
    return record


def _packing(element: etree._Element | None, namespace: str | None) -> str:
    """``xml`` or ``string``: how the record data is packed (recordPacking in 1.x,
    recordXMLEscaping in 2.0)."""
    if element is None:
        return "xml"
    for name in ("recordXMLEscaping", "recordPacking"):
        value = (element.findtext(f"{{{namespace}}}{name}") or "").strip()
        if value in ("xml", "string"):
            return value
    return "xml"


def _payload(data: etree._Element, packing: str) -> etree._Element | None:
    """The record inside ``recordData``: its element child, or its text parsed when packed as
    an escaped string (raises XMLSyntaxError)."""
    if packing == "string":
        text = (data.text or "").strip()
        return parse_untrusted(text.encode("utf-8")) if text else None
    return next((child for child in data if isinstance(child.tag, str)), None)


def _raise_diagnostic(root: etree._Element) -> None:
    namespace = etree.QName(root).namespace
    diagnostics = root.find(f"{{{namespace}}}diagnostics")
    if diagnostics is None:
        return
    for diagnostic in diagnostics:
        if isinstance(diagnostic.tag, str):
            d = etree.QName(diagnostic).namespace
            raise SruError(
                quoted((diagnostic.findtext(f"{{{d}}}uri") or "").strip()),
                quoted((diagnostic.findtext(f"{{{d}}}message") or "").strip()),
                quoted((diagnostic.findtext(f"{{{d}}}details") or "").strip()),
            )


def _diagnostic_text(diagnostic: etree._Element) -> str:
    d = etree.QName(diagnostic).namespace
    uri = (diagnostic.findtext(f"{{{d}}}uri") or "").strip()
    message = (diagnostic.findtext(f"{{{d}}}message") or "").strip()
    details = (diagnostic.findtext(f"{{{d}}}details") or "").strip()
    return " ".join(part for part in (uri, message, details and f"({details})") if part)


def _number(text: str | None) -> int | None:
    value = (text or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def read_record_bytes(raw: bytes) -> SruRecord:
    """One ``<record>`` of a searchRetrieve response kept as bytes (a reject's) read again; a
    record that still cannot be used comes back with ``error`` set."""
    try:
        element = parse_untrusted(raw)
    except etree.XMLSyntaxError as error:
        return SruRecord(None, "", None, raw, error=f"not well-formed XML: {error}")
    name = etree.QName(element)
    if name.localname != "record":
        return SruRecord(None, "", None, raw, error=f"{element.tag} is not an SRU record")
    return _read_record(element, f"{{{name.namespace}}}" if name.namespace else "")
