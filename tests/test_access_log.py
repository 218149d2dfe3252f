"""provider/access_log.py: one line per HTTP request, through the real application as
``koprik serve`` runs it (an AppRunner on a loopback port)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aiohttp import web

from catalog import Catalog
from config import Settings
from provider.access_log import LOGGER, AccessLogger
from provider.app import init_app


async def test_every_request_is_one_line_with_status_bytes_and_client(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
):
    runner = web.AppRunner(init_app(settings, catalog), access_log_class=AccessLogger,
                           access_log=LOGGER)  # fmt: skip
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    headers = {"User-Agent": "harvester/1", "X-Forwarded-For": "10.1.2.3",
               "Accept-Encoding": "identity"}
    try:
        with caplog.at_level(logging.INFO, logger="koprik.access"):
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
                async with session.get("/oai?verb=Identify", headers=headers) as response:
                    body = await response.read()
                async with session.get("/nothing-here") as response:
                    await response.read()
            for _ in range(100):  # the line is written just after the response is sent
                if len([r for r in caplog.records if r.name == "koprik.access"]) == 2:
                    break
                await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    lines = [r for r in caplog.records if r.name == "koprik.access"]
    assert len(lines) == 2
    first, second = (line.fields for line in lines)  # type: ignore[attr-defined]
    assert first["method"] == "GET" and first["path"] == "/oai?verb=Identify"
    assert first["status"] == 200
    assert len(body) < first["bytes"] < len(body) + 512  # the body and the response headers
    assert first["user_agent"] == "harvester/1" and first["forwarded_for"] == "10.1.2.3"
    assert first["remote"] == "127.0.0.1"
    message = lines[0].getMessage()
    assert message.startswith('127.0.0.1 (for 10.1.2.3) "GET /oai?verb=Identify HTTP/1.1" 200 ')
    assert message.endswith('"harvester/1"')
    assert second["status"] == 404 and second["path"] == "/nothing-here"
