"""The search back end under the Z39.50 front end (and reusable by SRU): search, fetch, scan
and sort over the catalogue, with refusals as Bib-1 diagnostics.

The methods are synchronous and take the connection to read with; the asyncio front end runs
them on the backend's database threads (:attr:`Backend.threads`), all the database work of one
request in one job. Request-level refusals raise :class:`Bib1Error`; per-record ones come back
as data in :class:`Fetched`.

>>> backend = Backend(catalog)
>>> def job(connection):
...     query, result = backend.search(connection, parse_pqf("@attr 1=1003 navoiy"), sets.get)
...     return backend.fetch(connection, result.ids[:10], request_of(oids.USMARC, "F", True))
>>> fetched = await backend.threads.run(job)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from catalog import Catalog
from catalog import query as q
from protocols.z3950 import bib1
from protocols.z3950.pqf import Query as RpnQuery
from protocols.z3950.pqf import Term
from provider.z3950.attributes import (
    Bib1Error,
    index_of,
    query_of,
    sort_index_named,
    sort_index_of,
)
from provider.z3950.records import Request, render
from provider.z3950.workers import THREADS, DatabaseThreads

MAX_RESULT_SET = 200_000
"""Most record ids one result set keeps; a search may count more, Present stops there."""
MAX_SORT_KEYS = 3
FIRST_PAGE = 10
"""Records a search reads with its result (the page most clients present next)."""

_QUERY_DIAGNOSTICS: dict[type[q.QueryError], int] = {
    q.UnsupportedCombination: bib1.UNSUPPORTED_ATTRIBUTE_COMBINATION,
    q.TermTooShort: 9,  # Truncated words too short
    q.QueryTooComplex: 6,  # Too many boolean operators
    q.QueryTooBroad: 234,  # Too many index terms processed
}


@dataclass(frozen=True)
class Fetched:
    """One presented record: its EXTERNAL, or a surrogate diagnostic."""

    record: dict[str, Any] | None
    diagnostic: Bib1Error | None
    size: int


class Backend:
    """Search, fetch, scan and sort over one catalogue; ``threads`` runs them off the loop."""

    def __init__(
        self, catalog: Catalog, *, max_result_set: int = MAX_RESULT_SET, threads: int = THREADS
    ) -> None:
        self.catalog = catalog
        self.max_result_set = max_result_set
        self.threads = DatabaseThreads(catalog.engine, size=threads)

    def search(
        self,
        connection: Connection,
        rpn: RpnQuery,
        result_set: Callable[[str], list[int]],
        *,
        window: int | None = None,
    ) -> tuple[q.Query, q.ResultSet]:
        """Evaluate a Type-1 query; ``result_set(name)`` resolves ``@set`` operands. Returns the
        catalogue query (to read on with :meth:`more` when the result is a first ``window``)."""
        query = query_of(rpn, result_set)
        try:
            result = q.search(connection, query, limit=self.max_result_set, window=window)
        except q.QueryError as error:
            code = _QUERY_DIAGNOSTICS.get(type(error), bib1.UNSUPPORTED_SEARCH)
            raise Bib1Error(code, str(error)) from error
        return query, result

    def more(self, connection: Connection, query: q.Query, after: int, count: int) -> list[int]:
        """The next ``count`` ids after ``after`` of a windowed result (see :meth:`search`)."""
        return q.more_ids(connection, query, after=after, count=count)

    def fetch(self, connection: Connection, ids: Sequence[int], request: Request) -> list[Fetched]:
        """The records ``ids`` rendered as ``request`` asks, in order."""
        return rendered(ids, self.stored(connection, ids, request.rendition), request)

    def stored(
        self, connection: Connection, ids: Sequence[int], rendition: str | None = None
    ) -> dict[int, q.StoredRecord]:
        """The stored records ``ids`` (with their ``rendition``) by id; unknown ids left out."""
        return {s.id: s for s in q.fetch(connection, ids, rendition)}

    def scan(self, connection: Connection, start: Term, count: int, position: int) -> q.ScanPage:
        """Terms of the index ``start``'s Use attribute names, from its term (4=1: phrases)."""
        index = index_of(start.attributes)
        structure = start.attributes.get(bib1.AttributeType.STRUCTURE, bib1.Structure.WORD)
        if structure not in (bib1.Structure.WORD, bib1.Structure.PHRASE):
            raise Bib1Error(bib1.UNSUPPORTED_STRUCTURE_ATTRIBUTE, str(structure))
        phrase = structure == bib1.Structure.PHRASE
        return q.scan(connection, index, start.term, phrase=phrase, count=count,
                      position=position)  # fmt: skip

    def sort(
        self,
        connection: Connection,
        ids: Sequence[int],
        keys: Sequence[tuple[dict[int, int] | str, bool]],
    ) -> list[int]:
        """``ids`` ordered by ``keys`` (Use attributes or field names, descending flag)."""
        if len(keys) > MAX_SORT_KEYS:
            raise Bib1Error(211, str(MAX_SORT_KEYS))
        indexes = [
            (sort_index_of(key) if isinstance(key, dict) else sort_index_named(key), descending)
            for key, descending in keys
        ]
        return q.sort_ids(connection, ids, indexes)


def rendered(
    ids: Sequence[int], stored: Mapping[int, q.StoredRecord], request: Request
) -> list[Fetched]:
    """The records ``ids`` of ``stored`` rendered as ``request`` asks, in order (an id not in
    ``stored`` is diagnostic 1028, a record that cannot be rendered a surrogate diagnostic)."""
    fetched: list[Fetched] = []
    for record_id in ids:
        record = stored.get(record_id)
        try:
            if record is None:
                raise Bib1Error(1028, str(record_id))
            external = render(record, request)
        except Bib1Error as error:
            fetched.append(Fetched(None, error, 64))
            continue
        except Exception as error:  # a stored record pymarc cannot read back
            problem = Bib1Error(14, f"{record.local_id}: {error}")
            fetched.append(Fetched(None, problem, 64))
            continue
        fetched.append(Fetched(external, None, _size(external)))
    return fetched


def _size(external: dict[str, Any]) -> int:
    _, content = external["encoding"]
    return len(content) + 32
