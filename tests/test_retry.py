"""Retry rejects: the kept bytes of a run's rejects are ingested again through the same path."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_rejects
from config import DatabaseSettings, HarvestSource, LimitSettings, Settings
from crosswalks import marc_io
from crosswalks.unimarc import to_marc21
from harvester import ingest, oai_pages, sru_pages
from harvester.ingest import Counts
from harvester.oai_client import Politeness
from harvester.retry import retry_rejects
from harvester.runs import RunOptions, RunReport, harvest
from koprik.dashboard.accounts import new_token
from provider.keys import CATALOG
from tests.conftest import DATA
from tests.dashboard_fixtures import csrf_of, dashboard_settings, make_client, sign_in
from tests.fault_provider import FaultProvider, serve

FAST = Politeness(delay=0, timeout=5.0, retries=1, backoff=0.01)
RECORDS = 12
MAX = 1024 * 1024
RUSMARC = DATA / "unimarc" / "TEST1.ISO"
"""81 RUSMARC records of the National Library of Russia, in CP1251 (tests/data/README.md)."""


def _catalog(tmp_path) -> Catalog:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    return Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url)))


def _rejects(catalog: Catalog, run_id: int) -> int:
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(harvest_rejects)
            .where(harvest_rejects.c.run_id == run_id)
        ).scalar_one()


def _rejected_by_a_broken_crosswalk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Catalog, HarvestSource, RunReport]:
    """A catalogue whose harvest of RECORDS records rejected each (its MARCXML crosswalk
    broken until the test mends it), the source and the run's report."""
    catalog = _catalog(tmp_path)
    provider = FaultProvider(list(demo_records(RECORDS)))

    def broken(_element):  # type: ignore[no-untyped-def]
        raise ValueError("crosswalk bug")

    monkeypatch.setitem(ingest._resolved, ingest.MARCXML_NS, broken)
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        report = harvest(catalog, source, politeness=FAST)
    return catalog, source, report


def test_records_rejected_by_a_broken_crosswalk_go_in_once_it_is_mended(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog, source, report = _rejected_by_a_broken_crosswalk(tmp_path, monkeypatch)
    assert report.counts.rejected == RECORDS and report.counts.added == 0
    assert _rejects(catalog, report.run_id) == RECORDS
    monkeypatch.delitem(ingest._resolved, ingest.MARCXML_NS)  # the crosswalk is mended

    counts = retry_rejects(catalog, source, report.run_id, MAX)
    assert (counts.added, counts.rejected) == (RECORDS, 0)
    assert _rejects(catalog, report.run_id) == 0
    assert catalog.count(None) == RECORDS
    again = retry_rejects(catalog, source, report.run_id, MAX)
    assert again.total == 0


def test_a_record_still_broken_keeps_one_reject_with_its_new_reason(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _catalog(tmp_path)
    provider = FaultProvider(list(demo_records(RECORDS)))

    def broken(reason: str):  # type: ignore[no-untyped-def]
        def crosswalk(_element):  # type: ignore[no-untyped-def]
            raise ValueError(reason)
        return crosswalk

    monkeypatch.setitem(ingest._resolved, ingest.MARCXML_NS, broken("first bug"))
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        report = harvest(catalog, source, politeness=FAST)
    monkeypatch.setitem(ingest._resolved, ingest.MARCXML_NS, broken("second bug"))
    counts = retry_rejects(catalog, source, report.run_id, MAX)
    assert (counts.added, counts.rejected) == (0, RECORDS)
    with catalog.engine.connect() as connection:
        reasons = connection.execute(select(harvest_rejects.c.reason)).scalars().all()
    assert len(reasons) == RECORDS  # replaced, not duplicated
    assert all("second bug" in reason for reason in reasons)


def test_two_retries_at_once_retry_each_reject_once(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry sent twice at once (a button pressed twice, two workers): each read the run's
    rejects and ingested every one again, so that each record still rejected had two rejects,
    four after the next double retry. Now a reject another retry took meanwhile is left to it."""
    catalog, source, report = _rejected_by_a_broken_crosswalk(tmp_path, monkeypatch)
    write, meanwhile = catalog.write, []

    def after_another_retry(*args: Any, **kwargs: Any) -> Any:
        """The first write of the first retry, once the other retry has done all of its."""
        monkeypatch.setattr(catalog, "write", write)
        meanwhile.append(retry_rejects(catalog, source, report.run_id, MAX))
        return write(*args, **kwargs)

    monkeypatch.setattr(catalog, "write", after_another_retry)
    first = retry_rejects(catalog, source, report.run_id, MAX)
    (other,) = meanwhile
    assert (other.rejected, first.total) == (RECORDS, 0)
    assert _rejects(catalog, report.run_id) == RECORDS  # one each, not two


async def test_rejects_of_records_larger_than_the_limit_stay_and_the_retry_says_to_harvest_them(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """Only the first bytes of a record larger than max_record_bytes are kept: a retry after
    the limit was raised leaves its reject as it was, reason and all, and says (API and form)
    that the record must be harvested again with --full, which brings it in. It was retried from
    its cut bytes: rejected again as "not well-formed XML", the partner blamed."""
    provider = FaultProvider(list(demo_records(RECORDS)))
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        raised = dataclasses.replace(dashboard_settings(tmp_path), sources=[source])
        small = dataclasses.replace(raised, limits=LimitSettings(max_record_bytes=1100))
        client = await make_client(aiohttp_client, raised)
        catalog = client.app[CATALOG]
        report = await asyncio.to_thread(harvest, catalog, source, settings=small,
                                         politeness=FAST)  # fmt: skip
        assert (report.counts.added, report.counts.rejected) == (0, RECORDS)
        with catalog.engine.connect() as connection:
            before = connection.execute(select(harvest_rejects.c.reason)).scalars().all()
        assert all("larger than max_record_bytes (1100)" in reason for reason in before)

        token = new_token(catalog.engine, "alice")
        answer = await client.post(f"/api/runs/{report.run_id}/retry",
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert answer.status == 200
        with catalog.engine.connect() as connection:
            after = connection.execute(select(harvest_rejects.c.reason)).scalars().all()
        assert after == before  # kept as they were, their reasons intact
        said = await answer.json()
        assert (said["added"], said["rejected"], said["cut"]) == (0, 0, RECORDS)
        assert said["cut_line"] == (
            f"{RECORDS} reject(s) of records larger than max_record_bytes when harvested were "
            "kept as they were (only their first bytes are kept): harvest the source with --full"
            " to fetch them again (koprik harvest partner --full; an incremental harvest does "
            "not ask for them)")
        await sign_in(client)
        page = await client.get(f"/runs/{report.run_id}")
        form = await client.post(f"/runs/{report.run_id}/retry",
                                 data={"csrf": csrf_of(await page.text())}, allow_redirects=False)
        message = parse_qs(urlsplit(form.headers["Location"]).query)["message"]
        assert message == ["retried: 0 added, 0 updated, 0 unchanged, 0 still rejected; "
                           + said["cut_line"]]
        with catalog.engine.connect() as connection:
            assert connection.execute(select(harvest_rejects.c.reason)).scalars().all() == before

        incremental = await asyncio.to_thread(harvest, catalog, source, settings=raised,
                                              politeness=FAST)  # fmt: skip
        assert incremental.counts.added == 0  # the watermark is past them
        full = await asyncio.to_thread(harvest, catalog, source, RunOptions(full=True),
                                       settings=raised, politeness=FAST)  # fmt: skip
        assert full.counts.added == RECORDS


def test_kept_sru_and_oai_records_read_again() -> None:
    sru = (b'<record xmlns="http://docs.oasis-open.org/ns/search-ws/sruResponse">'
           b"<recordSchema>marcxml</recordSchema><recordXMLEscaping>xml</recordXMLEscaping>"
           b'<recordData><record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000'
           b' a 4500</leader><controlfield tag="001">x1</controlfield></record></recordData>'
           b"<recordPosition>3</recordPosition></record>")
    item = sru_pages.read_record_bytes(sru).harvested()
    assert item.error is None and item.metadata is not None and item.where == "record 3"
    assert sru_pages.read_record_bytes(b"<record><broken").error
    assert oai_pages.read_record_bytes(b"<html/>").error == "html is not an OAI record"


async def test_the_retried_rejects_of_a_unimarc_source_say_what_had_no_place_in_marc21(
    aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry from the dashboard (its form and its API) says in one line, as a run's record
    does, what the records it stored had with no place in MARC21: it said nothing of it."""
    with RUSMARC.open("rb") as stream:
        records = [item.record for item in marc_io.iter_records(stream, "unimarc")
                   if item.record is not None]  # fmt: skip
    provider = FaultProvider(records, page_size=25)

    def broken(_element):  # type: ignore[no-untyped-def]
        raise ValueError("crosswalk bug")

    with serve(provider.app()) as url:
        source = HarvestSource(name="koha", url=url, prefix="marc21", crosswalk="unimarc")
        settings = dataclasses.replace(dashboard_settings(tmp_path), sources=[source])
        client = await make_client(aiohttp_client, settings)
        catalog = client.app[CATALOG]

        def run(crosswalk: Any) -> RunReport:
            monkeypatch.setitem(ingest._resolved, ingest.MARCXML_NS, crosswalk)
            return harvest(catalog, source, RunOptions(full=True), politeness=FAST)

        mended = ingest.crosswalk_for(ingest.MARCXML_NS)
        rejected = [await asyncio.to_thread(run, broken) for _ in range(2)]
        assert [r.counts.rejected for r in rejected] == [len(records)] * 2
        recorded = await asyncio.to_thread(run, mended)  # the line a run's record has
    said = recorded.errors[-1]
    with_notes = sum(1 for record in records if to_marc21(record).unmapped)  # 76 of the 81
    assert said.startswith(f"{with_notes} record(s) had UNIMARC data with no place in MARC21")

    token = new_token(catalog.engine, "alice")
    answer = await client.post(f"/api/runs/{rejected[0].run_id}/retry",
                               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status == 200
    assert await answer.json() == {**Counts(unchanged=len(records)).as_dict(), "unmapped": said,
                                   "cut": 0, "cut_line": None}

    await sign_in(client)
    page = await client.get(f"/runs/{rejected[1].run_id}")
    form = await client.post(f"/runs/{rejected[1].run_id}/retry",
                             data={"csrf": csrf_of(await page.text())}, allow_redirects=False)
    assert form.status == 303
    message = parse_qs(urlsplit(form.headers["Location"]).query)["message"]
    assert message == [f"retried: 0 added, 0 updated, {len(records)} unchanged, 0 still "
                       f"rejected; {said}"]  # fmt: skip
