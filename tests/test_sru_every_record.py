"""``cql.allRecords = 1`` on Koprik's SRU: the query SRU harvesters page through a repository
with (Koprik's own harvester sends it to Zebra). It was diagnostic 16, so no SRU harvester
could harvest Koprik that way. Here Koprik's harvester harvests a Koprik target over real HTTP,
in pages smaller than the target's window of ids read at once, and must get every live record
once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import select

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.search_index import read_canonical
from config import HarvestSource, SearchSettings
from harvester.http_fetch import Politeness
from harvester.ingest import Counts
from harvester.runs import SUCCEEDED, PageInfo, harvest
from tests.z3950_target_fixtures import running_target, sqlite_settings

SERVED = 37
DELETED = "demo0000005"
QUICK = Politeness(delay=0, timeout=20, retries=1, backoff=0.1)


def test_an_sru_harvest_of_every_record_gets_each_live_record_once(tmp_path: Path) -> None:
    # 5 records a response, 4 ids read at once: the set is read on as the pages pass it.
    search = SearchSettings(sru_default_records=5, sru_max_records=5, snapshot_ids=4)
    served = tmp_path / "served"
    served.mkdir()
    with running_target(served, list(demo_records(SERVED)), search=search) as target:
        with target.catalog.writer() as writer:
            writer.delete(DELETED)
        source = HarvestSource(
            name="koprik-sru", url=f"http://127.0.0.1:{target.port}/Default", protocol="sru",
            query="cql.allRecords = 1", prefix="marcxml", timeout=20.0,
        )  # fmt: skip
        catalog = Catalog.open(sqlite_settings(tmp_path))
        try:
            pages: list[PageInfo] = []
            first = harvest(catalog, source, politeness=QUICK, on_page=pages.append)
            again = harvest(catalog, dataclasses.replace(source, query="allRecords=1"),
                            politeness=QUICK)  # fmt: skip
            r = models.records
            with catalog.engine.connect() as connection:
                keys = connection.execute(
                    select(r.c.local_id).where(r.c.source == "koprik-sru", ~r.c.deleted)
                ).scalars().all()
            harvested = sorted(read_canonical(catalog.marc_of(key))["001"].data for key in keys)
        finally:
            catalog.close()
    live = SERVED - 1
    assert first.status == SUCCEEDED, first.errors
    assert first.counts == Counts(added=live)
    assert pages[-1].records == live and pages[-1].complete_list_size == live
    assert again.status == SUCCEEDED and again.counts == Counts(unchanged=live)
    expected = sorted(f"demo{n:07d}" for n in range(1, SERVED + 1) if f"demo{n:07d}" != DELETED)
    assert harvested == expected
