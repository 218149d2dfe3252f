"""provider/access_log.py: one line per HTTP request, through the real application as
``koprik serve`` runs it (an AppRunner on a loopback port)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from catalog import Catalog
from config import DatabaseSettings, ServerSettings, Settings
from provider import forwarded
from provider.access_log import LOGGER, AccessLogger
from provider.app import init_app


async def _access_lines(
    app: web.Application, caplog: pytest.LogCaptureFixture,
    requests: list[tuple[str, dict[str, str]]],
) -> tuple[list[logging.LogRecord], bytes]:
    """The access lines of ``requests`` (path, headers) sent in turn to ``app`` (of
    :func:`init_app`) served on a loopback port as ``koprik serve`` serves it, and the first
    response's body."""
    runner = web.AppRunner(app, access_log_class=AccessLogger, access_log=LOGGER)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    bodies = []
    try:
        with caplog.at_level(logging.INFO, logger="koprik.access"):
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
                for path, headers in requests:
                    async with session.get(path, headers=headers) as response:
                        bodies.append(await response.read())
            for _ in range(100):  # the line is written just after the response is sent
                if len([r for r in caplog.records if r.name == "koprik.access"]) == len(requests):
                    break
                await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    return [r for r in caplog.records if r.name == "koprik.access"], bodies[0]


def _forwarding(app: web.Application) -> bool:
    """Whether ``app`` has the middleware of :mod:`provider.forwarded`."""
    return any(m.__module__ == forwarded.__name__ for m in app.middlewares)


async def test_every_request_is_one_line_with_status_bytes_and_client(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
):
    headers = {"User-Agent": "harvester/1", "X-Forwarded-For": "10.1.2.3",
               "Accept-Encoding": "identity"}
    lines, body = await _access_lines(init_app(settings, catalog), caplog,
                                      [("/oai?verb=Identify", headers), ("/nothing-here", {})])
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


async def test_behind_a_trusted_proxy_the_remote_is_the_client_it_names(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """The forwarded client is the line's address; the header stays as it came (here with the
    entry the client wrote itself, which does not count)."""
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}"),
        server=ServerSettings(trusted_proxies=["127.0.0.0/8"]),
    )
    catalog = Catalog.open(settings)  # closed by the application
    chain = "198.51.100.1, 203.0.113.7"
    app = init_app(settings, catalog)
    assert _forwarding(app)
    lines, _ = await _access_lines(app, caplog,
                                   [("/health", {"X-Forwarded-For": chain}), ("/health", {})])
    forwarded, direct = (line.fields for line in lines)  # type: ignore[attr-defined]
    assert forwarded["remote"] == "203.0.113.7" and forwarded["forwarded_for"] == chain
    assert lines[0].getMessage().startswith(f'203.0.113.7 (for {chain}) "GET /health ')
    assert direct["remote"] == "127.0.0.1" and direct["forwarded_for"] == ""


async def test_with_no_trusted_proxy_there_is_no_forwarding_and_the_peer_is_named(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
):
    """``trusted_proxies`` empty (the default): the application has no forwarding middleware,
    which would only have found every peer untrusted, and the line names the TCP peer whatever
    ``X-Forwarded-For`` says."""
    assert settings.server.trusted_proxies == []
    app = init_app(settings, catalog)
    assert not _forwarding(app)
    forged = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    lines, _ = await _access_lines(app, caplog, [("/health", forged)])
    (line,) = (line.fields for line in lines)  # type: ignore[attr-defined]
    assert (line["remote"], line["forwarded_for"]) == ("127.0.0.1", "203.0.113.7")
    assert lines[0].getMessage().startswith('127.0.0.1 (for 203.0.113.7) "GET /health ')
