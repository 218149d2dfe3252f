"""Bib-1 attributes onto the catalogue's query model: what is honoured, what is refused (a
SearchError whose condition is the Bib-1 diagnostic asserted)."""

from __future__ import annotations

import pytest

from catalog.query import And, AndNot, Ids, Match, Or, Relation
from protocols.z3950.pqf import Term, parse_pqf
from provider.search import Condition, SearchError
from provider.z3950.attributes import match_of, query_of, scan_start_of, sort_index_named


def translate(pqf: str) -> object:
    return query_of(parse_pqf(pqf), {"one": [3, 1]}.__getitem__)


@pytest.mark.parametrize(
    ("pqf", "expected"),
    [
        ("navoiy", Match("any", "navoiy")),
        ("@attr 1=1003 navoiy", Match("author", "navoiy")),
        ("@attr 1=1 navoiy", Match("author", "navoiy")),
        # a phrase anywhere in the field (position any, incomplete subfield)
        ('@attr 1=4 @attr 4=1 "a b"', Match("title", "a b", phrase=True, inside=True)),
        ('@attr 1=4 @attr 4=1 @attr 5=1 "a b"',
         Match("title", "a b", phrase=True, truncation=True, inside=True)),
        ("@attr 1=4 @attr 3=1 @attr 5=1 ab", Match("title", "ab", phrase=True, truncation=True)),
        ("@attr 1=4 @attr 6=3 ab", Match("title", "ab", phrase=True)),
        # first in field, incomplete subfield: the field begins with the phrase
        ("@attr 1=4 @attr 3=1 ab", Match("title", "ab", phrase=True, leading=True)),
        ("@attr 1=4 @attr 3=2 @attr 4=1 ab", Match("title", "ab", phrase=True, leading=True)),
        ("@attr 1=4 @attr 3=1 @attr 6=3 ab", Match("title", "ab", phrase=True)),
        ("@attr 1=4 @attr 4=6 ab", Match("title", "ab")),
        ("@attr 1=31 @attr 2=5 @attr 4=4 1990",
         Match("date", "1990", relation=Relation.GREATER, year=True)),
        # structure year: the query model refuses a term that is none (catalog.query.NotAYear)
        ("@attr 1=31 @attr 4=4 1990", Match("date", "1990", year=True)),
        ("@attr 1=31 @attr 4=4 @attr 5=1 199", Match("date", "199", truncation=True, year=True)),
        ("@attr 1=31 @attr 4=4 abc", Match("date", "abc", year=True)),
        # structure date (normalized) too: the date index holds years
        ("@attr 1=31 @attr 4=5 1991", Match("date", "1991", year=True)),
        ("@attr 1=30 @attr 4=5 1991-05-12", Match("date", "1991-05-12", year=True)),
        ("@attr 1=4 @attr 2=102 ab", Match("title", "ab")),
        ("@attr 1=7 978", Match("isbn", "978")),
        ("@attr 1=12 x", Match("local", "x")),
        ("@attr 1=1007 x", Match("identifier", "x")),
        ("@attr 1=21 x", Match("subject", "x")),
        ("@attr 1=8 x", Match("issn", "x")),
        ("@attr 1=1018 x", Match("publisher", "x")),
        ("@attr 1=54 uzb", Match("language", "uzb")),
        ("@and a @or b @not c @set one",
         And(Match("any", "a"), Or(Match("any", "b"), AndNot(Match("any", "c"), Ids((3, 1)))))),
    ],
)  # fmt: skip
def test_honoured(pqf: str, expected: object) -> None:
    assert translate(pqf) == expected


@pytest.mark.parametrize(
    ("pqf", "code", "addinfo"),
    [
        ("@attr 1=9 x", 114, "9"),
        ("@attr 1=0 x", 114, "0"),
        ("@attr 2=6 x", 117, "6"),
        ("@attr 2=103 x", 117, "103"),
        ("@attr 3=4 x", 119, "4"),
        ("@attr 4=101 x", 118, "101"),
        ("@attr 1=4 @attr 4=4 x", 123, "4=4 on title"),
        ("@attr 1=4 @attr 3=1 @attr 4=2 x", 123, "position/completeness with word"),
        ("@attr 5=3 x", 120, "3"),
        ("@attr 6=9 x", 122, "9"),
        ("@attr 9=1 x", 113, "9"),
        ("@set two", 30, "two"),
    ],
)
def test_refused_with_their_diagnostic(pqf: str, code: int, addinfo: str) -> None:
    def missing(name: str) -> list[int]:
        raise SearchError(Condition.RESULT_SET_MISSING, name)

    with pytest.raises(SearchError) as raised:
        query_of(parse_pqf(pqf), missing)
    assert (raised.value.bib1, raised.value.detail) == (code, addinfo)


def test_long_terms_and_sort_names() -> None:
    with pytest.raises(SearchError) as raised:
        match_of(parse_pqf("x" * 1001))  # type: ignore[arg-type]
    assert raised.value.bib1 == 11
    assert [sort_index_named(n) for n in ("Title", "1=1003", "1=31", "date")] == [
        "title", "author", "date", "date"]  # fmt: skip
    with pytest.raises(SearchError) as raised:
        sort_index_named("1=1016")
    assert raised.value.bib1 == 207
    with pytest.raises(SearchError) as raised:
        sort_index_named("1=\u00b2")  # a digit to str.isdigit(), not to int()
    assert raised.value.bib1 == 207


@pytest.mark.parametrize(
    ("pqf", "expected"),
    [
        ("@attr 1=4 a", ("title", False)),
        ("@attr 1=4 @attr 2=3 @attr 3=3 @attr 5=100 @attr 6=1 a", ("title", False)),
        ("@attr 1=4 @attr 2=102 a", ("title", False)),
        ("@attr 1=4 @attr 4=1 a", ("title", True)),
        ("@attr 1=4 @attr 6=3 a", ("title", True)),
        ("@attr 1=1003 @attr 3=1 a", ("author", True)),
        ("@attr 1=4 @attr 2=1 a", 117),
        ("@attr 1=4 @attr 2=4 a", 117),
        ("@attr 1=4 @attr 5=1 a", 120),
        ("@attr 1=4 @attr 6=9 a", 122),
        ("@attr 1=4 @attr 4=105 a", 118),
        ("@attr 9=1 a", 113),
    ],
)
def test_a_scan_start_term_is_read_as_a_search_term_from_which_terms_are_read(
    pqf: str, expected: tuple[str, bool] | int
) -> None:
    term = parse_pqf(pqf)
    assert isinstance(term, Term)
    if isinstance(expected, int):
        with pytest.raises(SearchError) as raised:
            scan_start_of(term)
        assert raised.value.bib1 == expected
    else:
        assert scan_start_of(term) == expected
