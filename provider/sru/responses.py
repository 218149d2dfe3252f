"""SRU response documents for versions 1.1, 1.2 (``http://www.loc.gov/zing/srw/``) and 2.0
(the OASIS ``search-ws`` namespaces), element order as their schemas require.

Documents are written as text: records are the stored renditions, spliced in as they are
(``xml`` packing) or escaped (``string``), so a response costs no XML parsing. Every value
that is not a stored rendition is escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from catalog.query import ScanPage
from crosswalks.xmltext import xml_safe
from protocols.shown import clipped
from provider.search import Condition, SearchError

SRW = "http://www.loc.gov/zing/srw/"
SRW_DIAGNOSTIC = "http://www.loc.gov/zing/srw/diagnostic/"
SRU2 = "http://docs.oasis-open.org/ns/search-ws/sruResponse"
SRU2_DIAGNOSTIC = "http://docs.oasis-open.org/ns/search-ws/diagnostic"
SRU2_SCAN = "http://docs.oasis-open.org/ns/search-ws/scan"
DIAGNOSTIC_SCHEMA = "info:srw/schema/1/diagnostics-v1.1"
CONTENT_TYPE = "text/xml; charset=utf-8"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass(frozen=True)
class RecordOut:
    """One record slot: the rendition (UTF-8 XML) or the diagnostic standing in for it."""

    position: int
    schema: str
    data: bytes | None
    diagnostic: SearchError | None = None


def _namespaces(version: str) -> tuple[str, str]:
    return (SRU2, SRU2_DIAGNOSTIC) if version == "2.0" else (SRW, SRW_DIAGNOSTIC)


def _text(value: object) -> str:
    """``value`` as XML character data: escaped, and without the characters XML 1.0 forbids
    (a diagnostic's details quote the request, which may hold any of them)."""
    return escape(xml_safe(str(value)))


def _element(name: str, value: object) -> str:
    return f"<zs:{name}>{_text(value)}</zs:{name}>"


def _diagnostic(error: SearchError, version: str) -> str:
    _, diag = _namespaces(version)
    # a client's text (a result set id, a parameter, an index) quoted in the details is cut
    details = f"<diag:details>{_text(clipped(error.detail))}</diag:details>" if error.detail else ""
    return (
        f'<diag:diagnostic xmlns:diag="{diag}"><diag:uri>{error.sru_uri}</diag:uri>'
        f"{details}<diag:message>{_text(error.message)}</diag:message></diag:diagnostic>"
    )


def _diagnostics(errors: Sequence[SearchError], version: str) -> str:
    if not errors:
        return ""
    return (
        "<zs:diagnostics>" + "".join(_diagnostic(e, version) for e in errors) + "</zs:diagnostics>"
    )


def _record(record: RecordOut, version: str, packing: str) -> str:
    if record.diagnostic is not None or record.data is None:
        schema, content = (
            DIAGNOSTIC_SCHEMA,
            _diagnostic(record.diagnostic or SearchError(Condition.RECORD_DELETED), version),
        )
        if packing != "xml":
            content = escape(content)
    else:
        schema = record.schema
        text = record.data.decode("utf-8")
        content = text if packing == "xml" else escape(text)
    packed = (
        f"<zs:recordXMLEscaping>{packing}</zs:recordXMLEscaping>"
        if version == "2.0"
        else f"<zs:recordPacking>{packing}</zs:recordPacking>"
    )
    return (
        f"<zs:record><zs:recordSchema>{escape(schema)}</zs:recordSchema>{packed}"
        f"<zs:recordData>{content}</zs:recordData>"
        f"<zs:recordPosition>{record.position}</zs:recordPosition></zs:record>"
    )


def _document(root: str, version: str, body: str, namespace: str | None = None) -> bytes:
    ns = namespace or _namespaces(version)[0]
    head = "" if version == "2.0" else _element("version", version)
    return (f'{_DECLARATION}<zs:{root} xmlns:zs="{ns}">{head}{body}</zs:{root}>').encode()


def with_stylesheet(document: bytes, url: str | None) -> bytes:
    """``document`` with an ``xml-stylesheet`` processing instruction naming ``url`` after its
    declaration: what SRU's ``stylesheet`` parameter asks for (the client, a browser, renders
    the response with it). ``url`` is :func:`provider.sru.request.stylesheet_of`'s, printable;
    escaped as an attribute, it holds no ``?>``."""
    if not url:
        return document
    head = _DECLARATION.encode()
    rest = document[len(head):] if document.startswith(head) else document
    sheet = f"<?xml-stylesheet type=\"text/xsl\" href={quoteattr(url)}?>\n".encode()
    return head + sheet + rest


def search_retrieve(
    version: str,
    *,
    count: int,
    records: Sequence[RecordOut] = (),
    packing: str = "xml",
    next_position: int | None = None,
    result_set: tuple[str, int] | None = None,
    diagnostics: Sequence[SearchError] = (),
) -> bytes:
    """A searchRetrieveResponse; ``result_set`` is (id, seconds it lives while idle)."""
    parts = [_element("numberOfRecords", count)]
    if result_set is not None:
        parts.append(_element("resultSetId", result_set[0]))
        if version != "2.0":
            parts.append(_element("resultSetIdleTime", result_set[1]))
    if records:
        parts.append("<zs:records>" + "".join(_record(r, version, packing) for r in records)
                     + "</zs:records>")  # fmt: skip
    if next_position is not None:
        parts.append(_element("nextRecordPosition", next_position))
    parts.append(_diagnostics(diagnostics, version))
    if version == "2.0" and result_set is not None:
        parts.append(_element("resultSetTTL", result_set[1]))
    return _document("searchRetrieveResponse", version, "".join(parts))


def scan(
    version: str, page: ScanPage | None, diagnostics: Sequence[SearchError] = ()
) -> bytes:
    """A scanResponse listing the terms of ``page`` (each key with its catalogued display
    form), each placed in the whole index (whereInList: ``first`` is the index's first term,
    not the page's)."""
    entries = page.entries if page is not None else []
    terms = []
    last = len(entries)
    for number, entry in enumerate(entries, 1):
        first = number == 1 and page is not None and not page.more_before
        final = number == last and page is not None and not page.more_after
        where = "only" if first and final else "first" if first else "last" if final \
            else "inner"  # fmt: skip
        display = entry.display or entry.term
        terms.append(
            f"<zs:term>{_element('value', entry.term)}{_element('numberOfRecords', entry.count)}"
            f"{_element('displayTerm', display)}{_element('whereInList', where)}</zs:term>"
        )
    body = ("<zs:terms>" + "".join(terms) + "</zs:terms>" if terms else "") + _diagnostics(
        diagnostics, version
    )
    return _document("scanResponse", version, body, SRU2_SCAN if version == "2.0" else None)


def explain(
    version: str, packing: str, record: str, diagnostics: Sequence[SearchError] = ()
) -> bytes:
    """An explainResponse carrying the ZeeRex ``record`` (XML text)."""
    content = record if packing == "xml" else escape(record)
    packed = (
        f"<zs:recordXMLEscaping>{packing}</zs:recordXMLEscaping>"
        if version == "2.0"
        else f"<zs:recordPacking>{packing}</zs:recordPacking>"
    )
    body = (
        f"<zs:record><zs:recordSchema>http://explain.z3950.org/dtd/2.0/</zs:recordSchema>{packed}"
        f"<zs:recordData>{content}</zs:recordData><zs:recordPosition>1</zs:recordPosition>"
        f"</zs:record>" + _diagnostics(diagnostics, version)
    )
    return _document("explainResponse", version, body)
