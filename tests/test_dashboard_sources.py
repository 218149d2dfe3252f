"""Sources and runs through the dashboard's forms and its JSON API, against a real Koprik
provider on 127.0.0.1 (aiohttp test server)."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_sources, harvest_state
from config import DatabaseSettings, HarvestSource, Settings
from harvester import locks
from harvester.runs import RunReport
from harvester.sources import SourceEntry
from koprik.cli import main
from koprik.dashboard import sources as dashboard_sources
from koprik.dashboard.access import late_body
from koprik.dashboard.accounts import add_user, new_token
from koprik.dashboard.api import MAX_BODY, json_errors
from koprik.dashboard.harvests import API, Harvests
from koprik.dashboard.sources import source_from_form
from provider.app import init_app
from provider.keys import CATALOG, SETTINGS
from tests.conftest import free_port
from tests.dashboard_fixtures import (  # noqa: F401
    PASSWORD,
    client,
    csrf_of,
    dashboard_settings,
    make_client,
    served,
    sign_in,
)
from tests.fault_provider import FaultProvider, serve
from tests.test_http_server import connect, head_of, post, response_of

RECORDS = 30


@pytest.fixture
async def partner(aiohttp_server: Any, tmp_path: Any) -> str:
    url = f"sqlite:///{tmp_path / 'partner.sqlite3'}"
    settings = dataclasses.replace(Settings(), database=DatabaseSettings(url=url))
    catalog = Catalog.open(settings)
    with catalog.writer() as writer:
        for record in demo_records(RECORDS):
            writer.put(record)
    server = await aiohttp_server(init_app(settings, catalog))
    return f"http://127.0.0.1:{server.port}/oai"


async def _form(client: Any, path: str) -> str:  # noqa: F811
    return csrf_of(await (await client.get(path)).text())


async def _wait_for_run(client: Any, run_url: str) -> str:  # noqa: F811
    for _ in range(600):
        page = await (await client.get(run_url)).text()
        if 'id="run-status">running<' not in page:
            return page
        await asyncio.sleep(0.1)
    raise AssertionError("the run did not end")


async def test_add_harvest_toggle_and_remove_a_source(
    client: Any, partner: str, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO, logger="koprik.dashboard.harvests")
    await sign_in(client)
    token = await _form(client, "/sources/new")
    refused = await client.post("/sources", data={
        "csrf": token, "name": "partner", "url": "ftp://nowhere", "prefix": "marc21",
        "enabled": "on", "check": "on"})
    assert refused.status == 400
    assert "expected http:// or https://" in await refused.text()  # harvester.sources' words

    added = await client.post("/sources", data={
        "csrf": token, "name": "partner", "url": partner, "prefix": "", "every": "6h",
        "delay": "0", "enabled": "on", "check": "on"}, allow_redirects=False)
    assert added.status == 303 and added.headers["Location"] == "/sources/partner"
    with client.app[CATALOG].engine.connect() as connection:
        row = connection.execute(select(harvest_sources)).one()
    assert (row.prefix, row.every, row.delay) == ("marc21", "6h", 0.0)  # prefix chosen by Identify

    started = await client.post("/sources/partner/harvest", data={"csrf": token},
                                allow_redirects=False)
    assert started.status == 303 and started.headers["Location"].startswith("/runs/")
    page = await _wait_for_run(client, started.headers["Location"])
    assert 'id="run-status">succeeded<' in page
    assert f'id="run-added">{RECORDS}<' in page
    assert (await _logged_end(caplog)).getMessage().startswith(
        f"harvest of partner started from the dashboard: succeeded, {RECORDS} new, ")

    listed = await (await client.get("/sources")).text()
    assert "every 6h" in listed and "succeeded" in listed
    off = await client.post("/sources/partner/enabled", data={"csrf": token, "enabled": "no"},
                            allow_redirects=False)
    assert off.status == 303
    with client.app[CATALOG].engine.connect() as connection:
        assert connection.execute(select(harvest_sources.c.enabled)).scalar() is False
    asked = await client.post("/sources/partner/remove", data={"csrf": token},
                              allow_redirects=False)  # the Remove button asks first
    assert asked.status == 200
    assert "Remove the source partner? Its schedule and harvest state" in await asked.text()
    assert (await client.get("/sources/partner")).status == 200  # nothing removed yet
    gone = await client.post("/sources/partner/remove", data={"csrf": token, "confirm": "yes"},
                             allow_redirects=False)
    assert gone.status == 303
    assert (await client.get("/sources/partner")).status == 404
    with client.app[CATALOG].engine.connect() as connection:  # its watermark went with it
        assert connection.execute(select(harvest_state)).all() == []


async def test_a_refused_edit_shows_the_form_again_as_typed(client: Any) -> None:  # noqa: F811
    """An edit with one value refused is the source's page again (400) with the error and every
    value the operator typed, the edit form open; nothing is saved. It redirected to the page
    as it was, losing every edit."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    created = await client.post("/api/sources", headers=headers, json={
        "name": "p", "url": "http://127.0.0.1:9/oai", "prefix": "marc21", "check": False})
    assert created.status == 201, await created.text()
    await sign_in(client)
    token = await _form(client, "/sources/p")
    refused = await client.post("/sources/p", allow_redirects=False, data={
        "csrf": token, "url": "ftp://nowhere", "prefix": "oai_dc", "sets": "lang type",
        "every": "12h", "institution_name": 'Kutubxona "Navoiy"', "holdings": "named",
        "delay": "2.5", "retries": "7"})  # fmt: skip
    assert refused.status == 400
    page = await refused.text()
    assert '<p class="error" role="alert">' in page and "expected http:// or https://" in page
    for typed in ('name="url" required value="ftp://nowhere"', 'value="oai_dc"',
                  'value="lang type"', 'value="12h"', 'value="Kutubxona &#34;Navoiy&#34;"',
                  '<option value="named" selected>', 'value="2.5"', 'value="7"'):
        assert typed in page, typed
    assert '<input type="checkbox" name="enabled" checked>' not in page  # unticked, as sent
    assert "<details open><summary>Edit</summary>" in page
    with client.app[CATALOG].engine.connect() as connection:
        row = connection.execute(select(harvest_sources)).one()
    assert (row.url, row.prefix, row.every) == ("http://127.0.0.1:9/oai", "marc21", "")
    shown = await (await client.get("/sources/p")).text()
    assert "<details><summary>Edit</summary>" in shown and 'value="marc21"' in shown


async def _edit_form(client: Any) -> dict[str, str]:  # noqa: F811
    """Source ``p`` added (through the API), and its edit form as the page shows it to an
    operator signed in."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    created = await client.post("/api/sources", headers=headers, json={
        "name": "p", "url": "http://127.0.0.1:9/oai", "prefix": "marc21", "check": False})
    assert created.status == 201, await created.text()
    await sign_in(client)
    page = await (await client.get("/sources/p")).text()
    token, version = csrf_of(page), re.search(r'name="version" value="(\w+)"', page)[1]
    return {"csrf": token, "version": version, "url": "http://127.0.0.1:9/oai",
            "prefix": "marc21", "delay": "1", "retries": "3", "enabled": "on"}


async def test_a_form_shown_before_another_edit_is_refused_not_saved(client: Any) -> None:  # noqa: F811
    """alice and bob open the source's page; alice saves a delay of 7; bob saves a schedule
    from his form, which still shows the old delay: it answered "saved" and put the old delay
    back. Now bob's form is refused (409) and the page shows the source as it is now."""
    form = await _edit_form(client)
    saved = await client.post("/sources/p", data={**form, "delay": "7"}, allow_redirects=False)
    assert saved.status == 303
    stale = await client.post("/sources/p", data={**form, "every": "2h"}, allow_redirects=False)
    assert stale.status == 409
    text = await stale.text()
    assert ("source p was changed since this form was shown: it is shown as it is now; make "
            "your change again") in text
    assert 'value="7.0"' in text  # the delay as it is now
    with client.app[CATALOG].engine.connect() as connection:
        row = connection.execute(select(harvest_sources)).one()
    assert (row.delay, row.every) == (7.0, "")


async def test_of_two_forms_shown_alike_and_sent_at_once_one_is_saved(
    client: Any, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """The version of the form is compared before the change is made: two forms sent at the
    same instant both passed that comparison, and the second undid the first's change. Here
    each request reads the source, then waits for the other to have read it too."""
    both_read, reads = asyncio.Barrier(2), []

    async def read_together(request: web.Request) -> SourceEntry:
        entry = await entry_of(request)
        if request.method == "POST":
            reads.append(request)
            if len(reads) <= 2:  # each request's first read
                await asyncio.wait_for(both_read.wait(), 30)
        return entry

    entry_of = dashboard_sources._entry
    monkeypatch.setattr(dashboard_sources, "_entry", read_together)
    form = await _edit_form(client)
    answers = await asyncio.gather(
        client.post("/sources/p", data={**form, "delay": "7"}, allow_redirects=False),
        client.post("/sources/p", data={**form, "every": "2h"}, allow_redirects=False),
    )
    assert sorted(answer.status for answer in answers) == [303, 409]
    with client.app[CATALOG].engine.connect() as connection:
        row = connection.execute(select(harvest_sources)).one()
    assert (row.delay, row.every) in ((7.0, ""), (1.0, "2h"))  # one change, whole


async def test_a_source_of_unimarc_records_is_added_from_the_form(
    client: Any, partner: str  # noqa: F811
) -> None:
    """The form's "Records in UNIMARC" is checked as ``koprik sources add --crosswalk`` is: the
    partner's format must be MARCXML (its namespace, from ListMetadataFormats)."""
    await sign_in(client)
    token = await _form(client, "/sources/new")
    refused = await client.post("/sources", data={
        "csrf": token, "name": "koha", "url": partner, "prefix": "oai_dc",
        "crosswalk": "unimarc", "enabled": "on", "check": "on"})
    assert refused.status == 400
    assert "crosswalk &#39;unimarc&#39; reads MARC records: &#39;oai_dc&#39; is" in (
        await refused.text())
    added = await client.post("/sources", data={
        "csrf": token, "name": "koha", "url": partner, "prefix": "marc21",
        "crosswalk": "rusmarc", "enabled": "on", "check": "on"}, allow_redirects=False)
    assert added.status == 303
    with client.app[CATALOG].engine.connect() as connection:
        assert connection.execute(select(harvest_sources.c.crosswalk)).scalar() == "rusmarc"
    shown = await (await client.get("/sources/koha")).text()
    assert '<option value="rusmarc" selected>' in shown
    assert "<tr><th>records</th><td>in RUSMARC, converted to MARC21</td></tr>" in shown
    listed = await (await client.get("/sources")).text()
    assert "<code>marc21</code> <small>RUSMARC, converted</small>" in listed


async def test_the_api_offers_sources_and_runs(client: Any, partner: str) -> None:  # noqa: F811
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    created = await client.post("/api/sources", headers=headers,
                                json={"name": "p", "url": partner, "prefix": "marc21",
                                      "delay": 0})
    assert created.status == 201, await created.text()
    started = await client.post("/api/sources/p/harvest", headers=headers)
    assert started.status == 202
    run_id = (await started.json())["run"]
    for _ in range(600):
        run = await (await client.get(f"/api/runs/{run_id}", headers=headers)).json()
        if run["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert (run["status"], run["added"], run["rejects"]) == ("succeeded", RECORDS, [])
    source = await (await client.get("/api/sources/p", headers=headers)).json()
    assert source["last_run"]["id"] == run_id and source["watermark"]
    changed = await client.patch("/api/sources/p", headers=headers,
                                 json={"every": "1d", "check": False})
    assert changed.status == 200 and (await changed.json())["every"] == "1d"
    assert [r["id"] for r in await (await client.get("/api/runs", headers=headers)).json()] \
        == [run_id]
    assert (await client.delete("/api/sources/p", headers=headers)).status == 200
    again = await client.post("/api/sources", headers=headers,
                              json={"name": "p", "url": partner, "prefix": "marc21"})
    assert again.status == 201  # the same source again: its old watermark is forgotten
    assert (await (await client.get("/api/sources/p", headers=headers)).json())["watermark"] \
        is None


async def test_a_password_in_an_address_is_shown_masked_and_kept_by_an_edit_giving_it_back(
    client: Any,  # noqa: F811
) -> None:
    """GET /api/sources, the sources pages and the edit form showed a source's address with its
    password. They show it masked; the form sent back unchanged, or a PATCH of the address as
    shown, keeps the stored password (it stored ``***``); a new password is taken."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    secret, masked = "http://user:secret@127.0.0.1:9/oai", "http://user:***@127.0.0.1:9/oai"

    def stored() -> str:
        with client.app[CATALOG].engine.connect() as connection:
            return str(connection.execute(select(harvest_sources.c.url)).scalar_one())

    created = await client.post("/api/sources", headers=headers, json={
        "name": "p", "url": secret, "prefix": "marc21", "check": False})
    assert created.status == 201 and (await created.json())["url"] == masked
    listed = await (await client.get("/api/sources", headers=headers)).json()
    assert [source["url"] for source in listed] == [masked]
    assert (await (await client.get("/api/sources/p", headers=headers)).json())["url"] == masked
    await sign_in(client)
    for path in ("/sources", "/sources/p"):
        page = await (await client.get(path)).text()
        assert "secret" not in page and masked in page, path
    page = await (await client.get("/sources/p")).text()
    assert f'name="url" required value="{masked}"' in page
    form = {"csrf": csrf_of(page), "version": re.search(r'name="version" value="(\w+)"', page)[1],
            "url": masked, "prefix": "marc21", "delay": "1", "retries": "5", "enabled": "on"}
    saved = await client.post("/sources/p", data=form, allow_redirects=False)
    assert saved.status == 303 and stored() == secret
    patched = await client.patch("/api/sources/p", headers=headers,
                                 json={"url": masked, "every": "1d", "check": False})
    assert patched.status == 200 and (await patched.json())["url"] == masked
    assert stored() == secret
    patched = await client.patch("/api/sources/p", headers=headers,
                                 json={"url": "http://user:n3w@127.0.0.1:9/oai", "check": False})
    assert patched.status == 200 and stored() == "http://user:n3w@127.0.0.1:9/oai"


async def test_the_api_stores_an_address_without_the_spaces_around_it(client: Any) -> None:  # noqa: F811
    """The form stripped an address pasted with spaces around it; the API stored them."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}

    def stored() -> str:
        with client.app[CATALOG].engine.connect() as connection:
            return str(connection.execute(select(harvest_sources.c.url)).scalar_one())

    created = await client.post("/api/sources", headers=headers, json={
        "name": "p", "url": " http://127.0.0.1:9/oai ", "prefix": "marc21", "check": False})
    assert created.status == 201 and (await created.json())["url"] == "http://127.0.0.1:9/oai"
    assert stored() == "http://127.0.0.1:9/oai"
    patched = await client.patch("/api/sources/p", headers=headers,
                                 json={"url": "\thttp://127.0.0.1:10/oai\n", "check": False})
    assert patched.status == 200 and stored() == "http://127.0.0.1:10/oai"


async def test_a_source_harvesting_what_another_does_is_refused_naming_it(
    client: Any,  # noqa: F811
) -> None:
    """A second source of the same address (credentials aside), format and sets was stored,
    through the API or the form, and every record harvested twice; it is refused naming the
    first."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    base = {"url": "http://user:secret@127.0.0.1:9/oai", "prefix": "marc21", "check": False}
    assert (await client.post("/api/sources", headers=headers,
                              json={**base, "name": "a"})).status == 201
    said = ("source 'a' harvests http://127.0.0.1:9/oai with the same format and sets already: "
            "each record would be stored twice")
    refused = await client.post("/api/sources", headers=headers, json={
        **base, "name": "b", "url": "http://127.0.0.1:9/oai"})
    assert (refused.status, await refused.json()) == (400, {"error": said})
    assert (await client.post("/api/sources", headers=headers, json={
        **base, "name": "b", "url": "http://127.0.0.1:9/oai", "sets": ["x"]})).status == 201
    refused = await client.patch("/api/sources/b", headers=headers,
                                 json={"sets": [], "check": False})
    assert (refused.status, await refused.json()) == (
        400, {"error": f"source 'b' not changed: {said}"})
    await sign_in(client)
    page = await client.post("/sources", data={
        "csrf": await _form(client, "/sources/new"), "name": "c",
        "url": "http://127.0.0.1:9/oai", "prefix": "marc21", "delay": "1"})
    assert page.status == 400 and said in html.unescape(await page.text())
    listed = await (await client.get("/api/sources", headers=headers)).json()
    assert [(source["name"], source["sets"]) for source in listed] == [("a", []), ("b", ["x"])]


async def _api_run(client: Any, headers: dict[str, str]) -> dict[str, Any]:  # noqa: F811
    """Harvest source ``p`` through the API; its run once it ended."""
    started = await client.post("/api/sources/p/harvest", headers=headers)
    assert started.status == 202
    run_id = (await started.json())["run"]
    for _ in range(600):
        run: dict[str, Any] = await (await client.get(f"/api/runs/{run_id}",
                                                      headers=headers)).json()
        if run["status"] != "running":
            return run
        await asyncio.sleep(0.1)
    raise AssertionError("the run did not end")


async def test_the_run_page_of_a_removed_source_does_not_link_to_it(
    client: Any, partner: str  # noqa: F811
) -> None:
    """A run of a source since removed names it without a link (its page is a 404)."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    created = await client.post("/api/sources", headers=headers, json={
        "name": "p", "url": partner, "prefix": "marc21", "delay": 0})
    assert created.status == 201, await created.text()
    run = await _api_run(client, headers)
    await sign_in(client)
    kept = await (await client.get(f"/runs/{run['id']}")).text()
    assert f'<h1>Run #{run["id"]} of <a href="/sources/p">p</a></h1>' in kept
    assert (await client.delete("/api/sources/p", headers=headers)).status == 200
    removed = await (await client.get(f"/runs/{run['id']}")).text()
    assert f'<h1>Run #{run["id"]} of p <small>(source since removed)</small></h1>' in removed
    assert 'href="/sources/p"' not in removed


async def _api_harvest(client: Any, url: str) -> dict[str, Any]:  # noqa: F811
    """Add source ``p`` at ``url`` (no retries) and harvest it through the API; its run once
    it ended."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    created = await client.post("/api/sources", headers=headers, json={
        "name": "p", "url": url, "prefix": "marc21", "delay": 0, "retries": 0, "check": False})
    assert created.status == 201, await created.text()
    return await _api_run(client, headers)


async def _logged_end(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    """The line the dashboard logs as its harvest ends (after the run's record is closed and
    the union catalogue brought up to date, so it may come a little after)."""
    for _ in range(600):
        ends = [r for r in caplog.records if r.name == "koprik.dashboard.harvests"]
        if ends:
            (line,) = ends
            return line
        await asyncio.sleep(0.1)
    raise AssertionError("the end of the run was not logged")


@pytest.mark.parametrize("fault", ["failed", "partial"])
async def test_a_harvest_started_through_the_api_logs_how_it_ended(
    client: Any, caplog: pytest.LogCaptureFixture, fault: str  # noqa: F811
) -> None:
    """A run started through the API that failed (nothing listens at the source's address)
    or ended partial (a record the provider chokes on, whatever the window) is in the log in
    one line, as a scheduled run is: the source, the status, the run and its first error."""
    caplog.set_level(logging.INFO, logger="koprik.dashboard.harvests")
    if fault == "failed":
        port = free_port()
        run = await _api_harvest(client, f"http://127.0.0.1:{port}/oai")
        first = f"connection: 127.0.0.1:{port} refused the connection"
        level = "ERROR"
    else:
        provider = FaultProvider(list(demo_records(12)))
        provider.poison("oai:fault.test:5")
        with serve(provider.app()) as url:
            run = await _api_harvest(client, url)
        first = "http-500: HTTP 500"
        level = "WARNING"
    assert run["status"] == fault
    line = await _logged_end(caplog)
    message = line.getMessage()
    assert line.levelname == level and "\n" not in message
    assert message.startswith(f"harvest of p started through the API: {fault} "
                              f"(run #{run['id']})")
    assert f"errors: {first}" in message, message
    assert message.endswith("(see koprik runs p --errors)")


async def test_the_api_checks_each_fields_type(client: Any) -> None:  # noqa: F811
    """A JSON field of the wrong type is 400 naming it, as in koprik.toml: ``"enabled": "no"``
    was a 500 (the database refused it), ``"sets": [1]`` a 400 without the key's name; arrays
    nested too deep for json to read were a 500 (RecursionError)."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    base = {"name": "p", "url": "http://127.0.0.1:9/oai", "prefix": "marc21", "check": False}
    for wrong, key in (({"enabled": "no"}, "enabled"), ({"sets": [1]}, "sets[0]"),
                       ({"delay": "fast"}, "delay"), ({"retries": 2.5}, "retries"),
                       ({"url": ["http://127.0.0.1:9/oai"]}, "url"), ({"check": "no"}, "check")):
        refused = await client.post("/api/sources", headers=headers, json={**base, **wrong})
        assert refused.status == 400, wrong
        assert (await refused.json())["error"].startswith(f"{key}: expected"), wrong
    for body in (b"[" * 60_000, b'{"name": ' + b"[" * 60_000 + b"}"):  # under MAX_BODY
        deep = await client.post("/api/sources", headers=headers, data=body)
        assert deep.status == 400 and (await deep.json())["error"] == "the body is not JSON"
    large = await client.post("/api/sources", headers=headers,
                              json={**base, "query": "x" * MAX_BODY})  # was a 500 (TypeError)
    assert large.status == 413 and (await large.json())["error"] == f"at most {MAX_BODY} bytes"
    assert await (await client.get("/api/sources", headers=headers)).json() == []
    created = await client.post("/api/sources", headers=headers, json={**base, "delay": 0})
    assert created.status == 201, await created.text()
    patched = await client.patch("/api/sources/p", headers=headers, json={"enabled": "no"})
    assert patched.status == 400 and (await patched.json())["error"].startswith("enabled:")


async def test_the_api_refuses_a_nul_on_either_engine(
    aiohttp_client: Any, settings: Settings
) -> None:
    """PostgreSQL refuses a NUL in any text: a source field holding one was a 500 there (and
    stored as it was on SQLite)."""
    client = await make_client(aiohttp_client, settings)  # noqa: F811
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    base = {"name": "p", "url": "http://127.0.0.1:9/oai", "prefix": "marc21", "check": False}
    for key in ("url", "institution_name", "institution_code"):
        refused = await client.post("/api/sources", headers=headers,
                                    json={**base, key: base.get(key, "") + "\x00"})
        assert refused.status == 400, key
        assert (await refused.json())["error"].startswith(
            f"{key}: a control character (U+0000) is not allowed, got ")
    assert await (await client.get("/api/sources", headers=headers)).json() == []


async def test_a_text_longer_than_its_column_is_refused_on_either_engine(
    aiohttp_client: Any, settings: Settings
) -> None:
    """PostgreSQL refuses a text longer than its column (institution_code holds 100
    characters, url 1000): the API answered 500 there, and SQLite stored it whole."""
    client = await make_client(aiohttp_client, settings)  # noqa: F811
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    base = {"name": "p", "url": "http://127.0.0.1:9/oai", "prefix": "marc21", "check": False}
    for key, text, limit in (("institution_code", "U" * 101, 100),
                             ("url", "http://127.0.0.1:9/" + "o" * 982, 1000)):
        refused = await client.post("/api/sources", headers=headers, json={**base, key: text})
        assert refused.status == 400, key
        assert (await refused.json())["error"] == (
            f"{key}: at most {limit} characters, got {limit + 1}")
    assert await (await client.get("/api/sources", headers=headers)).json() == []
    created = await client.post("/api/sources", headers=headers,
                                json={**base, "institution_code": "U" * 100})
    assert created.status == 201, await created.text()
    patched = await client.patch("/api/sources/p", headers=headers,
                                 json={"institution_code": "U" * 101, "check": False})
    assert patched.status == 400
    assert (await patched.json())["error"] == "institution_code: at most 100 characters, got 101"


async def test_the_api_answers_a_wrong_request_in_one_line(client: Any) -> None:  # noqa: F811
    """A source's name in a PATCH was a 500 (edit_source got ``name`` twice), a POST without
    a required field a 400 with Python's own words (``HarvestSource.__init__() missing 1
    required positional argument``); a PATCH or DELETE of no source was a 400 where the GET of
    it is a 404."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    base = {"name": "p", "url": "http://127.0.0.1:9/oai", "prefix": "marc21", "check": False}
    for missing, error in (("name", "missing field 'name'"), ("url", "missing field 'url'")):
        refused = await client.post("/api/sources", headers=headers,
                                    json={k: v for k, v in base.items() if k != missing})
        assert refused.status == 400 and (await refused.json()) == {"error": error}
    refused = await client.post("/api/sources", headers=headers, json={"check": False})
    assert (await refused.json()) == {"error": "missing fields 'name', 'url'"}
    created = await client.post("/api/sources", headers=headers, json=base)
    assert created.status == 201, await created.text()
    renamed = await client.patch("/api/sources/p", headers=headers, json={"name": "zz"})
    assert renamed.status == 400
    assert "a source cannot be renamed" in (await renamed.json())["error"]
    same = await client.patch("/api/sources/p", headers=headers,
                              json={"name": "p", "every": "1d"})
    assert same.status == 200 and (await same.json())["every"] == "1d"
    assert (await (await client.get("/api/sources/p", headers=headers)).json())["every"] == "1d"
    for method in ("GET", "PATCH", "DELETE"):
        answer = await client.request(method, "/api/sources/nosuch", headers=headers,
                                      json={"every": "1d"} if method == "PATCH" else None)
        assert answer.status == 404, method
        assert (await answer.json())["error"].startswith("no source named 'nosuch'"), method
    assert [s["name"] for s in await (await client.get("/api/sources", headers=headers)).json()
            ] == ["p"]


async def test_the_sources_pages_say_what_the_next_run_harvests_from_the_start(
    client: Any, partner: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    """A set added to a harvested source: the sources page and the source's page show its
    watermark and the line ``koprik sources list`` ends with (one function says it), until a
    run has harvested the set."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    created = await client.post("/api/sources", headers=headers, json={
        "name": "p", "url": partner, "prefix": "marc21", "sets": ["type"], "delay": 0})
    assert created.status == 201, await created.text()
    run = await _api_run(client, headers)
    assert run["status"] == "succeeded"
    await sign_in(client)
    listed = await (await client.get("/sources")).text()
    watermark = (await (await client.get("/api/sources/p", headers=headers)).json())["watermark"]
    assert watermark and f"<td>{watermark}</td>" in listed and "next run:" not in listed

    changed = await client.patch("/api/sources/p", headers=headers,
                                 json={"sets": ["type", "lang"], "check": False})
    assert changed.status == 200
    config = tmp_path / "koprik.toml"  # the operator's `koprik sources list`, same catalogue
    config.write_text(f'[database]\nurl = "{client.app[SETTINGS].database.url}"\n')
    assert main(["--config", str(config), "sources", "list"]) == 0
    (note,) = capsys.readouterr().out.splitlines()[2:]
    why = note.removeprefix("p, next run: ")
    assert why == f"the watermark {watermark} covers set type, not set lang: harvested from " \
        "the start"
    for page in ("/sources", "/sources/p"):
        text = await (await client.get(page)).text()
        assert f'{watermark}<br><small class="anew">next run: {html.escape(why)}</small>' in text

    run = await _api_run(client, headers)
    assert run["status"] == "succeeded"
    for page in ("/sources", "/sources/p"):
        assert "next run:" not in await (await client.get(page)).text()



async def test_the_sources_page_says_which_sources_harvest_the_same_records(
    aiohttp_client: Any, tmp_path: Any
) -> None:
    """Two sources alike written in koprik.toml (or added before the check refused the
    second) were shown as any others: each says the other's name, as `koprik sources list`
    ends with a line for them; a source harvesting other records says nothing."""
    sources = [HarvestSource(name=name, url=url, prefix=prefix) for name, url, prefix in (
        ("regional", "http://127.0.0.1/oai", "marc21"),
        ("again", "http://127.0.0.1:80/oai", "marc21"),
        ("dc", "http://127.0.0.1/oai", "oai_dc"),
    )]
    settings = dataclasses.replace(dashboard_settings(tmp_path), sources=sources)
    dashboard = await make_client(aiohttp_client, settings)
    await sign_in(dashboard)
    listed = await (await dashboard.get("/sources")).text()
    said = re.findall(r'<small class="alike">harvests the same records as ([^<]*): each is '
                      r"stored under each name</small>", listed)
    assert said == ["again", "regional"]


async def test_a_sources_page_and_the_api_say_which_sources_harvest_the_same_records(
    aiohttp_client: Any, tmp_path: Any
) -> None:
    """The list page named the other sources harvesting a source's records, but its own page
    and the API (``GET /api/sources/NAME``, and the list's) did not: an operator opening one
    source could not see it stored twice. Each names them now, a disabled one (harvested by
    hand, and on its schedule once enabled) said so; a source of other records names none."""
    sources = [HarvestSource(name=name, url=url, prefix=prefix, enabled=enabled)
               for name, url, prefix, enabled in (
        ("regional", "http://127.0.0.1/oai", "marc21", True),
        ("again", "http://127.0.0.1:80/oai", "marc21", True),
        ("paused", "HTTP://127.0.0.1/oai", "marc21", False),
        ("dc", "http://127.0.0.1/oai", "oai_dc", True),
    )]
    settings = dataclasses.replace(dashboard_settings(tmp_path), sources=sources)
    dashboard = await make_client(aiohttp_client, settings)
    await sign_in(dashboard)
    said = r'<small class="alike">harvests the same records as ([^<]*): each is stored under '
    for name, others in (("regional", "again, paused (disabled)"),
                         ("paused", "regional, again"), ("dc", None)):
        page = await (await dashboard.get(f"/sources/{name}")).text()
        assert re.findall(said, page) == ([others] if others else []), name
    listed = await (await dashboard.get("/sources")).text()
    assert re.findall(said, listed) == [
        "again, paused (disabled)", "regional, paused (disabled)", "regional, again"]
    headers = {"Authorization": f"Bearer {new_token(dashboard.app[CATALOG].engine, 'alice')}"}
    for name, others in (("regional", ["again", "paused"]), ("paused", ["regional", "again"]),
                         ("dc", [])):
        answer = await (await dashboard.get(f"/api/sources/{name}", headers=headers)).json()
        assert answer["alike"] == others, name
    every = await (await dashboard.get("/api/sources", headers=headers)).json()
    assert [source["alike"] for source in every] == [
        ["again", "paused"], ["regional", "paused"], ["regional", "again"], []]


async def test_the_pages_name_the_settings_file_a_source_comes_from(
    aiohttp_client: Any, tmp_path: Any
) -> None:
    """A source of the settings file was tagged "(koprik.toml)", and its page said to change
    it in koprik.toml, whatever the file's name."""
    file = str(tmp_path / "national-catalogue.toml")
    source = HarvestSource(name="regional", url="http://127.0.0.1:9/oai", prefix="marc21")
    settings = dataclasses.replace(dashboard_settings(tmp_path), sources=[source], file=file)
    dashboard = await make_client(aiohttp_client, settings)
    await sign_in(dashboard)
    listed = await (await dashboard.get("/sources")).text()
    assert "<small>(national-catalogue.toml)</small>" in listed and "koprik.toml" not in listed
    page = await (await dashboard.get("/sources/regional")).text()
    assert f"<td>{html.escape(file)} (change it there)</td>" in page


@pytest.mark.parametrize("method", ["POST /api/sources", "PATCH /api/sources/p"])
def test_expect_100_continue_with_a_body_over_the_api_limit_is_refused_before_it(
    tmp_path: Any, method: str
) -> None:
    """A JSON body of a Content-Length over MAX_BODY sent with ``Expect: 100-continue`` is
    answered 413 at once, with no 100 (Continue) first and its connection closed: aiohttp
    sent the 100, and the client the whole body to be refused."""
    settings = dashboard_settings(tmp_path)
    catalog = Catalog.open(settings)
    add_user(catalog.engine, "alice", PASSWORD)
    token = new_token(catalog.engine, "alice")
    catalog.close()
    verb, path = method.split()
    request = post(path, b"", f"Authorization: Bearer {token}", "Expect: 100-continue",
                   f"Content-Length: {MAX_BODY + 1}", kind="application/json")  # fmt: skip
    with served(settings) as (base, _), connect(base) as sock:
        sock.sendall(request.replace(b"POST", verb.encode(), 1))
        first = head_of(sock)
        answer = first + response_of(sock)
    assert first.startswith(b"HTTP/1.1 413") and b"Connection: close" in answer, first


def test_a_form_of_before_a_field_keeps_what_the_source_says() -> None:
    """An edit form served before the institution's code and name (and holdings, and the
    tolerated shortfall) were on it, saved after an upgrade, keeps them as the source has them;
    a form that has them empty clears them."""
    base = HarvestSource(name="partner", url="http://127.0.0.1:9/oai",
                         institution_code="UzSaRL", institution_name="Samarqand",
                         holdings="named", tolerated_shortfall=2)  # fmt: skip
    old_form = {"url": "http://127.0.0.1:9/oai", "every": "6h", "enabled": "on"}
    kept = source_from_form(old_form, base)
    assert (kept.institution_code, kept.institution_name, kept.holdings,
            kept.tolerated_shortfall) == ("UzSaRL", "Samarqand", "named", 2)
    assert source_from_form({**old_form, "tolerated_shortfall": "4"}, base).tolerated_shortfall == 4
    assert kept.every == "6h"
    cleared = source_from_form({**old_form, "institution_code": "", "institution_name": " "},
                               base)  # fmt: skip
    assert (cleared.institution_code, cleared.institution_name) == ("", "")


async def test_an_api_path_or_method_it_does_not_have_is_answered_in_json(client: Any) -> None:  # noqa: F811
    """A script reads every error of the API the same way: aiohttp answered these in text."""
    headers = {"Authorization": f"Bearer {new_token(client.app[CATALOG].engine, 'alice')}"}
    missing = await client.get("/api/nothing", headers=headers)
    assert (missing.status, await missing.json()) == (404, {"error": "no such path in the API"})
    refused = await client.put("/api/sources/x", headers=headers)
    assert refused.status == 405 and "PATCH" in refused.headers["Allow"]
    assert (await refused.json())["error"].startswith("PUT is not taken here (it takes ")
    page = await client.get("/nothing")  # the dashboard's pages are not the API
    assert page.status == 404 and page.content_type == "text/plain"


async def test_an_api_error_answered_in_text_keeps_its_words_in_json(aiohttp_client: Any) -> None:
    async def slow(_request: web.Request) -> web.Response:
        raise late_body()

    app = web.Application(middlewares=[json_errors])
    app.router.add_post("/api/sources", slow)
    answered = await (await aiohttp_client(app)).post("/api/sources", data=b"{")
    assert (answered.status, await answered.json()) == (
        408, {"error": "The request body did not arrive in time"})


async def test_a_harvest_asked_for_while_one_runs_is_refused_and_logged_so(
    client: Any, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    engine = client.app[CATALOG].engine
    headers = {"Authorization": f"Bearer {new_token(engine, 'alice')}"}
    created = await client.post("/api/sources", headers=headers, json={
        "name": "p", "url": "http://127.0.0.1:9/oai", "prefix": "marc21", "check": False})
    assert created.status == 201
    owner = locks.new_owner()
    locks.acquire(engine, "p", owner)  # a run elsewhere
    try:
        refused = await client.post("/api/sources/p/harvest", headers=headers)
    finally:
        locks.release(engine, "p", owner)
    assert refused.status == 409
    said = (await refused.json())["error"]
    # no run recorded: the process holding the lock (a removal holds it too)
    assert said == f"source 'p' is being harvested by the process {os.getpid()} on " \
        f"{socket.gethostname()}"
    lines = [r.getMessage() for r in caplog.records if r.name == "koprik.dashboard.harvests"]
    assert lines == [f"harvest asked for through the API not started: {said}"]


async def test_a_harvest_asked_for_whose_database_went_away_is_one_line(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Its end was logged with SQLAlchemy's whole message (the statement, its parameters, a
    link), as a failure of ours would be."""
    settings = Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'c.sqlite3'}"))
    catalog = Catalog.open(settings)
    try:
        async def lost() -> RunReport:
            raise OperationalError("INSERT INTO harvest_runs ...", {"source": "p"},
                                   Exception("server closed the connection unexpectedly"))

        task = asyncio.create_task(lost())
        await asyncio.wait([task])
        with caplog.at_level(logging.INFO, logger="koprik.dashboard.harvests"):
            Harvests(catalog)._finished("p", API, task)
    finally:
        catalog.close()
    assert [r.getMessage() for r in caplog.records if r.name == "koprik.dashboard.harvests"] == [
        "harvest of p started through the API stopped: the catalogue database is unavailable "
        "(server closed the connection unexpectedly); the source's next run resumes it"]
