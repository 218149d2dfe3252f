"""provider/access_log.py: one line per HTTP request, through the real application as
``koprik serve`` runs it (an AppRunner on a loopback port), and for SRU on the Z39.50 port."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from catalog import Catalog
from config import DatabaseSettings, ServerSettings, Settings
from provider import forwarded
from provider.access_log import LOGGER, AccessLogger
from provider.app import init_app
from tests.test_http_server import head_of, post, response_of
from tests.z3950_target_fixtures import handmade_records, running_target


async def _access_lines(
    app: web.Application, caplog: pytest.LogCaptureFixture,
    requests: list[tuple[str, dict[str, str]]],
) -> tuple[list[logging.LogRecord], bytes]:
    """The access lines of ``requests`` (path, headers) sent in turn to ``app`` (of
    :func:`init_app`) served on a loopback port as ``koprik serve`` serves it, and the first
    response's body."""
    bodies = []
    async with _logged(app) as port:
        with caplog.at_level(logging.INFO, logger="koprik.access"):
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
                for path, headers in requests:
                    async with session.get(path, headers=headers) as response:
                        bodies.append(await response.read())
            await _lines_written(caplog, len(requests))
    return [r for r in caplog.records if r.name == "koprik.access"], bodies[0]


@contextlib.asynccontextmanager
async def _logged(app: web.Application) -> AsyncIterator[int]:
    """``app`` served on a loopback port, as ``koprik serve`` serves it; yields the port."""
    runner = web.AppRunner(app, access_log_class=AccessLogger, access_log=LOGGER)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def _lines_written(caplog: pytest.LogCaptureFixture, count: int) -> None:
    for _ in range(100):  # a line is written just after its response is sent
        if len([r for r in caplog.records if r.name == "koprik.access"]) == count:
            return
        await asyncio.sleep(0.05)


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


@pytest.mark.parametrize("head", [
    b"GET /oai?verb=Identify\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /oai?" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n",
    b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * 10_000 + b"\r\n\r\n",
], ids=["not-utf-8", "long-target", "long-header"])  # fmt: skip
async def test_a_request_that_cannot_be_read_is_logged_without_a_made_up_request_line(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture, head: bytes
):
    """aiohttp answers it (400, 414, 431) for a request it made up, which the line showed as
    the client's: "UNKNOWN / HTTP/1.0"."""
    async with _logged(init_app(settings, catalog)) as port:
        with caplog.at_level(logging.INFO, logger="koprik.access"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            answer = await reader.read()
            writer.close()
            await _lines_written(caplog, 1)
    status = int(answer.split()[1])
    assert status in (400, 414, 431)
    (line,) = [r for r in caplog.records if r.name == "koprik.access"]
    assert line.fields["method"] == line.fields["path"] == "-"  # type: ignore[attr-defined]
    assert f'"- - -" {status} ' in line.getMessage()


async def test_a_clients_quotes_cannot_write_fields_into_the_plain_line(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
):
    """A User-Agent ``a" 500 9 "b`` made the line end ``"a" 500 9 "b"``: fields the client
    wrote. Quotes, backslashes and control characters are escaped as nginx escapes them; the
    JSON fields keep the text as it came (JSON escapes it itself)."""
    agent = 'a" 500 9 "b \\'
    lines, _ = await _access_lines(init_app(settings, catalog), caplog,
                                   [("/health", {"User-Agent": agent, "X-Forwarded-For": 'x"y'})])
    message = lines[0].getMessage()
    assert message.startswith('127.0.0.1 (for x\\x22y) "GET /health HTTP/1.1" 200 ')
    assert message.endswith('"a\\x22 500 9 \\x22b \\x5c"')
    assert lines[0].fields["user_agent"] == agent  # type: ignore[attr-defined]


async def test_the_100_continue_before_an_answer_is_not_counted_in_its_bytes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """A POST sent with ``Expect: 100-continue`` is logged with the bytes of its answer alone,
    and the 100 (Continue) sent before it (:func:`provider.http_server.continue_within`) is
    not counted."""
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}"))
    body = b"verb=Identify"

    def exchange(port: int) -> tuple[bytes, bytes]:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(post("/oai", b"", "Expect: 100-continue",
                              f"Content-Length: {len(body)}", "Connection: close"))
            first = head_of(sock)
            sock.sendall(body)
            return first, response_of(sock)

    async with _logged(init_app(settings, Catalog.open(settings))) as port:
        with caplog.at_level(logging.INFO, logger="koprik.access"):
            first, answer = await asyncio.to_thread(exchange, port)
            await _lines_written(caplog, 1)
    (line,) = (r.fields for r in caplog.records if r.name == "koprik.access")  # type: ignore[attr-defined]
    assert first == b"HTTP/1.1 100 Continue\r\n\r\n" and answer.startswith(b"HTTP/1.1 200")
    assert (line["method"], line["status"], line["bytes"]) == ("POST", 200, len(answer))


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


def _port_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, requests: list[bytes], **server: object
) -> tuple[list[logging.LogRecord], list[bytes]]:
    """The access lines and answers of raw HTTP ``requests``, each on a connection of its own,
    to the Z39.50 port of a running target (which answers SRU over HTTP, as YAZ does)."""
    answers = []
    with caplog.at_level(logging.INFO, logger="koprik.access"), \
            running_target(tmp_path, handmade_records()[:2], **server) as target:  # fmt: skip
        for request in requests:
            with socket.create_connection(("127.0.0.1", target.port), timeout=30) as sock:
                sock.sendall(request)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
                answers.append(answer)
        for _ in range(100):
            if len([r for r in caplog.records if r.name == "koprik.access"]) == len(requests):
                break
            time.sleep(0.05)
    return [r for r in caplog.records if r.name == "koprik.access"], answers


_EXPLAIN = (b"GET /Default?version=1.2&operation=explain HTTP/1.1\r\nHost: x\r\n"
            b"User-Agent: yaz/5\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n"
            b"Connection: close\r\n\r\n")


def test_sru_on_the_z3950_port_is_logged_like_the_http_port(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """One line per SRU request on the Z39.50 port too, with the bytes sent; without a trusted
    proxy the TCP peer is named whatever the header says, and a request that is not HTTP
    enough to answer is a 400 line."""
    lines, answers = _port_lines(tmp_path, caplog, [_EXPLAIN, b"GET /\r\n\r\n"])
    assert len(lines) == 2
    sru, bad = (line.fields for line in lines)  # type: ignore[attr-defined]
    assert answers[0].startswith(b"HTTP/1.1 200 ") and sru["bytes"] == len(answers[0])
    assert sru["remote"] == "127.0.0.1" and sru["forwarded_for"] == "198.51.100.1, 203.0.113.7"
    assert (sru["method"], sru["path"], sru["status"]) == (
        "GET", "/Default?version=1.2&operation=explain", 200)
    assert lines[0].getMessage().startswith(
        '127.0.0.1 (for 198.51.100.1, 203.0.113.7) '
        '"GET /Default?version=1.2&operation=explain HTTP/1.1" 200 ')
    assert lines[0].getMessage().endswith('"yaz/5"')
    assert answers[1].startswith(b"HTTP/1.1 400 ") and bad["status"] == 400
    assert bad["bytes"] == len(answers[1]) and bad["remote"] == "127.0.0.1"


def test_sru_on_the_z3950_port_behind_a_trusted_proxy_names_the_client(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    lines, _ = _port_lines(tmp_path, caplog, [_EXPLAIN], trusted_proxies=["127.0.0.0/8"])
    (line,) = (line.fields for line in lines)  # type: ignore[attr-defined]
    assert line["remote"] == "203.0.113.7"
    assert lines[0].getMessage().startswith('203.0.113.7 (for 198.51.100.1, 203.0.113.7) "GET ')


@pytest.mark.parametrize("request_head", [
    b"GET /Default HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x1b[2Jb\r\nConnection: close\r\n\r\n",
    b"GET /Default HTTP/1.1\r\nHost: x\r\nUser-Agent: a\rforged line\r\nConnection: close\r\n\r\n",
    b"GET /Default HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x00b\x7f\r\nConnection: close\r\n\r\n",
    b"GET /Default?\x1b[2J HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
], ids=["escape", "carriage-return", "nul-del", "in-the-target"])  # fmt: skip
def test_control_characters_in_a_request_head_on_the_z3950_port_are_400(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, request_head: bytes
):
    """Control characters (but tab) in the request line or a header are a 400, as aiohttp
    answers them on the HTTP port: they were answered 200, and went into the access line
    as they came (a terminal's escape sequences, a carriage return forging a line)."""
    lines, answers = _port_lines(tmp_path, caplog, [request_head])
    assert answers[0].startswith(b"HTTP/1.1 400 ")
    (line,) = lines
    assert line.fields["status"] == 400  # type: ignore[attr-defined]
    assert not any(char in line.getMessage() for char in "\x1b\r\x00\x7f")
