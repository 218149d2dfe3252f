"""Record search and record pages: script folding as in Z39.50, four views, provenance."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_plus

import pytest
from pymarc import Field, Record, Subfield

from catalog import Provenance
from config import Settings
from koprik.dashboard.accounts import new_token
from koprik.dashboard.records import PAGE_SIZE
from provider.keys import CATALOG, SERVICE
from tests.dashboard_fixtures import client, csrf_of, make_client, sign_in  # noqa: F401


def _record(control: str, title: str) -> Record:
    record = Record(force_utf8=True)
    record.leader = record.leader[:9] + "a" + record.leader[10:]
    record.add_field(Field(tag="001", data=control))
    record.add_field(Field(tag="245", indicators=["1", "0"], subfields=[Subfield("a", title)]))
    return record


@pytest.fixture
async def filled(client: Any) -> Any:  # noqa: F811
    catalog = client.app[CATALOG]
    with catalog.writer() as writer:
        writer.put(_record("c1", "Ўзбекистон тарихи"))
        writer.put(_record("h1", "Harvested <title>"), provenance=Provenance(
            source="partner", base_url="http://127.0.0.1:9/oai", identifier="oai:p:1",
            datestamp="2020-01-01T00:00:00Z", metadata_namespace="http://www.loc.gov/MARC21/slim",
            payload=b"<record>as received</record>"))
    return client


@pytest.mark.parametrize("query", ["oʻzbekiston tarixi", "o'zbekiston", "ŭzbekiston", "tarix*"])
async def test_latin_queries_find_the_cyrillic_record(filled: Any, query: str) -> None:
    page = await (await filled.get(f"/records?q={quote_plus(query)}")).text()
    assert "1 record found" in page and "Ўзбекистон тарихи" in page


@pytest.mark.parametrize("query", ["*", "...", "« »", "-*"])
async def test_a_query_of_no_word_says_so(filled: Any, query: str) -> None:
    """A query with nothing to search for ran no search, yet the page said "0 records found"."""
    page = await (await filled.get(f"/records?q={quote_plus(query)}")).text()
    assert "nothing to search for: the query has no letter or digit" in page
    assert "found." not in page


@pytest.mark.parametrize("number", ["99999999999999999999", "0", "-1", "2a", "５", "past"])
async def test_a_page_number_out_of_range_is_refused_in_one_line(
    filled: Any, number: str
) -> None:
    """A page number of 20 digits was shown as it was (the list's first number, too); the
    pages of the largest result set are the only ones."""
    last = -(-filled.app[SERVICE].limits.max_result_set // PAGE_SIZE)
    number = str(last + 1) if number == "past" else number
    response = await filled.get(f"/records?q=tarix*&page={quote_plus(number)}")
    assert response.status == 400
    page = await response.text()
    assert f"there is no such page: pages are numbered from 1 to {last:,}" in page
    assert "<ol" not in page and "found." not in page  # no list numbered from it
    kept = await (await filled.get(f"/records?q=tarix*&page={last}")).text()
    assert "1 record found." in kept and "there is no such page" not in kept


async def test_a_record_in_four_views_with_its_provenance(filled: Any) -> None:
    hits = await (await filled.get("/records?index=title&q=harvested")).text()
    local_id = re.search(r'href="/record\?id=([^"]+)"', hits).group(1)  # type: ignore[union-attr]
    page = await (await filled.get(f"/record?id={local_id}")).text()
    for view in ("mrk", "marcxml", "dc", "mods"):
        assert f'id="view-{view}"' in page
    assert "Harvested &lt;title&gt;" in page and "<title>" not in page.split("</head>")[1]
    assert "oai:p:1" in page and "http://127.0.0.1:9/oai" in page
    mrk = await filled.get(f"/record/mrk?id={local_id}")
    assert mrk.content_type == "text/plain" and "=245  10$aHarvested <title>" in await mrk.text()
    dc = await filled.get(f"/record/dc?id={local_id}")
    assert dc.content_type == "application/xml" and "dc:title" in await dc.text()
    original = await filled.get(f"/record/original?id={local_id}")
    assert await original.read() == b"<record>as received</record>"
    assert (await filled.get("/record/nonsense?id=c1")).status == 404
    assert (await filled.get("/record?id=nothing")).status == 404



async def test_the_record_page_shows_the_change_history(filled: Any) -> None:
    catalog = filled.app[CATALOG]
    edited = _record("c1", "Ўзбекистон тарихи, 2-нашр")
    with catalog.writer("import") as writer:
        writer.put(edited)
    with catalog.writer() as writer:
        writer.run_id = 7
        writer.delete_harvested(Provenance(
            source="partner", base_url="http://127.0.0.1:9/oai", identifier="oai:p:1",
            datestamp="2020-01-02T00:00:00Z", metadata_namespace="http://www.loc.gov/MARC21/slim"))
    page = await (await filled.get("/record?id=c1")).text()
    history = page.split("<h2>Change history</h2>")[1].split("</section>")[0]
    rows = re.findall(r"<tr><td>[^<]+</td><td>(\w+)</td><td>(.*?)</td></tr>", history)
    assert rows == [("added", "catalog"), ("updated", "import")]
    harvested = await (await filled.get("/record?id=partner:oai:p:1")).text()
    history = harvested.split("<h2>Change history</h2>")[1].split("</section>")[0]
    rows = re.findall(r"<tr><td>[^<]+</td><td>(\w+)</td><td>(.*?)</td></tr>", history)
    assert rows == [
        ("added", "harvest from <code>partner</code>"),
        ("deleted", 'harvest from <code>partner</code>, <a href="/runs/7">run #7</a>'),
    ]


async def test_a_nul_from_the_wire_names_nothing_on_either_engine(
    aiohttp_client: Any, settings: Settings, caplog: Any
) -> None:
    """A NUL in a record id, a source name or a form field is refused or found nowhere, never
    sent to the database (PostgreSQL fails on it: the pages were 500s)."""
    client = await make_client(aiohttp_client, settings)  # noqa: F811
    token = new_token(client.app[CATALOG].engine, "alice")
    for path in ("/record?id=%00", "/record/mrk?id=a%00", "/record/original?id=%00"):
        assert (await client.get(path)).status == 404, path
    await sign_in(client)
    assert (await client.get("/runs?source=%00")).status == 200
    api = await client.get("/api/runs?source=%00", headers={"Authorization": f"Bearer {token}"})
    assert api.status == 200 and await api.json() == []
    assert (await client.get("/sources/a%00")).status == 404
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/harvest")):
        api = await client.request(method, f"/api/sources/a%00{path}", json={"delay": 1},
                                   headers={"Authorization": f"Bearer {token}"})
        assert api.status == 404, (method, path)
    csrf = csrf_of(await (await client.get("/review")).text())
    review = await client.post("/review", data={"csrf": csrf, "first": "a\x00", "second": "b",
                                                "decision": "same"}, allow_redirects=False)
    assert review.status == 400 and "NUL" in await review.text()
    assert "Traceback" not in caplog.text
