"""The SRU front end over the search service: explain, searchRetrieve and scan.

:meth:`SruFrontEnd.answer` takes a request's parameters and returns the response document.
Every refusal is an SRU diagnostic in a document of the request's version and operation, and
even an unexpected failure is diagnostic 1 (logged): the HTTP status is always 200. All the
database work of a request, and the writing of its document, is one job on the service's
database threads, off the event loop.

Result sets live in :class:`SharedSets`: a searchRetrieve returns a ``resultSetId`` that any
later request can page through with ``query=cql.resultSetId="id"`` until it has been idle for
``search.sru_result_set_ttl`` seconds.

>>> front = SruFrontEnd(service, settings)
>>> body = await front.answer([("query", "dc.creator=navoiy")], host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from sqlalchemy import Connection

from catalog.query import StoredRecord
from config import Settings
from protocols.cql import CqlSyntaxError, CqlTooComplex, SearchClause, parse
from protocols.cql import Query as CqlQuery
from provider.search import Condition, ResultSet, SearchError, SearchService, SharedSets
from provider.sru import responses
from provider.sru.cql_query import index_of, sort_keys_of, translate
from provider.sru.explain import explain_record
from provider.sru.request import (
    EXPLAIN,
    SCAN,
    Explain,
    Scan,
    SearchRetrieve,
    operation_of,
    parameters,
    request_of,
    version_of,
)

log = logging.getLogger(__name__)

SHARED_IDS = 5_000_000
"""Most record ids kept in SRU result sets at once across all clients (40 MB); beyond it the
least recently used sets go first."""
_PHRASE_RELATIONS = {"exact", "==", "adj"}


class SruFrontEnd:
    """SRU 1.1, 1.2 and 2.0 over ``service``; ``database`` is the path explain names."""

    def __init__(self, service: SearchService, settings: Settings, database: str = "sru") -> None:
        self.service = service
        self.settings = settings
        self.database = database
        limits = settings.search
        self.sets = SharedSets(limits.sru_result_set_ttl, limits.sru_max_result_sets, SHARED_IDS)

    async def answer(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        host: str,
        port: int,
        refusal: tuple[Condition, str] | None = None,
    ) -> bytes:
        """The response document to the request with parameters ``pairs`` (or, when the
        transport already refused it, the document carrying ``refusal``)."""
        params = dict(pairs)
        try:
            if refusal is not None:
                raise SearchError(*refusal)
            params = parameters(pairs)
            request = request_of(params, self.settings.search)
            if isinstance(request, Explain):
                record = explain_record(self.settings, request.version, host, port, self.database)
                return responses.explain(request.version, request.packing, record)
            if isinstance(request, Scan):
                return await self.service.threads.run(partial(self._scan, request))
            return await self.service.threads.run(partial(self._search, request))
        except SearchError as error:
            return self._refusal(params, error, host, port)
        except Exception:
            log.exception("sru: failed answering %r", params)
            problem = SearchError(Condition.SYSTEM_ERROR, "internal error")
            return self._refusal(params, problem, host, port)

    def _refusal(self, params: dict[str, str], error: SearchError, host: str, port: int) -> bytes:
        """A document of the request's version and operation carrying ``error`` (an explain
        response still carries the explain record, which its schema requires)."""
        version = version_of(params)
        operation = operation_of(params)
        if operation == SCAN:
            return responses.scan(version, [], [error])
        if operation == EXPLAIN:
            record = explain_record(self.settings, version, host, port, self.database)
            return responses.explain(version, "xml", record, [error])
        return responses.search_retrieve(version, count=0, diagnostics=[error])

    # -- searchRetrieve ------------------------------------------------------------------------

    def _search(self, request: SearchRetrieve, connection: Connection) -> bytes:
        query = _parse(request.query)
        results, name = self._results(query, request, connection)
        version = request.version
        shared = (name, request.ttl) if name is not None else None
        if results.count == 0 or request.maximum == 0:
            return responses.search_retrieve(version, count=results.count, result_set=shared)
        try:
            ids = self.service.window(connection, results, request.start, request.maximum)
        except SearchError as error:
            return responses.search_retrieve(version, count=results.count, result_set=shared,
                                             diagnostics=[error])  # fmt: skip
        stored = self.service.records(connection, ids, request.schema.rendition)
        records = []
        for position, record_id in enumerate(ids, request.start):
            record = stored.get(record_id)
            data = record.rendition if record is not None else None
            records.append(responses.RecordOut(position, request.schema.identifier, data,
                                               _missing(record, record_id, request)))  # fmt: skip
        end = request.start + len(ids)
        more = end <= min(results.count, results.limit)
        return responses.search_retrieve(
            version, count=results.count, records=records, packing=request.packing,
            next_position=end if more else None, result_set=shared,
        )  # fmt: skip

    def _results(
        self, query: CqlQuery, request: SearchRetrieve, connection: Connection
    ) -> tuple[ResultSet, str | None]:
        """The result set of a searchRetrieve and its id (None: not kept, TTL 0). A query that
        only names an earlier set (``cql.resultSetId = id``) reads that set, keeping its id."""
        root = query.root
        if (
            isinstance(root, SearchClause)
            and root.index.lower() == "cql.resultsetid"
            and not query.sort
            and not request.sort_keys
        ):
            return self._shared(root.term), root.term
        model, keys = translate(query, partial(self._shared_ids, connection))
        keys += sort_keys_of(request.sort_keys)
        results = self.service.search(connection, model)
        if keys:
            results = self.service.sort(connection, results, keys)
        return results, self.sets.add(results) if request.ttl > 0 else None

    def _shared(self, name: str) -> ResultSet:
        results = self.sets.get(name)
        if results is None:
            raise SearchError(Condition.RESULT_SET_MISSING, name)
        return results

    def _shared_ids(self, connection: Connection, name: str) -> list[int]:
        return self.service.all_ids(connection, self._shared(name))

    # -- scan ----------------------------------------------------------------------------------

    def _scan(self, request: Scan, connection: Connection) -> bytes:
        clause = _parse(request.clause).root
        if not isinstance(clause, SearchClause):
            raise SearchError(Condition.MALFORMED_QUERY, "a scan clause is one index and term")
        index = index_of(clause.index, clause.prefixes)
        relation = clause.relation.name.lower()
        if relation not in {"=", "all", "any"} | _PHRASE_RELATIONS:
            raise SearchError(Condition.UNSUPPORTED_RELATION, clause.relation.name)
        if clause.relation.modifiers:
            raise SearchError(Condition.UNSUPPORTED_RELATION_MODIFIER,
                              clause.relation.modifiers[0].name)  # fmt: skip
        if request.position == 0:
            raise SearchError(Condition.SCAN_POSITION_OUT_OF_RANGE, "0")
        page = self.service.scan(
            connection, index, clause.term, phrase=relation in _PHRASE_RELATIONS,
            count=request.maximum, position=request.position,
        )  # fmt: skip
        return responses.scan(request.version, page.entries)


def _missing(
    record: StoredRecord | None, record_id: int, request: SearchRetrieve
) -> SearchError | None:
    """The surrogate diagnostic standing in for a record without the rendition asked for:
    65 when it was deleted since the search, 67 when it has no such rendition."""
    if record is not None and record.rendition is not None:
        return None
    if record is None or record.marc is None:
        name = record.local_id if record is not None else str(record_id)
        return SearchError(Condition.RECORD_DELETED, name)
    return SearchError(Condition.RECORD_NOT_IN_SCHEMA, f"{record.local_id}: {request.schema.name}")


def _parse(text: str) -> CqlQuery:
    try:
        return parse(text)
    except CqlTooComplex as error:
        raise SearchError(Condition.QUERY_TOO_COMPLEX, error.message) from error
    except CqlSyntaxError as error:
        raise SearchError(Condition.MALFORMED_QUERY,
                          f"position {error.position}: {error.message}") from error  # fmt: skip
