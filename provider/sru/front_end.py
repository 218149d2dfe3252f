"""The SRU front end over the search service: explain, searchRetrieve and scan.

:meth:`SruFrontEnd.answer` takes a request's parameters and returns the response document.
Every refusal is an SRU diagnostic in a document of the request's version and operation, and
even an unexpected failure is diagnostic 1 (logged): the HTTP status is always 200. All the
database work of a request, and the writing of its document, is one job on the service's
database threads, off the event loop.

A searchRetrieve returns a ``resultSetId`` that later requests page through with
``query=cql.resultSetId="id"`` (alone, or combined with other clauses). The id is signed and
says what the set is (:mod:`provider.sru.set_ids`), so any worker of ``koprik serve --workers``
and any node on the same catalogue answers it: a process keeps the sets it has made or been
asked for in :class:`SharedSets` and makes a set it does not hold again from its query. Each
answer naming a set gives a fresh id, valid ``resultSetIdleTime``/``resultSetTTL`` seconds
(``search.sru_result_set_ttl`` at most); the id named stays valid until its own time is up. An
id that is malformed, forged, expired or whose set has changed is diagnostic 51.

A request for a later page (``startRecord`` above 1) of the query whose set the process holds,
the highest record id being still the set's bound (no record added since), reads on in that set:
SRU harvesters page with ``startRecord`` alone, and a set made again for each page read every id
before the page (on PostgreSQL, 54 ms of 90 for page 101 of ``cql.allRecords`` over 20,000
records, and growing with the page). Such a page is of the set as it was read: a record deleted
from what was read is diagnostic 65 in its place. A set larger than ``search.snapshot_ids`` is
read as it is paged: a record deleted from the part not yet read is not in it, and its count
becomes what it holds once read to its end (a page offers the next position only once read); a
record that joined that part would push the set's last record out, so the set is then made
anew. A request from the first record makes the set anew.

>>> front = SruFrontEnd(service, settings)
>>> body = await front.answer([("query", "dc.creator=navoiy")], host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import cast

from sqlalchemy import Connection, func, select

from catalog.models import records as records_table
from catalog.query import StoredRecord
from catalog.secrets import stored_secret
from config import Settings
from protocols.cql import CqlSyntaxError, CqlTooComplex, CqlTooDeep, SearchClause, parse
from protocols.cql import Query as CqlQuery
from provider.damped_log import SaidOnce
from provider.search import Condition, ResultSet, SearchError, SearchService, SharedSets
from provider.search.result_sets import within
from provider.sru import responses
from provider.sru.cql_query import index_of, scan_start, set_named, sort_keys_of, translate
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
    stylesheet_of,
    version_of,
)
from provider.sru.set_ids import SetQuery, SignedSetIds, UnknownSet

log = logging.getLogger(__name__)
_UNSHAPED = SaidOnce(log)

SHARED_IDS = 5_000_000
"""Most record ids one process keeps in SRU result sets at once across all clients (40 MB);
beyond it the least recently used sets go first (and are made again if named)."""
SECRET = "sru-result-set"
"""The name of the catalogue's key that signs result set ids (see catalog.secrets)."""
_PHRASE_RELATIONS = {"exact", "==", "adj"}


class SruFrontEnd:
    """SRU 1.1, 1.2 and 2.0 over ``service``; ``database`` is the path explain names."""

    def __init__(self, service: SearchService, settings: Settings, database: str = "sru") -> None:
        self.service = service
        self.settings = settings
        self.database = database
        limits = settings.search
        self.set_ids = SignedSetIds(stored_secret(service.catalog.engine, SECRET))
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
        return responses.with_stylesheet(
            await self._answer(pairs, params, host, port, refusal), stylesheet_of(params)
        )

    async def _answer(
        self, pairs: Sequence[tuple[str, str]], params: dict[str, str], host: str, port: int,
        refusal: tuple[Condition, str] | None,
    ) -> bytes:
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
            return responses.scan(version, None, [error])
        if operation == EXPLAIN:
            record = explain_record(self.settings, version, host, port, self.database)
            return responses.explain(version, "xml", record, [error])
        return responses.search_retrieve(version, count=0, diagnostics=[error])

    # -- searchRetrieve ------------------------------------------------------------------------

    def _search(
        self, request: SearchRetrieve, connection: Connection, *, reuse: bool = True
    ) -> bytes:
        query = _parse(request.query)
        now = int(time.time())
        results, made, named, reused = self._results(query, request, connection, now, reuse)
        version = request.version
        name = (
            self.set_ids.encode(made, now + request.ttl)
            if made is not None and request.ttl
            else None
        )
        shared = (name, request.ttl) if name is not None else None
        if made is not None and name is not None and named is None:
            # a new set: at hand for the pages that follow, by its id or its query
            self.sets.put(made, results, (made.query, made.sort_keys, made.bound))

        def counted() -> int:
            """A set named by its id counts what it was made with; any other what it holds
            (one read in windows counts less once read to its end short of its count)."""
            return made.count if named is not None and made is not None else results.count

        count = counted()
        if request.start > max(count, 1):  # 1 of no records is no error, as in YAZ and Zebra
            error = SearchError(Condition.START_OUT_OF_RANGE, f"{request.start} of {count}")
            return responses.search_retrieve(version, count=count, result_set=shared,
                                             diagnostics=[error])  # fmt: skip
        if count == 0 or request.maximum == 0:
            return responses.search_retrieve(version, count=count, result_set=shared)
        reading = results.query  # a set read in windows, not yet to its end
        try:
            ids = self.service.window(connection, results, request.start, request.maximum)
            if named is None and results.query is not None:
                # The next position is offered only once read: a set read to its end short of
                # its count (records deleted from the part not yet read) counts what it holds.
                self.service.read_to(connection, results, request.start + len(ids))
        except SearchError as error:
            return responses.search_retrieve(version, count=counted(), result_set=shared,
                                             diagnostics=[error])  # fmt: skip
        finally:
            if made is not None and named is not None:
                self._check(results, made, named)
        if reused and reading is not None and results.query is None and made is not None and (
            self.service.grew(connection, reading, results)
        ):  # a record joined the part not yet read: the set as made would leave one out
            self.sets.pop(made)
            return self._search(request, connection, reuse=False)
        count = counted()  # read to its end, maybe
        stored = self.service.records(connection, ids, request.schema.rendition)
        records = []
        for position, record_id in enumerate(ids, request.start):
            data, missing = _record_data(stored.get(record_id), record_id, request)
            records.append(responses.RecordOut(position, request.schema.identifier, data,
                                               missing))  # fmt: skip
        end = request.start + len(ids)
        more = end <= min(count, results.limit)
        return responses.search_retrieve(
            version, count=count, records=records, packing=request.packing,
            next_position=end if more else None, result_set=shared,
        )  # fmt: skip

    def _results(
        self, query: CqlQuery, request: SearchRetrieve, connection: Connection, now: int,
        reuse: bool,
    ) -> tuple[ResultSet, SetQuery | None, str | None, bool]:  # fmt: skip
        """The result set of a searchRetrieve, what it is (None: not kept, TTL 0), the id
        the request named and whether it is the set an earlier page made (looked for with
        ``reuse``). A query that only names an earlier set (``cql.resultSetId = id``) reads
        that set."""
        root = query.root
        name = set_named(root) if isinstance(root, SearchClause) else None
        if name is not None and not query.sort and not request.sort_keys:
            return *self._named(connection, name, now), name, False
        if request.ttl == 0:
            return (self._evaluate(connection, query, request.sort_keys, None, now), None, None,
                    False)  # fmt: skip
        bound = connection.execute(select(func.max(records_table.c.id))).scalar() or 0
        if reuse and request.start > 1:  # a later page: read on in the set the query made
            found = self.sets.find((request.query, request.sort_keys, bound))
            if found is not None:
                held, results = found
                return results, cast(SetQuery, held), None, True
        results = self._evaluate(connection, query, request.sort_keys, bound, now)
        made = SetQuery(request.query, request.sort_keys, bound, results.count, results.order())
        return results, made, None, False

    def _evaluate(
        self, connection: Connection, query: CqlQuery, sort_keys: str, bound: int | None,
        now: int, *, expired_too: bool = False,
    ) -> ResultSet:  # fmt: skip
        """The set ``query`` finds (sorted by its sortBy and ``sort_keys``), leaving out
        records above ``bound``; sets the query names may have expired when ``expired_too``."""
        named = partial(self._named_ids, connection, now=now, expired_too=expired_too)
        model, keys = translate(query, named)
        keys += sort_keys_of(sort_keys)
        results = self.service.search(connection, model)
        if bound is not None:
            results = within(results, bound)
        if keys:
            results = self.service.sort(connection, results, keys)
        return results

    def _named(
        self, connection: Connection, name: str, now: int, *, expired_too: bool = False
    ) -> tuple[ResultSet, SetQuery]:
        """The set the id ``name`` stands for: the one this process holds, or made again."""
        try:
            made = self.set_ids.decode(name, now, expired_too=expired_too)
        except UnknownSet as why:
            log.debug("sru: result set id refused (%s): %.80s", why, name)
            raise SearchError(Condition.RESULT_SET_MISSING, name) from None
        results = self.sets.get(made)
        if results is None:
            query = _parse(made.query)
            # The id's signature vouches for the sets its query names, however old they are.
            results = self._evaluate(connection, query, made.sort_keys, made.bound, now,
                                     expired_too=True)  # fmt: skip
            if results.query is not None:  # read in windows: no further than it had
                results.count = min(results.count, made.count)
            self._check(results, made, name, made_again=True)
            self.sets.put(made, results)
        return results, made

    def _named_ids(
        self, connection: Connection, name: str, *, now: int, expired_too: bool
    ) -> list[int]:
        results, made = self._named(connection, name, now, expired_too=expired_too)
        ids = self.service.all_ids(connection, results)
        self._check(results, made, name)
        return ids

    def _check(
        self, results: ResultSet, made: SetQuery, name: str, *, made_again: bool = False
    ) -> None:
        """Diagnostic 51 when what was read of ``results`` shows that the set ``made`` has
        changed since it was made (see :mod:`provider.sru.set_ids` for what is seen); the
        order of its ids is compared when it was ``made_again`` (a set held is the one made)."""
        if results.query is not None:  # not read to its end: nothing to compare yet
            return
        if made.count > results.limit:
            changed = len(results.ids) < results.limit
        else:
            changed = results.count != made.count
        if made_again and made.order and not changed:
            changed = results.order() != made.order
        if changed:
            self.sets.pop(made)
            log.info("sru: result set of %r has changed since it was made (%d records, now %d)",
                     made.query, made.count, results.count)  # fmt: skip
            raise SearchError(Condition.RESULT_SET_MISSING, name)

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
        page = self.service.scan(
            connection, index, scan_start(clause.term), phrase=relation in _PHRASE_RELATIONS,
            count=request.maximum, position=request.position,
        )  # fmt: skip
        return responses.scan(request.version, page)


def _record_data(
    record: StoredRecord | None, record_id: int, request: SearchRetrieve
) -> tuple[bytes | None, SearchError | None]:
    """The record in the schema asked for, or the surrogate diagnostic standing in for it: 65
    when it was deleted since the search, 67 when it has no such rendition (or its rendition
    cannot be made into the schema's record: a damaged one)."""
    schema = request.schema
    if record is not None and record.rendition is not None:
        if schema.shaped is None:
            return record.rendition, None
        try:
            return schema.shaped(record.rendition), None
        except ValueError:
            # said once for each damaged rendition (its hash tells one damaged otherwise)
            _UNSHAPED.warning(
                (record.local_id, schema.rendition, schema.name, hash(record.rendition)),
                "record %s: its %s rendition cannot be served in SRU's %s schema",
                record.local_id, schema.rendition, schema.name,
            )
    elif record is None or record.marc is None:
        name = record.local_id if record is not None else str(record_id)
        return None, SearchError(Condition.RECORD_DELETED, name)
    return None, SearchError(Condition.RECORD_NOT_IN_SCHEMA, f"{record.local_id}: {schema.name}")


def _parse(text: str) -> CqlQuery:
    try:
        return parse(text)
    except CqlTooComplex as error:
        raise SearchError(Condition.QUERY_TOO_COMPLEX, error.message) from error
    except CqlTooDeep as error:  # details: the character offset, as 13 asks
        raise SearchError(Condition.PARENTHESES_UNSUPPORTED, str(error.position)) from error
    except CqlSyntaxError as error:
        raise SearchError(Condition.MALFORMED_QUERY,
                          f"position {error.position}: {error.message}") from error  # fmt: skip
