"""SRU responses as data, versions 1.1, 1.2 and 2.0: explain and searchRetrieve, read from bytes.

:func:`read_document` parses a response (entities refused, see
:func:`crosswalks.xmltext.parse_untrusted`) and checks that it is an SRU response of a version
we read; :func:`read_explain` and :func:`read_search` turn it into data. A diagnostic for the
whole request raises :class:`SruError`, a response without what its operation must carry
:class:`~harvester.faults.MalformedResponse`; a surrogate diagnostic in place of one record, or a
record whose data cannot be read, becomes that record's ``error`` (it is then quarantined with
its bytes, and the harvest goes on). Nothing here repairs a document.

Diagnostics in ``<diagnostics>`` (non-surrogate ones) are fatal or not. SRU 1.2 defines a fatal
one as a request that could not be carried out, with no records to return, and a non-fatal
one as something else gone wrong while some or all of the records are there (a sort the server
cannot do is its example); both kinds come in the ``diagnostics`` parameter (SRU 1.2,
Diagnostics: https://www.loc.gov/standards/sru/diagnostics/). SRU 2.0 (OASIS searchRetrieve
Part 3) keeps that parameter; its own wording was not checked here, and it is read the same
way. A response does not say which kind it sends, so a searchRetrieve response is read by
the definition: a diagnostic that came with records is not fatal (the page is read, the
diagnostic in :attr:`SruPage.diagnostics`); one without records is (:class:`SruError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from lxml import etree

from crosswalks.xmltext import parse_untrusted, xml_error_said
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
MAX_NAMESPACES = 100
"""The most XML namespaces a record may have in scope. A real SRU server declares a handful;
each record is serialized with every namespace in scope (its bytes are kept), at a cost that
grows as the square of their number: 20,000 declarations on ``<records>`` cost seconds of
CPU per record and made every record's bytes half a megabyte."""


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
    diagnostics: list[SruError] = field(default_factory=list)
    """Non-fatal diagnostics that came beside the records (not raised)."""
    surplus: int = 0
    """Records sent past the ``maximum`` asked for, dropped unread (see :func:`read_search`)."""


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
    if diagnostics := _diagnostics(root):
        raise diagnostics[0]
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


def read_search(root: etree._Element, maximum: int | None = None) -> SruPage:
    """The searchRetrieve page in ``root``; raises SruError for a diagnostic that came
    without records (a fatal one, see the module's docstring), MalformedResponse for records
    with more than :data:`MAX_NAMESPACES` namespaces in scope. Records past the first
    ``maximum`` (None: all) are counted in :attr:`SruPage.surplus`, not read: a server that
    ignores maximumRecords may send a million in one page."""
    namespace = etree.QName(root).namespace
    s = f"{{{namespace}}}"
    diagnostics = _diagnostics(root)
    path = f"{s}records/{s}record"
    elements = list(islice(root.iterfind(path), maximum))
    if diagnostics and not elements:
        raise diagnostics[0]
    if etree.QName(root).localname != "searchRetrieveResponse":
        raise MalformedResponse("the answer to searchRetrieve is not a searchRetrieveResponse")
    said = root.findtext(f"{s}numberOfRecords")
    hits = _number(said)
    if hits is None:
        raise MalformedResponse(
            "searchRetrieveResponse without numberOfRecords" if said is None
            else f"searchRetrieveResponse with numberOfRecords {quoted(said.strip())!r}, "
            "not a count from 0 to 10^18"
        )
    surplus = 0
    if maximum is not None and len(elements) == maximum:  # counted in libxml, not as elements
        sent = root.xpath("count(s:records/s:record)", namespaces={"s": namespace})
        assert isinstance(sent, float)
        surplus = int(sent) - maximum
    records = [_read_record(element, s) for element in elements]
    following = _number(root.findtext(f"{s}nextRecordPosition"))
    return SruPage(version_of(root), hits, records, following, diagnostics, surplus)


def _read_record(element: etree._Element, s: str) -> SruRecord:
    _check_namespaces(element)
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
        record.error = f"recordData that is not well-formed XML: {xml_error_said(error)}"
        return record
    if payload is None:
        record.error = "empty recordData"
        return record
    _check_namespaces(payload)
    if etree.QName(payload).namespace in DIAGNOSTIC_NAMESPACES:
        record.error = f"surrogate diagnostic: {_diagnostic_text(payload)}"
    else:
        record.data = payload
    return record


def _check_namespaces(element: etree._Element) -> None:
    """MalformedResponse when ``element`` has more than :data:`MAX_NAMESPACES` namespaces in
    scope (counting them walks its ancestors once; serializing it is what is quadratic)."""
    if (in_scope := len(element.nsmap)) > MAX_NAMESPACES:
        raise MalformedResponse(
            f"a record with {in_scope} XML namespaces in scope (more than {MAX_NAMESPACES}; "
            "an SRU server declares a handful)"
        )


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


def _diagnostics(root: etree._Element) -> list[SruError]:
    """The diagnostics in the response's ``<diagnostics>`` (non-surrogate ones), in order, the
    first of each URI (a partner may repeat one for every record)."""
    namespace = etree.QName(root).namespace
    found: dict[str, SruError] = {}
    for diagnostic in root.iterfind(f"{{{namespace}}}diagnostics/*"):
        d = etree.QName(diagnostic).namespace
        uri = quoted((diagnostic.findtext(f"{{{d}}}uri") or "").strip())
        if uri not in found:
            found[uri] = SruError(
                uri,
                quoted((diagnostic.findtext(f"{{{d}}}message") or "").strip()),
                quoted((diagnostic.findtext(f"{{{d}}}details") or "").strip()),
            )
    return list(found.values())


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
        return SruRecord(None, "", None, raw, error=f"not well-formed XML: {xml_error_said(error)}")
    name = etree.QName(element)
    if name.localname != "record":
        return SruRecord(None, "", None, raw, error=f"{element.tag} is not an SRU record")
    try:
        return _read_record(element, f"{{{name.namespace}}}" if name.namespace else "")
    except MalformedResponse as error:
        return SruRecord(None, "", None, raw, error=str(error))
