"""Retry rejects: the kept bytes of a run's rejects are ingested again through the same path."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_rejects
from config import DatabaseSettings, HarvestSource, Settings
from harvester import ingest, oai_pages, sru_pages
from harvester.oai_client import Politeness
from harvester.retry import retry_rejects
from harvester.runs import harvest
from tests.fault_provider import FaultProvider, serve

FAST = Politeness(delay=0, timeout=5.0, retries=1, backoff=0.01)
RECORDS = 12
MAX = 1024 * 1024


def _catalog(tmp_path) -> Catalog:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    return Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url)))


def _rejects(catalog: Catalog, run_id: int) -> int:
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(harvest_rejects)
            .where(harvest_rejects.c.run_id == run_id)
        ).scalar_one()


def test_records_rejected_by_a_broken_crosswalk_go_in_once_it_is_mended(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _catalog(tmp_path)
    provider = FaultProvider(list(demo_records(RECORDS)))

    def broken(_element):  # type: ignore[no-untyped-def]
        raise ValueError("crosswalk bug")

    monkeypatch.setitem(ingest._resolved, ingest.MARCXML_NS, broken)
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        report = harvest(catalog, source, politeness=FAST)
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
