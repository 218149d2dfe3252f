"""OAI-PMH 2.0 responses as data: records, pages, errors, and reading them from bytes.

:func:`read_document` parses a response (entities refused, see
:func:`crosswalks.xmltext.parse_untrusted`); :func:`read_page` turns a ListRecords or
ListIdentifiers element into a :class:`Page`; :func:`salvage_page` reads a page that is not
well-formed record by record, so that each broken record keeps its bytes and the reason.
Nothing here repairs a document.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from lxml import etree

from catalog.harvest_state import LARGEST_INTEGER
from crosswalks.namespaces import OAI_NS
from crosswalks.xmltext import MAX_XML_BYTES, parse_untrusted, safe_parser, xml_error_said
from harvester.faults import Event, HarvestError, ListLoop, MalformedResponse, quoted
from harvester.harvested import Harvested

_O = f"{{{OAI_NS}}}"
MAX_TOKEN_CHARS = 10_000
"""A resumption token longer than this is refused (tokens are echoed back in URLs)."""


class OaiError(HarvestError):
    """An OAI-PMH ``<error>`` answer; ``code`` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class ResumptionLoop(ListLoop):
    """The provider sent a resumption token it had already sent in this list."""


@dataclass
class OaiRecord:
    """One record (or header) of a list page.

    ``metadata`` is the element inside ``<metadata>`` (None for deletions, headers and broken
    records). ``raw`` holds the record's bytes as received; ``error`` says why a record could
    not be parsed (it is then to be quarantined, not used).
    """

    identifier: str | None
    datestamp: str | None
    deleted: bool
    set_specs: list[str]
    metadata: etree._Element | None
    raw: bytes
    error: str | None = None

    def harvested(self) -> Harvested:
        """The record as ingest takes it."""
        return Harvested(
            self.identifier, self.raw, self.datestamp or "", self.deleted, self.metadata,
            error=self.error,
        )  # fmt: skip


@dataclass
class Page:
    """One response of a list request."""

    response_date: str
    records: list[OaiRecord]
    token: str | None
    """The resumption token that asks for the next page (None at the end of the list)."""
    cursor: int | None = None
    complete_list_size: int | None = None
    raw_size: int = 0


def read_document(raw: bytes) -> etree._Element:
    """The root of an OAI-PMH response; raises XMLSyntaxError (entities, size, not OAI-PMH)."""
    root = parse_untrusted(raw)
    if root.tag != f"{_O}OAI-PMH":
        raise etree.XMLSyntaxError(f"root element is {root.tag}, not OAI-PMH", None, 0, 0)
    return root


def raise_oai_error(root: etree._Element) -> None:
    """Raise :class:`OaiError` if the response is an OAI-PMH error."""
    error = root.find(f"{_O}error")
    if error is not None:
        raise OaiError(quoted(error.get("code") or "unknown"), quoted((error.text or "").strip()))


def response_date(root: etree._Element) -> str:
    """The provider's responseDate, as written (empty if missing)."""
    return (root.findtext(f"{_O}responseDate") or "").strip()


def read_page(container: etree._Element, verb: str, date: str) -> Page:
    """The page in a ``<ListRecords>`` or ``<ListIdentifiers>`` element answered at ``date``."""
    records: list[OaiRecord] = []
    if verb == "ListRecords":
        for element in container.iterfind(f"{_O}record"):
            records.append(_read_record(element))
    else:
        for header in container.iterfind(_HEADER):
            records.append(_read_header(header, None, etree.tostring(header), in_record=False))
    page = Page(date, records, None)
    _read_token(container.find(f"{_O}resumptionToken"), page)
    return page


def _read_token(element: etree._Element | None, page: Page) -> None:
    if element is None:
        return
    token = (element.text or "").strip()
    if len(token) > MAX_TOKEN_CHARS:
        raise MalformedResponse(f"resumption token of {len(token)} characters")
    page.token = token or None
    page.cursor = _int_or_none(element.get("cursor"))
    page.complete_list_size = _int_or_none(element.get("completeListSize"))


def _int_or_none(value: str | None) -> int | None:
    """The number ``value`` says, or None: no number, or one past what the database saves."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(LARGEST_INTEGER)):
        return None  # (a string of a million digits would take seconds to convert)
    number = int(text)
    return number if number <= LARGEST_INTEGER else None


_HEADER = f"{_O}header"
_METADATA = f"{_O}metadata"
_IDENTIFIER = f"{_O}identifier"
_DATESTAMP = f"{_O}datestamp"
_SET_SPEC = f"{_O}setSpec"


def _read_record(element: etree._Element) -> OaiRecord:
    header = metadata = None
    for child in element:  # the first <header> and the first <metadata>
        tag = child.tag
        if tag == _HEADER and header is None:
            header = child
        elif tag == _METADATA and metadata is None:
            metadata = child
    raw = etree.tostring(element)
    if header is None:
        return OaiRecord(None, None, False, [], None, raw, "record without a header")
    payload = None
    if metadata is not None:
        payload = next((child for child in metadata if isinstance(child.tag, str)), None)
    return _read_header(header, payload, raw, in_record=True)


def _read_header(
    header: etree._Element, payload: etree._Element | None, raw: bytes, *, in_record: bool
) -> OaiRecord:
    """The record (``in_record``: a ``<record>``'s header, with its ``payload``) or header
    (of ListIdentifiers) that ``header`` describes, read in one pass over its children: the
    text of its first identifier and first datestamp, and of every setSpec."""
    identifier = datestamp = None
    specs = []
    for child in header:
        tag = child.tag
        if tag == _SET_SPEC:
            specs.append((child.text or "").strip())
        elif tag == _IDENTIFIER and identifier is None:
            identifier = child.text or ""  # the first, even when empty
        elif tag == _DATESTAMP and datestamp is None:
            datestamp = child.text or ""
    identifier = (identifier or "").strip() or None
    datestamp = (datestamp or "").strip() or None
    deleted = header.get("status") == "deleted"
    error = None
    if identifier is None:
        error = "header without an identifier"
    elif payload is None and not deleted and in_record:
        error = "record without metadata"
    return OaiRecord(identifier, datestamp, deleted, specs, payload, raw, error)


# A start tag holds no '<' (nor does an attribute value): the patterns of tags stop at one, so
# that a page of tags left open is searched in one pass, not once to its end for each of them.
_ROOT_TAG = re.compile(rb"<(?:[\w.-]+:)?OAI-PMH\b[^<>]*>")
_LIST_TAG = re.compile(rb"<(?:[\w.-]+:)?ListRecords\b[^<>]*>")
_NS_DECL = re.compile(rb"""\s(xmlns(?::[\w.-]+)?)\s*=\s*(?:"[^"]*"|'[^']*')""")
_RECORD_START = re.compile(rb"<(?:[\w.-]+:)?record\b[^<>]*>\s*<(?:[\w.-]+:)?header[\s>/]")
_HEADER_TAG = re.compile(rb"<(?:[\w.-]+:)?header[\s>/]")
_LIST_END = re.compile(rb"<(?:[\w.-]+:)?resumptionToken[\s>/]|</(?:[\w.-]+:)?ListRecords\s*>")
_TOKEN = re.compile(
    rb"<(?:[\w.-]+:)?resumptionToken\b[^<>]*?(?:/>|>.*?</(?:[\w.-]+:)?resumptionToken\s*>)",
    re.DOTALL,
)
"""The token element, matched where the list ends (only there: a search for it from there on
would scan to the end of the page once for each token left unclosed)."""
MAX_DECLARATION_BYTES = MAX_XML_BYTES
"""Most bytes of the records' ancestors' namespace declarations parsed again over all the
records of a malformed page (they are parsed with each record): past it, the page is not
salvaged."""
_RESPONSE_DATE = re.compile(rb"<(?:[\w.-]+:)?responseDate\s*>([^<]{1,40})<")


def salvage_page(raw: bytes, events: list[Event]) -> Page:
    """Parse a malformed ListRecords page record by record; broken records keep their bytes.

    Each ``<record>`` (whatever its attributes) is cut out at the record boundaries and parsed
    on its own, inside the namespace declarations of its ancestors (the root and
    ``ListRecords``). The resumption token must itself be well-formed and whole, or the page is
    unusable and :class:`MalformedResponse` is raised (a page whose token is cut short is not
    the last page of its list), as it is when no record can be cut out of a page holding
    headers: read as a page of no records, its records were lost without a reject.
    """
    root_tag = _ROOT_TAG.search(raw)
    if root_tag is None:
        raise MalformedResponse("no OAI-PMH root element in a malformed page")
    list_tag = _LIST_TAG.search(raw, root_tag.end())
    declarations = _declarations(root_tag.group(0), list_tag.group(0) if list_tag else b"")
    starts = [m.start() for m in _RECORD_START.finditer(raw)]
    if not starts and _HEADER_TAG.search(raw):
        raise MalformedResponse("malformed page whose records cannot be told apart")
    if len(declarations) * len(starts) > MAX_DECLARATION_BYTES:
        raise MalformedResponse(
            f"malformed page of {len(starts)} records whose root declares "
            f"{len(declarations)} bytes of namespaces: too costly to read record by record"
        )
    end = _LIST_END.search(raw, starts[-1] if starts else 0)
    if end is None:
        raise MalformedResponse("malformed page whose list end cannot be found")
    bounds = [*starts, end.start()]
    records: list[OaiRecord] = []
    for begin, stop in itertools.pairwise(bounds):
        chunk = raw[begin:stop].rstrip()
        try:
            wrapper = etree.fromstring(b"<w" + declarations + b">" + chunk + b"</w>", safe_parser())
            (element,) = list(wrapper)
            if element.tag != f"{_O}record":
                raise etree.XMLSyntaxError("not an OAI-PMH record", None, 0, 0)
            records.append(_read_record(element))
        except (etree.XMLSyntaxError, ValueError) as error:
            identifier = re.search(rb"<(?:[\w.-]+:)?identifier>([^<]{1,1000})<", chunk)
            name = identifier.group(1).decode("utf-8", "replace").strip() if identifier else None
            records.append(OaiRecord(name, None, False, [], None, chunk, f"malformed XML: {error}"))
    page = Page(_response_date_text(raw), records, None, raw_size=len(raw))
    token = _TOKEN.match(raw, end.start())
    if token is None and not raw.startswith(b"</", end.start()):  # no end of the list either
        raise MalformedResponse("malformed page whose resumption token is cut short")
    if token is not None:
        try:
            wrapper = etree.fromstring(
                b"<w" + declarations + b">" + token.group(0) + b"</w>", safe_parser()
            )
        except etree.XMLSyntaxError as error:
            raise MalformedResponse(f"malformed resumption token: {error}") from error
        _read_token(wrapper[0], page)
    bad = sum(1 for r in records if r.error)
    events.append(Event("quarantined", f"{bad} of {len(records)} records of a malformed page"))
    return page


def _declarations(*tags: bytes) -> bytes:
    """The namespace declarations of the start ``tags``, outermost first, each prefix once (an
    inner declaration of a prefix replaces an outer one, as in the document)."""
    found: dict[bytes, bytes] = {}
    for tag in tags:
        for match in _NS_DECL.finditer(tag):
            found[match.group(1)] = match.group(0)
    return b"".join(found.values())


def _response_date_text(raw: bytes) -> str:
    match = _RESPONSE_DATE.search(raw)
    return match.group(1).decode("ascii", "replace").strip() if match else ""


def read_record_bytes(raw: bytes) -> OaiRecord:
    """One ``<record>`` element kept as bytes (a reject's) read again; a record that still
    cannot be read comes back with ``error`` set."""
    try:
        element = parse_untrusted(raw)
    except etree.XMLSyntaxError as error:
        said = f"not well-formed XML: {xml_error_said(error)}"
        return OaiRecord(None, None, False, [], None, raw, said)
    if element.tag != f"{_O}record":
        return OaiRecord(None, None, False, [], None, raw, f"{element.tag} is not an OAI record")
    return _read_record(element)
