"""Writing OAI-PMH responses as bytes, by concatenation.

Records' renditions are stored as ready XML elements; a response is the envelope written
around them, with no XML tree built per request. Everything that is not stored rendition
bytes (identifiers, set names, request arguments, error messages) goes through :func:`text`,
which escapes markup and drops the characters XML 1.0 forbids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from catalog import Entry, Provenance
from crosswalks.namespaces import OAI_IDENTIFIER_NS, OAI_NS, PROVENANCE_NS, XSI_NS
from crosswalks.xmltext import has_forbidden, xml_safe
from protocols.oaipmh import (
    OAI_SCHEMA,
    BadArgument,
    OaiError,
    format_datestamp,
    parse_datestamp,
)
from protocols.oaipmh.uri import any_uri
from protocols.shown import escaped_controls

STYLESHEET = "/static/oai2.xsl"
PROVENANCE_SCHEMA = "http://www.openarchives.org/OAI/2.0/provenance.xsd"
IDENTIFIER_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai-identifier.xsd"

_LOCAL_ID_SAFE = "-_.!~*'();/?:@&=+$,"
"""Characters the oai-identifier syntax allows in a local identifier besides letters and digits
(``%`` is its escape character, so a literal ``%`` is written ``%25``)."""

_PLAIN_LOCAL_ID = re.compile(r"[A-Za-z0-9\-_.!~*'();/?:@=+$,]*")
"""Local identifiers that are their own escaped form, in a URI and in XML text alike: the
characters :data:`_LOCAL_ID_SAFE` allows and ``quote`` always keeps, but no ``&``."""

_ATTRIBUTE_ENTITIES = {'"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
"""Besides markup: white space other than a space as character references, which a parser
gives back as they are (a literal tab or line end in an attribute is read as a space)."""
_REPOSITORY_IDENTIFIER = re.compile(r"[a-zA-Z][a-zA-Z0-9\-]*(\.[a-zA-Z][a-zA-Z0-9\-]*)+")


def text(value: str) -> str:
    """``value`` as XML character data: markup escaped, forbidden characters dropped."""
    return escape(xml_safe(value))


def attribute(value: str) -> str:
    """``value`` for a double-quoted attribute."""
    return escape(xml_safe(value), _ATTRIBUTE_ENTITIES)


class Identifiers:
    """Maps local identifiers to OAI identifiers (``prefix`` + escaped local id) and back.

    Local identifiers that only hold characters the oai-identifier syntax allows (all of the
    catalogue's usual ones: ``demo0000001``, ``source:oai:host:123``) appear unchanged; other
    characters are percent-encoded as UTF-8, so every identifier we send is a valid URI and
    parses back to the same local identifier.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._prefix_text = text(prefix)

    def to_oai(self, local_id: str) -> str:
        if _PLAIN_LOCAL_ID.fullmatch(local_id):
            return self.prefix + local_id
        return self.prefix + quote(local_id, safe=_LOCAL_ID_SAFE)

    def to_oai_text(self, local_id: str) -> str:
        """:meth:`to_oai` as XML character data (``text(to_oai(local_id))``), without escaping
        the prefix again for every identifier of a page."""
        if _PLAIN_LOCAL_ID.fullmatch(local_id):
            return self._prefix_text + local_id
        return text(self.to_oai(local_id))

    def to_local(self, identifier: str) -> str | None:
        """The local identifier, or None when ``identifier`` is not one of this repository's."""
        escaped = identifier.removeprefix(self.prefix)
        if escaped == identifier or not escaped:
            return None
        try:
            local_id = unquote(escaped, errors="strict")
        except UnicodeDecodeError:
            return None
        # No catalogue holds a NUL in a local identifier (PostgreSQL text cannot even be
        # queried with one), so such an identifier is simply unknown.
        return None if "\x00" in local_id else local_id


def document(
    base_url: str,
    response_date: int,
    verb: str | None,
    arguments: Mapping[str, str],
    body: Iterable[bytes],
) -> bytes:
    """A whole response: declaration, stylesheet, envelope, ``<request>``, then ``body``.

    ``verb`` and ``arguments`` are echoed as attributes of ``<request>``; pass None and an
    empty mapping for badVerb and badArgument answers, which echo only the base URL. An
    ``identifier`` that is no URI (:func:`any_uri`; the answer is idDoesNotExist, "unknown or
    illegal") is not echoed: the schema's identifierType is xs:anyURI; nor is one holding a
    character XML cannot (echoed without it, it is not the identifier asked for).
    """
    attributes = "".join(
        f' {name}="{attribute(value)}"'
        for name, value in ({"verb": verb, **arguments} if verb else {}).items()
        if name != "identifier" or (any_uri(value) and not has_forbidden(value))
    )
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<?xml-stylesheet type="text/xsl" href="{STYLESHEET}"?>\n'
        f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="{XSI_NS}" '
        f'xsi:schemaLocation="{OAI_NS} {OAI_SCHEMA}">'
        f"<responseDate>{format_datestamp(response_date)}</responseDate>"
        f"<request{attributes}>{text(base_url)}</request>"
    ).encode()
    return b"".join((head, *body, b"</OAI-PMH>\n"))


def error(problem: OaiError) -> bytes:
    """The ``<error>`` of ``problem``, the control characters of its message escaped
    (:func:`~protocols.shown.escaped_controls`): XML 1.0 holds few of them, and the
    identifier (or other text of the client's) it quotes without them is not the one asked
    for."""
    message = text(escaped_controls(problem.message))
    return f'<error code="{problem.code}">{message}</error>'.encode()


def element(name: str, content: str) -> str:
    return f"<{name}>{text(content)}</{name}>"


def header(entry: Entry, identifiers: Identifiers) -> bytes:
    """The ``<header>`` of ``entry`` (status deleted for a deleted record)."""
    return _header(entry, identifiers).encode()


def _header(entry: Entry, identifiers: Identifiers) -> str:
    status = ' status="deleted"' if entry.deleted else ""
    return (
        f"<header{status}><identifier>{identifiers.to_oai_text(entry.local_id)}</identifier>"
        f"<datestamp>{format_datestamp(entry.datestamp)}</datestamp>"
        f"{_set_specs(entry.set_specs)}</header>"
    )


@lru_cache(maxsize=1024)
def _set_specs(specs: tuple[str, ...]) -> str:
    """The ``<setSpec>`` elements of a header (records share few combinations, so cached)."""
    return "".join(f"<setSpec>{text(spec)}</setSpec>" for spec in specs)


def record(entry: Entry, identifiers: Identifiers) -> bytes:
    """A ``<record>``: header, the stored rendition as metadata, and provenance when harvested."""
    parts: list[bytes] = []
    add_record(parts, entry, identifiers)
    return b"".join(parts)


def add_record(parts: list[bytes], entry: Entry, identifiers: Identifiers) -> None:
    """Append the pieces of :func:`record` to ``parts``, for a page joined once: the stored
    rendition is then copied only into the response, and the header is encoded in one piece
    with the tags around it."""
    head = _header(entry, identifiers)
    if not entry.deleted and entry.data is not None:
        parts += (f"<record>{head}<metadata>".encode(), entry.data)
        tail = b"</metadata>"
    else:
        tail = f"<record>{head}".encode()
    if entry.provenance is not None:
        tail += about(entry.provenance, entry.datestamp)
    parts.append(tail + b"</record>")


def about(provenance: Provenance, harvested: int) -> bytes:
    """An ``<about>`` with an OAI provenance ``originDescription`` of a harvested record.

    ``altered`` is true: the record was converted to MARC21 and disseminated from that. A source
    datestamp that is not an OAI-PMH datestamp cannot be described validly, so the record then
    goes without ``<about>`` (empty bytes).
    """
    try:
        parse_datestamp(provenance.datestamp)
    except BadArgument:
        return b""
    return (
        f'<about><provenance xmlns="{PROVENANCE_NS}" '
        f'xsi:schemaLocation="{PROVENANCE_NS} {PROVENANCE_SCHEMA}">'
        f'<originDescription harvestDate="{format_datestamp(harvested)}" altered="true">'
        f"{element('baseURL', provenance.base_url)}"
        f"{element('identifier', provenance.identifier)}"
        f"{element('datestamp', provenance.datestamp)}"
        f"{element('metadataNamespace', provenance.metadata_namespace)}"
        "</originDescription></provenance></about>"
    ).encode()


def resumption_token(
    token: str, cursor: int, complete_list_size: int | None, expires: int | None
) -> bytes:
    """A ``<resumptionToken>``; an empty ``token`` (and no expiry) marks a list's last page.
    Without a ``complete_list_size`` (not counted) it has no ``completeListSize``."""
    attributes = f' expirationDate="{format_datestamp(expires)}"' if expires is not None else ""
    if complete_list_size is not None:
        attributes += f' completeListSize="{complete_list_size}"'
    return (
        f'<resumptionToken{attributes} cursor="{cursor}">'
        f"{text(token)}</resumptionToken>"
    ).encode()


def oai_identifier_description(identifier_prefix: str, sample_identifier: str) -> str:
    """The Identify ``<description>`` declaring the oai-identifier scheme we use.

    Empty when ``identifier_prefix`` is not ``oai:<repositoryIdentifier>:`` with a domain-like
    repositoryIdentifier (it must contain a dot), since such a description would be invalid.
    """
    repository = identifier_prefix.removeprefix("oai:").removesuffix(":")
    well_formed = identifier_prefix == f"oai:{repository}:"
    if not (well_formed and _REPOSITORY_IDENTIFIER.fullmatch(repository)):
        return ""
    return (
        f'<description><oai-identifier xmlns="{OAI_IDENTIFIER_NS}" '
        f'xsi:schemaLocation="{OAI_IDENTIFIER_NS} {IDENTIFIER_SCHEMA}">'
        f"<scheme>oai</scheme>{element('repositoryIdentifier', repository)}"
        f"<delimiter>:</delimiter>"
        f"{element('sampleIdentifier', sample_identifier)}"
        "</oai-identifier></description>"
    )
