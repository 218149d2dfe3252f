"""SQLite's search index lookups (catalog.fts_query): a descending Scan against a brute-force
reference over random vocabularies, and the bound on what one reads."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy import Connection

from catalog import Catalog, fts_query
from catalog.fts_query import ScanRow, scan_rows
from catalog.search_index import NO_ENTRIES, VOCABULARY, IndexEntries, write_entries
from config import DatabaseSettings, Settings

Documents = Mapping[int, set[tuple[int, str]]]
"""Each document's (field, term) pairs, by record id."""


@pytest.fixture
def sqlite_catalog(tmp_path: Path) -> Iterator[Catalog]:
    database = DatabaseSettings(url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    opened = Catalog.open(dataclasses.replace(Settings(), database=database))
    yield opened
    opened.close()


def index(catalog: Catalog, documents: Documents) -> None:
    """Put ``documents`` in the FTS5 index as records of those ids."""
    changes = []
    for record_id, pairs in documents.items():
        ordered = sorted(pairs)
        fields = bytes(field for field, _ in ordered)
        terms = tuple(term for _, term in ordered)
        changes.append((record_id, IndexEntries(fields, terms, NO_ENTRIES.sorts)))
    with catalog.engine.begin() as connection:
        write_entries(connection, changes, fresh=set(documents))


def reference(
    documents: Documents, fields: tuple[int, ...], start: str, limit: int
) -> list[ScanRow]:
    """The ``limit`` terms of ``fields`` before ``start``, nearest first, with how many
    documents have each in any of ``fields``: every term sorted in Python."""
    having: dict[str, set[int]] = {}
    for record_id, pairs in documents.items():
        for field, term in pairs:
            if field in fields and term < start:
                having.setdefault(term, set()).add(record_id)
    chosen = sorted(having, reverse=True)[:limit]
    return [ScanRow(term, len(having[term]), None) for term in chosen]


def random_documents(chance: random.Random) -> Documents:
    """Forty documents over fields 3 to 8 (some empty): short terms of a few Latin and Cyrillic
    letters and a space, some after one of two long heads, so that many share prefixes (long
    ones too) and many are a prefix of another."""
    letters = "abzяж "
    heads = ["", "", "", "ozbekiston respublikasi ", "ozbekiston respublikasi tarixi "]
    documents: dict[int, set[tuple[int, str]]] = {record_id: set() for record_id in range(1, 41)}
    for field in range(3, 9):
        size = chance.choice([0, 1, 5, 40, 150, 300])
        for _ in range(size):
            tail = "".join(chance.choices(letters, k=chance.randint(1, 5)))
            term = chance.choice(heads) + tail
            for record_id in chance.sample(sorted(documents), chance.randint(1, 3)):
                documents[record_id].add((field, term))
                if chance.random() < 0.2:  # its prefix too: a token equal to a split prefix
                    documents[record_id].add((field, term[: chance.randint(1, len(term))]))
    return documents


def starts(chance: random.Random, documents: Documents) -> list[str]:
    """Start terms before, after, on and between the terms held."""
    held = sorted({term for pairs in documents.values() for _, term in pairs})
    picked = chance.sample(held, min(len(held), 25))
    return ["", "a", "\U0010ffff", "zzzzzz", "б", "ozbekiston respublikasi t", *picked,
            *(term + "a" for term in picked[:10]),
            *(term[:-1] for term in picked[:10])]  # fmt: skip


@pytest.mark.parametrize("seed", range(8))
def test_a_descending_scan_equals_the_sorted_terms(sqlite_catalog: Catalog, seed: int) -> None:
    chance = random.Random(seed)
    documents = random_documents(chance)
    index(sqlite_catalog, documents)
    with sqlite_catalog.engine.connect() as connection:
        for start in starts(chance, documents):
            for fields in [(chance.randint(3, 8),), (3, 8), (5, 6, 7)]:
                limit = chance.randint(1, 30)
                found = scan_rows(connection, fields, start, limit, descending=True, firsts=False)
                assert found == reference(documents, fields, start, limit), (start, fields, limit)


def count_vocabulary_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list whose one item counts the vocabulary rows fts_query reads from now on."""
    read = [0]
    rows = fts_query._rows

    def counted(connection: Connection, statement: str, values: tuple[object, ...]) -> list[tuple]:
        found = rows(connection, statement, values)
        if VOCABULARY in statement:
            read[0] += len(found)
        return found

    monkeypatch.setattr(fts_query, "_rows", counted)
    return read


@pytest.mark.parametrize(
    "dense",
    [
        [f"k{number:05d}" for number in range(30_000)],
        [f"kutubxonachilik tarixi {number:05d}" for number in range(20_000)],
    ],
    ids=["dense", "dense-under-a-long-prefix"],
)
def test_a_descending_scan_reads_few_rows_before_a_sparse_gap(
    sqlite_catalog: Catalog, monkeypatch: pytest.MonkeyPatch, dense: list[str]
) -> None:
    """Tens of thousands of terms, then one (``m``) before the start ``n``: the terms wanted
    are one sparse range and the top of a dense one, read without reading all of it (which
    the reads of ever wider ranges before ``n`` did: every term of the field)."""
    documents: dict[int, set[tuple[int, str]]] = {
        1 + start // 1000: {(3, term) for term in dense[start : start + 1000]}
        for start in range(0, len(dense), 1000)
    }
    documents[100] = {(3, "m"), (3, "p"), (4, "a"), (2, "z")}
    index(sqlite_catalog, documents)
    read = count_vocabulary_rows(monkeypatch)
    with sqlite_catalog.engine.connect() as connection:
        found = scan_rows(connection, (3,), "n", 10, descending=True, firsts=False)
    assert found == reference(documents, (3,), "n", 10)
    assert [row.term for row in found[:3]] == ["m", dense[-1], dense[-2]]
    assert read[0] < 200, f"{read[0]} vocabulary rows read"
