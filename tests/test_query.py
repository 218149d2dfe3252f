"""The query model evaluated against the index, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from catalog import Catalog
from catalog import query as q
from catalog.query import And, AndNot, Every, Ids, Match, Or, Relation
from tests.z3950_target_fixtures import NAVOIY, handmade_records


@pytest.fixture
def loaded(catalog):  # type: ignore[no-untyped-def]
    with catalog.writer() as writer:
        for record in handmade_records():
            writer.put(record)
    with catalog.engine.connect() as connection:
        rows = connection.execute(q.select(q.models.records.c.id, q.models.records.c.local_id))
        ids = {row.local_id: row.id for row in rows}
    return catalog, ids


def run(loaded, query: q.Query, limit: int = 1000) -> set[str]:  # type: ignore[no-untyped-def]
    catalog, ids = loaded
    names = {v: k for k, v in ids.items()}
    with catalog.engine.connect() as connection:
        result = q.search(connection, query, limit=limit)
    assert result.ids == sorted(result.ids)
    return {names[i] for i in result.ids}


def test_words_phrases_truncation_and_booleans(loaded) -> None:  # type: ignore[no-untyped-def]
    assert run(loaded, Match("author", "НАВОИЙ")) == NAVOIY
    assert run(loaded, Match("title", "Xamsa besh")) == {"uz-nav-cyr", "uz-nav-lat"}
    assert run(loaded, Match("title", "xamsa besh", phrase=True)) == set()
    assert run(loaded, Match("title", "Хамса: беш достон", phrase=True)) == {
        "uz-nav-cyr",
        "uz-nav-lat",
    }
    assert run(loaded, Match("title", "xams", truncation=True)) == NAVOIY
    assert run(loaded, Match("title", "xams")) == set()
    assert run(loaded, Match("any", "besh dost", truncation=True)) == {"uz-nav-cyr", "uz-nav-lat"}
    assert run(loaded, And(Match("author", "navoiy"), Match("date", "2015"))) == {"uz-nav-lat"}
    assert run(loaded, Or(Match("title", "voyna"), Match("title", "mir"))) == {"ru-tolstoy"}
    assert run(loaded, AndNot(Match("author", "navoiy"), Match("title", "doston"))) == {
        "us-nav-alalc"
    }
    assert run(loaded, Match("title", "?!", phrase=True)) == set()


def test_relations_on_dates(loaded) -> None:  # type: ignore[no-untyped-def]
    years = {Relation.LESS: {"us-nav-alalc", "ru-tolstoy"},
             Relation.LESS_OR_EQUAL: {"us-nav-alalc", "ru-tolstoy", "uz-nav-cyr"},
             Relation.EQUAL: {"uz-nav-cyr"},
             Relation.GREATER_OR_EQUAL: {"uz-nav-cyr", "us-adabiyoti", "en-heritage",
                                         "uz-history-cyr", "uz-history-lat", "uz-ovozi",
                                         "uz-nav-lat"},
             Relation.GREATER: {"us-adabiyoti", "en-heritage", "uz-history-cyr",
                                "uz-history-lat", "uz-ovozi", "uz-nav-lat"}}  # fmt: skip
    for relation, expected in years.items():
        assert run(loaded, Match("date", "1991", relation=relation)) == expected, relation


def test_a_year_leaf_is_one_year_or_the_beginning_of_one(loaded) -> None:  # type: ignore[no-untyped-def]
    """Bib-1 structure year: the term's keys judged as a relation's are (``[1991]`` is 1991,
    and an empty term is empty, 125, not 'not a year'); truncated, the first digits of one."""
    def year(term: str, truncation: bool = False) -> set[str]:
        return run(loaded, Match("date", term, truncation=truncation, year=True))

    assert year("1991") == year("[1991]") == {"uz-nav-cyr"}
    assert year("201", truncation=True) == {"uz-ovozi", "uz-nav-lat"}
    for term, truncation in [("abc", False), ("abc", True), ("1991 1992", False),
                             ("19915", True), ("\u0661\u0669\u0669\u0661", False)]:  # fmt: skip
        with pytest.raises(q.NotAYear):
            year(term, truncation)
    with pytest.raises(q.EmptyTerm):
        year(" ")


def test_within_asks_for_one_term_in_the_range(loaded) -> None:  # type: ignore[no-untyped-def]
    """One of the index's terms between the two ends, whichever comes first: ``>= mir`` and
    ``<= mir`` as two leaves found every title with a word after mir and one before it (6)."""
    assert run(loaded, q.within("title", "mir", "mir")) == run(loaded, Match("title", "mir"))
    assert run(loaded, q.within("title", "mir", "mirz")) == {"ru-tolstoy"}
    assert run(loaded, q.within("date", "1996", "1991")) == {"uz-nav-cyr", "en-heritage"}
    assert run(loaded, q.within("date", "1992", "1995")) == set()
    with pytest.raises(q.NotAYear):
        run(loaded, q.within("date", "1991", "199x"))
    with pytest.raises(q.UnsupportedCombination):
        run(loaded, q.within("title", "a", "two words"))


def test_a_leading_phrase_begins_the_field(loaded) -> None:  # type: ignore[no-untyped-def]
    """Bib-1 position 1: the phrase, or the phrase followed by more words, never a longer
    word (``voyn``) and never a phrase inside the field (``i mir``)."""
    def leading(term: str) -> set[str]:
        return run(loaded, Match("title", term, phrase=True, leading=True))

    assert leading("voyna") == leading("Война и") == leading("voyna i mir") == {"ru-tolstoy"}
    assert leading("voyn") == leading("i mir") == set()
    catalog, _ = loaded
    with catalog.engine.connect() as connection:
        windowed = q.search(connection, Match("title", "voyna", phrase=True, leading=True),
                            limit=10, window=1)  # fmt: skip
    assert windowed.count == 1


def test_a_phrase_inside_stands_anywhere_in_a_field_word_for_word(loaded) -> None:  # type: ignore[no-untyped-def]
    """Bib-1 structure phrase at any position, CQL adj: the phrase's words next to each other and
    in order, anywhere in a field (a whole field among them), in either script; never its
    words apart, in another order, or a longer word. Counted against the query's ids."""
    def inside(term: str, index: str = "title") -> set[str]:
        return run(loaded, Match(index, term, phrase=True, inside=True))

    assert inside("i mir") == inside("И мир") == inside("voyna i mir") == {"ru-tolstoy"}
    assert inside("besh doston") == inside("беш достон") == {"uz-nav-cyr", "uz-nav-lat"}
    assert inside("mir i") == inside("voyna mir") == inside("i mi") == set()
    assert inside("mir") == inside("mir", "any") == {"ru-tolstoy"}
    catalog, _ = loaded
    with catalog.engine.connect() as connection:
        windowed = q.search(connection, Match("title", "i mir", phrase=True, inside=True),
                            limit=10, window=1)  # fmt: skip
    assert windowed.count == 1


def test_a_truncated_phrase_inside_stands_anywhere_in_a_field(loaded) -> None:  # type: ignore[no-untyped-def]
    """With right truncation the phrase's last word begins a word of the field, the phrase
    still anywhere in it: "i mi" truncated was looked for where a field begins, and found
    nothing in "Voyna i mir"."""
    def inside(term: str) -> set[str]:
        return run(loaded, Match("title", term, phrase=True, truncation=True, inside=True))

    assert inside("i mi") == inside("И ми") == inside("voyna i") == {"ru-tolstoy"}
    assert inside("doston") == inside("besh dos") == {"uz-nav-cyr", "uz-nav-lat"}
    assert inside("mir i") == inside("voyna mi") == inside("i mirx") == set()


def test_a_phrase_inside_reads_the_phrases_of_a_bounded_number_of_records(
    loaded: tuple[Catalog, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records having every word of the phrase are read for their phrases, at most
    MAX_PHRASE_RECORDS of them (a phrase of common words in a large catalogue is too broad);
    a one-word phrase is its word, whatever the number of records."""
    monkeypatch.setattr(q, "MAX_PHRASE_RECORDS", 1)
    with pytest.raises(q.QueryTooBroad, match="more than 1 records have every word of the "
                                              "phrase 'besh doston'"):
        run(loaded, Match("title", "besh doston", phrase=True, inside=True))
    assert run(loaded, Match("title", "i mir", phrase=True, inside=True)) == {"ru-tolstoy"}
    assert run(loaded, Match("author", "navoiy", phrase=True, inside=True)) == NAVOIY


def test_result_sets_as_operands_and_limits(loaded) -> None:  # type: ignore[no-untyped-def]
    catalog, ids = loaded
    earlier = Ids((ids["uz-nav-cyr"], ids["ru-tolstoy"]))
    assert run(loaded, And(earlier, Match("author", "navoiy"))) == {"uz-nav-cyr"}
    assert run(loaded, Or(earlier, Match("author", "frye"))) == {
        "uz-nav-cyr",
        "ru-tolstoy",
        "en-heritage",
    }
    with catalog.engine.connect() as connection:
        bounded = q.search(connection, Match("author", "navoiy"), limit=2)
    assert bounded.count == 3 and len(bounded.ids) == 2


def test_refusals(loaded) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(q.UnsupportedCombination):
        run(loaded, Match("date", "199", truncation=True, relation=Relation.LESS))
    with pytest.raises(q.UnsupportedCombination):
        run(loaded, Match("title", "two words", relation=Relation.GREATER))
    with pytest.raises(q.TermTooShort):
        run(loaded, Match("title", "'", truncation=True))
    many: q.Query = Match("title", "a")
    for _ in range(q.MAX_CLAUSES):
        many = Or(many, Match("title", "a"))
    with pytest.raises(q.QueryTooComplex):
        run(loaded, many)


def test_sort_by_title_author_date(loaded) -> None:  # type: ignore[no-untyped-def]
    catalog, ids = loaded
    names = {v: k for k, v in ids.items()}
    everything = sorted(ids.values())
    with catalog.engine.connect() as connection:
        by_date = [names[i] for i in q.sort_ids(connection, everything, [("date", False)])]
        by_title_desc = [names[i] for i in q.sort_ids(connection, everything, [("title", True)])]
        by_author = [names[i] for i in q.sort_ids(connection, everything, [("author", False)])]
    assert by_date[:3] == ["us-nav-alalc", "ru-tolstoy", "uz-nav-cyr"] and by_date[-1] == (
        "uz-nav-lat"
    )
    assert by_title_desc[:2] == ["uz-nav-cyr", "uz-nav-lat"] or by_title_desc[:2] == [
        "uz-nav-lat", "uz-nav-cyr"]  # fmt: skip
    assert by_title_desc[2] == "us-nav-alalc"  # xamsa besh doston > xamsa
    # Records without a 1XX come last, in their previous order.
    assert by_author[-3:] == ["uz-history-lat", "uz-ovozi", "us-adabiyoti"]
    assert by_author[0] == "en-heritage"  # frye


def test_scan_counts_and_position(loaded) -> None:  # type: ignore[no-untyped-def]
    catalog, _ = loaded
    with catalog.engine.connect() as connection:
        page = q.scan(connection, "title", "ozbekiston", count=3, position=2)
        phrases = q.scan(connection, "title", "Oʻzbekiston t", phrase=True, count=2)
        start = q.scan(connection, "author", "", count=2, position=3)
        end = q.scan(connection, "title", "zzz", count=5, position=1)
    assert [(e.term, e.count) for e in page.entries] == [("ovozi", 1), ("ozbekiston", 4),
                                                         ("tarixi", 2)]  # fmt: skip
    assert page.position == 2
    # each key shown as the first record having it catalogued it (uz-history-cyr for these)
    assert [e.display for e in page.entries] == ["ovozi", "Ўзбекистон", "тарихи"]
    assert [e.display for e in phrases.entries] == ["Ўзбекистон тарихи",
                                                    "The heritage of Central Asia"]  # fmt: skip
    assert [(e.term, e.count) for e in phrases.entries] == [
        ("ozbekiston tarixi", 2),
        ("the heritage of central asia", 1),
    ]
    assert start.position == 1 and len(start.entries) == 2
    assert end.entries == [] and end.position == 1
    # whether the index goes on past the answer, each way
    assert (page.more_before, page.more_after) == (True, True)
    assert (start.more_before, start.more_after) == (False, True)
    assert (end.more_before, end.more_after) == (True, False)
    with catalog.engine.connect() as connection:
        first = q.scan(connection, "title", "adabiioti", count=2, position=0)
        whole = q.scan(connection, "title", "", count=100, position=1)
        last = q.scan(connection, "title", "xamsa", count=1, position=1)
    assert (first.more_before, first.more_after) == (True, True)  # the term stands before
    assert (whole.more_before, whole.more_after) == (False, False)
    assert [e.term for e in last.entries] == ["xamsa"] and not last.more_after
    terms = [e.term for e in whole.entries]
    with catalog.engine.connect() as connection:  # answers that end just at, or before, the end
        to_end = q.scan(connection, "title", terms[-2], count=2, position=1)
        short = q.scan(connection, "title", terms[-3], count=2, position=1)
        after_term = q.scan(connection, "title", terms[-3], count=2, position=0)
    assert [e.term for e in to_end.entries] == terms[-2:] and not to_end.more_after
    assert [e.term for e in short.entries] == terms[-3:-1] and short.more_after
    assert [e.term for e in after_term.entries] == terms[-2:] and not after_term.more_after


def test_fetch_keeps_order_and_marks_deleted(loaded) -> None:  # type: ignore[no-untyped-def]
    catalog, ids = loaded
    with catalog.writer() as writer:
        writer.delete("ru-tolstoy")
    order = [ids["ru-tolstoy"], ids["uz-nav-cyr"], 999_999]
    with catalog.engine.connect() as connection:
        fetched = q.fetch(connection, order, "oai_dc")
        plain = q.fetch(connection, order)
    assert [f.local_id for f in fetched] == ["ru-tolstoy", "uz-nav-cyr"]
    assert fetched[0].marc is None and fetched[0].rendition is None
    assert fetched[1].rendition is not None and b"<oai_dc:dc" in fetched[1].rendition
    assert plain[1].marc is not None and plain[1].rendition is None
    assert run(loaded, Match("title", "voyna")) == set()


def test_a_one_term_search_reads_a_window_and_more_on_demand(loaded) -> None:  # type: ignore[no-untyped-def]
    catalog, _ = loaded
    author = Match("author", "navoiy")
    with catalog.engine.connect() as connection:
        everything = q.search(connection, author, limit=1000)
        first = q.search(connection, author, limit=1000, window=2)
        rest = q.more_ids(connection, author, after=first.ids[-1], count=10)
        two_terms = q.search(connection, And(author, Match("date", "1991")), limit=9, window=1)
        truncated = q.search(connection, Match("title", "x", truncation=True), limit=9, window=1)
    assert (first.count, len(first.ids), first.complete) == (3, 2, False)
    assert first.ids + rest == everything.ids and everything.complete
    assert two_terms.complete and two_terms.count == 1
    assert truncated.complete and truncated.count == 3


def test_a_one_term_search_that_fits_its_window_is_counted_by_its_ids(loaded) -> None:  # type: ignore[no-untyped-def]
    catalog, _ = loaded
    author = Match("author", "navoiy")  # 3 records
    with catalog.engine.connect() as connection:
        everything = q.search(connection, author, limit=1000)
        results = {window: q.search(connection, author, limit=1000, window=window)
                   for window in (3, 4, 100)}  # fmt: skip
        capped = q.search(connection, author, limit=2, window=100)
        nothing = q.search(connection, Match("author", "nobody"), limit=1000, window=100)
    for window, found in results.items():
        assert (found.ids, found.count, found.complete) == (everything.ids, 3, True), window
    assert (capped.ids, capped.count, capped.complete) == (everything.ids[:2], 3, True)
    assert (nothing.ids, nothing.count, nothing.complete) == ([], 0, True)


def test_every_record_is_each_one_the_index_holds_read_a_window_at_a_time(  # type: ignore[no-untyped-def]
    loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Every`` (CQL's cql.allRecords): every live record, not a deleted one; alone, read a
    window at a time and counted as one term is; in a larger query, evaluated whole, its ids
    counted against the query's."""
    catalog, ids = loaded
    with catalog.writer() as writer:
        writer.delete("ru-tolstoy")
    live = set(ids) - {"ru-tolstoy"}
    every = Every()
    assert run(loaded, every) == live
    assert run(loaded, AndNot(every, Match("author", "navoiy"))) == live - NAVOIY
    with catalog.engine.connect() as connection:
        everything = q.search(connection, every, limit=1000)
        first = q.search(connection, every, limit=1000, window=3)
        rest = q.more_ids(connection, every, after=first.ids[-1], count=1000)
        capped = q.search(connection, every, limit=2, window=100)
        whole = q.search(connection, every, limit=1000, window=100)
    assert everything.count == len(live) and everything.complete
    assert (first.count, len(first.ids), first.complete) == (len(live), 3, False)
    assert first.ids + rest == everything.ids
    assert (capped.ids, capped.count) == (everything.ids[:2], len(live))
    assert (whole.ids, whole.count, whole.complete) == (everything.ids, len(live), True)
    monkeypatch.setattr(q, "MAX_QUERY_IDS", len(live) - 1)
    with pytest.raises(q.QueryTooBroad):
        run(loaded, AndNot(every, Match("author", "navoiy")))


def test_a_query_holding_too_many_ids_in_all_is_refused(
    loaded: tuple[Catalog, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = loaded
    monkeypatch.setattr(q, "MAX_QUERY_IDS", 5)
    # Each leaf is well under the per-leaf cap; only their total is too much.
    navoiy_twice = Or(Match("author", "navoiy"), Match("title", "xamsa", truncation=True))
    with pytest.raises(q.QueryTooBroad, match="more than 5 ids"):
        run(loaded, navoiy_twice)  # 3 + 3 ids
    with pytest.raises(q.QueryTooBroad):
        run(loaded, And(Ids(tuple(ids.values())), Match("author", "navoiy")))  # 9 + 3
    # Up to the cap is answered: 3 + 1 + 1 ids.
    within = Or(Match("author", "navoiy"), Or(Match("author", "frye"), Match("title", "mir")))
    assert run(loaded, within) == NAVOIY | {"en-heritage", "ru-tolstoy"}


def test_a_leaf_reading_more_than_its_cap_is_refused_whatever_its_kind(
    loaded: tuple[Catalog, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exact term, a right-truncated term and a relation each stop reading past
    ``MAX_TERM_ROWS`` (SQLite's FTS5 index counts a range's postings in its vocabulary before
    merging them); at the cap they are answered."""
    monkeypatch.setattr(q, "MAX_TERM_ROWS", 2)
    for leaf in (Match("author", "navoiy"), Match("author", "nav", truncation=True),
                 Match("date", "1000", relation=Relation.GREATER)):  # fmt: skip
        with pytest.raises(q.QueryTooBroad, match="more than 2 index entries"):
            run(loaded, leaf)
    monkeypatch.setattr(q, "MAX_TERM_ROWS", 3)
    assert run(loaded, Match("author", "nav", truncation=True)) == NAVOIY
