"""The search service: Koprik's generic front-end server in the YAZ sense.

One back end answers every protocol: search a query of :mod:`catalog.query` into a result set,
read windows of a set with the records in any stored rendition, scan an index, sort a set.
Limits come from ``[search]`` settings; refusals are :class:`SearchError` (data the front ends
render: Bib-1 for Z39.50, SRU diagnostics, messages for the dashboard). Methods are
synchronous and take the connection to read with; front ends run all the work of one request
as one job on :attr:`SearchService.threads`, off their event loop.

>>> service = SearchService(catalog, settings.search)
>>> def job(connection):
...     results = service.search(connection, Match("author", "navoiy"))
...     return service.present(connection, results, 1, 10, "marc21")
>>> records = await service.threads.run(job)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from catalog import Catalog
from catalog import query as q
from catalog.search_index import INDEXES, SORTABLE
from config import SearchSettings
from provider.search.errors import Condition, SearchError
from provider.search.result_sets import MoreIds, ResultSet, new_set
from provider.search.threads import THREADS, DatabaseThreads

_QUERY_CONDITIONS: dict[type[q.QueryError], Condition] = {
    q.UnknownIndex: Condition.UNSUPPORTED_INDEX,
    q.UnsupportedCombination: Condition.UNSUPPORTED_COMBINATION,
    q.NotAYear: Condition.TERM_INVALID_FORMAT,
    q.EmptyTerm: Condition.EMPTY_TERM,
    q.TermTooShort: Condition.MASKED_TERM_TOO_SHORT,
    q.QueryTooComplex: Condition.QUERY_TOO_COMPLEX,
    q.QueryTooBroad: Condition.QUERY_TOO_BROAD,
}


@dataclass(frozen=True)
class SortKey:
    """Order by ``index`` (one of ``catalog.search_index.SORTABLE``), descending or not."""

    index: str
    descending: bool = False


class SearchService:
    """Search, present, scan and sort over one catalogue; ``threads`` runs them off the loop."""

    def __init__(
        self, catalog: Catalog, limits: SearchSettings | None = None, *, threads: int = THREADS
    ) -> None:
        self.catalog = catalog
        self.limits = limits or SearchSettings()
        self.threads = DatabaseThreads(catalog.engine, size=threads,
                                       answer_timeout=catalog.settings.database.answer_timeout,
                                       max_seconds=self.limits.max_seconds)  # fmt: skip

    # -- search ------------------------------------------------------------------------------

    def search(self, connection: Connection, query: q.Query) -> ResultSet:
        """The result set of ``query``; a one-term query reads only its first
        ``search.snapshot_ids`` ids."""
        limit = self.limits.max_result_set
        try:
            result = q.search(connection, query, limit=limit, window=self.limits.snapshot_ids)
        except q.QueryError as error:
            condition = _QUERY_CONDITIONS.get(type(error), Condition.UNSUPPORTED_COMBINATION)
            raise SearchError(condition, str(error)) from error
        return new_set(result.ids, result.count, limit, None if result.complete else query)

    def all_ids(self, connection: Connection, results: ResultSet) -> list[int]:
        """Every id of ``results`` (reading what a one-term search left unread)."""
        results.wanted(results.count, self._more(connection))
        return results.ids.tolist()

    def window(
        self, connection: Connection, results: ResultSet, start: int, count: int
    ) -> list[int]:
        """The ids at 1-based positions ``start``..``start + count - 1`` (fewer at the end).

        A ``start`` past the end of a non-empty set (or below 1) is START_OUT_OF_RANGE, naming
        the set's positions (not the ids read so far: for a start of 0, a first window).
        """
        if count > 0:
            results.wanted(start - 1 + count, self._more(connection))
        if start < 1 or (count > 0 and start > len(results.ids)):
            raise SearchError(Condition.START_OUT_OF_RANGE, f"{start} of {results.positions}")
        return results.ids[start - 1 : start - 1 + max(count, 0)].tolist()

    def read_to(self, connection: Connection, results: ResultSet, position: int) -> None:
        """Read the ids of ``results`` up to ``position`` (or its end: a set with a bound, read
        to its end short of its count, then counts what it holds)."""
        results.wanted(position, self._more(connection))

    def grew(self, connection: Connection, query: q.Query, results: ResultSet) -> bool:
        """Whether ``query``, which ``results`` (a set with a bound) was read from in windows,
        now finds a record after the last id the set holds, within its bound and its limit:
        a record joined the part not yet read while the set was paged, and the set, which
        stops at the count it was made with, left out its last record."""
        if not results.ids or len(results.ids) < results.count or results.count >= results.limit:
            return False
        after = q.more_ids(connection, query, after=results.ids[-1], count=1)
        return bool(after) and (results.bound is None or after[0] <= results.bound)

    def records(
        self, connection: Connection, ids: Sequence[int], rendition: str | None = None
    ) -> dict[int, q.StoredRecord]:
        """The stored records ``ids`` (with their ``rendition``) by id; unknown ids left out."""
        return {s.id: s for s in q.fetch(connection, ids, rendition)}

    def present(
        self,
        connection: Connection,
        results: ResultSet,
        start: int,
        count: int,
        rendition: str | None = None,
    ) -> list[tuple[int, q.StoredRecord | None]]:
        """A window of ``results`` with each record and its ``rendition`` (None: not found)."""
        ids = self.window(connection, results, start, count)
        stored = self.records(connection, ids, rendition)
        return [(i, stored.get(i)) for i in ids]

    # -- scan and sort -----------------------------------------------------------------------

    def scan(
        self,
        connection: Connection,
        index: str,
        term: str,
        *,
        phrase: bool = False,
        count: int = 20,
        position: int = 1,
    ) -> q.ScanPage:
        """``count`` terms of ``index`` around ``term``, which stands at ``position``; a
        negative ``count`` asks for nothing a scan can be (MALFORMED_SCAN, not too many)."""
        if index not in INDEXES:
            raise SearchError(Condition.UNSUPPORTED_INDEX, index)
        if count < 0:
            raise SearchError(Condition.MALFORMED_SCAN, f"{count} terms requested")
        if count > self.limits.max_scan_terms:
            raise SearchError(Condition.TOO_MANY_SCAN_TERMS, str(self.limits.max_scan_terms))
        if not 0 <= position <= count + 1:
            raise SearchError(Condition.SCAN_POSITION_OUT_OF_RANGE, str(position))
        return q.scan(connection, index, term, phrase=phrase, count=count, position=position)

    def sort(
        self, connection: Connection, results: ResultSet, keys: Sequence[SortKey]
    ) -> ResultSet:
        """A new set of the records of ``results`` ordered by ``keys``."""
        if len(keys) > self.limits.max_sort_keys:
            raise SearchError(Condition.TOO_MANY_SORT_KEYS, str(self.limits.max_sort_keys))
        for key in keys:
            if key.index not in SORTABLE:
                raise SearchError(Condition.UNSUPPORTED_SORT_KEY, key.index)
        ids = self.all_ids(connection, results)
        ordered = q.sort_ids(connection, ids, [(k.index, k.descending) for k in keys])
        return new_set(ordered, results.count, results.limit)

    def _more(self, connection: Connection) -> MoreIds:
        def more(query: q.Query, after: int, count: int) -> list[int]:
            return q.more_ids(connection, query, after=after, count=count)

        return more
