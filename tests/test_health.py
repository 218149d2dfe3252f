"""provider/health.py: ``GET /health`` on SQLite and PostgreSQL, and with the database gone."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from catalog import Catalog
from catalog.db import UNSAID
from catalog.demo import demo_records
from config import DatabaseSettings, Settings, koprik_version
from provider.app import init_app
from provider.health import FAULT
from tests.conftest import sqlite_catalogue_in_its_file


async def test_health_reports_the_catalogue_and_the_version(
    aiohttp_client: Any, settings: Settings, catalog: Catalog
):
    with catalog.writer() as writer:
        for record in demo_records(12):
            writer.put(record)
    client = await aiohttp_client(init_app(settings, catalog))
    response = await client.get("/health")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == {
        "status": "ok",
        "version": koprik_version(),
        "catalogue": {"reachable": True, "records": 12},
    }


@pytest.mark.postgres
async def test_health_is_503_when_the_database_is_gone(
    aiohttp_client: Any, postgres_server: str, _postgres_admin: Any, tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
):
    """The reason PostgreSQL gives is logged, once; anyone who asks /health is told the
    catalogue is unreachable, not the database's host, port, name or user (it said all)."""


    name = "health" + tmp_path.name[-8:].replace("-", "_").lower()
    with _postgres_admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = f"{postgres_server}/{name}"
    settings = dataclasses.replace(Settings(), database=DatabaseSettings(url=url))
    catalog = Catalog.open(settings)
    client = await aiohttp_client(init_app(settings, catalog))
    assert (await client.get("/health")).status == 200
    with _postgres_admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE {make_url(url).database} WITH (FORCE)"))
    caplog.clear()
    for _ in range(3):
        response = await client.get("/health")
        assert response.status == 503
        body = await response.json()
        assert body["status"] == "error"
        assert body["catalogue"] == {"reachable": False, "error": UNSAID}
        assert name not in await response.text()
    lines = [r.getMessage() for r in caplog.records if r.name == "provider.health"]
    assert len(lines) == 1 and f'database "{name}" does not exist' in lines[0], lines
    assert lines[0].startswith("health: catalogue unreachable: ")


async def test_health_says_when_this_node_s_set_rules_are_not_the_catalogue_s(
    aiohttp_client: Any, settings: Settings, catalog: Catalog
):
    """Another node ran ``koprik db sets`` with a rule added: this one, on the old rules,
    still serves (200) and says its harvests and imports are refused, naming its settings file
    without the folder (``/health`` answers anyone)."""

    from catalog.set_rules import place_again, refusal
    from config import SetRule

    catalog.settings = dataclasses.replace(catalog.settings, file="/etc/koprik/node-a.toml")
    with catalog.writer() as writer:
        for record in demo_records(12):
            writer.put(record)
    client = await aiohttp_client(init_app(settings, catalog))
    assert "sets" not in (await (await client.get("/health")).json())["catalogue"]
    place_again(catalog.engine, [*settings.sets, SetRule(spec="by", name="By", rule="material")])
    response = await client.get("/health")
    assert response.status == 200
    assert (await response.json())["catalogue"] == {"reachable": True, "records": 12,
                                                      "sets": refusal("node-a.toml")}  # fmt: skip


async def _served_then_damaged(
    aiohttp_client: Any, tmp_path: Path, damage: Callable[[Path], None]
) -> Any:
    """A client of a real server of a SQLite catalogue of 300 records, whose file ``damage``
    changed while it served (after one ``/health`` answered 200)."""
    file = tmp_path / "catalog.sqlite3"
    settings = sqlite_catalogue_in_its_file(file)
    catalog = Catalog.open(settings)
    client = await aiohttp_client(init_app(settings, catalog))
    assert (await client.get("/health")).status == 200
    damage(file)
    return client


def _leaves_overwritten(table: str) -> Callable[[Path], None]:
    """Every leaf page of ``table`` overwritten with garbage, in the middle of the file."""

    def damage(file: Path) -> None:
        with contextlib.closing(sqlite3.connect(file)) as reading:
            size = reading.execute("PRAGMA page_size").fetchone()[0]
            pages = [row[0] for row in reading.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,))]
        with file.open("r+b") as damaged:
            for page in pages:
                damaged.seek((page - 1) * size)
                damaged.write(b"\x55" * size)

    return damage


@pytest.mark.parametrize("path", ["/oai?verb=ListRecords&metadataPrefix=oai_dc",
                                  "/sru?operation=searchRetrieve&version=1.2&query=navoiy"])
async def test_health_is_503_once_a_request_finds_the_sqlite_file_damaged(
    aiohttp_client: Any, tmp_path: Path, path: str
):
    """Pages in the middle of the file overwritten while the node serves: the request that
    reads them fails (OAI-PMH 503, SRU diagnostic 2), and /health, whose lookup reads none of
    them, said 200 on (it now says what the request found)."""
    client = await _served_then_damaged(aiohttp_client, tmp_path,
                                        _leaves_overwritten("renditions"))
    response = await client.get(path)
    assert response.status == 503 or "info:srw/diagnostic/1/2<" in await response.text()
    health = await client.get("/health")
    assert health.status == 503
    assert (await health.json())["catalogue"] == {
        "reachable": False, "error": "database file damaged: database disk image is malformed"}


def _truncated(file: Path) -> None:
    os.truncate(file, 4096 * 20)


def _first_page_overwritten(file: Path) -> None:
    with file.open("r+b") as damaged:
        damaged.write(b"\x55" * 4096)


@pytest.mark.parametrize(("damage", "error"), [
    (_truncated, "database file damaged: cut short to 81920 bytes, its header "),
    (_first_page_overwritten, "database file damaged: not a SQLite database"),
])
async def test_health_is_503_for_a_sqlite_file_cut_short_or_overwritten_at_its_start(
    aiohttp_client: Any, tmp_path: Path, damage: Callable[[Path], None], error: str
):
    """Seen without a request reading a missing page: /health said 200 on from the pages its
    connection had read before."""
    client = await _served_then_damaged(aiohttp_client, tmp_path, damage)
    health = await client.get("/health")
    assert health.status == 503
    body = await health.json()
    assert body["catalogue"]["reachable"] is False
    assert body["catalogue"]["error"].startswith(error)


async def test_health_logs_why_the_catalogue_is_unreachable_once_and_when_it_is_back(
    aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """A monitor polls /health: its reason goes to the log as it changes, not at every poll."""
    tail = {}

    def cut_short(file: Path) -> None:
        tail["bytes"] = file.read_bytes()[4096 * 20:]
        _truncated(file)

    client = await _served_then_damaged(aiohttp_client, tmp_path, cut_short)
    caplog.clear()
    for _ in range(3):
        assert (await client.get("/health")).status == 503
    with (tmp_path / "catalog.sqlite3").open("ab") as whole_again:
        whole_again.write(tail["bytes"])
    for _ in range(2):
        assert (await client.get("/health")).status == 200
    assert [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "provider.health"] == [
        ("WARNING", "health: catalogue unreachable: database file damaged: cut short to 81920 "
                    f"bytes, its header counts {81920 // 4096 + len(tail['bytes']) // 4096} pages "
                    "of 4096"),
        ("WARNING", "health: catalogue answers again"),
    ]  # fmt: skip


async def test_a_fault_of_koprik_s_is_said_as_one_and_logged_with_its_traceback(
    aiohttp_client: Any, settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):
    """Looking at the catalogue fails with a fault of Koprik's (injected here): /health says a
    fault, 503, and the log has its traceback once while it lasts, again when it changes; it
    was said as the catalogue unreachable, as a warning of the reason alone."""
    client = await aiohttp_client(init_app(settings, catalog))
    faults = ["injected fault"] * 3 + ["another fault"]

    def broken(self: Catalog) -> int:
        raise RuntimeError(faults.pop(0))

    monkeypatch.setattr(Catalog, "approximate_size", broken)
    caplog.clear()
    for _ in range(4):
        response = await client.get("/health")
        assert response.status == 503
        assert await response.json() == {"status": "error", "version": koprik_version(),
                                         "error": FAULT}  # fmt: skip
    monkeypatch.undo()
    assert (await client.get("/health")).status == 200
    logged = [r for r in caplog.records if r.name == "provider.health"]
    assert [(r.levelname, r.getMessage()) for r in logged] == [
        ("ERROR", "health: the catalogue could not be looked at"),
        ("ERROR", "health: the catalogue could not be looked at"),
        ("WARNING", "health: catalogue answers again"),
    ]
    assert [str(r.exc_info[1]) for r in logged if r.exc_info] == ["injected fault",
                                                                 "another fault"]  # fmt: skip
