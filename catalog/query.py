"""One query model over the search index, for every protocol (Z39.50 Type-1, SRU CQL).

A query is a tree of :class:`Match` leaves joined by :class:`And`, :class:`Or` and
:class:`AndNot`; :class:`Ids` stands for an earlier result set, :class:`Every` for every record
a search can find. Protocol front ends translate their attributes or indexes into this model
(refusing what it cannot express with their own diagnostics) and evaluate it with
:func:`search`; :func:`sort_ids` and :func:`scan` serve Sort and Scan. Terms reach SQL only as
bound parameters.

>>> query = And(Match("author", "Навоий"), Match("date", "1990", relation=">="))
>>> with engine.connect() as connection:
...     result = search(connection, query, limit=10_000)
>>> result.count, result.ids[:3]
(42, [7, 19, 23])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Integer,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    null,
    select,
    union,
    union_all,
)

from catalog import fts_query, models
from catalog.db import execute_in
from catalog.prepared import Prepared
from catalog.search_index import (
    ANSWERING,
    ANY,
    DATE,
    IDENTIFIER,
    INDEXES,
    KEYED,
    PHRASE,
    SORTABLE,
    WORD,
    forms_of,
    is_year,
    isbn_keys,
    issn_keys,
    phrase_of,
    phrase_terms,
    query_keys,
    read_canonical,
    sort_keys,
    terms,
    words_of,
)
from catalog.time_bound import check as check_time
from crosswalks.uzbek import cut_keys

MAX_CLAUSES = 64
"""Most leaves (and result-set references) one query may hold."""
MAX_TERM_ROWS = 1_000_000
"""Most index rows one leaf may read (a truncated term matching more is refused)."""
MAX_QUERY_IDS = 2_000_000
"""Most ids one query may hold in memory across all its leaves (index rows read plus the ids of
result-set operands): bounds a query of :data:`MAX_CLAUSES` broad leaves."""
MAX_PHRASE_RECORDS = 50_000
"""Most records a phrase standing anywhere in a field (:attr:`Match.inside`) reads the phrases
of: those having every word of it. A phrase of common words only, in a large catalogue, is
refused as too broad rather than read for a million records."""
_CHUNK = 500  # ids a fetch statement takes at most; below every engine's parameter limit
_TOP = "\U0010ffff"  # sorts after every character: the upper bound of a right-truncation range


class Relation(StrEnum):
    LESS = "<"
    LESS_OR_EQUAL = "<="
    EQUAL = "="
    GREATER_OR_EQUAL = ">="
    GREATER = ">"
    WITHIN = "within"


class QueryError(ValueError):
    """A query this model cannot evaluate (the message says why)."""


class UnknownIndex(QueryError):
    """An index the catalogue does not have."""


class UnsupportedCombination(QueryError):
    """A combination of relation, truncation and structure the index cannot answer."""


class NotAYear(QueryError):
    """A relation other than equality on ``date``, or a :attr:`Match.year` leaf, with a term
    that is not a year: the index compares years, and comparing anything else as text finds
    what it happens to sort after (or, asked for equality, nothing, and says nothing)."""


class EmptyTerm(QueryError):
    """A term of nothing but spaces: it names nothing to look for, so no answer (no records,
    or every record) would be more than a guess."""


class TermTooShort(QueryError):
    """A right-truncated term with nothing left before the truncation point."""


class QueryTooComplex(QueryError):
    """More than :data:`MAX_CLAUSES` leaves."""


class QueryTooBroad(QueryError):
    """A leaf that would read more than :data:`MAX_TERM_ROWS` index rows, or a query whose
    leaves together would hold more than :data:`MAX_QUERY_IDS` ids."""


class _Budget:
    """The ids a query may still materialize (see :data:`MAX_QUERY_IDS`)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.left = total

    def spend(self, count: int) -> None:
        """Count ``count`` more ids held; :class:`QueryTooBroad` once the total is exceeded."""
        self.left -= count
        if self.left < 0:
            raise QueryTooBroad(f"more than {self.total} ids in all the terms of one query")


@dataclass(frozen=True)
class Match:
    """Records whose ``index`` has ``term``.

    ``phrase``: the term is a whole field (or its first subfield), in word order; otherwise
    every word of the term must occur in the index (a word list). ``truncation``: the last word
    (or the phrase) is a prefix. ``relation`` compares the term with the index's terms (one word
    or a phrase; on ``date`` a year, else :class:`NotAYear`) instead of asking for equality.
    Keyed indexes (ISBN, ISSN, date, language, local number) compare whole keys whatever
    ``phrase`` says. ``within``: ``term`` and ``upper`` are the ends of a range (both included)
    in which one of the index's terms must lie (see :func:`within`). ``leading`` (with
    ``phrase``, equality, no truncation): the phrase begins the field or its first subfield,
    followed by more words or not (Bib-1 position 1, "the first data in the field").
    ``year``: the term is a year (Bib-1 structure year), with ``truncation`` the beginning of
    one; anything else is :class:`NotAYear`, judged on the keys the term looks for, as for a
    relation (so ``[1991]`` is the year 1991). ``inside`` (with ``phrase`` and equality): the
    phrase may stand anywhere in a field, its words in order and next to each other (Bib-1
    structure phrase at any position in an incomplete subfield, CQL ``adj``), with
    ``truncation`` its last word the beginning of one.
    """

    index: str
    term: str
    phrase: bool = False
    truncation: bool = False
    relation: Relation = Relation.EQUAL
    upper: str = ""
    leading: bool = False
    year: bool = False
    inside: bool = False


@dataclass(frozen=True)
class And:
    left: Query
    right: Query


@dataclass(frozen=True)
class Or:
    left: Query
    right: Query


@dataclass(frozen=True)
class AndNot:
    left: Query
    right: Query


@dataclass(frozen=True)
class Ids:
    """The records of an earlier result set."""

    ids: tuple[int, ...]


@dataclass(frozen=True)
class Every:
    """Every record the search index holds, which is every record a search can find (live,
    not a member of a union record): CQL's ``cql.allRecords``, with which SRU harvesters page
    through a repository. Alone it is read a window at a time, as one term is; in a larger
    query its ids count against :data:`MAX_QUERY_IDS` as a leaf's do."""


Query = Match | And | Or | AndNot | Ids | Every


@dataclass(frozen=True)
class ResultSet:
    """``count`` matching records; ``ids`` the first of them (at most the limit) in id order.

    ``complete`` is false when ``ids`` holds only a first window of what the limit allows.
    """

    ids: list[int]
    count: int
    complete: bool = True


@dataclass(frozen=True)
class ScanEntry:
    """An index key, how many records have it, and the form it was catalogued in ("" when
    none is recorded)."""

    term: str
    count: int
    display: str = ""


@dataclass(frozen=True)
class ScanPage:
    """Terms in index order; the start term's neighbour at 1-based ``position`` of ``entries``
    (``len(entries) + 1`` when the index has no term at or after it; 0 when the start term
    stands just before them)."""

    entries: list[ScanEntry]
    position: int
    more_before: bool = False
    """The index has terms before the first of ``entries``."""
    more_after: bool = False
    """The index has terms after the last of ``entries``."""


def search(
    connection: Connection, query: Query, *, limit: int, window: int | None = None
) -> ResultSet:
    """Evaluate ``query``; keep at most ``limit`` ids (ascending record id, the catalogue order).

    With ``window``, a query that is one exact term (the commonest search), or :class:`Every`,
    has only its first ``window`` ids read, and is counted in SQL when they fill the window
    (``complete`` is then false when there are more; :func:`more_ids` reads on). Raises
    :class:`QueryError` (a subclass saying what) for a query that cannot be evaluated,
    :class:`QueryTooBroad` among them when its leaves would together hold more than
    :data:`MAX_QUERY_IDS` ids.
    """
    if _leaves(query) > MAX_CLAUSES:
        raise QueryTooComplex(f"more than {MAX_CLAUSES} terms")
    windowed = _windowed(query) if window is not None else None
    if windowed is not None and window is not None:
        first = min(window, limit)
        ids = windowed.ids_after(connection, 0, first)
        count = windowed.count(connection) if len(ids) == first else len(ids)
        return ResultSet(ids=ids, count=count, complete=len(ids) >= min(count, limit))
    found = _evaluate(connection, _with_number_keys(query), _Budget(MAX_QUERY_IDS))
    ordered = sorted(found)
    return ResultSet(ids=ordered[:limit], count=len(ordered))


_HYPHENATED_NUMBER = re.compile(r"(?<![\w-])[0-9]+(?:-[0-9]+)*-[0-9]*[0-9Xx](?![\w-])")
"""Digits with hyphens between them, as ISBNs and ISSNs are written."""
_NUMBERED = (IDENTIFIER, ANY)
"""The word indexes holding ISBN and ISSN keys among other words."""


def number_keys(text: str) -> str | None:
    """``text`` with each ISBN and ISSN written with hyphens (``978-9943-000-22-3``,
    ``2354-354X``) put as its key, the one word the ``identifier`` and ``any`` indexes hold for
    it (:func:`catalog.search_index.isbn_keys`); None when ``text`` holds none. As words, the
    number's groups would each be a word that no record has for it.

    >>> number_keys("Navoiy 978-9943-000-22-3")
    'Navoiy 9789943000223'
    """
    changed = False

    def keyed(match: re.Match[str]) -> str:
        nonlocal changed
        written = match.group()
        digits = written.replace("-", "")
        keys = issn_keys(digits) if len(digits) == 8 else isbn_keys(digits)
        changed = changed or bool(keys)
        return keys[0] if keys else written

    keyed_text = _HYPHENATED_NUMBER.sub(keyed, text)
    return keyed_text if changed else None


def _with_number_keys(query: Query) -> Query:
    """``query`` where a word-list leaf of ``identifier`` or ``any`` holding an ISBN or ISSN
    written with hyphens also matches with the number as the index keys it
    (:func:`number_keys`): either form finds the record. Both are asked for because some text
    may read like a number and not be one (``1990-1992`` is a well-formed ISSN and a range of
    years, words of a note)."""
    if isinstance(query, And | Or | AndNot):
        left, right = _with_number_keys(query.left), _with_number_keys(query.right)
        if left is query.left and right is query.right:
            return query
        return type(query)(left, right)
    if (
        not isinstance(query, Match)
        or query.index not in _NUMBERED
        or query.phrase
        or query.relation != Relation.EQUAL
    ):
        return query
    keyed = number_keys(query.term)
    return query if keyed is None else Or(query, replace(query, term=keyed))


def more_ids(connection: Connection, query: Query, *, after: int, count: int) -> list[int]:
    """The next ``count`` ids after id ``after`` of a one-exact-term query or :class:`Every`
    (see :func:`search` with a window): an index seek, since the index orders a term's records
    by id."""
    windowed = _windowed(query)
    if windowed is None:
        raise QueryError("only a one-term query is read in windows")
    return windowed.ids_after(connection, after, count)


class _Windowed(NamedTuple):
    """How a query read a window at a time reads its ids after an id, and counts them."""

    ids_after: Callable[[Connection, int, int], list[int]]
    count: Callable[[Connection], int]


def _windowed(query: Query) -> _Windowed | None:
    """The reading of a query that is one exact term, or every record; None for another."""
    if isinstance(query, Every):
        return _Windowed(_every_after, _every_count)
    single = _single_term(query)
    if single is None:
        return None
    fields, key = single
    return _Windowed(
        lambda connection, after, count: _ids_after(
            connection, fields, key, after=after, count=count
        ),
        lambda connection: _tally(connection, fields, key),
    )


_EVERY_AFTER = Prepared(
    select(terms.c.record_id)
    .where(terms.c.record_id > bindparam("after"))
    .distinct()
    .order_by(terms.c.record_id)
    .limit(bindparam("n"))
)
"""PostgreSQL: the first ``n`` indexed records after id ``after``, read off the index of the
terms by record id in order."""
_EVERY_COUNT = Prepared(
    select(func.count())
    .select_from(models.records)
    .where(~models.hidden(), exists().where(terms.c.record_id == models.records.c.id))
)
"""PostgreSQL: how many records have terms. Only a live record that is no union's member has
any, so those are probed, one index seek each: 53 ms for 20,000 demo records, where counting
the distinct ids of their terms (50 a record) took 137."""


def _every_after(connection: Connection, after: int, count: int) -> list[int]:
    """The first ``count`` ids after ``after`` of the records the search index holds."""
    if _on_fts(connection):
        return fts_query.documents_after(connection, after=after, count=count)
    return [row[0] for row in _EVERY_AFTER.rows(connection, {"after": after, "n": count})]


def _every_count(connection: Connection) -> int:
    """How many records the search index holds."""
    if _on_fts(connection):
        return fts_query.documents(connection)
    return int(_EVERY_COUNT.rows(connection, {})[0][0])


def _ids_after(
    connection: Connection, fields: tuple[int, ...], key: str, *, after: int, count: int
) -> list[int]:
    """The first ``count`` ids after id ``after`` of the records having ``key`` in ``fields``."""
    if _on_fts(connection):
        return fts_query.ids_after(connection, fields, key, after=after, count=count)
    values = {"term": key, "after": after, "n": count}
    return [row[0] for row in _page(fields).rows(connection, values)]


def _on_fts(connection: Connection) -> bool:
    """Whether the search index is SQLite's FTS5 table (:mod:`catalog.fts_query`), not the
    B-tree of PostgreSQL that the statements of this module read."""
    return connection.dialect.name == "sqlite"


def _single_term(query: Query) -> tuple[tuple[int, ...], str] | None:
    """The fields answering a query that is one untruncated term compared for equality, and
    its key."""
    if not isinstance(query, Match) or query.truncation or query.relation != Relation.EQUAL:
        return None
    if (query.leading or query.inside) and query.phrase and query.index not in KEYED:
        return None
    kind, keys = _keys(query)
    if len(keys) != 1:
        return None
    return ANSWERING[query.index, kind], keys[0]


def _leaves(query: Query) -> int:
    if isinstance(query, Match | Ids | Every):
        return 1
    return _leaves(query.left) + _leaves(query.right)


def _evaluate(connection: Connection, query: Query, budget: _Budget) -> set[int]:
    if isinstance(query, Ids):
        budget.spend(len(query.ids))
        return set(query.ids)
    if isinstance(query, Every):
        ids = _every_after(connection, 0, budget.left + 1)  # one more than allowed: refused
        budget.spend(len(ids))
        return set(ids)
    if isinstance(query, Match):
        check_time(connection)  # (a leaf is a statement, or a few: see catalog.time_bound)
        return _match(connection, query, budget)
    left = _evaluate(connection, query.left, budget)
    if isinstance(query, And):
        return left & _evaluate(connection, query.right, budget) if left else set()
    if isinstance(query, Or):
        return left | _evaluate(connection, query.right, budget)
    return left - _evaluate(connection, query.right, budget) if left else set()


def _keys(match: Match) -> tuple[str, list[str]]:
    """The kind of term a leaf looks for and its keys (all must be present)."""
    if match.index not in INDEXES:
        raise UnknownIndex(f"no index {match.index!r}")
    if not match.term.strip():
        if match.truncation:  # CQL's "*" alone: as Z39.50's right truncation of nothing
            raise TermTooShort(f"nothing before the truncation on {match.index}")
        raise EmptyTerm(f"empty term on {match.index}")
    if match.index in KEYED:
        kind, keys = WORD, [k for k in query_keys(match.index, match.term) if k]
    elif match.phrase:
        phrase = phrase_of(match.term)
        kind, keys = PHRASE, [phrase] if phrase else []
    else:
        kind, keys = WORD, words_of(match.term)
    if match.year:
        _check_year(match, keys)
    return kind, keys


def _match(connection: Connection, match: Match, budget: _Budget) -> set[int]:
    kind, keys = _keys(match)
    if match.relation != Relation.EQUAL:
        _check_comparable(match, keys)
    upper = _upper_key(match) if match.relation == Relation.WITHIN else None
    if not keys or upper == "":
        if match.truncation:
            raise TermTooShort(f"nothing searchable before the truncation in {match.term!r}")
        return set()
    if match.leading and kind == PHRASE and match.relation == Relation.EQUAL:
        return _leading(connection, match.index, keys[0], budget)
    if match.inside and kind == PHRASE and match.relation == Relation.EQUAL:
        return _inside(connection, match, keys[0], budget)
    found: set[int] | None = None
    for position, key in enumerate(keys):
        if match.truncation and position == len(keys) - 1:
            ids: set[int] = set()
            for cut in cut_keys(match.term, key):
                ids |= _read_ids(connection, match.index, kind, cut, match.relation, True, budget)
        else:
            ids = _read_ids(connection, match.index, kind, key, match.relation, False, budget,
                            upper)  # fmt: skip
        found = ids if found is None else found & ids
        if not found:
            break
    return found or set()


def _leading(connection: Connection, index: str, phrase: str, budget: _Budget) -> set[int]:
    """The records whose phrase terms of ``index`` are ``phrase`` or begin with its words: the
    phrase itself, and the phrases it starts followed by a space (not ``voynax`` for
    ``voyna``)."""
    exact = _read_ids(connection, index, PHRASE, phrase, Relation.EQUAL, False, budget)
    longer = _read_ids(connection, index, PHRASE, phrase + " ", Relation.EQUAL, True, budget)
    return exact | longer


def _inside(connection: Connection, match: Match, phrase: str, budget: _Budget) -> set[int]:
    """The records having ``phrase`` anywhere in a field of ``match.index``, at word
    boundaries: those whose field it is, and those having every word of it in the index whose
    fields' phrases hold it (read for them alone, each counted against the query's ids). With
    ``match.truncation`` the phrase's last word begins a word of the field (before, the phrase
    was looked for only where a field begins)."""
    truncated = match.truncation
    phrases = cut_keys(match.term, phrase) if truncated else [phrase]
    found: set[int] = set()
    for cut in phrases:
        found |= _read_ids(connection, match.index, PHRASE, cut, Relation.EQUAL, truncated, budget)
    candidates: set[int] | None = None
    words = words_of(match.term)
    for position, word in enumerate(words, 1):
        last = truncated and position == len(words)
        ids: set[int] = set()
        for cut in cut_keys(match.term, word) if last else [word]:
            ids |= _read_ids(connection, match.index, WORD, cut, Relation.EQUAL, last, budget)
        candidates = ids if candidates is None else candidates & ids
        if not candidates:
            return found
    if candidates is None:
        return found
    if len(words) == 1:  # a word of the field: where it stands does not matter
        return found | candidates
    candidates -= found
    if len(candidates) > MAX_PHRASE_RECORDS:
        raise QueryTooBroad(f"more than {MAX_PHRASE_RECORDS} records have every word of "
                            f"the phrase {match.term!r}")
    budget.spend(len(candidates))
    spaced = [f" {cut}" if truncated else f" {cut} " for cut in phrases]
    found.update(record_id for record_id, held in phrase_terms(
        connection, ANSWERING[match.index, PHRASE], sorted(candidates)
    ) if any(cut in f" {held} " for cut in spaced))  # fmt: skip
    return found


def _check_comparable(match: Match, keys: list[str]) -> None:
    """Refuse a relation leaf whose term cannot be compared with the index's terms."""
    if match.truncation or (len(keys) > 1 and match.index != DATE):
        raise UnsupportedCombination(
            f"relation {match.relation} needs one untruncated term, got {match.term!r}"
        )
    if match.index == DATE:
        _check_year(match, keys)


def _check_year(match: Match, keys: list[str]) -> None:
    """Refuse a term whose keys are not one year (truncated: the first digits of one)."""
    key = keys[0] if len(keys) == 1 else ""
    begun = match.truncation and 0 < len(key) < 4 and key.isascii() and key.isdigit()
    if not (begun or is_year(key)):
        raise NotAYear(f"not a year: {match.term}")


def _upper_key(match: Match) -> str:
    """The key of a ``within`` leaf's upper end ("" when it has nothing searchable), refused
    as its lower end would be (:func:`_check_comparable`)."""
    upper = Match(match.index, match.upper, phrase=match.phrase, relation=match.relation)
    _, keys = _keys(upper)
    _check_comparable(upper, keys)
    return keys[0] if keys else ""


def within(index: str, first: str, second: str) -> Match:
    """Records whose ``index`` has a term from one bound to the other, both included, in
    whichever order the bounds come (CQL's ``within "a b"``: a range names the values between
    its two ends; ``"2010 2000"`` asked for years >= 2010 and <= 2000, and found nothing).

    One leaf, not a leaf ``>= a`` and a leaf ``<= b``: each of those is met by any term of a
    record, so ``title within "mir mir"`` found every title with a word after "mir" and a
    word before it (6 records of 9, where ``title = mir`` finds 1). Bounds that cannot be
    compared are left as given, to be refused where the leaf is evaluated
    (:class:`NotAYear`, :class:`UnsupportedCombination`)."""
    low, high = _comparable_key(index, first), _comparable_key(index, second)
    if low is not None and high is not None and high < low:
        first, second = second, first
    return Match(index, first, relation=Relation.WITHIN, upper=second)


def _comparable_key(index: str, term: str) -> str | None:
    """The one key a relation leaf of ``term`` on ``index`` compares with the index's terms,
    None when it has none (several words, a date that is no year, nothing searchable)."""
    if not term.strip():
        return None
    _, keys = _keys(Match(index, term, relation=Relation.GREATER_OR_EQUAL))
    if len(keys) != 1 or (index == DATE and not is_year(keys[0])):
        return None
    return keys[0]


def _numbers(fields: tuple[int, ...]) -> list[ColumnElement[int]]:
    """``fields`` written into the SQL: our own small numbers (never input), each statement
    built once for its fields. psycopg parses again at every execution a statement longer than
    4 kB, as a scan page of ``any`` is (:func:`_walk`): 76 µs of the client's time with its 44
    numbers bound, 19 µs with them written."""
    return [literal_column(str(int(field)), Integer) for field in fields]


def _in_fields(fields: tuple[int, ...]) -> ColumnElement[bool]:
    """Rows of ``fields`` (compiled once, no expanding IN)."""
    numbers = _numbers(fields)
    return terms.c.field == numbers[0] if len(numbers) == 1 else terms.c.field.in_(numbers)


_TERM, _UPPER = bindparam("term"), bindparam("upper")
_CONDITIONS: dict[Relation | None, ColumnElement[bool]] = {
    None: (terms.c.term >= _TERM) & (terms.c.term < _UPPER),  # right truncation
    Relation.LESS: terms.c.term < _TERM,
    Relation.LESS_OR_EQUAL: terms.c.term <= _TERM,
    Relation.EQUAL: terms.c.term == _TERM,
    Relation.GREATER_OR_EQUAL: terms.c.term >= _TERM,
    Relation.GREATER: terms.c.term > _TERM,
    Relation.WITHIN: (terms.c.term >= _TERM) & (terms.c.term <= _UPPER),
}


# Built once per fields and relation: the statements differ only in bound values, so
# SQLAlchemy's compiled cache is hit without rebuilding expression trees per query.
@cache
def _lookup(fields: tuple[int, ...], relation: Relation | None) -> Select[tuple[int]]:
    """The ids of the terms of ``fields`` meeting ``relation`` (None: right truncation) with
    the bound term (bound: rows, the most rows read). A record is read again for each of its
    terms that meets it, in each field: the caller keeps each id once."""
    statement = select(terms.c.record_id).where(_in_fields(fields), _CONDITIONS[relation])
    return statement.limit(bindparam("rows"))


# The statements of a one-term search and its pages: run on the DBAPI cursor (catalog.prepared).
def _term_rows(fields: tuple[int, ...], term: ColumnElement[str]) -> list[ColumnElement[bool]]:
    """The rows having ``term`` in each of ``fields``, one condition (one index range) a field:
    a term's records are counted, paged and first found field by field."""
    return [(terms.c.field == number) & (terms.c.term == term) for number in _numbers(fields)]


def _field_counts(fields: tuple[int, ...], term: ColumnElement[str]) -> list[ScalarSelect[int]]:
    """How many records have ``term`` in each of ``fields`` (grouping the rows by field counts
    three times slower)."""
    counts = [select(func.count()).where(rows) for rows in _term_rows(fields, term)]
    return [count.scalar_subquery() for count in counts]


@cache
def _per_field(fields: tuple[int, ...]) -> Prepared:
    """How many records have the bound term in each of ``fields``."""
    return Prepared(select(*_field_counts(fields, _TERM)))


@cache
def _distinct(fields: tuple[int, ...]) -> Prepared:
    """How many records have the bound term in ``fields``, each once."""
    ids = terms.c.record_id.distinct()
    return Prepared(select(func.count(ids)).where(_in_fields(fields), terms.c.term == _TERM))


def _totals(
    connection: Connection, fields: tuple[int, ...], counts: Sequence[tuple[str, Sequence[int]]]
) -> list[int]:
    """How many records have each term, from how many have it in each of ``fields``
    (:data:`ANSWERING` an index, own field first), given as ``(term, counts)``.

    No record has a term both in the index's own field and in another (see ``ANSWERING``), so
    the own field's records are added up with the others'; the others' are counted once each
    with a DISTINCT only for a term two of them have (a DISTINCT sorts every row of the term:
    five times the cost of a plain count for a word of 11,000 records), one statement a term
    (one for all the terms of a scan page sorts all their rows together: twice the cost).
    """
    totals = []
    for term, (own, *others) in counts:
        having = [n for n in others if n]
        if len(having) > 1:
            (row,) = _distinct(fields[1:]).rows(connection, {"term": term})
            totals.append(own + row[0])
        else:
            totals.append(own + sum(having))
    return totals


def _tally(connection: Connection, fields: tuple[int, ...], key: str) -> int:
    """How many records have ``key`` in ``fields`` (:data:`ANSWERING` an index).

    Its own statement, not columns of the first window's: that saved PostgreSQL a round trip
    when the window fills (30 µs) but cost more when it does not (25-40 µs), and SQLite more
    either way (``any``: 86 -> 138 µs for a word of 1,009 records).
    """
    if _on_fts(connection):
        return fts_query.tally(connection, fields, key)
    (row,) = _per_field(fields).rows(connection, {"term": key})
    return _totals(connection, fields, [(key, row)])[0]


@cache
def _page(fields: tuple[int, ...]) -> Prepared:
    """The first ``n`` ids after ``after`` of the records having the bound term in ``fields``:
    the first ``n`` of each field (an index seek each), each id once (a DISTINCT over all the
    fields reads every row of the term: 50 times slower for a word of 11,000 records)."""
    firsts = [
        select(terms.c.record_id)
        .where(rows, terms.c.record_id > bindparam("after"))
        .order_by(terms.c.record_id)
        .limit(bindparam("n"))
        for rows in _term_rows(fields, _TERM)
    ]
    if len(firsts) == 1:
        return Prepared(firsts[0])
    every = union(*(select(first.subquery().c.record_id) for first in firsts)).subquery()
    return Prepared(select(every.c.record_id).order_by(every.c.record_id).limit(bindparam("n")))


def _read_ids(
    connection: Connection,
    index: str,
    kind: str,
    key: str,
    relation: Relation,
    truncated: bool,
    budget: _Budget,
    upper: str | None = None,
) -> set[int]:
    """The ids of one key's index rows; reads no more than the leaf and query caps allow (plus
    one row, to tell that a cap is exceeded). A record having the key in several of the fields
    answering the index (``any``) is that many rows read, each counted against the caps.
    ``upper``: the upper end of a ``within`` range starting at ``key``."""
    rows_cap = min(MAX_TERM_ROWS, max(budget.left, 0)) + 1
    if _on_fts(connection):
        ids, read = fts_query.read_ids(connection, ANSWERING[index, kind], key,
                                       None if truncated else relation, rows_cap - 1, upper)
        if read > MAX_TERM_ROWS:
            raise QueryTooBroad(f"more than {MAX_TERM_ROWS} index entries")
        budget.spend(read)
        return ids
    statement = _lookup(ANSWERING[index, kind], None if truncated else relation)
    values = {"term": key, "upper": key + _TOP if upper is None else upper, "rows": rows_cap}
    result = connection.execute(statement, values)
    # Thousands of plain integers: read them from the DBAPI cursor, skipping SQLAlchemy's per-row
    # Row construction (measured 5x faster for 8,000 ids; the column needs no type processing).
    with result:
        rows = result.cursor.fetchall()
    if len(rows) > MAX_TERM_ROWS:
        raise QueryTooBroad(f"more than {MAX_TERM_ROWS} index entries")
    budget.spend(len(rows))
    return {row[0] for row in rows}


def sort_ids(
    connection: Connection, ids: Sequence[int], keys: Sequence[tuple[str, bool]]
) -> list[int]:
    """``ids`` ordered by ``keys``, each ``(index, descending)`` with index in ``SORTABLE``.

    The sort is stable and records without a key for an index come after those with one, in
    either direction. Raises :class:`QueryError` for an index that has no sort keys.
    """
    ordered = list(ids)
    for index, descending in reversed(keys):
        if index not in SORTABLE:
            raise QueryError(f"index {index!r} has no sort keys")
        values = _sort_values(connection, index, ordered)
        present = [i for i in ordered if i in values]
        present.sort(key=values.__getitem__, reverse=descending)
        ordered = present + [i for i in ordered if i not in values]
    return ordered


def _sort_values(connection: Connection, index: str, ids: Sequence[int]) -> dict[int, str]:
    key = connection.dialect.identifier_preparer.quote(sort_keys.c[index].name)
    statement = (f"SELECT record_id, {key} FROM sort_keys "
                 f"WHERE record_id IN ({{values}}) AND {key} IS NOT NULL")
    return dict(execute_in(connection, statement, list(ids)))


def scan(
    connection: Connection,
    index: str,
    term: str,
    *,
    phrase: bool = False,
    count: int = 20,
    position: int = 1,
) -> ScanPage:
    """Up to ``count`` terms of ``index`` in order, with how many records have each.

    The first term at or after ``term`` (normalized like a query term) stands at 1-based
    ``position`` of the answer, so ``position - 1`` terms before it come first (fewer at the
    start of the index). At ``position`` 0, ``term`` stands just before the answer: the answer
    starts after it (SRU's responsePosition and Z39.50's preferredPositionInResponse both run
    from 0 to ``count + 1``). Phrase terms are scanned when ``phrase`` is true (keyed indexes
    have only keys). ``count`` is bounded by the caller: the search service refuses more than
    ``search.max_scan_terms``.
    """
    if index not in INDEXES:
        raise UnknownIndex(f"no index {index!r}")
    count = max(0, count)
    position = max(0, min(position, count + 1))
    if index in KEYED:
        kind, start = WORD, "".join(query_keys(index, term))
    elif phrase:
        kind, start = PHRASE, phrase_of(term)
    else:
        keyed = number_keys(term) if index in _NUMBERED else None
        kind, start = WORD, " ".join(words_of(term if keyed is None else keyed))
    fields = ANSWERING[index, kind]
    shown = index not in KEYED  # a keyed index has no display forms: no first records to read
    # one term more each way than the answer holds says whether the index goes on past it
    wanted = max(position - 1, 0)
    before = _scan_rows(connection, fields, start, wanted + 1, descending=True, firsts=shown)
    more_before, before = len(before) > wanted, before[:wanted]
    wanted = count - len(before)
    extra = 2 if position == 0 else 1  # at 0 the term itself may come first, and is dropped
    after = _scan_rows(connection, fields, start, wanted + extra, descending=False, firsts=shown)
    if position == 0 and after and after[0].term == start:
        more_before, after = True, after[1:]  # the term itself stands before the answer
    more_after, after = len(after) > wanted, after[:wanted]
    entries = list(reversed(before)) + after
    firsts = {e.term: e.first for e in entries if e.first is not None}
    forms = _display_forms(connection, index, kind, firsts)
    return ScanPage(
        [ScanEntry(e.term, e.count, forms.get(e.term, "")) for e in entries],
        len(before) + 1 if position else 0,
        more_before,
        more_after,
    )


class _Counted(NamedTuple):
    """A term scanned, how many records have it and the first of them (lowest id; None when
    not read)."""

    term: str
    count: int
    first: int | None


def _display_forms(
    connection: Connection, index: str, kind: str, firsts: dict[str, int]
) -> dict[str, str]:
    """Each key's catalogued form, as written in the first record that has it (``firsts``).

    Read when a scan is answered (one query for their MARC), not stored: the index holds folded
    keys only, and a form is only wanted for the few keys a scan shows. A key whose first record
    gives no form is left out.
    """
    if not firsts:
        return {}
    records = {
        row.id: read_canonical(row.marc)
        for row in connection.execute(
            select(models.records.c.id, models.records.c.marc).where(
                models.records.c.id.in_(set(firsts.values())), models.records.c.marc.is_not(None)
            )
        )
    }
    forms: dict[int, dict[str, str]] = {}
    found: dict[str, str] = {}
    for key, record_id in firsts.items():
        record = records.get(record_id)
        if record is None:
            continue
        if record_id not in forms:
            forms[record_id] = forms_of(record, index, kind)
        form = forms[record_id].get(key)
        if form:
            found[key] = form
    return found


def _scan_rows(
    connection: Connection,
    fields: tuple[int, ...],
    start: str,
    limit: int,
    *,
    descending: bool,
    firsts: bool,
) -> list[_Counted]:
    """The first ``limit`` terms of ``fields`` from ``start`` on (descending: before it) with
    how many records have each, and (``firsts``) the first."""
    if limit <= 0:
        return []
    if _on_fts(connection):
        return [_Counted(*row) for row in fts_query.scan_rows(
            connection, fields, start, limit, descending=descending, firsts=firsts)]
    rows = _walk(fields, descending, firsts).rows(connection, {"term": start, "limit": limit})
    width = len(fields)
    totals = _totals(connection, fields, [(row[0], row[1 : 1 + width]) for row in rows])
    return [
        _Counted(row[0], total, min((f for f in row[1 + width :] if f is not None), default=None))
        for row, total in zip(rows, totals, strict=True)
    ]


_ZERO, _ONE = literal_column("0"), literal_column("1")


@cache
def _walk(fields: tuple[int, ...], descending: bool, firsts: bool) -> Prepared:
    """The first ``limit`` terms of ``fields`` from the bound term on (descending: before it),
    in order (:func:`_merged`), each with how many records have it in each field and, with
    ``firsts``, the first of them there (0 and NULL in a field without it, which is not read).

    One statement, so that a page is one round trip to the server: a scan of ``any`` that sent
    each seek and each count on its own made some 50 round trips a page, 1.3-3 times the time
    on PostgreSQL. A page of 20 rare terms of ``any``: 0.5 ms on PostgreSQL, 3.5 ms before; 0.2
    ms of CPU on SQLite, 0.5 ms before.
    """
    walk = _merged(fields, descending)
    holding = [walk.c[f"h{n}"] == walk.c.term for n in range(len(fields))]
    counts = _field_counts(fields, walk.c.term)
    columns = [
        walk.c.term,
        *(case((has, count), else_=_ZERO) for has, count in zip(holding, counts, strict=True)),
    ]
    if firsts:
        lowest = [
            select(func.min(terms.c.record_id)).where(rows).scalar_subquery()
            for rows in _term_rows(fields, walk.c.term)
        ]
        columns += [case((has, first)) for has, first in zip(holding, lowest, strict=True)]
    page = select(*columns).where(walk.c.phase == _ONE, walk.c.term.is_not(None))
    return Prepared(page.order_by(walk.c.n))


def _merged(fields: tuple[int, ...], descending: bool) -> CTE:
    """The terms of ``fields`` from the bound term on (descending: before it), at most the
    bound ``limit``: a recursive query, the merge of the fields' ordered terms.

    It keeps each field's next term (its head, ``h0``..) and alternates two kinds of rows
    (``phase``): a heads row (0) gives the term row (1) that follows it the least of its heads
    (greatest when descending); a term row gives the heads row that follows it its heads, those
    equal to its term moved on by an index seek in their field. So a term costs a seek in each
    field that has it (a field has the term of a term row when its head is that term), and no
    term past the page is read. ``n`` numbers the terms.
    """
    numbers = _numbers(fields)
    seek = func.max if descending else func.min
    start = terms.c.term < _TERM if descending else terms.c.term >= _TERM
    anchor = select(
        null().cast(terms.c.term.type).label("term"),
        *(_head(number, seek, start).label(f"h{n}") for n, number in enumerate(numbers)),
        _ZERO.label("phase"),
        _ZERO.label("n"),
    )
    walk = anchor.cte("walk", recursive=True)
    heads = [walk.c[f"h{n}"] for n in range(len(fields))]
    each = union_all(*(select(head.label("head")).correlate(walk) for head in heads))
    least = select(seek(each.subquery("heads").c.head)).scalar_subquery()
    beyond = terms.c.term < walk.c.term if descending else terms.c.term > walk.c.term
    on_heads, on_term = walk.c.phase == _ZERO, walk.c.phase == _ONE
    step = select(
        case((on_heads, least)).cast(terms.c.term.type),  # the type the anchor's NULL has
        *(
            case((on_term & (head == walk.c.term), _head(number, seek, beyond)), else_=head)
            for head, number in zip(heads, numbers, strict=True)
        ),
        _ONE - walk.c.phase,
        walk.c.n + case((on_heads, _ONE), else_=_ZERO),
    )
    # A term row that found no term (every field ended) ends the walk, as does the last term.
    return walk.union_all(
        step.where(walk.c.n < bindparam("limit"), on_heads | walk.c.term.is_not(None))
    )


def _head(
    number: ColumnElement[int], seek: Callable[..., ColumnElement[str]], beyond: ColumnElement[bool]
) -> ScalarSelect[str]:
    """The ``seek`` (min or max) of the terms of field ``number`` meeting ``beyond``, NULL for
    none: an index seek."""
    return (
        select(seek(terms.c.term))
        .where(terms.c.field == number, beyond)
        .correlate_except(terms)  # the term it starts from is the enclosing walk's
        .scalar_subquery()
    )


@dataclass(frozen=True)
class StoredRecord:
    """A record as Present serves it: canonical MARC (None once deleted) and one rendition."""

    id: int
    local_id: str
    marc: bytes | None
    rendition: bytes | None


@cache
def _fetch_statement(size: int, with_rendition: bool) -> Prepared:
    """Records (and one rendition) of ``size`` ids bound as ``id0``.. (a fixed list of
    parameters: compiled once, where an expanding IN is re-rendered on every execution)."""
    r, rend = models.records, models.renditions
    columns = [r.c.id, r.c.local_id, r.c.marc, models.hidden().label("deleted")]
    ids = r.c.id.in_([bindparam(f"id{n}") for n in range(size)])
    if not with_rendition:
        return Prepared(select(*columns, null().label("data")).where(ids))
    joined = r.outerjoin(
        rend, and_(rend.c.record_id == r.c.id, rend.c.format == bindparam("prefix"))
    )
    return Prepared(select(*columns, rend.c.data).select_from(joined).where(ids))


_ID_NAMES = tuple(f"id{n}" for n in range(_CHUNK))


def fetch(
    connection: Connection, ids: Sequence[int], prefix: str | None = None
) -> list[StoredRecord]:
    """The records ``ids`` (in that order; unknown ids are left out) with their ``prefix``
    rendition when one is named. Callers bound ``len(ids)``."""
    found: dict[int, StoredRecord] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        # Statements come in power-of-two sizes (fewer to compile); the last id fills the rest.
        size = min(_CHUNK, 1 << (len(chunk) - 1).bit_length())
        values: dict[str, Any] = dict(zip(_ID_NAMES, chunk, strict=False))
        values.update(dict.fromkeys(_ID_NAMES[len(chunk) : size], chunk[-1]))
        if prefix is not None:
            values["prefix"] = prefix
        for record_id, local_id, marc, deleted, data in _fetch_statement(
            size, prefix is not None
        ).rows(connection, values):
            found[record_id] = StoredRecord(
                id=record_id,
                local_id=local_id,
                marc=None if deleted else marc,
                rendition=None if deleted else data,
            )
    return [found[i] for i in ids if i in found]
