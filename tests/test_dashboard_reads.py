"""What the pages read: next run times from the scheduler's job store, the overview."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Float, LargeBinary, MetaData, String, Table, insert

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_rejects, harvest_runs, harvest_state
from config import DatabaseSettings, HarvestSource, Settings
from harvester import locks
from harvester.scheduler import JOB_PREFIX, JOBS_TABLE, start_scheduler
from harvester.sources import add_source, find_source
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
    add_source(settings, catalog, HarvestSource(name="manual", url="http://127.0.0.1:9/other",
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
        assert reads.source(settings, catalog, view.entry) == view
        assert reads.next_run_times(catalog.engine, name) == {
            key: value for key, value in upcoming.items() if key == name}
    catalog.close()



def test_a_sources_own_view_is_what_the_list_shows_of_it(settings: Settings) -> None:
    """A source's page reads its own rows alone (:func:`reads.source`): its last run, its
    watermark and its next run are what the list (:func:`reads.sources`) shows of it, with
    several runs, a watermark, a disabled source with a job left, a name ``_`` would match as
    a LIKE pattern, and a source of the settings file hiding one of the database."""
    catalog = Catalog.open(settings)
    url = "http://127.0.0.1:9/oai"
    for name, enabled in (("a_b", True), ("aXb", True), ("off", False), ("on", True)):
        add_source(settings, catalog, HarvestSource(name=name, url=f"{url}/{name}", prefix="marc21",
                                                    every="1d", enabled=enabled), check=False)
    filed = dataclasses.replace(settings, sources=[
        HarvestSource(name="a_b", url="http://127.0.0.1:8/oai", prefix="oai_dc", every="3d"),
        HarvestSource(name="filed", url=url, prefix="marc21", every="1d")])
    jobs = Table(JOBS_TABLE, MetaData(), Column("id", String(191), primary_key=True),
                 Column("next_run_time", Float, index=True),
                 Column("job_state", LargeBinary, nullable=False))  # as the scheduler's store
    jobs.create(catalog.engine)
    with catalog.engine.begin() as connection:
        for i, name in enumerate(("a_b", "aXb", "off", "on", "filed")):
            connection.execute(insert(jobs).values(id=JOB_PREFIX + name,
                                                   next_run_time=1.9e9 + i, job_state=b""))
        for i, name in enumerate(("a_b", "aXb", "on", "a_b", "off", "aXb", "gone")):
            connection.execute(insert(harvest_runs).values(
                source=name, status="succeeded", started=i, finished=i + 1, added=i))
        for name, watermark in (("a_b", "2020-01-01"), ("off", "2021-01-01"), ("gone", "x")):
            connection.execute(insert(harvest_state).values(source=name, watermark=watermark))
    listed: dict[str, reads.SourceView] = {}
    for view in reads.sources(filed, catalog):
        listed.setdefault(view.entry.source.name, view)  # the file's first, as harvested
    assert set(listed) == {"a_b", "aXb", "off", "on", "filed"}
    for name, view in listed.items():
        assert reads.source(filed, catalog, find_source(filed, catalog, name)) == view, name
    assert listed["a_b"].entry.source.prefix == "oai_dc" and listed["a_b"].watermark
    assert listed["a_b"].last_run is not None and listed["a_b"].last_run.added == 3
    assert listed["off"].next_run is None and listed["aXb"].next_run is not None
    assert reads.next_run_times(catalog.engine, "a%") == {}
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


async def test_a_run_whose_end_nobody_saw_has_no_duration(client: Any) -> None:  # noqa: F811
    """A run left ``running`` by a killed process, marked interrupted by the next run, has no
    finish: its duration and rate are not known (they were counted to now, so a run killed
    after 6 s showed 11 min and 0.4 records/s, growing)."""
    await sign_in(client)
    engine = client.app[CATALOG].engine
    now = int(datetime.now(UTC).timestamp())
    with engine.begin() as connection:
        ids = [connection.execute(insert(harvest_runs).values(
            source="partner", status=status, started=now - 600, finished=finished, added=60,
        )).inserted_primary_key[0] for status, finished in (
            ("interrupted", None), ("running", None), ("succeeded", now - 540))]
        # held by a live run (this process), or it would be shown as the next run records it
        connection.execute(insert(harvest_state).values(
            source="partner", lock_owner=locks.new_owner(), lock_expires=now + 3600))
    token = new_token(engine, "alice")
    said = []
    for run_id in ids:
        response = await client.get(f"/api/runs/{run_id}",
                                    headers={"Authorization": f"Bearer {token}"})
        body = await response.json()
        said.append((body["seconds"], body["rate"]))
    killed, running, ended = said
    assert killed == (None, None)
    assert running[0] >= 600 and running[1] == round(60 / running[0], 1)
    assert ended == (60, 1.0)
    page = await (await client.get(f"/runs/{ids[0]}")).text()
    assert '<b id="run-rate">-</b> records/s' in page
    assert "<tr><th>duration</th><td>-</td></tr>" in page


async def test_runs_beyond_the_200_newest_are_paged_to(client: Any) -> None:  # noqa: F811
    """Runs past the 200 newest were cut off without a word (``?page=`` did nothing): the page
    and the API say there are older ones and link to them."""
    await sign_in(client)
    engine = client.app[CATALOG].engine
    now = int(datetime.now(UTC).timestamp())
    with engine.begin() as connection:
        connection.execute(insert(harvest_runs), [
            {"source": "partner", "status": "succeeded", "started": now, "finished": now}
            for _ in range(reads.RUNS_SHOWN + 5)])
    first = await (await client.get("/runs")).text()
    assert first.count('<tr><td><a href="/runs/') == reads.RUNS_SHOWN
    older = re.search(r'are shown: <a href="([^"]+)">older runs</a>', first)
    assert older is not None and older[1] == "/runs?before=6"  # runs 205..6 shown
    rest = await (await client.get(html.unescape(older[1]))).text()
    assert rest.count('<tr><td><a href="/runs/') == 5 and "older runs" not in rest
    refused = await client.get("/runs?before=abc")
    assert (refused.status, await refused.text()) == (
        400, "before: expected a run's number, got 'abc'")

    token = new_token(engine, "alice")
    headers = {"Authorization": f"Bearer {token}"}
    listed = await client.get("/api/runs?source=partner", headers=headers)
    assert len(await listed.json()) == reads.RUNS_SHOWN
    assert listed.headers["Link"] == '</api/runs?before=6&source=partner>; rel="next"'
    following = await client.get("/api/runs?before=6&source=partner", headers=headers)
    assert [run["id"] for run in await following.json()] == [5, 4, 3, 2, 1]
    assert "Link" not in following.headers
    bad = await client.get("/api/runs?before=-1", headers=headers)
    assert (bad.status, await bad.json()) == (
        400, {"error": "before: expected a run's number, got '-1'"})
    huge = "000000000001" + "9" * 25  # (SQLite cannot hold it: a 500 when taken for 1...)
    assert (await client.get(f"/api/runs?before={huge}", headers=headers)).status == 400
    padded = await client.get("/api/runs?before=0000000000006", headers=headers)
    assert [run["id"] for run in await padded.json()] == [5, 4, 3, 2, 1]


def test_rejects_listed_carry_what_their_page_shows_of_a_record(catalog: Catalog) -> None:
    """A page of a run's rejects read each reject's record whole (up to max_record_bytes, a
    megabyte by default: 200 of them at once); it reads the first bytes it shows."""
    record = b"<record>" + b"x" * (2 * reads.MAX_RAW_SHOWN) + b"</record>"
    with catalog.engine.begin() as connection:
        run_id = connection.execute(insert(harvest_runs).values(
            source="partner", status="succeeded", started=1, finished=2,
        )).inserted_primary_key[0]
        connection.execute(insert(harvest_rejects), [
            {"source": "partner", "run_id": run_id, "identifier": f"oai:x:{n}",
             "reason": "broken", "raw": record} for n in range(3)])
    listed = reads.rejects(catalog.engine, run_id, 2)
    assert [(r.identifier, r.size, r.raw) for r in listed] == [
        (f"oai:x:{n}", len(record), record[: reads.MAX_RAW_SHOWN]) for n in range(2)]
    (whole,) = [reads.reject(catalog.engine, listed[0].id)]
    assert whole is not None and whole.raw == record
