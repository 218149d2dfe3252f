"""provider/health.py: ``GET /health`` on SQLite and PostgreSQL, and with the database gone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from catalog import Catalog
from catalog.demo import demo_records
from config import Settings, koprik_version
from provider.app import init_app


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
    aiohttp_client: Any, postgres_server: str, _postgres_admin: Any, tmp_path: Any
):
    import dataclasses

    from config import DatabaseSettings

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
    response = await client.get("/health")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "error" and body["catalogue"]["reachable"] is False
    assert f'database "{name}" does not exist' in body["catalogue"]["error"]


async def test_health_says_when_this_node_s_set_rules_are_not_the_catalogue_s(
    aiohttp_client: Any, settings: Settings, catalog: Catalog
):
    """Another node ran ``koprik db sets`` with a rule added: this one, on the old rules,
    still serves (200) and says its harvests and imports are refused, naming its settings file
    without the folder (``/health`` answers anyone)."""
    import dataclasses

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
