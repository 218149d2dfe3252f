"""Copy cataloguing against a real Zebra, beside a target that never answers: the search goes
to both at once, the silent one is cut at the per-target time limit, Zebra's records come back
marked by target, and one is imported."""

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
from koprik.dashboard.copycat import build_query, search_target
from provider.keys import CATALOG
from tests.conftest import DATA
from tests.dashboard_fixtures import csrf_of, dashboard_settings, make_client, sign_in
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
    query = build_query({"isbn": ISBN})
    assert query is not None
    good = CopyTarget("zebra", f"z3950://127.0.0.1:{zebra}/Default")
    mute = CopyTarget("mute", f"z3950://127.0.0.1:{silent}/Default")
    results = await asyncio.gather(search_target(good, query, 30.0),
                                   search_target(mute, query, 1.0))
    assert results[0].hits == 1 and results[0].error is None
    assert results[0].records[0].title.startswith("Programming Python")
    assert "=020  \\\\$a0596000855" in results[0].records[0].mrk
    assert results[1].error == "no answer within 1 s" and results[1].records == []


async def test_search_and_import_through_the_page(
    aiohttp_client: Any, tmp_path: Any, zebra: int, silent: int
) -> None:
    settings = dashboard_settings(tmp_path, copy_timeout=2.0, targets=[
        CopyTarget("zebra", f"z3950://127.0.0.1:{zebra}/Default"),
        CopyTarget("mute", f"z3950://127.0.0.1:{silent}/Default")])
    client = await make_client(aiohttp_client, settings)
    assert (await client.get("/copy", allow_redirects=False)).status == 303
    await sign_in(client)
    page = await (await client.get(f"/copy?isbn={ISBN}")).text()
    assert "no answer within 2 s" in page and '<span class="tag">zebra</span>' in page
    position = re.search(r'name="position" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    pqf = re.search(r'name="pqf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    imported = await client.post("/copy/import", allow_redirects=False, data={
        "csrf": csrf_of(page), "target": "zebra", "position": position,
        "pqf": html.unescape(pqf)})
    assert imported.status == 303, await imported.text()
    record = await (await client.get(imported.headers["Location"])).text()
    assert "Programming Python" in record and f"z3950://127.0.0.1:{zebra}/Default" in record
    assert client.app[CATALOG].count(None) == 1
