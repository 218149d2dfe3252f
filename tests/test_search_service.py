"""provider/search/service.py: search, windows, present, scan and sort over a catalogue, with
refusals as SearchError whose codes come from the one table of provider/search/errors.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection

from catalog import Catalog
from catalog.query import Match, Relation
from config import SearchSettings
from provider.search import CODES, Condition, SearchError, SearchService, SortKey
from tests.z3950_target_fixtures import catalog_holding, handmade_records, sqlite_settings


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    folder: Path = tmp_path_factory.mktemp("service")
    catalog = catalog_holding(sqlite_settings(folder), handmade_records())
    yield catalog
    catalog.close()


@pytest.fixture
def connection(catalog: Catalog) -> Iterator[Connection]:
    with catalog.engine.connect() as connection:
        yield connection


def _locals(service: SearchService, connection: Connection, ids: list[int]) -> list[str]:
    stored = service.records(connection, ids)
    return [stored[i].local_id for i in ids]


def test_a_one_term_search_reads_a_window_and_later_windows_read_on(
    catalog: Catalog, connection: Connection
) -> None:
    service = SearchService(catalog, SearchSettings(snapshot_ids=1))
    results = service.search(connection, Match("author", "navoiy"))
    assert (results.count, len(results.ids), results.query is not None) == (3, 1, True)
    assert len(service.window(connection, results, 2, 2)) == 2
    assert len(service.all_ids(connection, results)) == 3


def test_present_gives_each_record_with_its_rendition(
    catalog: Catalog, connection: Connection
) -> None:
    service = SearchService(catalog)
    results = service.search(connection, Match("title", "xamsa"))
    presented = service.present(connection, results, 1, 10, "oai_dc")
    assert len(presented) == 3
    assert all(r is not None and b"<dc:title>" in (r.rendition or b"") for _, r in presented)


def test_sort_orders_a_set_by_date_descending(catalog: Catalog, connection: Connection) -> None:
    service = SearchService(catalog)
    results = service.search(connection, Match("author", "navoiy"))
    ordered = service.sort(connection, results, [SortKey("date", descending=True)])
    locals_ = _locals(service, connection, ordered.ids.tolist())
    assert locals_ == ["uz-nav-lat", "uz-nav-cyr", "us-nav-alalc"]


@pytest.mark.parametrize(
    ("call", "condition"),
    [
        (lambda s, c: s.search(c, Match("format", "x")), Condition.UNSUPPORTED_INDEX),
        (lambda s, c: s.search(c, Match("title", "*", truncation=True)),
         Condition.MASKED_TERM_TOO_SHORT),
        (lambda s, c: s.search(c, Match("title", "besh doston", relation=Relation.GREATER)),
         Condition.UNSUPPORTED_COMBINATION),
        (lambda s, c: s.window(c, s.search(c, Match("title", "xamsa")), 4, 1),
         Condition.START_OUT_OF_RANGE),
        (lambda s, c: s.sort(c, s.search(c, Match("title", "xamsa")), [SortKey("isbn")]),
         Condition.UNSUPPORTED_SORT_KEY),
        (lambda s, c: s.sort(c, s.search(c, Match("title", "xamsa")), [SortKey("date")] * 4),
         Condition.TOO_MANY_SORT_KEYS),
        (lambda s, c: s.scan(c, "title", "a", count=501), Condition.TOO_MANY_SCAN_TERMS),
        (lambda s, c: s.scan(c, "title", "a", count=-1), Condition.MALFORMED_SCAN),
        (lambda s, c: s.search(c, Match("title", " ")), Condition.EMPTY_TERM),
        (lambda s, c: s.scan(c, "title", "a", count=5, position=7),
         Condition.SCAN_POSITION_OUT_OF_RANGE),
    ],
)  # fmt: skip
def test_refusals_are_search_errors(
    catalog: Catalog,
    connection: Connection,
    call,
    condition: Condition,  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(SearchError) as raised:
        call(SearchService(catalog), connection)
    assert raised.value.condition == condition


@pytest.mark.parametrize(
    ("limits", "start", "detail"),
    [
        (SearchSettings(snapshot_ids=1), 0, "0 of 3"),  # was 0 of 1, the ids read so far
        (SearchSettings(snapshot_ids=1), 4, "4 of 3"),
        (SearchSettings(snapshot_ids=1, max_result_set=2), 3, "3 of 2"),  # none past the limit
    ],
)
def test_a_start_out_of_range_names_the_positions_the_set_has(
    catalog: Catalog, connection: Connection, limits: SearchSettings, start: int, detail: str
) -> None:
    service = SearchService(catalog, limits)
    results = service.search(connection, Match("author", "navoiy"))
    with pytest.raises(SearchError) as raised:
        service.window(connection, results, start, 1)
    assert raised.value.detail == detail


def test_limits_come_from_settings(catalog: Catalog, connection: Connection) -> None:
    service = SearchService(catalog, SearchSettings(max_result_set=2, max_scan_terms=3))
    results = service.search(connection, Match("author", "navoiy"))
    assert (results.count, len(service.all_ids(connection, results))) == (3, 2)
    with pytest.raises(SearchError):
        service.scan(connection, "title", "a", count=4)


def test_every_condition_has_a_bib1_and_an_sru_diagnostic() -> None:
    assert set(CODES) == set(Condition)
    error = SearchError(Condition.UNSUPPORTED_INDEX, "dc.format")
    assert (error.bib1, error.sru_uri, error.detail) == (114, "info:srw/diagnostic/1/16",
                                                         "dc.format")  # fmt: skip
