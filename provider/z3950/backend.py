"""The Z39.50 translator over the search service: Type-1 queries, Bib-1 sort keys and scan
terms in; result sets, EXTERNALs and Bib-1 diagnostics out.

Everything a search, present, scan or sort does is the service's (:mod:`provider.search`);
this module only says it in Z39.50: RPN is translated by :mod:`provider.z3950.attributes`, a
:class:`SearchError` becomes the :class:`Bib1Error` of its condition, and records become
EXTERNALs (:mod:`provider.z3950.records`). The methods run on the service's database threads
(:meth:`Backend.run`), all the database work of one request in one job.

>>> backend = Backend(SearchService(catalog))
>>> def job(connection):
...     results = backend.search(connection, parse_pqf("@attr 1=1003 navoiy"), sets.get)
...     return backend.fetch(connection, backend.window(connection, results, 1, 10), request)
>>> fetched = await backend.run(job)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection

from catalog import query as q
from protocols.z3950.bib1 import Bib1Error
from protocols.z3950.pqf import Query as RpnQuery
from protocols.z3950.pqf import Term
from provider.search import ResultSet, SearchError, SearchService, SortKey
from provider.z3950.attributes import (
    query_of,
    scan_start_of,
    sort_index_named,
    sort_index_of,
)
from provider.z3950.records import Request, render

T = TypeVar("T")

FIRST_PAGE = 10
"""Records a search reads with its result (the page most clients present next)."""


@contextmanager
def as_bib1() -> Iterator[None]:
    """Say a :class:`SearchError` raised inside as the Bib-1 diagnostic of its condition."""
    try:
        yield
    except SearchError as error:
        raise Bib1Error(error.bib1, error.detail) from error


@dataclass(frozen=True)
class Fetched:
    """One presented record: its EXTERNAL, or a surrogate diagnostic."""

    record: dict[str, Any] | None
    diagnostic: Bib1Error | None
    size: int


class Backend:
    """The search service as Z39.50 asks for it; :meth:`run` runs the work off the loop."""

    def __init__(self, service: SearchService) -> None:
        self.service = service

    async def run(self, job: Callable[[Connection], T]) -> T:
        """The result of ``job(connection)`` on one of the service's database threads; what
        the threads refuse (the database unavailable) as its Bib-1 diagnostic."""
        with as_bib1():
            return await self.service.threads.run(job)

    def search(
        self,
        connection: Connection,
        rpn: RpnQuery,
        result_set: Callable[[str], list[int]],
    ) -> ResultSet:
        """Evaluate a Type-1 query; ``result_set(name)`` resolves ``@set`` operands. A one-term
        result holds a first window of ids; more are read as they are needed."""
        with as_bib1():
            return self.service.search(connection, query_of(rpn, result_set))

    def all_ids(self, connection: Connection, results: ResultSet) -> list[int]:
        return self.service.all_ids(connection, results)

    def window(
        self, connection: Connection, results: ResultSet, start: int, count: int
    ) -> list[int]:
        """Ids ``start``.. of ``results`` (13 when ``start`` is out of range)."""
        with as_bib1():
            return self.service.window(connection, results, start, count)

    def fetch(self, connection: Connection, ids: Sequence[int], request: Request) -> list[Fetched]:
        """The records ``ids`` rendered as ``request`` asks, in order."""
        return rendered(ids, self.stored(connection, ids, request.rendition), request)

    def stored(
        self, connection: Connection, ids: Sequence[int], rendition: str | None = None
    ) -> dict[int, q.StoredRecord]:
        """The stored records ``ids`` (with their ``rendition``) by id; unknown ids left out."""
        return self.service.records(connection, ids, rendition)

    def scan(self, connection: Connection, start: Term, count: int, position: int) -> q.ScanPage:
        """Terms of the index ``start``'s Use attribute names, from its term (4=1: phrases;
        attributes as :func:`provider.z3950.attributes.scan_start_of` reads them)."""
        with as_bib1():
            index, phrase = scan_start_of(start)
            return self.service.scan(connection, index, start.term, phrase=phrase, count=count,
                                     position=position)  # fmt: skip

    def sort(
        self,
        connection: Connection,
        results: ResultSet,
        keys: Sequence[tuple[dict[int, int] | str, bool]],
    ) -> ResultSet:
        """``results`` ordered by ``keys`` (Use attributes or field names, descending flag)."""
        with as_bib1():
            sort_keys = [
                SortKey(sort_index_of(key) if isinstance(key, dict) else sort_index_named(key),
                        descending)
                for key, descending in keys
            ]  # fmt: skip
            return self.service.sort(connection, results, sort_keys)


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
