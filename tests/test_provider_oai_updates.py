"""Harvesting while the collection changes (SQLite and PostgreSQL).

A harvest that pages through ListRecords while 10 % of the records are updated and another
10 % deleted misses no record that stayed unchanged (the keyset ``(datestamp, id)`` does not move
under an unchanged record); an incremental harvest from the first page's ``responseDate`` then
returns exactly the records changed or deleted, deletions as ``status="deleted"`` headers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import Any

from pymarc import Record

from catalog import Catalog
from catalog.demo import demo_records
from config import Settings
from tests.oai_checked import Ask, checked_oai

NS = {"o": "http://www.openarchives.org/OAI/2.0/"}
PREFIX = "oai:natlib.uz:"
RECORDS = 200
PAGE = 20
CHANGE_AFTER_PAGES = (2, 6)
"""The changes are made in two halves, after these pages of the harvest."""


def retitle(record: Record) -> Record:
    record["245"]["a"] = record["245"]["a"] + " (revised)"
    return record


def change(catalog: Catalog, updated: list[Record], deleted: list[str]) -> None:
    with catalog.writer() as writer:
        for record in updated:
            writer.put(retitle(record))
        for local_id in deleted:
            writer.delete(local_id)


async def _paged_an_hour_later(
    aiohttp_client: Any, settings: Settings, catalog: Catalog, records: list[Record]
) -> Ask:
    """``records`` stored an hour ago; what fetches a response (schema-valid) of a provider
    paging them :data:`PAGE` at a time."""
    with catalog.writer() as writer:
        writer.now = int(time.time()) - 3600
        for record in records:
            writer.put(record)
    settings = dataclasses.replace(settings, oai=dataclasses.replace(settings.oai, page_size=PAGE))
    return await checked_oai(aiohttp_client, settings, catalog)


async def test_harvest_during_updates(
    aiohttp_client: Any, settings: Settings, catalog: Catalog
) -> None:
    records = {r["001"].data: r for r in demo_records(RECORDS, seed=11)}
    page = await _paged_an_hour_later(aiohttp_client, settings, catalog, list(records.values()))
    rng = random.Random(4)
    chosen = rng.sample(sorted(records), RECORDS // 5)
    updated, deleted = chosen[: RECORDS // 10], chosen[RECORDS // 10 :]

    root = await page(verb="ListRecords", metadataPrefix="oai_dc")
    first_response_date = root.findtext("o:responseDate", namespaces=NS)
    seen: list[str] = []
    pages = 0
    halves = iter([(updated[:10], deleted[:10]), (updated[10:], deleted[10:])])
    while True:
        seen += root.xpath("//o:header/o:identifier/text()", namespaces=NS)
        pages += 1
        if pages in CHANGE_AFTER_PAGES:
            some_updated, some_deleted = next(halves)
            await asyncio.to_thread(
                change, catalog, [records[i] for i in some_updated], some_deleted
            )
        token = root.findtext("o:ListRecords/o:resumptionToken", namespaces=NS)
        if not token:
            break
        root = await page(verb="ListRecords", resumptionToken=token)
    unchanged = {PREFIX + i for i in records} - {PREFIX + i for i in chosen}
    assert unchanged <= set(seen)
    assert pages >= RECORDS // PAGE

    incremental: dict[str, str | None] = {}
    root = await page(verb="ListRecords", metadataPrefix="oai_dc", **{"from": first_response_date})
    while True:
        for header in root.iterfind("o:ListRecords/o:record/o:header", NS):
            incremental[header.findtext("o:identifier", namespaces=NS)] = header.get("status")
        token = root.findtext("o:ListRecords/o:resumptionToken", namespaces=NS)
        if not token:
            break
        root = await page(verb="ListRecords", resumptionToken=token)
    assert incremental == {
        **{PREFIX + i: None for i in updated},
        **{PREFIX + i: "deleted" for i in deleted},
    }


async def test_last_page_says_the_size_of_a_list_that_shrank(
    aiohttp_client: Any, settings: Settings, catalog: Catalog
) -> None:
    """Records changed during a harvest bounded by ``until`` leave the list (their datestamp is
    now later): the last page's completeListSize is the number of records the list had, not
    the first page's count."""
    records = list(demo_records(RECORDS, seed=11))
    page = await _paged_an_hour_later(aiohttp_client, settings, catalog, records)
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    root = await page(verb="ListIdentifiers", metadataPrefix="oai_dc", until=until)
    first = root.find("o:ListIdentifiers/o:resumptionToken", NS)
    assert first is not None and int(first.get("completeListSize")) == RECORDS
    seen = root.xpath("//o:header/o:identifier/text()", namespaces=NS)
    later = [r for r in records if PREFIX + r["001"].data not in seen][:3]
    await asyncio.to_thread(change, catalog, later, [])
    token = first
    while token is not None and token.text:
        root = await page(verb="ListIdentifiers", resumptionToken=token.text)
        seen += root.xpath("//o:header/o:identifier/text()", namespaces=NS)
        token = root.find("o:ListIdentifiers/o:resumptionToken", NS)
    assert len(seen) == len(set(seen)) == RECORDS - 3
    assert token is not None and int(token.get("completeListSize")) == RECORDS - 3
    assert int(token.get("cursor")) + len(root.xpath("//o:header", namespaces=NS)) == RECORDS - 3


async def test_a_list_whose_rest_left_it_ends_with_no_records_match_saying_so(
    aiohttp_client: Any, settings: Settings, catalog: Catalog
) -> None:
    """The one record past the first page is deleted during a harvest bounded by ``until``:
    the token's page is noRecordsMatch (the schema has no empty page), and says why."""
    records = list(demo_records(PAGE + 1, seed=11))
    page = await _paged_an_hour_later(aiohttp_client, settings, catalog, records)
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    root = await page(verb="ListIdentifiers", metadataPrefix="oai_dc", until=until)
    token = root.findtext("o:ListIdentifiers/o:resumptionToken", namespaces=NS)
    assert token and len(root.xpath("//o:header", namespaces=NS)) == PAGE
    await asyncio.to_thread(change, catalog, [], [records[-1]["001"].data])
    root = await page(verb="ListIdentifiers", resumptionToken=token)
    assert root.find("o:error", NS).get("code") == "noRecordsMatch"
    assert f"the list ends here: the records after its first {PAGE}" in root.findtext(
        "o:error", namespaces=NS
    )
