"""One Z39.50 association: its negotiated state, its result sets, and an answer to each PDU.

:meth:`Session.handle` takes a decoded request PDU and returns the response PDUs and whether
the association ends. Refusals become Bib-1 diagnostics inside the response (never a dropped
connection); a PDU that has no place in a target's conversation (a response, a request before
Init) ends the association with a Close (protocolError). An Init on an initialised association
starts it anew, without its result sets, as YAZ's generic frontend server does (it closes its
back end and opens another).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Connection

from catalog.query import ScanEntry, StoredRecord
from config import ServerSettings
from protocols.shown import clipped
from protocols.z3950 import bib1, oids
from protocols.z3950.bib1 import Bib1Error
from protocols.z3950.charset import proposed_charsets, response_other_info
from protocols.z3950.codec import OPTION_BITS, PduError, bit_string, set_bits
from protocols.z3950.pqf import rpn_from_pdu, term_from_pdu
from provider.search import NamedSets, ResultSet
from provider.z3950.backend import FIRST_PAGE, Backend, Fetched, rendered
from provider.z3950.records import request_of

Pdu = tuple[str, dict[str, Any]]

IMPLEMENTATION = {"implementationId": "Koprik", "implementationName": "Koprik Z39.50 target",
                  "implementationVersion": "1"}  # fmt: skip
SUPPORTED_OPTIONS = frozenset(
    OPTION_BITS[name]
    for name in ("search", "present", "delSet", "scan", "sort", "namedResultSets",
                 "negotiationModel")
)  # fmt: skip
MIN_MESSAGE_SIZE = 4096
MAX_PRESENT = 1000
"""Most records one Present (or piggybacked Search) returns; fewer than asked for because of it
is presentStatus partial-4 (the target ended the request: resource control)."""

CLOSE_FINISHED, CLOSE_SHUTDOWN, CLOSE_SYSTEM_PROBLEM, CLOSE_PROTOCOL_ERROR = 0, 1, 2, 6
CLOSE_RESOURCES, CLOSE_LACK_OF_ACTIVITY = 4, 7
PRESENT_SUCCESS, PRESENT_PARTIAL_MESSAGE_SIZE, PRESENT_PARTIAL_RESOURCES = 0, 2, 4
PRESENT_FAILURE = 5
SCAN_SUCCESS, SCAN_PARTIAL_END_OF_LIST, SCAN_FAILURE = 0, 5, 6
"""Scan statuses; partial-5: fewer terms than asked for, the index's list having run out before
(or after) the start term, as YAZ's server says it."""
MAX_RESULT_SET_NAME_CHARS = 100
"""Longest result set name a client may give (in Search, Present, Sort and a query's ``@set``);
a longer one is refused with Bib-1 128, illegal result set name, its addinfo this bound. Names
are identifiers ("default", "1", yaz-client's and ZOOM's); unbounded, a session kept
``z3950_max_result_sets`` names of up to ``z3950_max_pdu_bytes`` each (32 MB a session)."""
SORT_SUCCESS, SORT_FAILURE = 0, 2
SORTED_SET_UNCHANGED, SORTED_SET_NONE = 3, 4
"""A failed Sort's resultSetStatus: what the output set is now (a set of that name kept as it
was, or none)."""
DELETE_SUCCESS, DELETE_NO_SUCH_SET, DELETE_NOT_ALL = 0, 1, 9
RESULT_SET_NONE = 3


def diag_rec(error: Bib1Error) -> dict[str, Any]:
    """The DefaultDiagFormat of a Bib-1 diagnostic (addinfo as yaz sends it, v2 form); an
    addinfo quoting the client (a sort field, a term) is cut to a bound (:func:`clipped`)."""
    return {
        "diagnosticSetId": oids.BIB1_DIAGNOSTIC_SET,
        "condition": error.code,
        "addinfo": ("v2Addinfo", clipped(error.addinfo)),
    }


def close_pdu(reason: int, text: str = "") -> Pdu:
    value: dict[str, Any] = {"closeReason": reason}
    if text:
        value["diagnosticInformation"] = text
    return "close", value


@dataclass(frozen=True)
class FirstPage:
    """The stored records of positions 1..``covered`` of ``results``, read right after the
    search in the same database job; an id missing from ``records`` was not found.

    A Present inside this page that sends the stored MARC verbatim (USMARC, F, UTF-8) is
    answered from memory, without a trip to a database thread: bounded work (at most
    ``FIRST_PAGE`` ready records) that the event loop can do. It gives the records as they were
    at search time; a Present elsewhere reads them anew (a record deleted since is then 1028).
    """

    results: ResultSet
    covered: int
    records: dict[int, StoredRecord]


@dataclass
class Session:
    """The state of one association.

    All the database work of one request is one job on the backend's database threads; a
    session has at most one request in progress, so its state is never touched by two threads
    at once.
    """

    backend: Backend
    settings: ServerSettings
    initialized: bool = False
    utf8: bool = False
    preferred_message_size: int = 1024 * 1024
    exceptional_record_size: int = 1024 * 1024
    sets: NamedSets = field(init=False)
    """At most ``z3950_max_result_sets``; a new one evicts the least recently used."""
    first_page: FirstPage | None = None
    """Of the latest search only, so a session holds at most one page of records."""

    def __post_init__(self) -> None:
        self.sets = NamedSets(self.settings.z3950_max_result_sets)

    async def handle(self, name: str, value: dict[str, Any]) -> tuple[list[Pdu], bool]:
        """The responses to one request PDU and whether the association is over."""
        if name == "close":
            return [close_pdu(CLOSE_FINISHED)], True
        if name == "initRequest":
            if self.initialized:
                self._forget()
            return [self._init(value)], False
        handler = self._handlers().get(name)
        if handler is None or not self.initialized:
            return [close_pdu(CLOSE_PROTOCOL_ERROR, f"unexpected {name}")], True
        response = await handler(value)
        reference = value.get("referenceId")
        if reference is not None:
            response[1]["referenceId"] = reference
        return [response], False

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "searchRequest": self._search,
            "presentRequest": self._present,
            "scanRequest": self._scan,
            "sortRequest": self._sort,
            "deleteResultSetRequest": self._delete,
        }

    # -- Init --------------------------------------------------------------------------------

    def _forget(self) -> None:
        """Drop what the association negotiated and found, for an Init that starts it anew."""
        self.utf8 = False
        self.sets.clear()
        self.first_page = None

    def _init(self, request: dict[str, Any]) -> Pdu:
        self.initialized = True
        limit = self.settings.z3950_max_pdu_bytes
        self.preferred_message_size = _clamp(request["preferredMessageSize"], limit)
        self.exceptional_record_size = max(
            self.preferred_message_size, _clamp(request["exceptionalRecordSize"], limit)
        )
        # Version 1 is taken as version 2 (the standard's 1.2, note 2), as YAZ's GFS takes it.
        versions = set_bits(request["protocolVersion"]) & {0, 1, 2}
        options = set_bits(request["options"]) & SUPPORTED_OPTIONS
        response: dict[str, Any] = {
            "protocolVersion": bit_string(versions or {1}),
            "options": bit_string(options),
            "preferredMessageSize": self.preferred_message_size,
            "exceptionalRecordSize": self.exceptional_record_size,
            "result": True,
            **IMPLEMENTATION,
        }
        if "referenceId" in request:
            response["referenceId"] = request["referenceId"]
        try:
            proposed, _records = proposed_charsets(request.get("otherInfo"))
        except PduError:
            proposed = []
        if proposed:
            self.utf8 = any(name.upper() in ("UTF-8", "UTF8") for name in proposed)
            response["otherInfo"] = response_other_info("UTF-8" if self.utf8 else None, self.utf8)
        return "initResponse", response

    # -- Search ------------------------------------------------------------------------------

    async def _search(self, request: dict[str, Any]) -> Pdu:
        name = request["resultSetName"]
        failed = {"resultCount": 0, "numberOfRecordsReturned": 0, "nextResultSetPosition": 0,
                  "searchStatus": False, "resultSetStatus": RESULT_SET_NONE}  # fmt: skip
        replacing = False
        try:
            _check_name(name)
            self._check_databases(request["databaseNames"])
            self._check_new_set(name, request["replaceIndicator"])
            replacing = True
            rpn = _rpn_of(request["query"])
            page, records = await self.backend.run(partial(self._search_job, rpn, request))
        except Bib1Error as error:
            if replacing:  # a refused search (21: the set exists) leaves the set as it was
                self.sets.pop(name)
            return "searchResponse", {**failed, "records": ("nonSurrogateDiagnostic",
                                                            diag_rec(error))}  # fmt: skip
        stored = page.results
        self.sets.put(name, stored)
        self.first_page = page
        response: dict[str, Any] = {
            "resultCount": stored.count,
            "numberOfRecordsReturned": 0,
            "nextResultSetPosition": 1,
            "searchStatus": True,
        }
        if records is not None:
            response.update(records)
        return "searchResponse", response

    def _search_job(
        self, rpn: Any, request: dict[str, Any], connection: Connection
    ) -> tuple[FirstPage, dict[str, Any] | None]:
        """The result set of a search with its first page, and its piggybacked records (if any)
        as response fields (runs on a database thread)."""
        stored = self.backend.search(connection, rpn, partial(self._set_ids, connection))
        first = stored.ids[:FIRST_PAGE].tolist() if self.utf8 else []  # verbatim needs UTF-8
        page = FirstPage(
            stored, len(first), self.backend.stored(connection, first) if first else {}
        )
        piggyback = _piggyback_size(request, stored.count)
        if not piggyback:
            return page, None
        names = request.get(
            "smallSetElementSetNames" if stored.count <= request["smallSetUpperBound"]
            else "mediumSetElementSetNames"
        )  # fmt: skip
        syntax = request.get("preferredRecordSyntax")
        try:
            records = self._records(
                connection, stored, 1, piggyback, syntax, _element_set_name(names)
            )
        except Bib1Error as error:
            records = {"presentStatus": PRESENT_FAILURE,
                       "records": ("nonSurrogateDiagnostic", diag_rec(error))}  # fmt: skip
        return page, records

    def _check_databases(self, names: Sequence[str]) -> None:
        known = {"default", self.settings.z3950_database.lower()}
        for database in names:
            if database.lower() not in known:
                raise Bib1Error(bib1.DATABASE_DOES_NOT_EXIST, database)
        if not names:
            raise Bib1Error(bib1.DATABASE_DOES_NOT_EXIST, "")

    def _check_new_set(self, name: str, replace: bool) -> None:
        """21 when set ``name`` exists and may not be replaced (a new set beyond the limit
        evicts the least recently used one: see :class:`NamedSets`)."""
        if name in self.sets and not replace:
            raise Bib1Error(21, name)

    def _set_ids(self, connection: Connection, name: str) -> list[int]:
        """Every id of set ``name`` (runs on the database thread of the search using it)."""
        _check_name(name)
        stored = self.sets.get(name)
        if stored is None:
            raise Bib1Error(bib1.RESULT_SET_DOES_NOT_EXIST, name)
        return self.backend.all_ids(connection, stored)

    # -- Present -----------------------------------------------------------------------------

    async def _present(self, request: dict[str, Any]) -> Pdu:
        failed = {"numberOfRecordsReturned": 0, "nextResultSetPosition": 0,
                  "presentStatus": PRESENT_FAILURE}  # fmt: skip
        composition = request.get("recordComposition")
        try:
            if request.get("additionalRanges"):
                raise Bib1Error(bib1.ADDITIONAL_RANGES_NOT_SUPPORTED)
            if composition is not None and composition[0] != "simple":
                raise Bib1Error(244)
            element_set = _element_set_name(composition[1] if composition else None)
            name = request["resultSetId"]
            _check_name(name)
            stored = self.sets.get(name)
            if stored is None:
                raise Bib1Error(bib1.RESULT_SET_DOES_NOT_EXIST, name)
            start = request["resultSetStartPoint"]
            number = request["numberOfRecordsRequested"]
            syntax = request.get("preferredRecordSyntax")
            response = self._records_in_memory(stored, start, number, syntax, element_set)
            if response is None:
                job = partial(
                    self._records, stored=stored, start=start, number=number, syntax=syntax,
                    element_set=element_set,
                )  # fmt: skip
                response = await self.backend.run(job)
        except Bib1Error as error:
            return "presentResponse", {**failed, "records": ("nonSurrogateDiagnostic",
                                                             diag_rec(error))}  # fmt: skip
        return "presentResponse", response

    def _records(
        self,
        connection: Connection,
        stored: ResultSet,
        start: int,
        number: int,
        syntax: str | None,
        element_set: str | None,
    ) -> dict[str, Any]:
        """Records ``start``.. of ``stored`` as response fields (Present and piggybacking; runs
        on a database thread).

        Positions past the end of the set (from a ``start`` within it) are each a surrogate
        diagnostic 13 after the records there are, its addinfo the position: one of the two
        answers the ZIG's clarification of 1996 on Present out of range allows (since
        Z39.50-1995), the other being one non-surrogate 13 in place of every record, as Zebra
        answers, which would leave a client asking ``show 1+20`` of three hits with none.
        Returning only the records there are, with present status success, said that every
        record asked for came back. A ``start`` past the end is non-surrogate 13 either way.
        nextResultSetPosition is then the position after the set's last record, as for a
        Present that ends on it (start + entries named a position the set does not reach).
        """
        if number < 0:
            raise Bib1Error(bib1.PRESENT_OUT_OF_RANGE, f"{start}+{number}")
        request = request_of(syntax, element_set, self.utf8)
        returned = min(number, MAX_PRESENT)
        wanted = self.backend.window(connection, stored, start, returned)
        fetched = self.backend.fetch(connection, wanted, request)
        past = range(start + len(wanted), start + returned)
        fetched += [Fetched(None, Bib1Error(bib1.PRESENT_OUT_OF_RANGE, str(p)), 64) for p in past]
        return self._response_records(
            start, fetched, number > MAX_PRESENT, past.start if past else None
        )

    def _records_in_memory(
        self, stored: ResultSet, start: int, number: int, syntax: str | None,
        element_set: str | None,
    ) -> dict[str, Any] | None:  # fmt: skip
        """Like :meth:`_records` when the records are all in the latest search's first page and
        go out verbatim (no database, no parsing: bounded work the loop can do); else None."""
        page = self.first_page
        returned = min(number, MAX_PRESENT)
        if (
            page is None
            or page.results is not stored
            or not 1 <= start <= start + returned - 1 <= page.covered
        ):
            return None
        request = request_of(syntax, element_set, self.utf8)
        if not request.verbatim:
            return None
        wanted = stored.ids[start - 1 : start - 1 + returned].tolist()
        fetched = rendered(wanted, page.records, request)
        return self._response_records(start, fetched, number > MAX_PRESENT)

    def _response_records(
        self, start: int, fetched: list[Fetched], cut: bool, end: int | None = None
    ) -> dict[str, Any]:
        """The response fields of the records ``fetched`` from position ``start``; ``cut``:
        fewer were fetched than asked for, at :data:`MAX_PRESENT`; ``end``: the position after
        the set's last record, when ``fetched`` goes past it."""
        records, status = self._fit(fetched)
        if cut and status == PRESENT_SUCCESS:
            status = PRESENT_PARTIAL_RESOURCES
        following = start + len(records)
        return {
            "numberOfRecordsReturned": len(records),
            "nextResultSetPosition": following if end is None else min(following, end),
            "presentStatus": status,
            "records": ("responseRecords", records),
        }

    def _fit(self, fetched: list[Fetched]) -> tuple[list[dict[str, Any]], int]:
        """The records that fit the preferred message size (the first one may be larger, up to
        the exceptional record size, else it is a diagnostic 16/17)."""
        database = self.settings.z3950_database
        records: list[dict[str, Any]] = []
        total = 0
        for item in fetched:
            record, diagnostic, size = item.record, item.diagnostic, item.size
            limit = self.exceptional_record_size if not records else self.preferred_message_size
            if record is not None and total + size > limit:
                if records:
                    return records, PRESENT_PARTIAL_MESSAGE_SIZE
                code = 17 if size > self.exceptional_record_size else 16
                record, diagnostic = None, Bib1Error(code, str(size))
            total += size
            if record is not None:
                records.append({"name": database, "record": ("retrievalRecord", record)})
            elif diagnostic is not None:
                surrogate = ("surrogateDiagnostic", ("defaultFormat", diag_rec(diagnostic)))
                records.append({"name": database, "record": surrogate})
        return records, PRESENT_SUCCESS

    # -- Scan --------------------------------------------------------------------------------

    async def _scan(self, request: dict[str, Any]) -> Pdu:
        number = request["numberOfTermsRequested"]
        position = request.get("preferredPositionInResponse", 1)
        try:
            self._check_databases(request["databaseNames"])
            attribute_set = request.get("attributeSet", oids.BIB1_ATTRIBUTE_SET)
            if attribute_set != oids.BIB1_ATTRIBUTE_SET:
                raise Bib1Error(bib1.UNSUPPORTED_ATTRIBUTE_SET, attribute_set)
            if request.get("stepSize", 0) != 0:
                raise Bib1Error(205, str(request["stepSize"]))
            start = term_from_pdu(request["termListAndStartPoint"])
            page = await self.backend.run(
                partial(self.backend.scan, start=start, count=number, position=position)
            )
        except Bib1Error as error:
            return "scanResponse", {
                "scanStatus": SCAN_FAILURE,
                "numberOfEntriesReturned": 0,
                "entries": {"nonsurrogateDiagnostics": [("defaultFormat", diag_rec(error))]},
            }
        entries = [("termInfo", _term_info(entry)) for entry in page.entries]
        return "scanResponse", {
            "stepSize": 0,
            "scanStatus": SCAN_SUCCESS if len(entries) >= number else SCAN_PARTIAL_END_OF_LIST,
            "numberOfEntriesReturned": len(entries),
            "positionOfTerm": page.position,
            "entries": {"entries": entries},
        }

    # -- Sort --------------------------------------------------------------------------------

    async def _sort(self, request: dict[str, Any]) -> Pdu:
        inputs = request["inputResultSetNames"]
        output = request["sortedResultSetName"]
        try:
            if len(inputs) != 1:
                raise Bib1Error(230, str(len(inputs)))
            _check_name(inputs[0])
            _check_name(output)
            stored = self.sets.get(inputs[0])
            if stored is None:
                raise Bib1Error(bib1.RESULT_SET_DOES_NOT_EXIST, inputs[0])
            if output != inputs[0]:
                self._check_new_set(output, True)
            if not request["sortSequence"]:
                raise Bib1Error(207, "no sort keys")  # cannot sort according to sequence
            keys = [_sort_key(spec) for spec in request["sortSequence"]]
            ordered = await self.backend.run(
                partial(self.backend.sort, results=stored, keys=keys)
            )
        except Bib1Error as error:
            diagnostics = [("defaultFormat", diag_rec(error))]
            kept = output in self.sets  # (a name over the bound is never kept)
            return "sortResponse", {
                "sortStatus": SORT_FAILURE, "diagnostics": diagnostics,
                "resultSetStatus": SORTED_SET_UNCHANGED if kept else SORTED_SET_NONE}
        self.sets.put(output, ordered)
        return "sortResponse", {"sortStatus": SORT_SUCCESS, "resultCount": stored.count}

    # -- Delete result sets ------------------------------------------------------------------

    async def _delete(self, request: dict[str, Any]) -> Pdu:
        if request["deleteFunction"] == 1:
            self.sets.clear()
            return "deleteResultSetResponse", {"deleteOperationStatus": DELETE_SUCCESS}
        statuses = []
        for name in request.get("resultSetList", []):
            found = self.sets.pop(name) is not None
            statuses.append({"id": name, "status": DELETE_SUCCESS if found else DELETE_NO_SUCH_SET})
        overall = DELETE_SUCCESS
        if any(s["status"] != DELETE_SUCCESS for s in statuses):
            overall = DELETE_NOT_ALL
        return "deleteResultSetResponse", {"deleteOperationStatus": overall,
                                           "deleteListStatuses": statuses}  # fmt: skip


def _check_name(name: str) -> None:
    """128 for a result set name longer than :data:`MAX_RESULT_SET_NAME_CHARS`."""
    if len(name) > MAX_RESULT_SET_NAME_CHARS:
        raise Bib1Error(bib1.ILLEGAL_RESULT_SET_NAME, str(MAX_RESULT_SET_NAME_CHARS))


def _term_info(entry: ScanEntry) -> dict[str, Any]:
    """A scan entry: the index key as the term (what a search finds it by), with the form it
    was catalogued in as the displayTerm when there is one."""
    info: dict[str, Any] = {"term": ("general", entry.term.encode("utf-8")),
                            "globalOccurrences": entry.count}  # fmt: skip
    if entry.display:
        info["displayTerm"] = entry.display
    return info


def _clamp(requested: int, limit: int) -> int:
    return max(MIN_MESSAGE_SIZE, min(requested, limit))


def _rpn_of(query: tuple[str, Any]) -> Any:
    kind, value = query
    if kind not in ("type-1", "type-101"):
        raise Bib1Error(bib1.QUERY_TYPE_NOT_SUPPORTED, kind)
    return rpn_from_pdu(value)  # raises UnsupportedQuery, a Bib1Error


def _element_set_name(names: tuple[str, Any] | None) -> str | None:
    if names is None:
        return None
    kind, value = names
    if kind == "genericElementSetName":
        return value
    return value[0]["esn"] if value else None


def _piggyback_size(request: dict[str, Any], count: int) -> int:
    """How many records a Search response carries (small-set and medium-set rules)."""
    if count == 0:
        return 0
    if count <= request["smallSetUpperBound"]:
        return count
    if count < request["largeSetLowerBound"]:
        return min(count, request["mediumSetPresentNumber"])
    return 0


def _sort_key(spec: dict[str, Any]) -> tuple[dict[int, int] | str, bool]:
    relation = spec["sortRelation"]
    if relation not in (0, 1):
        raise Bib1Error(214, str(relation))
    kind, element = spec["sortElement"]
    if kind != "generic":
        raise Bib1Error(210)
    key_kind, key = element
    if key_kind == "sortfield":
        return key, relation == 1
    if key_kind != "sortAttributes":
        raise Bib1Error(207, key_kind)
    if key["id"] != oids.BIB1_ATTRIBUTE_SET:
        raise Bib1Error(bib1.UNSUPPORTED_ATTRIBUTE_SET, key["id"])
    attributes: dict[int, int] = {}
    for item in key["list"]:
        value_kind, value = item["attributeValue"]
        if value_kind != "numeric":
            raise Bib1Error(246, str(item["attributeType"]))
        attributes[item["attributeType"]] = value
    return attributes, relation == 1
