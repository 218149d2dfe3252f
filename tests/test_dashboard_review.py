"""The union catalogue in the dashboard: the review queue (merge, keep apart), a union
record's members and holdings, the manual split, and the queue in /metrics."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymarc import Field, Subfield

from catalog.dedup import run_dedup
from catalog.store import Incoming
from config.settings import FileSource
from koprik.dashboard import review
from provider.keys import CATALOG
from tests.books import book
from tests.dashboard_fixtures import csrf_of, dashboard_settings, make_client, sign_in

SOURCES = [FileSource("sam", "UzSaRL", "Samarqand"), FileSource("bux", "UzBuRL", "Buxoro")]


@pytest.fixture
async def union(aiohttp_client: Any, tmp_path: Any) -> Any:
    settings = dataclasses.replace(dashboard_settings(tmp_path), file_sources=SOURCES)
    client = await make_client(aiohttp_client, settings)
    catalog = client.app[CATALOG]
    held = book("1", "Xalq dostonlari", pages=None, sublocation="Zal 2")
    held.add_field(
        Field(tag="853", indicators=["2", "0"], subfields=[
            Subfield("8", "1"), Subfield("a", "jild")]),
        Field(tag="863", indicators=["4", "0"], subfields=[
            Subfield("8", "1.1"), Subfield("a", "1-3")]),
        Field(tag="866", indicators=["4", "1"], subfields=[
            Subfield("8", "0"), Subfield("a", "1-3 jild"), Subfield("z", "2-jild yo'q")]))
    with catalog.writer() as writer:
        writer.put_many([  # the same book without an author: a pair for review
            Incoming(held, source="sam"),
            Incoming(book("1", "Xalq dostonlari", pages=None), source="bux"),
            Incoming(book("2", "Kimyo asoslari", pages=None), source="sam"),
            Incoming(book("2", "Kimyo asoslari", pages=None), source="bux"),
        ])
    run_dedup(catalog)
    await sign_in(client)
    return client


def _gauge(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} missing")


async def test_review_merge_keep_apart_and_split(union: Any) -> None:
    page = await (await union.get("/review")).text()
    assert page.count("The same book: merge") == 2
    assert "no author" in page and "sam:1" in page and "bux:1" in page
    token = csrf_of(page)

    merged = await union.post("/review", allow_redirects=False, data={
        "csrf": token, "first": "sam:1", "second": "bux:1", "decision": "same"})
    assert merged.status == 303 and "merged+into+union:" in merged.headers["Location"]
    apart = await union.post("/review", allow_redirects=False, data={
        "csrf": token, "first": "sam:2", "second": "bux:2", "decision": "different"})
    assert apart.status == 303 and "kept+apart" in apart.headers["Location"]
    assert "Nothing to review." in await (await union.get("/review")).text()

    union_id = re.search(r"union:\d+", merged.headers["Location"]).group(0)  # type: ignore[union-attr]
    record = await (await union.get(f"/record?id={union_id}")).text()
    assert "Union record of 2 members" in record
    assert "$a UzSaRL" in record and "$a UzBuRL" in record  # holdings
    assert ("<code>$a UzSaRL $b Zal 2 — 853 $a jild — 863 $a 1-3 — 866 $a 1-3 jild "
            "$z 2-jild yo&#39;q</code>") in record
    member = await (await union.get("/record?id=sam%3A1")).text()
    assert "A member of the union record" in member and 'id="view-mrk"' in member

    split = await union.post("/union/split", allow_redirects=False, data={
        "csrf": token, "union": union_id, "member": "sam:1"})
    assert split.status == 303
    assert "split+off" in split.headers["Location"]
    after = await (await union.get(f"/record?id={union_id}")).text()
    assert "Union record of 1 member" in after and "sam:1" not in after.split("Holdings")[0]

    metrics = await (await union.get("/metrics")).text()
    assert _gauge(metrics, "koprik_dedup_queue_length") == 0


async def test_the_queue_says_when_more_pairs_wait_than_it_shows(
    union: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page showed the first pairs (50) with no sign that more were waiting."""
    monkeypatch.setattr(review, "SHOWN_PAIRS", 1)
    page = await (await union.get("/review")).text()
    assert page.count("The same book: merge") == 1
    assert "Showing the 1 most likely pair; more are waiting behind them" in page
    monkeypatch.setattr(review, "SHOWN_PAIRS", 2)
    page = await (await union.get("/review")).text()
    assert page.count("The same book: merge") == 2 and 'id="more"' not in page


async def test_a_union_records_provenance_is_its_members(union: Any) -> None:
    """A union record's page said it was "imported or catalogued here"."""
    token = csrf_of(await (await union.get("/review")).text())
    merged = await union.post("/review", allow_redirects=False, data={
        "csrf": token, "first": "sam:1", "second": "bux:1", "decision": "same"})
    union_id = re.search(r"union:\d+", merged.headers["Location"]).group(0)  # type: ignore[union-attr]
    record = await (await union.get(f"/record?id={union_id}")).text()
    assert "<tr><th>provenance</th><td>a union record, made here of its members" in record
    assert "imported or catalogued here" not in record
