"""What the pages read: next run times from the scheduler's job store, the overview."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog import Catalog
from catalog.demo import demo_records
from config import DatabaseSettings, HarvestSource, Settings
from harvester.scheduler import start_scheduler
from harvester.sources import add_source
from koprik.dashboard import reads
from koprik.dashboard.accounts import new_token
from provider.keys import CATALOG
from tests.dashboard_fixtures import client, sign_in  # noqa: F401


def test_next_run_times_come_from_the_schedulers_job_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    settings = dataclasses.replace(Settings(), database=DatabaseSettings(url=url))
    catalog = Catalog.open(settings)
    assert reads.next_run_times(catalog.engine) == {}
    add_source(settings, catalog, HarvestSource(name="daily", url="http://127.0.0.1:9/oai",
                                                prefix="marc21", every="1d"), check=False)
    add_source(settings, catalog, HarvestSource(name="manual", url="http://127.0.0.1:9/oai",
                                                prefix="marc21"), check=False)
    scheduler = start_scheduler(settings, catalog)
    try:
        upcoming = reads.next_run_times(catalog.engine)
    finally:
        scheduler.shutdown()
    assert set(upcoming) == {"daily"}
    now = datetime.now(UTC)
    assert now < upcoming["daily"] <= now + timedelta(days=1, minutes=1)
    views = {view.entry.source.name: view for view in reads.sources(settings, catalog)}
    assert views["daily"].next_run == upcoming["daily"] and views["manual"].next_run is None
    assert views["daily"].schedule == "every 1d"
    for name, view in views.items():  # a source's page reads its own rows alone, to the same
        assert reads.source(catalog, view.entry) == view
        assert reads.next_run_times(catalog.engine, name) == {
            key: value for key, value in upcoming.items() if key == name}
    catalog.close()


def test_overview_counts_sets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    settings = dataclasses.replace(Settings(), database=DatabaseSettings(url=url))
    catalog = Catalog.open(settings)
    with catalog.writer() as writer:
        for record in demo_records(40):
            writer.put(record)
    summary = reads.overview(catalog.engine)
    by_set = dict(summary.sets)
    assert summary.live == catalog.count(None) - summary.deleted
    assert by_set["lang"] == summary.live
    languages = sum(count for spec, count in by_set.items() if spec.startswith("lang:"))
    assert languages >= by_set["lang"]
    assert summary.formats == ["oai_dc", "marc21", "mods"]
    catalog.close()


def test_ids_beyond_the_columns_name_nothing(catalog: Catalog) -> None:
    """A run or reject id from a URL beyond what the key column holds is no such run, not a
    database error (SQLite: OverflowError past 2**63; PostgreSQL: integer out of range)."""
    for number in (0, -1, reads.LARGEST_ID + 1, 10**20):
        assert reads.run(catalog.engine, number) is None
        assert reads.reject(catalog.engine, number) is None


async def test_pages_of_runs_beyond_the_columns_are_not_found(client: Any) -> None:  # noqa: F811
    await sign_in(client)
    token = new_token(client.app[CATALOG].engine, "alice")
    for path in ("/runs/99999999999999999999", "/rejects/99999999999999999999",
                 "/api/runs/99999999999999999999"):
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status == 404, path
