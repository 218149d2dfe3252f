"""SRU requests: the parameters of explain, searchRetrieve and scan, checked declaratively.

:func:`request_of` turns the (GET or POST form) parameters into an :class:`Explain`,
:class:`SearchRetrieve` or :class:`Scan` with every value checked, or raises
:class:`SearchError` (7 missing, 8 unsupported parameter, 6 bad value, 5 version, 4 operation,
71 XML escaping (1.x recordPacking), 66 schema, 72 SRU 1.1's recordXPath). The version and operation
a refusal is answered in come from :func:`version_of` and :func:`operation_of`, which never
fail.

Versions 1.1, 1.2 and 2.0 are served; a request without a version is answered as 2.0, and in
2.0 the operation follows from the parameters when ``operation`` is absent (a ``query`` is
searchRetrieve, a ``scanClause`` scan, anything else explain).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from config import SearchSettings
from crosswalks.srw_dc import srw_dc_of
from protocols import forms
from protocols.sru import VERSIONS
from provider.search import Condition, SearchError

DEFAULT_VERSION = "2.0"
EXPLAIN, SEARCH, SCAN = "explain", "searchRetrieve", "scan"
XML, STRING = "xml", "string"
PACKED, UNPACKED = "packed", "unpacked"
DEFAULT_SCAN_TERMS = 20
MAX_DIGITS = 18
"""The most digits a number parameter may have: every such number fits a 64-bit integer."""
FORM = "application/x-www-form-urlencoded"
MAX_STYLESHEET_CHARS = 2000
"""The longest ``stylesheet`` URL returned in a response."""


@dataclass(frozen=True)
class RecordSchema:
    """A record schema: its short name, its ``info:srw/schema`` identifier, the stored rendition
    it is served from, and what makes the record of the rendition (None: it is served as
    stored; raises ValueError for one it cannot)."""

    name: str
    identifier: str
    rendition: str
    shaped: Callable[[bytes], bytes] | None = None


SCHEMAS = (
    RecordSchema("marcxml", "info:srw/schema/1/marcxml-v1.1", "marc21"),
    RecordSchema("dc", "info:srw/schema/1/dc-v1.1", "oai_dc", srw_dc_of),
    RecordSchema("mods", "info:srw/schema/1/mods-v3.7", "mods"),
)
_SCHEMAS = {key: s for s in SCHEMAS for key in (s.name, s.identifier)}
DEFAULT_SCHEMA = SCHEMAS[0]


@dataclass(frozen=True)
class Explain:
    version: str
    packing: str = XML


@dataclass(frozen=True)
class SearchRetrieve:
    version: str
    query: str
    start: int
    maximum: int
    schema: RecordSchema
    packing: str
    ttl: int
    sort_keys: str = ""


@dataclass(frozen=True)
class Scan:
    version: str
    clause: str
    position: int
    maximum: int


Request = Explain | SearchRetrieve | Scan

_COMMON = {"operation", "version", "stylesheet", "recordPacking", "httpAccept"}
_ALLOWED = {
    EXPLAIN: _COMMON | {"recordXMLEscaping"},
    SEARCH: _COMMON | {"query", "queryType", "startRecord", "maximumRecords", "recordSchema",
                       "recordXMLEscaping", "resultSetTTL", "sortKeys", "recordXPath"},
    SCAN: _COMMON | {"scanClause", "responsePosition", "maximumTerms"},
}  # fmt: skip
_SRU_2_ALONE = frozenset({"httpAccept", "queryType", "recordXMLEscaping"})
"""Parameters SRU 2.0 added: SRU 1.1 and 1.2 have none of them, so in those versions each is a
parameter not supported (8), as the specifications ask of any they do not name."""


def version_of(params: dict[str, str]) -> str:
    """The version a request is answered in: its own when served, else 1.2 for 1.x and 2.0."""
    version = params.get("version", DEFAULT_VERSION)
    if version in VERSIONS:
        return version
    return "1.2" if version.startswith("1.") else DEFAULT_VERSION


def operation_of(params: dict[str, str]) -> str:
    operation = params.get("operation")
    if operation in (EXPLAIN, SEARCH, SCAN):
        return operation
    if "query" in params:
        return SEARCH
    if "scanClause" in params:
        return SCAN
    return EXPLAIN


def answered_as(pairs: Sequence[tuple[str, str]]) -> str:
    """The operation a request with parameters ``pairs`` is answered as, served or refused
    (:meth:`provider.sru.front_end.SruFrontEnd.answer`): :func:`operation_of` its parameters,
    the last of one given twice as a refusal reads them (for /metrics)."""
    return operation_of(dict(pairs))


NO_OPERATION = "other"
"""What /metrics counts an SRU request as when it was answered as no operation: a SOAP request,
given a fault (:mod:`provider.sru.soap`), on either port."""


def checked_pairs(
    form: bytes | str,
) -> tuple[list[tuple[str, str]], tuple[Condition, str] | None]:
    """The parameters of a query string or an urlencoded form body, and a refusal (6) naming the
    first one that is not UTF-8, as SRU's parameters are. Such a byte becomes U+FFFD in what is
    echoed."""
    pairs = forms.form_pairs(form)
    not_utf8 = forms.first_not_utf8(pairs)
    if not_utf8 is None:
        return pairs, None
    shown = [(forms.shown(name), forms.shown(value)) for name, value in pairs]
    return shown, (Condition.UNSUPPORTED_PARAMETER_VALUE, f"{not_utf8[0]} is not UTF-8")


def parameters(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The request's parameters by name (6 for a parameter given twice)."""
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in found:
            raise SearchError(Condition.UNSUPPORTED_PARAMETER_VALUE, f"{name} repeated")
        found[name] = value
    return found


def request_of(params: dict[str, str], limits: SearchSettings) -> Request:
    """The checked request of ``params`` (see the module docstring for the refusals)."""
    version = params.get("version", DEFAULT_VERSION)
    if version not in VERSIONS:
        raise SearchError(Condition.UNSUPPORTED_VERSION, "2.0")  # details: highest supported
    operation = params.get("operation")
    if operation is None:
        operation = operation_of(params)
        if version != "2.0" and operation != EXPLAIN:
            raise SearchError(Condition.MISSING_PARAMETER, "operation")
    if operation not in _ALLOWED:
        raise SearchError(Condition.UNSUPPORTED_OPERATION, operation)
    for name in params:
        if name.startswith("x-"):
            continue
        if name not in _ALLOWED[operation] or (version != "2.0" and name in _SRU_2_ALONE):
            raise SearchError(Condition.UNSUPPORTED_PARAMETER, name)
    if params.get("stylesheet") and stylesheet_of(params) is None:  # of every operation
        raise SearchError(Condition.UNSUPPORTED_PARAMETER_VALUE, "stylesheet")
    if "recordXPath" in params:  # SRU 1.1's alone: 1.2 and 2.0 dropped it
        if version != "1.1":
            raise SearchError(Condition.UNSUPPORTED_PARAMETER, "recordXPath")
        raise SearchError(Condition.XPATH_UNSUPPORTED, params["recordXPath"])
    packing = _packing(params, version)
    if operation == EXPLAIN:
        return Explain(version, packing)
    if operation == SCAN:
        return Scan(
            version,
            _required(params, "scanClause"),
            _number(params, "responsePosition", 1, low=None),
            _number(params, "maximumTerms", DEFAULT_SCAN_TERMS, low=1, high=limits.max_scan_terms),
        )
    query_type = params.get("queryType", "cql")
    if query_type != "cql":
        raise SearchError(Condition.UNSUPPORTED_PARAMETER_VALUE, "queryType")
    if "sortKeys" in params and version != "1.1":
        raise SearchError(Condition.UNSUPPORTED_PARAMETER, "sortKeys")
    name = params.get("recordSchema", DEFAULT_SCHEMA.name)
    schema = _SCHEMAS.get(name)
    if schema is None:
        raise SearchError(Condition.UNKNOWN_SCHEMA, name)
    maximum = _number(
        params, "maximumRecords", limits.sru_default_records, low=0, high=limits.sru_max_records
    )
    ttl = _number(params, "resultSetTTL", limits.sru_result_set_ttl, low=0,
                  high=limits.sru_result_set_ttl)
    return SearchRetrieve(
        version=version,
        query=_required(params, "query"),
        start=_number(params, "startRecord", 1, low=1),
        maximum=maximum,
        schema=schema,
        packing=packing,
        ttl=ttl,
        sort_keys=params.get("sortKeys", ""),
    )


def stylesheet_of(params: dict[str, str]) -> str | None:
    """The ``stylesheet`` URL to return in the response
    (:func:`provider.sru.responses.with_stylesheet`); None without one (or an empty one), or
    for one that is not printable or longer than :data:`MAX_STYLESHEET_CHARS` (refused: 6)."""
    url = params.get("stylesheet", "")
    return url if url and url.isprintable() and len(url) <= MAX_STYLESHEET_CHARS else None


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise SearchError(Condition.MISSING_PARAMETER, name)
    return value


def _number(
    params: dict[str, str], name: str, default: int, *, low: int | None, high: int | None = None
) -> int:
    """The whole number ``name`` (``default`` when absent), at least ``low`` (with None, a
    negative one too, written with a ``-``); with ``high``, a larger one, however many digits it
    has, is lowered to ``high``. Diagnostic 6 otherwise, and for a number of more than
    :data:`MAX_DIGITS` digits with no ``high``; its details name the parameter, as the SRU
    diagnostics list has them (and YAZ gives them), not its value.

    A number out of range without ``high`` (or ``low``) is kept as it is: a startRecord past
    the set's end is 61, a responsePosition before 0 or past the terms asked for 120 (SRU's
    range of its values), each checked where it is used."""
    text = params.get(name)
    if text is None:
        return default
    negative = low is None and text.startswith("-")
    unsigned = text[1:] if negative else text
    # ASCII digits only: str.isdigit is also true of "²" (which int() refuses) and "٣"
    if not (unsigned.isascii() and unsigned.isdigit()):
        raise SearchError(Condition.UNSUPPORTED_PARAMETER_VALUE, name)
    digits = unsigned.lstrip("0") or "0"
    if len(digits) > MAX_DIGITS:  # never handed to int(), which limits digits
        if high is None:
            raise SearchError(Condition.UNSUPPORTED_PARAMETER_VALUE, name)
        return high
    value = -int(digits) if negative else int(digits)
    if low is not None and value < low:
        raise SearchError(Condition.UNSUPPORTED_PARAMETER_VALUE, name)
    return value if high is None else min(value, high)


def _packing(params: dict[str, str], version: str) -> str:
    """How records are carried: ``xml`` or ``string`` (1.x ``recordPacking``, 2.0
    ``recordXMLEscaping``; another value is 71, naming it).

    2.0's ``recordPacking`` says something else: ``packed`` (the default) asks for records
    exactly of the schema asked for, ``unpacked`` lets the server place their data otherwise.
    Records of that schema, the only ones Koprik serves, are what either asks for; another
    value is none of the parameter's (6, naming it, as the SRU diagnostics list has it)."""
    if version == "2.0":
        if params.get("recordPacking", PACKED) not in (PACKED, UNPACKED):
            raise SearchError(Condition.UNSUPPORTED_PARAMETER_VALUE, "recordPacking")
        value = params.get("recordXMLEscaping", XML)
    else:
        value = params.get("recordPacking", XML)
    if value not in (XML, STRING):
        raise SearchError(Condition.UNSUPPORTED_PACKING, value)
    return value
