"""Copy cataloguing's pages against an SRU target served on 127.0.0.1 (the fault provider's
``/sru``); searches and imports against real Zebras are tests/interop/test_dashboard_copy.py's."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from catalog.demo import demo_records
from config.settings import CopyTarget
from tests.dashboard_fixtures import dashboard_settings, make_client, sign_in
from tests.fault_provider import FaultProvider, serve

_IMPORT_FORM = re.compile(r'<form method="post" action="/copy/import">(.*?)</form>', re.S)
_FIELD = re.compile(r'name="(\w+)" value="([^"]*)"')


def _import_forms(page: str) -> list[dict[str, str]]:
    return [{name: html.unescape(value) for name, value in _FIELD.findall(form)}
            for form in _IMPORT_FORM.findall(page)]


async def test_a_failed_import_shows_the_search_and_its_results_again(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """An import that fails (502) shows why above the search as the operator typed it, with
    its results (asked again): the page was empty, search and results gone."""
    with serve(FaultProvider(list(demo_records(3))).app()) as url:
        settings = dashboard_settings(tmp_path, copy_timeout=10.0, targets=[
            CopyTarget("koha", url.replace("/oai", "/sru"), protocol="sru")])  # fmt: skip
        client = await make_client(aiohttp_client, settings)
        await sign_in(client)
        searched = await (await client.get("/copy?title=tarix&author=Navoiy+%22A%22")).text()
        forms = _import_forms(searched)
        assert len(forms) == 3
        assert (forms[0]["title"], forms[0]["author"]) == ("tarix", 'Navoiy "A"')
        failed = await client.post("/copy/import", data={**forms[0], "position": "99"})
        assert failed.status == 502
        page = await failed.text()
    assert "koha: SRU diagnostic 61: First record position out of range (99)" in page
    assert 'name="title" value="tarix"' in page
    assert 'name="author" value="Navoiy &#34;A&#34;"' in page
    assert _import_forms(page) == forms
