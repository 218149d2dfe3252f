"""SRU on the Z39.50 port, as YAZ serves it: a connection that opens with an HTTP request line
is answered as HTTP/1.1 by the SRU front end instead of as Z39.50.

Only what SRU needs of HTTP is spoken: GET, HEAD and POST (urlencoded form) on any path (any
other method is answered 405 and the connection closed),
``Content-Length`` bodies (no chunked uploads), keep-alive until the client closes, says
``Connection: close`` (HTTP/1.0: unless it says ``Connection: keep-alive``) or is idle for
``server.z3950_idle_timeout``; ``Expect: 100-continue`` is answered 100 (Continue) for a body
within the limit (a client waited out its own timeout, curl's 1 s, before sending it) and
refused at once for one over it, as on the HTTP port; another expectation gets 417. The request
line, headers and body together are bounded by ``search.sru_max_request_bytes`` and must all
arrive within ``server.http_request_timeout`` of the request's first byte, as on the HTTP port
(else the connection is closed: a client trickling a request held the connection, which is
never closed for room, for the idle timeout); a request that is not HTTP enough to answer
(among them one with two ``Content-Length`` headers, and one of HTTP/1.1 without ``Host``)
gets a 400 and the connection is closed.
A client that leaves a response unread for ``server.http_write_timeout`` seconds is cut off, as
on the HTTP port (it kept the connection for as long as it did not read).
Each response is a line of the access log, as on the HTTP port (:mod:`provider.access_log`),
naming the client a trusted proxy (``server.trusted_proxies``) forwards for.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from config import Settings
from provider.access_log import LOGGER as ACCESS_LOG
from provider.access_log import log_request
from provider.connections import STOP_WRITE, close_within, peer_address, write_within
from provider.forwarded import client_behind, networks
from provider.http_server import CONTINUE, UnknownExpectation, asks_to_continue
from provider.search import Condition
from provider.sru.front_end import SruFrontEnd
from provider.sru.request import FORM, NO_OPERATION, answered_as, checked_pairs
from provider.sru.responses import CONTENT_TYPE
from provider.sru.soap import FAULTS

SERVED_METHODS = ("GET", "HEAD", "POST")
_MAX_HEADERS = 100
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
"""Control characters (all but tab) no request line or header holds (RFC 9110 5.5; aiohttp
answers them 400 on the HTTP port); taken, they went into the access log as they came."""
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
"""A header field's name: a token (RFC 9110 5.1), so neither white space before the colon nor
a line folded onto the one before it (obsolete, RFC 9112 5.2) is taken for a field."""
_ONCE = frozenset({"content-length", "host"})
"""Fields a request may hold once (RFC 9112 6.3 and 3.2): where its body ends, and whose it
is, must not depend on which of two a server believes. Others repeated are one list."""


def access_logged() -> bool:
    return ACCESS_LOG.isEnabledFor(logging.INFO)


class BadRequest(Exception):
    """A request this small HTTP server cannot read (answered 400, connection closed)."""

    status = 400


class MethodNotAllowed(BadRequest):
    """A method other than those SRU uses (answered 405, connection closed)."""

    status = 405


class ExpectationFailed(BadRequest):
    """An ``Expect`` header other than ``100-continue`` (answered 417, connection closed)."""

    status = 417


async def opens_with_http(reader: asyncio.StreamReader, timeout: float) -> bool:
    """Whether the peer's first bytes begin an HTTP request line, whatever its method; the
    bytes read stay in ``reader``.

    (A BER PDU starts with a tag octet above 0x80, never with an ASCII letter, as every
    method does.)
    """
    try:
        head = await asyncio.wait_for(reader.readexactly(4), timeout)
    except asyncio.IncompleteReadError as error:
        head = error.partial
    except TimeoutError:
        return False
    _unread(reader, head)  # so the Z39.50 path reads it again
    return head[:1].isalpha()


def _unread(reader: asyncio.StreamReader, data: bytes) -> None:
    """Give back ``data`` just read from ``reader`` (StreamReader has no peek)."""
    reader._buffer[:0] = data  # type: ignore[attr-defined]


async def _request_begun(reader: asyncio.StreamReader) -> bool:
    """Wait for the first byte of the next request (left in ``reader``); False at the end."""
    first = await reader.read(1)
    _unread(reader, first)
    return bool(first)


async def serve_http(
    front: SruFrontEnd, settings: Settings, reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter, observe: Callable[[str, float], None] | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> None:  # fmt: skip
    """Answer SRU requests on one connection until it closes or idles; ``observe`` is told
    of each request answered, by the operation it was answered as (for /metrics). Cancelled,
    it ends, waiting :data:`~provider.connections.STOP_WRITE` seconds at most for the client to
    take what it was sent when ``stopping()`` (the server stops)."""
    limit = settings.search.sru_max_request_bytes
    host, port = writer.get_extra_info("sockname")[:2]
    peer = peer_address(writer.get_extra_info("peername"))
    proxies = networks(settings.server.trusted_proxies)
    unread = settings.server.http_write_timeout  # seconds a response may wait to be read
    try:
        while True:
            try:
                if not await asyncio.wait_for(
                    _request_begun(reader), settings.server.z3950_idle_timeout
                ):
                    return
                request = await asyncio.wait_for(
                    _read_request(reader, writer, limit), settings.server.http_request_timeout
                )
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return
            except BadRequest as error:
                began = time.monotonic()
                status = error.status
                sent, _ = await _write(writer, unread, status, b"", str(error).encode(), close=True)
                if access_logged():
                    log_request(peer, "", "-", "-", "-", status, sent, time.monotonic() - began, "")
                return
            method, target, version, headers, body = request
            refusal = None
            close = _closes(version, headers) or body is None
            if body is None:
                refusal, body = (Condition.QUERY_TOO_LONG, str(limit)), b""
            fault = None
            if method == "POST":
                kind = headers.get("content-type", "").split(";")[0].strip().lower()
                fault = FAULTS.get(kind) if refusal is None else None
                if kind != FORM and refusal is None:
                    refusal = (Condition.UNSUPPORTED_PARAMETER_VALUE, f"Content-Type {kind}")
                form: bytes | str = body
            else:  # the line was read as Latin-1, a character a byte: its bytes again, so that
                # raw bytes past ASCII (a URL should %-escape them) are read as UTF-8 too
                form = urlsplit(target).query.encode("latin-1")
            began = time.monotonic()
            if fault is not None:
                status, content_type, payload = fault
                operation = NO_OPERATION
            else:
                pairs, not_utf8 = checked_pairs(form)
                payload = await front.answer(pairs, host=str(host), port=int(port),
                                             refusal=refusal or not_utf8)  # fmt: skip
                status, content_type, operation = 200, CONTENT_TYPE, answered_as(pairs)
            if observe is not None:
                observe(operation, time.monotonic() - began)
            sent, connected = await _write(writer, unread, status, content_type.encode("ascii"),
                                           b"" if method == "HEAD" else payload, close=close,
                                           length=len(payload))  # fmt: skip
            if access_logged():
                forwarded = headers.get("x-forwarded-for", "")
                client = client_behind(peer, [forwarded] if forwarded else [], proxies) or peer
                log_request(client, forwarded, method, target, version, status, sent,
                            time.monotonic() - began, headers.get("user-agent", ""))
            if close or not connected:
                return
    finally:
        await close_within(writer, STOP_WRITE if stopping() else unread)


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int
) -> tuple[str, str, str, dict[str, str], bytes | None]:
    """(method, target, HTTP version, headers lower-cased, body) of the next request on
    ``reader``; the body is None when it is larger than what is left of ``limit``. A body a
    client waits to send until it gets a 100 (Continue) (:func:`asks_to_continue`) gets it
    on ``writer`` when it is within the limit; one over it gets none, so it is never sent."""
    budget = limit
    line = await _line(reader, budget)
    budget -= len(line)
    # split as bytes, on ASCII white space alone: str.split() also splits on \x85 and \xa0, bytes
    # of raw UTF-8 in a target (х is D1 85, Р is D0 A0)
    parts = [part.decode("latin-1") for part in line.split()]
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("malformed request line")
    method, target, version = parts
    if method not in SERVED_METHODS:
        raise MethodNotAllowed(f"method {method} not served")
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS):
        raw = await _line(reader, budget)
        budget -= len(raw)
        if raw in (b"\r\n", b"\n"):
            break
        name, colon, value = raw.decode("latin-1").partition(":")
        if not colon or not _FIELD_NAME.match(name):
            raise BadRequest("malformed header")
        name = name.lower()
        value = value.strip(" \t\r\n")
        if name in headers:  # the same value twice too (aiohttp refuses these, and others)
            if name in _ONCE:
                raise BadRequest(f"repeated {name.title()}")
            value = f"{headers[name]}, {value}"  # one field's list (RFC 9110 5.3)
        headers[name] = value
    else:
        raise BadRequest("too many headers")
    if "host" not in headers and version != "HTTP/1.0":  # RFC 9112 3.2: 1.0 may go without
        raise BadRequest("missing Host")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest("chunked bodies are not served")
    length_text = headers.get("content-length", "0")
    if not (length_text.isascii() and length_text.isdigit()):  # latin-1 has "²", a digit
        raise BadRequest("malformed Content-Length")
    try:
        waits = asks_to_continue(headers.get("expect", ""), http11=version != "HTTP/1.0")
    except UnknownExpectation as error:
        raise ExpectationFailed(f"unknown Expect: {error}") from None
    digits = length_text.lstrip("0")  # int() refuses over 4,300 digits, leading zeros too
    if len(digits) > len(str(budget)) or int(digits or "0") > budget:
        return method, target, version, headers, None  # not read: diagnostic 12, then closed
    if waits and digits:  # nothing to wait for without a body (RFC 9110 10.1.1)
        writer.write(CONTINUE)
        await writer.drain()
    return method, target, version, headers, await reader.readexactly(int(digits or "0"))


def _closes(version: str, headers: dict[str, str]) -> bool:
    """Whether the connection ends after this request's response: ``Connection: close``, or
    HTTP/1.0 without ``Connection: keep-alive`` (a 1.0 client may read to the end of the
    stream for the response's end)."""
    options = {option.strip().lower() for option in headers.get("connection", "").split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" not in options
    return "close" in options


async def _line(reader: asyncio.StreamReader, budget: int) -> bytes:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as error:
        raise BadRequest("line too long") from error
    if len(line) > budget:
        raise BadRequest("request too large")
    if _CONTROL.search(line.removesuffix(b"\n").removesuffix(b"\r")):
        raise BadRequest("control character in the request")
    return line


async def _write(
    writer: asyncio.StreamWriter, timeout: float, status: int, content_type: bytes, body: bytes,
    *, close: bool, length: int | None = None,
) -> tuple[int, bool]:  # fmt: skip
    """Send one response; returns the bytes of it written (headers included) and whether the
    connection is still there (:func:`write_within`: not when the client left the response
    unread for ``timeout`` seconds)."""
    reason = {200: b"OK", 400: b"Bad Request", 405: b"Method Not Allowed",
              417: b"Expectation Failed", 500: b"Internal Server Error"}[status]  # fmt: skip
    head = [b"HTTP/1.1 %d %s" % (status, reason), b"Content-Length: %d" % (length or len(body))]
    if status == 405:
        head.append(b"Allow: " + ", ".join(SERVED_METHODS).encode("ascii"))
    if content_type:
        head.append(b"Content-Type: " + content_type)
    if close:
        head.append(b"Connection: close")
    response = b"\r\n".join(head) + b"\r\n\r\n" + body
    return len(response), await write_within(writer, response, timeout)
