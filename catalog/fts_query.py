"""The search index's lookups on SQLite, where it is an FTS5 table (:mod:`catalog.search_index`).

Each record is one FTS5 document whose tokens are its terms, each written as
:func:`~catalog.search_index.token` (field number and UTF-8 in hex), so a term of a field is
one token, a right-truncated term a token prefix, and the terms of a field in order are the
tokens of one range of the FTS5 vocabulary. :mod:`catalog.query` asks these for the leaves,
pages, counts and scans of a query; PostgreSQL's B-tree index answers the same questions there.

Writing a record's terms as one document instead of a B-tree row each was measured on the
terms of 19,794 harvested records (955,132 terms): about 27 against 272 µs of SQLite's CPU a
record, and 15 against 42 MB (the pairs kept in ``search_docs`` included).

Every read is bounded: a leaf reads at most ``cap`` ids, and a truncated term or a relation is
first counted in the vocabulary (which stops once ``cap`` is passed) before its documents are
merged, so a term like ``a*`` costs what ``cap`` postings cost, never the whole index. A Scan
before a term reads its terms with ascending reads of a few more tokens than it shows, walked
down their hex digits (:func:`_last_before`), never the field's terms before it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

from sqlalchemy import Connection

from catalog.search_index import FTS, VOCABULARY, field_prefix, search_docs, term_of, token

_OR_CHUNK = 200
"""Tokens OR-ed in one MATCH when a range's terms are read together."""
_IDS = f"SELECT rowid FROM {FTS} WHERE {FTS} MATCH ? LIMIT ?"
_IDS_AFTER = f"SELECT rowid FROM {FTS} WHERE {FTS} MATCH ? AND rowid > ? ORDER BY rowid LIMIT ?"
_COUNT = f"SELECT count(*) FROM {FTS} WHERE {FTS} MATCH ?"
_FIRST = f"SELECT rowid FROM {FTS} WHERE {FTS} MATCH ? ORDER BY rowid LIMIT 1"
_RANGE = f"SELECT term, doc FROM {VOCABULARY} WHERE term >= ? AND term < ? ORDER BY term"
_DOCUMENTS_AFTER = (f"SELECT record_id FROM {search_docs.name} WHERE record_id > ? "
                    "ORDER BY record_id LIMIT ?")
_DOCUMENTS = f"SELECT count(*) FROM {search_docs.name}"


def _any_of(tokens: Sequence[str]) -> str:
    """The MATCH expression for documents with any of ``tokens`` (hex: barewords)."""
    return " OR ".join(tokens)


def _rows(connection: Connection, statement: str, values: tuple[object, ...]) -> list[tuple]:
    result = connection.exec_driver_sql(statement, values)
    with result:
        return result.cursor.fetchall()  # type: ignore[no-any-return]


def ids_after(
    connection: Connection, fields: tuple[int, ...], key: str, *, after: int, count: int
) -> list[int]:
    """The first ``count`` ids after ``after`` of the records having ``key`` in ``fields``."""
    expression = _any_of([token(field, key) for field in fields])
    return [row[0] for row in _rows(connection, _IDS_AFTER, (expression, after, count))]


def documents_after(connection: Connection, *, after: int, count: int) -> list[int]:
    """The first ``count`` ids after ``after`` of the records the index holds (a document
    each, its pairs a row of ``search_docs``, keyed by record id)."""
    return [row[0] for row in _rows(connection, _DOCUMENTS_AFTER, (after, count))]


def documents(connection: Connection) -> int:
    """How many records the index holds."""
    return int(_rows(connection, _DOCUMENTS, ())[0][0])


def tally(connection: Connection, fields: tuple[int, ...], key: str) -> int:
    """How many records have ``key`` in ``fields``, each once."""
    expression = _any_of([token(field, key) for field in fields])
    return int(_rows(connection, _COUNT, (expression,))[0][0])


class Bounds(NamedTuple):
    """A range of a field's tokens, as the two comparisons of its ends (``>=`` or ``>``, ``<``
    or ``<=``) with ``low`` and ``high``."""

    low: str
    high: str
    from_low: str = ">="
    to_high: str = "<"


def bounds(field: int, key: str, relation: str | None, upper: str | None = None) -> Bounds:
    """The tokens of ``field`` meeting ``relation`` (``<``, ``<=``, ``>``, ``>=``; None: the
    right truncation ``key*``) with ``key``; ``within``: from ``key`` to ``upper``, both
    included."""
    own, first, beyond = token(field, key), field_prefix(field), field_prefix(field + 1)
    if relation is None:
        return Bounds(own, own + "g")  # "g" sorts after every hex digit: every continuation
    if relation == "within" and upper is not None:
        return Bounds(own, token(field, upper), to_high="<=")
    if relation in ("<", "<="):
        return Bounds(first, own, to_high=relation)
    if relation == ">":
        return Bounds(own, beyond, from_low=">")
    return Bounds(own, beyond)


def read_ids(
    connection: Connection,
    fields: tuple[int, ...],
    key: str,
    relation: str | None,
    cap: int,
    upper: str | None = None,
) -> tuple[set[int], int]:
    """The ids of the records having in ``fields`` the term ``key`` (``relation`` ``=``), or a
    term meeting ``relation`` with it (None: right truncation; ``within``: a term from ``key``
    to ``upper``), and how many postings were read: at most ``cap`` + 1, so that more than
    ``cap`` tells the caller the leaf is too broad."""
    if relation == "=":
        expression = _any_of([token(field, key) for field in fields])
        found = [row[0] for row in _rows(connection, _IDS, (expression, cap + 1))]
        return set(found), len(found)
    tokens: list[str] = []
    postings = 0
    for field in fields:
        for text, documents in _tokens_in(connection, bounds(field, key, relation, upper)):
            tokens.append(text)
            postings += documents
            if postings > cap:
                return set(), postings
    ids: set[int] = set()
    for start in range(0, len(tokens), _OR_CHUNK):
        expression = _any_of(tokens[start : start + _OR_CHUNK])
        ids.update(row[0] for row in _rows(connection, _IDS, (expression, cap + 1)))
    return ids, postings


def _tokens_in(connection: Connection, where: Bounds) -> Iterator[tuple[str, int]]:
    """The tokens of a range in order, with how many documents have each, read one at a time
    (the vocabulary counts a token's documents when it is read: stopping early saves that)."""
    statement = (f"SELECT term, doc FROM {VOCABULARY} WHERE term {where.from_low} ? "
                 f"AND term {where.to_high} ? ORDER BY term")  # fmt: skip
    result = connection.exec_driver_sql(statement, (where.low, where.high))
    with result:
        yield from result.cursor


class ScanRow(NamedTuple):
    """A term scanned: how many records have it, and the first of them (None: not asked)."""

    term: str
    count: int
    first: int | None


def scan_rows(
    connection: Connection, fields: tuple[int, ...], start: str, limit: int, *,
    descending: bool, firsts: bool,
) -> list[ScanRow]:  # fmt: skip
    """The first ``limit`` terms of ``fields`` from ``start`` on (descending: those before it,
    nearest first), each once, with how many records have it in any of ``fields``."""
    by_term: dict[str, dict[int, int]] = {}
    for field in fields:
        for text, documents in _field_terms(connection, field, start, limit, descending):
            by_term.setdefault(term_of(text), {})[field] = documents
    chosen = sorted(by_term, reverse=descending)[:limit]
    found = []
    for term in chosen:
        held = by_term[term]
        expression = _any_of([token(field, term) for field in held])
        count = next(iter(held.values())) if len(held) == 1 else int(
            _rows(connection, _COUNT, (expression,))[0][0])  # fmt: skip
        first = _rows(connection, _FIRST, (expression,))[0][0] if firsts else None
        found.append(ScanRow(term, count, first))
    return found


def _field_terms(
    connection: Connection, field: int, start: str, limit: int, descending: bool
) -> list[tuple[str, int]]:
    """Up to ``limit`` tokens of ``field`` nearest ``start``: from it on, or before it (nearest
    first), with how many documents have each."""
    first, beyond, own = field_prefix(field), field_prefix(field + 1), token(field, start)
    if not descending:
        return _rows(connection, _RANGE + " LIMIT ?", (own, beyond, limit))
    return _last_before(connection, first, own, limit)


_PAST_PREFIX = "g"
"""What sorts after every continuation of a prefix (every hex digit)."""


def _last_before(
    connection: Connection, prefix: str, own: str, limit: int
) -> list[tuple[str, int]]:
    """The last ``limit`` tokens starting with ``prefix`` that sort before ``own``, nearest
    first, read with ascending reads of at most ``limit`` + 1 tokens each.

    The vocabulary reads a range in ascending order only (``ORDER BY term DESC`` reads and
    sorts the whole range, every term of the field before ``own`` at worst), so the tokens are
    walked down the hex trie: a range is read from its start, ``limit`` + 1 tokens at most;
    one holding no more tokens than are still wanted is taken whole, a denser one is split by
    the hex digit after the prefix all its tokens share (:func:`_shared`, :func:`_parts`) and
    its parts walked from the highest down. A dense part alone fills what is still wanted, so
    one range a level is split, each split costing at most 16 reads of its parts and 12 reads
    of one token (:func:`_shared`): the walk reads at most about
    ``depth`` × (``limit`` + 13) + ``limit`` tokens in at most 28 × ``depth`` + 1 reads,
    ``depth`` the number of splits (at most the hex length of the longest token, whatever the
    size of the vocabulary; a few where terms part as words do).
    """
    found: list[tuple[str, int]] = []
    pending = [(prefix, own)]  # ranges (low, high) to walk, the highest last
    while pending and len(found) < limit:
        low, high = pending.pop()
        wanted = limit - len(found)
        rows = _rows(connection, _RANGE + " LIMIT ?", (low, high, wanted + 1))
        if len(rows) <= wanted:
            found.extend(reversed(rows))
        else:
            pending.extend(_parts(_shared(connection, low, high, rows), high))
    return found


def _shared(connection: Connection, low: str, high: str, first: list[tuple]) -> str:
    """The longest prefix every token from ``low`` to ``high`` starts with (``low`` at least),
    ``first`` their first tokens, found by bisection between ``low`` and the prefix ``first``
    share, each step one read of a token at most; the first step asks one hex digit more than
    ``low``, so a range that splits right there costs one read. A long prefix many terms share
    (the headings of one subject) is then passed in a few reads, not a split of up to 16 reads
    a hex digit."""
    known = _common_prefix(first[0][0], first[-1][0])
    shortest, longest = len(low), len(known)  # every token shares known[:shortest]
    length = shortest + 1
    while shortest < longest:
        if _all_share(connection, known[:length], high):
            shortest = length
        else:
            longest = length - 1
        length = (shortest + longest + 1) // 2
    return known[:shortest]


def _common_prefix(one: str, other: str) -> str:
    """The longest prefix of both ``one`` and ``other``."""
    for length, (mine, theirs) in enumerate(zip(one, other, strict=False)):
        if mine != theirs:
            return one[:length]
    return one[: len(other)]


def _all_share(connection: Connection, prefix: str, high: str) -> bool:
    """Whether no token lies past the tokens starting with ``prefix`` and before ``high``."""
    beyond = prefix + _PAST_PREFIX
    return beyond >= high or not _rows(connection, _RANGE + " LIMIT 1", (beyond, high))


def _parts(prefix: str, high: str) -> list[tuple[str, str]]:
    """The range of the tokens from ``prefix`` to ``high`` (which all start with ``prefix``),
    dense, as ranges split by the next hex digit, in order.

    A token equal to ``prefix`` is in none of them: it sorts before all of the range's other
    tokens, which are at least as many as are wanted (the range holds more), so it is never
    among the last ones wanted."""
    parts = []
    for digit in "0123456789abcdef":
        low = prefix + digit
        if low >= high:
            break
        parts.append((low, min(low + _PAST_PREFIX, high)))
    return parts
