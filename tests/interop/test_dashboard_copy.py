"""Copy cataloguing against a real Zebra (over Z39.50 and over SRU) beside a target that never
answers: the search goes to all at once, the silent one is cut at the per-target time limit,
Zebra's records come back marked by target, and one from each protocol is imported; and against
a Zebra serving RUSMARC in record syntax UNIMARC (an IRBIS's), copied as MARC21."""

from __future__ import annotations

import asyncio
import html
import re
import shutil
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from config.settings import CopyTarget
from crosswalks.unimarc import to_marc21
from koprik.dashboard.copy_targets import cql_query, fetch_one, search_target, store
from provider.keys import CATALOG
from tests.conftest import DATA
from tests.dashboard_fixtures import dashboard_settings, make_client, sign_in
from tests.fault_provider import FaultProvider, serve, sqlite_catalog
from tests.interop.test_harvest_unimarc_source import (  # noqa: F401 (a fixture)
    assert_same,
    converted_by_file,
    rusmarc_zebra,
    stored,
    unimarc_records,
)
from tests.peers import running_zebra

pytestmark = pytest.mark.interop
ISBN = "0596000855"


@pytest.fixture(scope="module")
def zebra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    base = tmp_path_factory.mktemp("zebra")
    (base / "records").mkdir()
    shutil.copy(DATA / "marc21" / "marc.dat", base / "records" / "marc.dat")
    with running_zebra(base / "records", base / "work") as port:
        yield port


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


async def test_one_search_to_every_target_with_a_time_limit(zebra: int, silent: int) -> None:
    terms = {"isbn": ISBN, "title": "", "author": ""}
    targets = [
        CopyTarget("zebra", f"z3950://127.0.0.1:{zebra}/Default"),
        CopyTarget("zebra-sru", f"http://127.0.0.1:{zebra}/Default", protocol="sru"),
        CopyTarget("mute", f"z3950://127.0.0.1:{silent}/Default"),
    ]
    results = await asyncio.gather(search_target(targets[0], terms, 30.0),
                                   search_target(targets[1], terms, 30.0),
                                   search_target(targets[2], terms, 1.0))
    for result in results[:2]:
        assert result.hits == 1 and result.error is None, result
        assert result.records[0].title.startswith("Programming Python")
        assert "=020  \\\\$a0596000855" in result.records[0].mrk
    assert results[1].query == 'bath.isbn="0596000855"'
    assert results[2].error == "no answer within 1 s" and results[2].records == []


def test_cql_quotes_terms() -> None:
    assert cql_query({"title": 'war "and" peace', "author": "tolstoy"}) == \
        'dc.title="war \\"and\\" peace" and dc.creator="tolstoy"'


async def test_search_and_import_through_the_page(
    aiohttp_client: Any, tmp_path: Any, zebra: int, silent: int
) -> None:
    settings = dashboard_settings(tmp_path, copy_timeout=2.0, targets=[
        CopyTarget("zebra", f"z3950://127.0.0.1:{zebra}/Default"),
        CopyTarget("zebra-sru", f"http://127.0.0.1:{zebra}/Default", protocol="sru"),
        CopyTarget("mute", f"z3950://127.0.0.1:{silent}/Default")])
    client = await make_client(aiohttp_client, settings)
    assert (await client.get("/copy", allow_redirects=False)).status == 303
    await sign_in(client)
    page = await (await client.get(f"/copy?isbn={ISBN}")).text()
    assert "no answer within 2 s" in page
    forms = re.findall(r'<form method="post" action="/copy/import">(.*?)</form>', page, re.S)
    assert len(forms) == 2
    for form in forms:
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
        imported = await client.post("/copy/import", allow_redirects=False, data={
            name: html.unescape(value) for name, value in fields.items()})
        assert imported.status == 303, await imported.text()
        record = await (await client.get(imported.headers["Location"])).text()
        assert "Programming Python" in record
    assert client.app[CATALOG].count(None) == 2  # one per source: z3950:... and sru:...


async def test_a_target_of_unimarc_records_is_copied_from_as_marc21(
    aiohttp_client: Any, tmp_path: Any, rusmarc_zebra: int  # noqa: F811
) -> None:
    address = f"127.0.0.1:{rusmarc_zebra}/Default"
    settings = dashboard_settings(tmp_path, copy_timeout=10.0, targets=[
        CopyTarget("irbis", f"z3950://{address}", crosswalk="rusmarc"),
        CopyTarget("irbis-as-marc21", f"z3950://{address}")])  # fmt: skip
    client = await make_client(aiohttp_client, settings)
    await sign_in(client)
    raw = await (await client.get("/copy?author=Бабель")).text()
    page = html.unescape(raw)
    assert "diagnostic 239: Record syntax not supported" in page  # USMARC is not served
    assert "Собрание сочинений : В 2 т. / · Бабель, И. Э." in page
    assert "=245  10$aСобрание сочинений :$bВ 2 т. /$cИсаак Бабель." in page
    assert "=200  " not in page  # previewed as MARC21, not as UNIMARC
    (babel,) = [r for r in unimarc_records() if r["001"].data == "RU\\NLR\\bibl\\340011"]
    left_out = to_marc21(babel).unmapped  # what koprik import --format unimarc reports
    assert left_out and re.findall(r'<li><code>(.*?)</code></li>', page) == left_out
    (form,) = re.findall(r'<form method="post" action="/copy/import">(.*?)</form>', raw, re.S)
    imported = await client.post("/copy/import", allow_redirects=False, data={
        name: html.unescape(value)
        for name, value in re.findall(r'name="(\w+)" value="([^"]*)"', form)})  # fmt: skip
    assert imported.status == 303, await imported.text()
    record = "RU\\NLR\\bibl\\340011"
    expected = {record: converted_by_file()[record]}
    assert_same(stored(client.app[CATALOG], f"z3950:{address}"), expected)


async def test_an_sru_target_of_unimarc_in_marcxml_is_copied_from_as_marc21(tmp_path: Any) -> None:
    expected = converted_by_file()
    catalog = sqlite_catalog(tmp_path, "catalog")
    try:
        with serve(FaultProvider(unimarc_records(), page_size=25).app()) as url:
            target = CopyTarget("koha", url.replace("/oai", "/sru"), protocol="sru",
                                crosswalk="unimarc")  # fmt: skip
            result = await search_target(target, {"title": "x"}, 10.0)
            assert result.error is None and result.hits == 81 and len(result.records) == 10
            assert all("=245  " in found.mrk and "=200  " not in found.mrk
                       for found in result.records)  # fmt: skip
            left_out = {tuple(to_marc21(record).unmapped) for record in unimarc_records()}
            assert all(found.left_out in left_out for found in result.records)
            assert any(found.left_out for found in result.records)
            fetched = await fetch_one(target, result.query, 3, 10.0)
        local = store(catalog, fetched, 1 << 20)
        (identifier,) = stored(catalog, fetched.source)
        assert_same(stored(catalog, fetched.source), {identifier: expected[identifier]})
        assert local
    finally:
        catalog.close()
