"""The search back end under the Z39.50 front end (and reusable by SRU): search, fetch, scan
and sort over the catalogue, with refusals as Bib-1 diagnostics.

The methods are synchronous (they run database queries); the asyncio front end calls them in
worker threads. Request-level refusals raise :class:`Bib1Error`; per-record ones come back as
data in :class:`Fetched`.

>>> backend = Backend(catalog)
>>> query, result = backend.search(parse_pqf("@attr 1=1003 navoiy"), sets.__getitem__)
>>> fetched = backend.fetch(result.ids[:10], request_of(oids.USMARC, "F", utf8=True))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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

MAX_RESULT_SET = 200_000
"""Most record ids one result set keeps; a search may count more, Present stops there."""
MAX_SORT_KEYS = 3

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
    """Search, fetch, scan and sort over one catalogue."""

    def __init__(self, catalog: Catalog, *, max_result_set: int = MAX_RESULT_SET) -> None:
        self.catalog = catalog
        self.max_result_set = max_result_set

    def search(
        self, rpn: RpnQuery, result_set: Callable[[str], list[int]], *, window: int | None = None
    ) -> tuple[q.Query, q.ResultSet]:
        """Evaluate a Type-1 query; ``result_set(name)`` resolves ``@set`` operands. Returns the
        catalogue query (to read on with :meth:`more` when the result is a first ``window``)."""
        query = query_of(rpn, result_set)
        with self.catalog.engine.connect() as connection:
            try:
                result = q.search(connection, query, limit=self.max_result_set, window=window)
            except q.QueryError as error:
                code = _QUERY_DIAGNOSTICS.get(type(error), bib1.UNSUPPORTED_SEARCH)
                raise Bib1Error(code, str(error)) from error
        return query, result

    def more(self, query: q.Query, after: int, count: int) -> list[int]:
        """The next ``count`` ids after ``after`` of a windowed result (see :meth:`search`)."""
        with self.catalog.engine.connect() as connection:
            return q.more_ids(connection, query, after=after, count=count)

    def fetch(self, ids: Sequence[int], request: Request) -> list[Fetched]:
        """The records ``ids`` rendered as ``request`` asks, in order."""
        with self.catalog.engine.connect() as connection:
            stored = {s.id: s for s in q.fetch(connection, ids, request.rendition)}
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

    def scan(self, start: Term, count: int, position: int) -> q.ScanPage:
        """Terms of the index ``start``'s Use attribute names, from its term (4=1: phrases)."""
        index = index_of(start.attributes)
        structure = start.attributes.get(bib1.AttributeType.STRUCTURE, bib1.Structure.WORD)
        if structure not in (bib1.Structure.WORD, bib1.Structure.PHRASE):
            raise Bib1Error(bib1.UNSUPPORTED_STRUCTURE_ATTRIBUTE, str(structure))
        phrase = structure == bib1.Structure.PHRASE
        with self.catalog.engine.connect() as connection:
            return q.scan(connection, index, start.term, phrase=phrase, count=count,
                          position=position)  # fmt: skip

    def sort(
        self, ids: Sequence[int], keys: Sequence[tuple[dict[int, int] | str, bool]]
    ) -> list[int]:
        """``ids`` ordered by ``keys`` (Use attributes or field names, descending flag)."""
        if len(keys) > MAX_SORT_KEYS:
            raise Bib1Error(211, str(MAX_SORT_KEYS))
        indexes = [
            (sort_index_of(key) if isinstance(key, dict) else sort_index_named(key), descending)
            for key, descending in keys
        ]
        with self.catalog.engine.connect() as connection:
            return q.sort_ids(connection, ids, indexes)


def _size(external: dict[str, Any]) -> int:
    _, content = external["encoding"]
    return len(content) + 32
