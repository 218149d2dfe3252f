"""A catalogue database that stops answering: HTTP 503 with Retry-After and one log line
(provider.http_server.database_unavailable), not aiohttp's 500 with a traceback."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from catalog import Catalog
from catalog.demo import demo_records
from config import DatabaseSettings, Settings
from koprik.dashboard import setup_dashboard
from provider.app import init_app
from tests.conftest import free_port
from tests.postgres import postgres_cluster

PATHS = (
    "/oai?verb=Identify",
    "/oai?verb=ListRecords&metadataPrefix=oai_dc",
    "/metrics",
    "/",
)


@pytest.mark.postgres
async def test_a_stopped_postgresql_is_503_with_retry_after_and_one_line(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with postgres_cluster(free_port(), durable=False) as server:
        settings = dataclasses.replace(
            Settings(), database=DatabaseSettings(url=f"{server}/postgres")
        )
        catalog = Catalog.open(settings)
        with catalog.writer() as writer:
            for record in demo_records(3):
                writer.put(record)
        app = init_app(settings, catalog)
        setup_dashboard(app)
        client = await aiohttp_client(app)
        get_record = "/oai?verb=ListIdentifiers&metadataPrefix=oai_dc"
        listed = await (await client.get(get_record)).text()
        identifier = listed.split("<identifier>")[1].split("</identifier>")[0]
        for path in PATHS:
            assert (await client.get(path)).status == 200, path
    # The cluster is stopped (and gone): every connection of the pool is dead.
    caplog.clear()
    caplog.set_level(logging.INFO)
    paths = (*PATHS, f"/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier={identifier}")
    for path in paths:
        caplog.clear()
        response = await client.get(path)
        assert response.status == 503, path
        assert response.headers["Retry-After"] == str(settings.oai.retry_after), path
        assert "database" in await response.text()
        assert not [record for record in caplog.records if record.exc_info], path
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(lines) == 1 and "\n" not in lines[0], (path, lines)
        assert "503 Service Unavailable (catalogue database unavailable:" in lines[0]
    health = await client.get("/health")
    assert health.status == 503
    sru = await client.get("/sru?operation=searchRetrieve&version=1.2&query=navoiy")
    assert sru.status == 200 and "info:srw/diagnostic/1/1<" in await sru.text()
