"""A Z39.50 origin (client) over asyncio: Init with character-set negotiation, Search,
Present, Scan, Close.

One client is one association, used for one request at a time::

    client = await Z3950Client.connect("127.0.0.1", 2100, "Default")
    try:
        hits = await client.search('@attr 1=4 "war and peace"')
        for record in await client.present(1, 10, syntax="usmarc"):
            marc_bytes = record.data
    finally:
        await client.close()

A target's diagnostics are raised as :class:`Z3950Diagnostic`; a target that closes the
association (a Close PDU, or just the connection) raises :class:`Z3950Closed`; anything else
unexpected on the wire is a :class:`Z3950Error`. Time limits raise :class:`TimeoutError`.

Given a :class:`harvester.http_fetch.Politeness`, the client waits its turn at the host for
each request but Close, as the HTTP clients do (:func:`harvester.http_fetch.host_turn`): one
request at a time per host, ``delay`` seconds between the end of one and the next.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harvester.faults import quoted
from harvester.http_fetch import Politeness, host_turn
from protocols.z3950 import bib1, oids
from protocols.z3950 import charset as charneg
from protocols.z3950.codec import (
    OPTION_BITS,
    PduError,
    PduTooComplex,
    bit_string,
    decode_external,
    decode_pdu,
    encode_pdu,
)
from protocols.z3950.framing import IncompleteRead, PduTooLarge, read_pdu
from protocols.z3950.pqf import Query, Term, attributes_plus_term, parse_pqf, rpn_to_pdu

log = logging.getLogger(__name__)
T = TypeVar("T")

#: preferredMessageSize and exceptionalRecordSize proposed in the Init request.
MESSAGE_SIZE = 16 * 1024 * 1024
#: Largest PDU accepted from a target: the message size proposed in Init, which a target may
#: not exceed (a Present response holds records up to preferredMessageSize, or a single one up
#: to exceptionalRecordSize), and room for the PDU's envelope. It bounds the memory one Present
#: costs, whatever the number of records asked for.
MAX_PDU_BYTES = MESSAGE_SIZE + 1024 * 1024
#: Most BER values decoded in one PDU from a target: decoded, each costs some hundred bytes of
#: memory (64 MiB of 20-byte records would hold 13 million of them, some 2 GB), so a PDU holding
#: more is refused before it is decoded. A Present of 500 OPAC records, each with many holdings,
#: stays under; one answer over it is presented again in halves (:func:`present_in_halves`).
MAX_PDU_VALUES = 1_000_000
IMPLEMENTATION_NAME = "Koprik"
DEFAULT_TIMEOUT = 30.0
_OPTIONS = ("search", "present", "delSet", "scan", "sort", "namedResultSets")


class Z3950Error(Exception):
    """The target answered something this origin cannot use."""


class Z3950Closed(Z3950Error):
    """The target ended the association (Close PDU or closed connection)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"target closed the association: {reason}")
        self.reason = reason


class Z3950TooLarge(Z3950Error):
    """A Present's answer too large to read: larger than :data:`MAX_PDU_BYTES`, or of more
    than :data:`MAX_PDU_VALUES` BER values (many records of many holdings). Refused, and the
    association with it (the rest of the answer may still be on the wire)."""

    def __init__(self, request: str, error: PduError) -> None:
        super().__init__(f"unreadable answer to {request}: {error}")
        self.size = (f"of more than {MAX_PDU_VALUES} BER values (the most decoded)"
                     if isinstance(error, PduTooComplex)
                     else f"larger than {MAX_PDU_BYTES} bytes (the most read)")  # fmt: skip
        """What was too large, as a record's reason says it."""


CLOSE_REASONS = {0: "finished", 1: "shutdown", 2: "system problem", 3: "cost limit",
                 4: "resources", 5: "security violation", 6: "protocol error",
                 7: "lack of activity", 8: "peer abort", 9: "unspecified"}  # fmt: skip
"""Z39.50 CloseReason values, as said to people."""


def close_reason(close: dict[str, Any]) -> str:
    """Why a Close PDU says the target closed: its reason named (and numbered), and its
    diagnosticInformation quoted apart (``system problem (reason 2), saying "1Unknown
    Error"``), the target's words being kept as they came."""
    code = close["closeReason"]
    said = f"{CLOSE_REASONS[code]} (reason {code})" if code in CLOSE_REASONS else f"reason {code}"
    text = close.get("diagnosticInformation")
    return f'{said}, saying "{quoted(text)}"' if text else said


class Z3950Diagnostic(Z3950Error):
    """A diagnostic from the target (Bib-1 codes unless ``diagnostic_set`` says otherwise)."""

    def __init__(
        self, code: int, addinfo: str = "", diagnostic_set: str = oids.BIB1_DIAGNOSTIC_SET
    ):
        message = (
            bib1.diagnostic_message(code) if diagnostic_set == oids.BIB1_DIAGNOSTIC_SET else ""
        )
        super().__init__(f"diagnostic {code}: {message}" + (f" ({addinfo})" if addinfo else ""))
        self.code = code
        self.addinfo = addinfo
        self.diagnostic_set = diagnostic_set

    @classmethod
    def from_pdu(cls, diag_rec: tuple[str, Any] | dict[str, Any]) -> Z3950Diagnostic:
        """Build one from a decoded DiagRec (choice) or DefaultDiagFormat (dict)."""
        if isinstance(diag_rec, tuple):
            kind, diag_rec = diag_rec
            if kind != "defaultFormat":
                return cls(bib1.UNSPECIFIED_ERROR, "externally defined diagnostic")
        addinfo = quoted(diag_rec.get("addinfo", ("", ""))[1])
        return cls(diag_rec["condition"], addinfo, diag_rec["diagnosticSetId"])


@dataclass(frozen=True)
class RetrievedRecord:
    """One record of a Present response.

    ``data`` is the record as sent: ISO 2709 bytes for USMARC, the XML document's bytes, SUTRS
    text encoded in UTF-8; for OPAC, the bibliographic record's bytes (``syntax`` stays the
    OPAC OID, ``holdings`` holds the HoldingsAndCircData values, ``bibliographic_syntax`` the
    OID of ``data``). ``text`` is the decoded text of XML and SUTRS records (None for MARC, and
    for XML not valid in the negotiated record character set). A record the target could not
    supply has empty ``data`` and its ``diagnostic`` set; one it sent that cannot be decoded,
    empty ``data`` and the reason in ``unreadable`` (that record's fault, not the Present's:
    the records beside it are used).
    """

    position: int
    database: str | None
    syntax: str
    data: bytes
    text: str | None = None
    bibliographic_syntax: str | None = None
    holdings: list[dict[str, Any]] = field(default_factory=list)
    diagnostic: Z3950Diagnostic | None = None
    unreadable: str | None = None

    @property
    def problem(self) -> str | None:
        """Why the record cannot be used (the target's diagnostic, or why it is unreadable)."""
        return str(self.diagnostic) if self.diagnostic is not None else self.unreadable


@dataclass(frozen=True)
class ScanEntry:
    """One term of a Scan response, with its number of records when the target says."""

    term: str
    occurrences: int | None
    display_term: str | None = None


class Z3950Client:
    """An open association with one Z39.50 target and database; see the module docstring."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        database: str,
        timeout: float,
        host: str = "",
        politeness: Politeness | None = None,
        port: int = 0,
        proposed_charset: str | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.database = database
        self.timeout = timeout
        self.host = host
        self.port = port
        self.proposed_charset = proposed_charset
        """The character set proposed in the Init (:meth:`connect`'s ``charset``)."""
        self.politeness = politeness
        """Paces the requests to ``host`` (None: sent at once)."""
        self.target_name = ""
        self.charset: charneg.Agreement | None = None
        self.result_sets: dict[str, int] = {}
        self.surplus = 0
        """Records targets sent past those a Present asked for (dropped)."""
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        database: str,
        charset: str | None = "UTF-8",
        timeout: float = DEFAULT_TIMEOUT,
        politeness: Politeness | None = None,
    ) -> Z3950Client:
        """Open a TCP connection and initialize; propose ``charset`` (None, or MARC-8, which is
        read from the records and never proposed (:func:`charset.negotiable`): no negotiation);
        ``politeness`` paces the requests (Init too; None: none).

        Raises :class:`Z3950Error` if the target rejects the Init, :class:`OSError` if the
        connection fails, :class:`TimeoutError` past ``timeout`` seconds.
        """
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        client = cls(reader, writer, database, timeout, host, politeness, port, charset)
        try:
            await client._init(charset)
        except BaseException:
            writer.close()
            raise
        return client

    async def searched_again(
        self, query: str, hits: int, sent: Callable[[], None] = lambda: None
    ) -> Z3950Client:
        """A new association with the target, opened as this one was, ``query`` searched again
        (after this one was lost: an answer too large, a fault); ``sent`` is called after each
        of its Init and Search. Its hits must be ``hits``, those of the result set being
        presented, else that has changed: a :class:`Z3950Error`, the new association closed."""
        again = await Z3950Client.connect(self.host, self.port, self.database,
                                          self.proposed_charset, self.timeout, self.politeness)
        try:
            sent()
            found = await again.search(query)
            sent()
            if found != hits:
                raise Z3950Error(f"searched again on a new association, the target reports "
                                 f"{found} hits, not {hits}: the result set changed")
        except BaseException:
            await again.close()
            raise
        return again

    async def __aenter__(self) -> Z3950Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _init(self, proposed_charset: str | None) -> None:
        request: dict[str, Any] = {
            "protocolVersion": bit_string([0, 1, 2]),
            "options": bit_string(OPTION_BITS[name] for name in _OPTIONS),
            "preferredMessageSize": MESSAGE_SIZE,
            "exceptionalRecordSize": MESSAGE_SIZE,
            "implementationName": IMPLEMENTATION_NAME,
        }
        if proposed_charset and charneg.negotiable(proposed_charset):
            options = [*_OPTIONS, "negotiationModel"]
            request["options"] = bit_string(OPTION_BITS[name] for name in options)
            request["otherInfo"] = charneg.proposal_other_info(proposed_charset)
        response = await self._request("initRequest", request, "initResponse")
        self.target_name = response.get("implementationName", "")
        if not response["result"]:
            raise Z3950Error(f"target {quoted(self.target_name)!r} rejected the Init request")
        try:
            self.charset = charneg.negotiated_charset(response.get("otherInfo"))
        except PduError as error:
            raise Z3950Error(f"undecodable character-set negotiation: {error}") from error
        log.debug("initialized with %s, charset %s", self.target_name, self.charset)
        agreed = self.charset.charset if self.charset else None
        if agreed and readable_encoding(agreed) is None:
            log.warning('%s:%d agreed to the character set "%s", not one Koprik reads (a text '
                        "encoding in which ASCII is ASCII): its strings are read as UTF-8, and "
                        "its records as without an agreement",
                        self.host, self.port, quoted(agreed))  # fmt: skip

    async def search(self, query: str | Query, result_set: str = "default") -> int:
        """Search the database with PQF text or a query model; return the number of hits.

        Raises :class:`protocols.z3950.pqf.PqfError` for bad PQF and :class:`Z3950Diagnostic`
        when the target refuses the search.
        """
        model = parse_pqf(query) if isinstance(query, str) else query
        request = {
            "smallSetUpperBound": 0,
            "largeSetLowerBound": 1,
            "mediumSetPresentNumber": 0,
            "replaceIndicator": True,
            "resultSetName": result_set,
            "databaseNames": [self.database],
            "query": ("type-1", self._in_agreed_set(lambda encoding: rpn_to_pdu(model, encoding))),
        }
        response = await self._request("searchRequest", request, "searchResponse")
        _raise_records_diagnostic(response.get("records"))
        if not response["searchStatus"]:
            raise Z3950Diagnostic(bib1.UNSPECIFIED_ERROR, "search failed without a diagnostic")
        hits = int(response["resultCount"])
        if hits < 0:  # (an INTEGER on the wire: nothing else stops one)
            raise Z3950Error(f"the target answered the search with a negative hit count ({hits})")
        self.result_sets[result_set] = hits
        return hits

    async def present(
        self,
        start: int = 1,
        count: int = 10,
        syntax: str = "usmarc",
        element_set: str | None = "F",
        result_set: str = "default",
    ) -> list[RetrievedRecord]:
        """Retrieve records ``start`` .. ``start + count - 1`` (1-based) of a result set.

        ``syntax`` is a record-syntax name (usmarc, xml, sutrs, opac, unimarc) or OID;
        ``element_set`` None sends no record composition (the target's default).
        Raises :class:`Z3950Diagnostic` for a non-surrogate diagnostic (e.g. 13, out of range);
        per-record diagnostics come back in :attr:`RetrievedRecord.diagnostic`. Fewer records
        than ``count`` may come back, but not none: an answer with no records and no diagnostic
        to ``count`` above 0 is a :class:`Z3950Error` (a caller asking for the rest would ask
        forever, one giving up would end as if the result set ended).
        """
        request: dict[str, Any] = {
            "resultSetId": result_set,
            "resultSetStartPoint": start,
            "numberOfRecordsRequested": count,
            "preferredRecordSyntax": oids.record_syntax_oid(syntax),
        }
        if element_set is not None:
            request["recordComposition"] = ("simple", ("genericElementSetName", element_set))
        response = await self._request("presentRequest", request, "presentResponse")
        records = response.get("records")
        _raise_records_diagnostic(records)
        if records is None and response["presentStatus"] == 5:  # failure
            raise Z3950Diagnostic(bib1.UNSPECIFIED_ERROR, "present failed without diagnostic")
        sent = records[1] if records is not None else []
        if not sent and count > 0:
            raise Z3950Error(f"the target answered a Present of {count} records from {start} "
                             "with none and no diagnostic")
        if len(sent) > count:  # the first ``count`` are those asked for (YAZ's ZOOM takes them)
            if not self.surplus:  # once an association: koprik z3950 says the count at its end
                log.info("%s sent %d records more than the %d asked for; they are dropped "
                         "(and any more it sends)", self.target_name or self.host,
                         len(sent) - count, count)  # fmt: skip
            self.surplus += len(sent) - count
        return [self._retrieved(start + offset, named) for offset, named in enumerate(sent[:count])]

    async def scan(
        self, term: str | Term, count: int = 20, position: int = 1, step: int = 0
    ) -> list[ScanEntry]:
        """Scan the term list from ``term`` (PQF such as ``@attr 1=4 war`` or a
        :class:`Term`), asking for ``count`` entries with the start term at ``position``.

        Raises :class:`Z3950Diagnostic` when the target reports a failure.
        """
        if isinstance(term, str):
            parsed = parse_pqf(term)
            if not isinstance(parsed, Term):
                raise ValueError("a scan start point is a single term")
            term = parsed
        request = {
            "databaseNames": [self.database],
            "attributeSet": oids.BIB1_ATTRIBUTE_SET,
            "termListAndStartPoint": self._in_agreed_set(
                lambda encoding: attributes_plus_term(term, encoding)),
            "stepSize": step,
            "numberOfTermsRequested": count,
            "preferredPositionInResponse": position,
        }
        response = await self._request("scanRequest", request, "scanResponse")
        listed = response.get("entries", {})
        entries = [self._scan_entry(entry) for entry in listed.get("entries", [])]
        diagnostics = listed.get("nonsurrogateDiagnostics", [])
        if diagnostics and (not entries or response["scanStatus"] == 6):
            raise Z3950Diagnostic.from_pdu(diagnostics[0])
        if response["scanStatus"] == 6:
            raise Z3950Diagnostic(bib1.UNSPECIFIED_ERROR, "scan failed without a diagnostic")
        return [entry for entry in entries if entry is not None]

    async def close(self) -> None:
        """Send Close (reason: finished), wait briefly for the answer, drop the connection.
        Safe to call on an association the target has already ended."""
        if self._writer.is_closing():
            return
        try:
            async with asyncio.timeout(min(self.timeout, 5.0)):
                await self._request("close", {"closeReason": 0}, "close")
        except (Z3950Error, OSError, TimeoutError) as error:
            log.debug("closing %s: %s", self.target_name, error)
        finally:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError as error:
                log.debug("closing %s: %s", self.target_name, error)

    def _turn(self, name: str) -> contextlib.AbstractAsyncContextManager[None]:
        """The request's turn at the host under the politeness policy (Close goes at once)."""
        if self.politeness is None or name == "close":
            return contextlib.nullcontext()
        return host_turn(self.host, self.politeness.delay)

    async def _request(self, name: str, value: dict[str, Any], expected: str) -> dict[str, Any]:
        async with self._lock, self._turn(name), asyncio.timeout(self.timeout):
            if self._writer.is_closing():
                raise Z3950Closed("connection already closed")
            self._writer.write(encode_pdu(name, value))
            try:
                await self._writer.drain()
                data = await read_pdu(self._reader, MAX_PDU_BYTES, MAX_PDU_VALUES)
            except (IncompleteRead, ConnectionError) as error:
                self._writer.close()
                raise Z3950Closed(f"connection lost ({error})") from error
            except PduError as error:  # too large to read: the rest of the stream is lost
                self._writer.close()
                if _too_large(name, error):
                    raise Z3950TooLarge(name, error) from error
                raise Z3950Error(f"unreadable answer to {name}: {error}") from error
            try:
                answer, content = decode_pdu(data, MAX_PDU_VALUES, self._agreed_encoding())
            except PduError as error:
                if _too_large(name, error):  # (its association too: one rule for callers)
                    self._writer.close()
                    raise Z3950TooLarge(name, error) from error
                if data.startswith(b"HTTP/"):  # (the codec's words said nothing of it)
                    raise Z3950Error(f"the target answered {name} in HTTP, not in Z39.50: is "
                                     "the address a web server's?") from error
                raise Z3950Error(f"undecodable answer to {name}: {error}") from error
        if answer == "close" and expected != "close":
            self._writer.close()
            raise Z3950Closed(close_reason(content))
        if answer != expected:
            raise Z3950Error(f"expected {expected}, target sent {answer}")
        return content

    def _retrieved(self, position: int, named: dict[str, Any]) -> RetrievedRecord:
        database = named.get("name")
        kind, content = named["record"]
        if kind == "surrogateDiagnostic":
            diagnostic = Z3950Diagnostic.from_pdu(content)
            return RetrievedRecord(position, database, "", b"", diagnostic=diagnostic)
        if kind != "retrievalRecord":
            raise Z3950Error(f"segmented records ({kind}) are not supported")
        syntax = content.get("direct-reference", "")
        try:
            payload = decode_external(content, self._record_encoding())
        except PduError as error:
            return RetrievedRecord(position, database, syntax, b"",
                                   unreadable=f"undecodable {syntax} record: {error}")  # fmt: skip
        if syntax == oids.OPAC:
            return self._opac_record(position, database, payload)
        if isinstance(payload, str):  # SUTRS
            return RetrievedRecord(position, database, syntax, payload.encode("utf-8"), payload)
        data = payload if isinstance(payload, bytes) else bytes(payload[0])
        text = self._record_text(data) if syntax in (oids.XML, oids.APPLICATION_XML) else None
        return RetrievedRecord(position, database, syntax, data, text)

    def _opac_record(
        self, position: int, database: str | None, opac: dict[str, Any]
    ) -> RetrievedRecord:
        bibliographic = opac.get("bibliographicRecord")
        data, bibliographic_syntax = b"", None
        if bibliographic is not None:
            bibliographic_syntax = bibliographic.get("direct-reference")
            try:
                content = decode_external(bibliographic, self._record_encoding())
            except PduError as error:
                why = f"undecodable bibliographic record of an OPAC record: {error}"
                return RetrievedRecord(position, database, oids.OPAC, b"", unreadable=why)
            data = content if isinstance(content, bytes) else b""
        holdings = [
            value for kind, value in opac.get("holdingsData", []) if kind == "holdingsAndCirc"
        ]
        return RetrievedRecord(
            position,
            database,
            oids.OPAC,
            data,
            bibliographic_syntax=bibliographic_syntax,
            holdings=holdings,
        )

    def _in_agreed_set(self, build: Callable[[str], T]) -> T:
        """``build(encoding)`` (a query or a scan's start term, its terms in the set agreed);
        a term that set cannot carry is a :class:`Z3950Error`, which every caller says in one
        line, not sent mangled."""
        try:
            return build(self._agreed_encoding())
        except UnicodeEncodeError as error:
            agreed = self.charset.charset if self.charset else "UTF-8"
            raise Z3950Error(
                f"the term {error.object!r} has {error.object[error.start]!r}, which the "
                f"character set agreed with the target ({agreed}) lacks") from None

    def _agreed_encoding(self) -> str:
        """The encoding of query and scan terms (a Scan answer's: :func:`_scan_term_text`), and
        of the target's InternationalStrings (display terms, addinfo, a Close's reason): the
        character set agreed in Init (a target that agreed to one reads terms in it: Zebra
        found 0 hits for ``hsüan`` sent in UTF-8 under ISO 8859-1, 2 in ISO 8859-1; and its
        Scan answer's display terms are in it), else, or when strings cannot be read in it
        (:func:`readable_encoding`), UTF-8."""
        agreed = self.charset.charset if self.charset else None
        return (readable_encoding(agreed) if agreed else None) or "utf-8"

    @property
    def records_charset(self) -> str | None:
        """The character set agreed for records too (None: none): only when the target says
        its records are in it (recordsInSelectedCharSets); one that does not say sends them as
        it would without an agreement, as YAZ reads it (and YAZ targets always say). A set
        Koprik cannot read strings in (:func:`readable_encoding`; :meth:`connect` says so) is
        none either: its records are read as without an agreement, as YAZ goes on."""
        agreed = self.charset
        if agreed is None or not agreed.records or agreed.charset is None:
            return None
        return agreed.charset if readable_encoding(agreed.charset) is not None else None

    def _record_encoding(self) -> str:
        """The encoding of the records' text (XML, SUTRS, OPAC holdings): that of the
        character set agreed for records (:attr:`records_charset`), else UTF-8."""
        agreed = self.records_charset
        return (readable_encoding(agreed) if agreed else None) or "utf-8"

    def _record_text(self, data: bytes) -> str | None:
        try:
            return data.decode(self._record_encoding())
        except UnicodeDecodeError:
            return None

    def _scan_entry(self, entry: tuple[str, Any]) -> ScanEntry | None:
        kind, value = entry
        if kind != "termInfo":
            return None
        term_kind, term = value["term"]
        if term_kind == "general":
            text = _scan_term_text(bytes(term), self._agreed_encoding())
        else:
            text = str(term)
        return ScanEntry(text, value.get("globalOccurrences"), value.get("displayTerm"))


def _scan_term_text(term: bytes, agreed: str) -> str:
    """A Scan answer's term as text: an OCTET STRING in the target's own form, which YAZ
    leaves as it came (yaz-client shows the display term, and scans on from the term's bytes).
    Zebra 2.2 sends its ICU indexes' terms there in UTF-8 whatever the set agreed (its display
    terms in the set), and converts its other indexes' into the set (idzebra's untrans.c):
    valid UTF-8 is read so, anything else in ``agreed`` (bytes not in it as U+FFFD)."""
    try:
        return term.decode("utf-8")
    except UnicodeDecodeError:
        return term.decode(agreed, errors="replace")


_ASCII = "".join(map(chr, range(128)))


def readable_encoding(charset: str) -> str | None:
    """The Python codec of ``charset`` if a target's strings can be read in it: a text
    encoding in which ASCII is ASCII both ways, as :func:`protocols.z3950.codec.decode_pdu`
    wants (the names of CHOICE alternatives, OIDs and ASCII strings are left as they are read);
    None for a set without a codec, a codec that is not a text encoding (``base64``, ``zlib``,
    ``rot13``: a target may select any name), or one that is not ASCII-compatible
    (``UTF-16``: ``abcü`` was read as ``扡썣``)."""
    try:
        name = codecs.lookup(charset).name
        if _ASCII.encode(name) == _ASCII.encode("ascii") and _ASCII.encode().decode(name) == _ASCII:
            return name
    except (LookupError, UnicodeError):  # (LookupError: not a text encoding)
        pass
    return None


MOST_TOO_LARGE_IN_A_ROW = 10
"""Records in a row each too large alone (:func:`present_in_halves`) after which a Present is
given up: each costs a new association (connect, Init, Search) and the Presents halving down to
it, so a target whose every answer is too large cost 2N - 1 of them for N records."""


async def present_in_halves(
    present: Callable[[int, int], Awaitable[list[RetrievedRecord]]], start: int, count: int
) -> list[RetrievedRecord]:
    """``present(start, count)``, its range presented again in halves while the answer is
    too large to read (:class:`Z3950TooLarge`: large records, a target ignoring the message
    size proposed, many holdings), down to one record; a record too large alone comes back
    ``unreadable`` (that record's fault, as an undecodable one) and the others are read, up to
    :data:`MOST_TOO_LARGE_IN_A_ROW` such records in a row (then a :class:`Z3950Error`).

    ``present`` must present on an open association, opening a new one when the too-large
    answer closed the last. Returns the records from ``start`` on, fewer than ``count`` when
    the target sent fewer (the caller asks for the rest, as after any short Present), never
    none when ``present`` never returns none (:meth:`Z3950Client.present`).
    """
    in_a_row = 0

    async def halves(start: int, count: int) -> list[RetrievedRecord]:
        nonlocal in_a_row
        try:
            records = await present(start, count)
        except Z3950TooLarge as error:
            if count == 1:
                return [too_large_alone(start, error.size)]
        else:
            if records:
                in_a_row = 0
            return records
        half = count // 2
        first = await halves(start, half)
        if len(first) < half:
            return first
        return first + await halves(start + half, count - half)

    def too_large_alone(position: int, size: str) -> RetrievedRecord:
        nonlocal in_a_row
        in_a_row += 1
        if in_a_row == MOST_TOO_LARGE_IN_A_ROW:
            raise Z3950Error(
                f"records {position - in_a_row + 1} to {position}: each presented alone, its "
                f"answer is {size}; given up after {in_a_row} in a row")
        return RetrievedRecord(position, None, "", b"",
                               unreadable=f"presented alone, its answer is {size}")

    return await halves(start, count)


def _too_large(request: str, error: PduError) -> bool:
    """Whether ``error`` reading the answer to ``request`` is a Present's answer too large to
    read, which the same records presented fewer at a time may not be
    (:func:`present_in_halves`)."""
    return request == "presentRequest" and isinstance(error, PduTooLarge | PduTooComplex)


def _raise_records_diagnostic(records: tuple[str, Any] | None) -> None:
    if records is None:
        return
    kind, value = records
    if kind == "nonSurrogateDiagnostic":
        raise Z3950Diagnostic.from_pdu(value)
    if kind == "multipleNonSurDiagnostics" and value:
        raise Z3950Diagnostic.from_pdu(value[0])
