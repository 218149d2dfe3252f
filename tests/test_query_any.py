"""Index ``any`` answered from every field of its kind: the same answers as its full terms.

``any`` stores only the terms no other index of its kind has for a record; searches, counts,
windows, scans and display forms must still be those of every term :func:`terms_of` gives it.
The expected answers are worked out here from the ``terms_of`` of every live stored record,
apart from the index, on a catalogue of demo records (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator

import pytest
from pymarc import Record
from sqlalchemy import select

from catalog import Catalog, models
from catalog import query as q
from catalog.demo import demo_records
from catalog.query import And, AndNot, Match, Or, Relation
from catalog.search_index import (
    FIELDS,
    forms_of,
    phrase_of,
    query_keys,
    read_canonical,
    stored_terms,
    terms_of,
    words_of,
)
from catalog.store import Incoming
from config import SearchSettings
from provider.search import SearchService

DEMO_RECORDS = 800

Full = dict[str, dict[str, set[int]]]
"""kind -> term -> ids of the records whose full ``any`` has it."""


@pytest.fixture
def demo(catalog: Catalog) -> Iterator[tuple[Catalog, Full, dict[int, Record]]]:
    """A catalogue of demo records, the full ``any`` of its live records, and those records."""
    with catalog.writer() as writer:
        writer.put_many([Incoming(record) for record in demo_records(DEMO_RECORDS)])
    r = models.records
    with catalog.engine.connect() as connection:
        rows = connection.execute(
            select(r.c.id, r.c.marc).where(~models.hidden(), r.c.marc.is_not(None))
        ).all()
    stored = {row.id: read_canonical(row.marc) for row in rows}
    full: Full = {"w": defaultdict(set), "p": defaultdict(set)}
    for record_id, record in stored.items():
        for index, kind, term in terms_of(record):
            if index == "any":
                full[kind][term].add(record_id)
    yield catalog, full, stored


def expected_ids(full: Full, query: q.Query) -> set[int]:
    """``query`` (of ``any`` leaves) evaluated over the full terms."""
    if isinstance(query, Match):
        if query.phrase:
            kind, keys, upper = "p", [phrase_of(query.term)], phrase_of(query.upper)
        else:
            kind, keys, upper = "w", words_of(query.term), " ".join(words_of(query.upper))
        found: set[int] | None = None
        for position, key in enumerate(keys):
            last = position == len(keys) - 1
            test = _comparison(key, query.relation, query.truncation and last, upper)
            ids = {i for term, owners in full[kind].items() if test(term) for i in owners}
            found = ids if found is None else found & ids
        return found or set()
    assert isinstance(query, And | Or | AndNot)
    left, right = expected_ids(full, query.left), expected_ids(full, query.right)
    if isinstance(query, And):
        return left & right
    return left | right if isinstance(query, Or) else left - right


def _comparison(
    key: str, relation: Relation, truncated: bool, upper: str
) -> Callable[[str], bool]:
    if truncated:
        return lambda term: term.startswith(key)
    if relation == Relation.WITHIN:
        return lambda term: key <= term <= upper
    return {
        Relation.LESS: lambda term: term < key,
        Relation.LESS_OR_EQUAL: lambda term: term <= key,
        Relation.EQUAL: lambda term: term == key,
        Relation.GREATER_OR_EQUAL: lambda term: term >= key,
        Relation.GREATER: lambda term: term > key,
    }[relation]


def queries(full: Full, stored: dict[int, Record]) -> list[q.Query]:
    """Words and phrases met in titles, authors, subjects and notes (300, 310: ``any`` only),
    truncated prefixes, relations, keys (ISBN, year, language), Cyrillic and Latin forms, and
    combinations, all on ``any``."""
    words = sorted(full["w"])
    phrases = sorted(full["p"])
    picked = words[:: max(1, len(words) // 40)]
    first = stored[min(stored)]
    ordered = [stored[i] for i in sorted(stored)]
    isbn, extent, frequency, subject = (next(r[tag]["a"] for r in ordered if r.get(tag))
                                        for tag in ("020", "300", "310", "650"))  # fmt: skip
    leaves: list[q.Query] = [Match("any", word) for word in picked]
    leaves += [Match("any", phrase, phrase=True) for phrase in phrases[:: len(phrases) // 25]]
    leaves += [Match("any", word[:3], truncation=True) for word in picked[::4]]
    leaves += [Match("any", phrase[:5], phrase=True, truncation=True) for phrase in phrases[::97]]
    middle, third = words[len(words) // 2], phrases[len(phrases) // 3]
    upper = next(w for w in words[len(words) * 2 // 3 :] if words_of(w) == [w])  # one word
    leaves += [Match("any", middle, relation=r, upper=upper) for r in Relation]
    leaves += [Match("any", third, phrase=True, relation=r, upper=phrases[len(phrases) // 2])
               for r in Relation]  # fmt: skip
    leaves += [
        Match("any", "Навоий"),
        Match("any", "Navoiy"),
        Match("any", "Alisher Navoiy"),
        Match("any", "навоий, алишер", phrase=True),
        Match("any", "uzb"),
        Match("any", "rus"),
        Match("any", isbn),
        Match("any", isbn.replace("-", "")[:7], truncation=True),
        Match("any", _year(first)),
        Match("any", _year(first), relation=Relation.GREATER_OR_EQUAL),
        Match("any", first["245"]["a"], phrase=True),
        Match("any", first["245"]["a"]),
        Match("any", extent),
        Match("any", extent, phrase=True),
        Match("any", frequency),
        Match("any", subject, phrase=True),
        Match("any", subject),
        Match("any", "toshkent"),
        Match("any", "nosuchword"),
    ]
    combined: list[q.Query] = []
    for n, leaf in enumerate(leaves[:30]):
        other = leaves[-n - 1]
        combined += [And(leaf, other), Or(leaf, other), AndNot(leaf, other)]
    combined += [And(Match("any", "navoiy"), Or(Match("any", "uzb"), Match("any", "rus")))]
    combined += [AndNot(Match("any", "uzb"), Match("any", "Навоий"))]
    return leaves + combined


def _year(record: Record) -> str:
    return record["008"].data[7:11]


def test_any_stores_only_what_no_other_index_has(demo) -> None:  # type: ignore[no-untyped-def]
    catalog, full, _ = demo
    with catalog.engine.connect() as connection:
        rows = stored_terms(connection)
    other: dict[str, set[tuple[str, int]]] = {"w": set(), "p": set()}
    any_rows: dict[str, set[tuple[str, int]]] = {"w": set(), "p": set()}
    for field, term, record_id in rows:
        kind = "w" if field % 2 else "p"
        target = any_rows if field == FIELDS["any", kind] else other
        target[kind].add((term, record_id))
    for kind in ("w", "p"):
        every = {(term, i) for term, owners in full[kind].items() for i in owners}
        assert any_rows[kind] == every - other[kind]  # the residue, no copy
        assert any_rows[kind] | other[kind] == every  # together: the full any
        assert len(any_rows[kind]) < len(every) * 3 // 4  # (demo: 40% of words, 62% of phrases)


def test_searches_and_counts_equal_the_full_any(demo) -> None:  # type: ignore[no-untyped-def]
    catalog, full, stored = demo
    checked = 0
    with catalog.engine.connect() as connection:
        for query in queries(full, stored):
            expected = sorted(expected_ids(full, query))
            result = q.search(connection, query, limit=100_000)
            assert (result.ids, result.count) == (expected, len(expected)), query
            windowed = q.search(connection, query, limit=100_000, window=7)
            assert windowed.count == len(expected), query
            assert windowed.ids == expected[: len(windowed.ids)], query
            if not windowed.complete:
                rest = q.more_ids(connection, query, after=windowed.ids[-1], count=100_000)
                assert windowed.ids + rest == expected, query
            checked += bool(expected)
    assert checked > 60  # most questions find something


def expected_scan(
    full: Full, stored: dict[int, Record], kind: str, start: str, count: int, position: int
) -> list[tuple[str, int, str]]:
    """The page of a scan, from the full terms; each shown in the first record's form."""
    ordered = sorted(full[kind])
    before = [t for t in ordered if t < start]
    before = before[max(0, len(before) - (position - 1)) :]
    after = [t for t in ordered if t >= start][: count - len(before)]
    shown = []
    for term in before + after:
        owners = full[kind][term]
        form = forms_of(stored[min(owners)], "any", kind).get(term, "")
        shown.append((term, len(owners), form))
    return shown


def test_scans_equal_the_full_any(demo) -> None:  # type: ignore[no-untyped-def]
    """Pages from the start of the index, within it, past its end, and ending within the page
    (from its fifth last term)."""
    catalog, full, stored = demo
    starts = {
        "w": ["", "a", "navoiy", "Навоий", "1990", "97899", "uzb", "toshk", "zzzz"],
        "p": ["", "a", "navoiy alisher", "Ўзбекистон", "toshkent", "zzzz"],
    }
    for kind, texts in starts.items():
        texts.append(sorted(full[kind])[-5])
    with catalog.engine.connect() as connection:
        for kind, texts in starts.items():
            for text in texts:
                start = " ".join(words_of(text)) if kind == "w" else phrase_of(text)
                for count, position in ((20, 1), (10, 5), (7, 8), (30, 31), (1, 1)):
                    page = q.scan(connection, "any", text, phrase=kind == "p", count=count,
                                  position=position)  # fmt: skip
                    got = [(e.term, e.count, e.display) for e in page.entries]
                    want = expected_scan(full, stored, kind, start, count, position)
                    assert got == want, (kind, text, count, position)
                    assert page.position == 1 + sum(term < start for term, _, _ in want)


def test_a_keyed_any_question_is_the_keys(demo) -> None:  # type: ignore[no-untyped-def]
    """ISBN keys reach ``any`` from the ISBN index only (``any`` stores none of them)."""
    catalog, full, stored = demo
    record_id, record = next((i, r) for i, r in sorted(stored.items()) if r["020"])
    key = query_keys("isbn", record["020"]["a"])[0]
    with catalog.engine.connect() as connection:
        in_any = len({i for f, t, i in stored_terms(connection)
                      if (f, t) == (FIELDS["any", "w"], key)})  # fmt: skip
        found = q.search(connection, Match("any", key), limit=10, window=5)
    assert in_any == 0
    assert record_id in found.ids and found.ids == sorted(full["w"][key])


def test_a_term_in_several_indexes_of_a_record_counts_it_once(demo) -> None:  # type: ignore[no-untyped-def]
    """A record whose title and subject (say) share a word has it in two fields answering
    ``any``: counts, windows and scans must see one record."""
    catalog, full, stored = demo
    doubled: dict[tuple[str, str], int] = defaultdict(int)
    for record in stored.values():
        owners: dict[tuple[str, str], int] = defaultdict(int)
        for index, kind, term in terms_of(record):
            if index != "any" and kind != "s":
                owners[kind, term] += 1
        for key, n in owners.items():
            doubled[key] += n > 1
    for kind in ("w", "p"):
        term = max((n, t) for (k, t), n in doubled.items() if k == kind)[1]
        assert doubled[kind, term] > 3  # records with it twice, more than the window
        expected = sorted(full[kind][term])
        match = Match("any", term, phrase=kind == "p")
        with catalog.engine.connect() as connection:
            first = q.search(connection, match, limit=100_000, window=3)
            rest = q.more_ids(connection, match, after=first.ids[-1], count=100_000)
            (entry,) = q.scan(connection, "any", term, phrase=kind == "p", count=1).entries
        assert (first.count, first.ids + rest) == (len(expected), expected)
        assert (entry.term, entry.count) == (term, len(expected))


def test_a_scan_page_of_the_most_terms_equals_the_full_any(demo) -> None:  # type: ignore[no-untyped-def]
    """A page of the most terms a scan answers by default (``search.max_scan_terms``), before
    a start term, after it, and both: the walk from term to term goes the whole length of the
    page."""
    catalog, full, stored = demo
    most = SearchSettings().max_scan_terms
    middle = {kind: sorted(full[kind])[len(full[kind]) // 2] for kind in ("w", "p")}
    pages = [("w", "", 1), ("w", middle["w"], most // 2), ("w", "zzzz", most + 1),
             ("p", middle["p"], most // 3)]  # fmt: skip
    with catalog.engine.connect() as connection:
        for kind, text, position in pages:
            start = " ".join(words_of(text)) if kind == "w" else phrase_of(text)
            page = q.scan(connection, "any", text, phrase=kind == "p", count=most,
                          position=position)  # fmt: skip
            want = expected_scan(full, stored, kind, start, most, position)
            assert len(want) == most  # the demo has more terms than one page on each side
            assert [(e.term, e.count, e.display) for e in page.entries] == want, (kind, text)
            assert page.position == 1 + sum(term < start for term, _, _ in want)


def test_a_scan_answers_as_many_terms_as_search_max_scan_terms_allows(demo) -> None:  # type: ignore[no-untyped-def]
    """Raised above its default, ``search.max_scan_terms`` is the most a scan answers, as the
    README says: the catalogue cut every scan page to 500 terms whatever the setting."""
    catalog, full, stored = demo
    most = 2 * SearchSettings().max_scan_terms
    service = SearchService(catalog, SearchSettings(max_scan_terms=most))
    with catalog.engine.connect() as connection:
        page = service.scan(connection, "any", "", count=most)
    want = expected_scan(full, stored, "w", "", most, 1)
    assert len(want) == most  # the demo has more word terms than that
    assert [(e.term, e.count, e.display) for e in page.entries] == want


@pytest.mark.parametrize("index", ["any", "title", "isbn"])
def test_a_scan_of_an_empty_index_is_empty(catalog: Catalog, index: str) -> None:
    with catalog.engine.connect() as connection:
        for text, phrase, count, position in (("", False, 20, 1), ("m", True, 10, 5),
                                              ("zzzz", False, 5, 6)):  # fmt: skip
            page = q.scan(connection, index, text, phrase=phrase, count=count, position=position)
            assert (page.entries, page.position) == ([], 1)
