"""Harvesting another running Koprik (provider/app.py over its own catalogue) record for record.

A first harvest copies the live records; then the partner deletes, changes and adds records,
and an incremental harvest applies exactly those, so the two catalogues hold the same MARC21
records and the same deletions.
"""

from __future__ import annotations

import dataclasses

import pytest

from catalog import Catalog
from catalog.demo import demo_records
from config import DatabaseSettings, HarvestSource, Settings
from harvester.oai_client import Politeness
from harvester.runs import SUCCEEDED, harvest
from provider.app import init_app
from tests.fault_provider import catalogue_of, serve

pytestmark = pytest.mark.interop
RECORDS = 120
FAST = Politeness(delay=0, timeout=10, retries=2, backoff=0.01)


def _partner_state(partner: Catalog, prefix: str) -> dict[str, tuple[bool, str]]:
    """``oai identifier -> (deleted, digest)`` of every record of the partner's catalogue."""
    from sqlalchemy import select

    from catalog import models

    r = models.records
    with partner.engine.connect() as connection:
        rows = connection.execute(select(r.c.local_id, r.c.deleted, r.c.digest)).all()
    return {prefix + row.local_id: (bool(row.deleted), row.digest) for row in rows}


def test_two_koprik_catalogues_end_equal(settings: Settings, catalog: Catalog, tmp_path) -> None:  # type: ignore[no-untyped-def]
    partner_settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'partner.sqlite3'}"))
    partner = Catalog.open(partner_settings)
    with partner.writer() as writer:
        for record in demo_records(RECORDS):
            writer.put(record)
    prefix = partner_settings.repository.identifier_prefix
    with serve(init_app(partner_settings, Catalog.open(partner_settings))) as url:
        source = HarvestSource(name="natlib", url=url, prefix="marc21")
        first = harvest(catalog, source, politeness=FAST)
        assert first.status == SUCCEEDED, first.errors
        assert first.counts.added == RECORDS
        with partner.writer() as writer:
            writer.delete("demo0000007")
            writer.delete("demo0000050")
            for record in demo_records(3, seed=42):  # same ids 1..3, other content
                writer.put(record)
            extra = next(demo_records(1, seed=43))
            extra["001"].data = "extra0000001"
            writer.put(extra)
        second = harvest(catalog, source, politeness=FAST)
    assert second.status == SUCCEEDED, second.errors
    counts = second.counts
    # records the partner wrote in the second of the first harvest come again, as unchanged
    assert (counts.added, counts.updated, counts.deleted, counts.rejected) == (1, 3, 2, 0)
    assert catalogue_of(catalog, "natlib") == _partner_state(partner, prefix)
    partner.close()


def test_a_full_reharvest_that_returns_nothing_deletes_nothing(catalog: Catalog, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The safety valve: records missing from a full re-harvest are not inferred deleted."""
    from harvester.runs import RunOptions

    full, empty = (dataclasses.replace(Settings(), database=DatabaseSettings(
        url=f"sqlite:///{tmp_path / f'{name}.sqlite3'}")) for name in ("full", "empty"))
    partner = Catalog.open(full)
    with partner.writer() as writer:
        for record in demo_records(20):
            writer.put(record)
    partner.close()
    with serve(init_app(full, Catalog.open(full))) as url:
        assert harvest(catalog, HarvestSource(name="natlib", url=url), politeness=FAST
                       ).counts.added == 20
    Catalog.open(empty).close()
    with serve(init_app(empty, Catalog.open(empty))) as url:
        again = harvest(catalog, HarvestSource(name="natlib", url=url),
                        RunOptions(full=True), politeness=FAST)
    assert again.status == SUCCEEDED and again.counts.deleted == 0
    live = [e for e in catalog.list_entries(None, limit=100) if not e.deleted]
    assert len(live) == 20
