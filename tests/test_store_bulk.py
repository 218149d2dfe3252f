"""A large put_many (renditions and terms made in worker processes, rows inserted in bulk) stores
exactly what the same records stored one put() at a time store, on SQLite and PostgreSQL."""

import dataclasses
import os
import signal
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from pymarc import Field, Indicators, MARCReader, Record, Subfield
from sqlalchemy import select

from catalog import Catalog, Provenance, models
from catalog.demo import demo_records
from catalog.search_index import stored_terms
from catalog.store import PARALLEL_BATCH, Incoming, Outcome, Unread
from config import DatabaseSettings, Settings
from tests.conftest import DATA, _fresh_postgres_database

REAL = ("marc8.dat", "utf8_with_leader_flag.dat", "diacritic.dat", "multi_isbn.dat", "test.dat")


def _real_records() -> list[Record]:
    records: list[Record] = []
    for name in REAL:
        with open(DATA / "marc21" / name, "rb") as handle:
            records += [r for r in MARCReader(handle, to_unicode=True, permissive=True) if r]
    return records


def _first_round() -> list[Incoming]:
    """Demo records, real records of other libraries (as 'local' ones, some without 001), and
    harvested ones with provenance: enough for the parallel path."""
    items = [Incoming(r) for r in demo_records(PARALLEL_BATCH + 20)]
    items += [Incoming(r, local_id=f"real{n}") for n, r in enumerate(_real_records())]
    for n, record in enumerate(demo_records(5, seed=9)):
        provenance = Provenance(
            "peer",
            "https://peer.example/oai",
            f"oai:peer:{n}",
            "2024-01-01T00:00:00Z",
            "http://www.loc.gov/MARC21/slim",
        )
        items.append(Incoming(record, provenance=provenance))
    return items


def _second_round() -> list[Incoming]:
    """The first round again with every third demo record edited (updates and unchanged)."""
    items = _first_round()
    for item in items[: PARALLEL_BATCH + 20 : 3]:
        item.record.add_field(
            Field(tag="500", indicators=Indicators(" ", " "), subfields=[Subfield("a", "Edited")])
        )
    return items


def _rows(catalog: Catalog) -> dict[str, list[tuple]]:
    tables = (
        models.records,
        models.renditions,
        models.record_sets,
        models.sets,
        models.provenance,
    )
    with catalog.engine.connect() as connection:
        rows = {
            table.name: sorted(tuple(row) for row in connection.execute(select(table)))
            for table in tables
        }
        rows["terms"] = sorted(stored_terms(connection))
        return rows


@pytest.fixture
def second_catalog(catalog_url: str, request: pytest.FixtureRequest, tmp_path: Path):
    if catalog_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'second.sqlite3'}"
    else:
        url = _fresh_postgres_database(request)
    opened = Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url)))
    yield opened
    opened.close()


def test_bulk_writes_store_what_one_by_one_writes_store(catalog, second_catalog, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    one_by_one: list[object] = []
    for items in (_first_round(), _second_round()):
        with catalog.writer() as writer:
            for item in items:
                try:
                    one_by_one.append(
                        writer.put(item.record, local_id=item.local_id, provenance=item.provenance)
                    )
                except ValueError as error:
                    one_by_one.append(str(error))
    bulk: list[object] = []
    for items in (_first_round(), _second_round()):
        with second_catalog.writer() as writer:
            bulk += [o if not isinstance(o, ValueError) else str(o) for o in writer.put_many(items)]
    assert second_catalog._pool is not None, "the batch was large enough for the workers"
    assert catalog._pool is None
    assert bulk == one_by_one
    assert {"added", "updated", "unchanged"} <= {str(o) for o in bulk}
    expected, got = _rows(catalog), _rows(second_catalog)
    assert all(expected[name] for name in ("records", "renditions", "record_sets", "terms"))
    for name in expected:
        assert got[name] == expected[name], name


def test_a_batch_prepared_before_the_catalogue_changed_is_written_as_it_is_now(
    catalog, second_catalog
):
    """Import prepares its next batch while the one before is written: records found stored
    unchanged are not derived then. When the catalogue changes in between, the writer looks
    again and derives what it must; what it stores equals a plain put_many of the batch."""
    first = _first_round()
    with catalog.writer() as writer:
        writer.put_many(first)
    with second_catalog.writer() as writer:
        writer.put_many(_first_round())
    batch = catalog.prepare(_first_round())
    assert catalog._pool is not None
    with catalog.writer() as writer:  # the catalogue changes after the batch was prepared
        writer.put_many(_second_round())
    with catalog.writer() as writer:
        prepared = writer.put_prepared(batch)
    with second_catalog.writer() as writer:
        writer.put_many(_second_round())
    with second_catalog.writer() as writer:
        plain = writer.put_many(_first_round())
    assert prepared == plain
    assert prepared.count(Outcome.UPDATED) == len(first[: PARALLEL_BATCH + 20 : 3])
    expected, got = _rows(second_catalog), _rows(catalog)
    for name in ("renditions", "terms"):
        assert got[name] == expected[name], name
    assert sorted((spec, rid) for spec, _, rid in got["record_sets"]) == sorted(
        (spec, rid) for spec, _, rid in expected["record_sets"]
    )


def test_records_prepared_for_checking_alone_get_their_findings(catalog):
    """A record stored unchanged is not derived again, but checked when it asks to be."""
    items = [Incoming(r) for r in demo_records(PARALLEL_BATCH + 20)]
    with catalog.writer() as writer:
        writer.put_many(items)
    records = list(demo_records(PARALLEL_BATCH + 20))
    records[0].remove_fields("008")  # a finding of the validator
    batch = catalog.prepare([Incoming(r, check_as=n + 1) for n, r in enumerate(records)])
    assert any("008" in problem for problem in batch.problems(0))
    assert batch.derivation(0) is not None, "changed: derived to be stored"
    assert batch.derivation(1) is None, "unchanged: checked only"
    assert batch.problems(1) == []
    with catalog.writer() as writer:
        outcomes = writer.put_prepared(batch)
    assert outcomes[0] is Outcome.UPDATED
    assert set(outcomes[1:]) == {Outcome.UNCHANGED}


def _die(data: bytes) -> Record:
    """An :class:`Unread` reader that kills the worker process reading with it."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("not reached")


def test_a_worker_that_dies_fails_its_batch_and_the_next_one_is_stored(tmp_path):
    """A worker killed while reading a batch fails that batch's transaction (nothing of it is
    stored) and the catalogue starts new workers for the next batch."""
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    catalog = Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url)))

    def harvested(n: int) -> Provenance:
        return Provenance("peer", "http://127.0.0.1:1/oai", f"oai:peer:{n}",
                          "2024-01-01T00:00:00Z", "http://www.loc.gov/MARC21/slim")

    try:
        dying = [Incoming(Unread(_die, b""), provenance=harvested(n))
                 for n in range(PARALLEL_BATCH)]
        with pytest.raises(BrokenProcessPool), catalog.writer() as writer:
            writer.put_prepared(catalog.prepare(dying))
        assert catalog.is_empty()
        fine = [Incoming(r, provenance=harvested(n))
                for n, r in enumerate(demo_records(PARALLEL_BATCH))]
        with catalog.writer() as writer:
            outcomes = writer.put_prepared(catalog.prepare(fine))
        assert outcomes == [Outcome.ADDED] * PARALLEL_BATCH
    finally:
        catalog.close()
