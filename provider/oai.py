"""The OAI-PMH endpoint ``/oai`` over HTTP (GET, and POST of a urlencoded form).

:func:`setup_oai` registers the route, the browser stylesheet at ``/static/oai2.xsl`` and the
endpoint's state on an application made by :func:`provider.app.init_app`. Requests are answered
by :class:`provider.oai_verbs.OaiResponder` in a worker thread (the catalogue is blocking);
the response is compressed there too when the client accepts gzip or deflate. Every OAI-PMH
error is an HTTP 200 document; HTTP errors are only for HTTP problems: 503 with Retry-After
when more than ``oai.max_concurrent_lists`` list requests are in progress (:class:`ListGate`),
413 for an oversized POST body, 408 for one that takes longer than
``server.http_request_timeout``, 415 for a POST that is not a form.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from catalog.db import answered_within
from protocols.forms import form_pairs
from protocols.oaipmh import LIST_VERBS
from provider.access_log import STARTED, Started
from provider.http_server import continue_within, read_body
from provider.keys import CATALOG, SETTINGS
from provider.oai_verbs import COMPRESSIONS, OaiResponder

STYLESHEET_FILE = Path(__file__).with_name("static") / "oai2.xsl"
FORM = "application/x-www-form-urlencoded"
WRITE_CHUNK = 64 * 1024
"""Bytes handed to the socket at a time, so a page waiting for a slow client is held once (not
also copied whole into the transport's buffer)."""


class ListGate:
    """Counts list requests in progress and admits at most ``limit`` at once.

    A request holds its slot until its response has been handed to the client's socket (so a
    client that does not read holds one slot, for at most ``server.http_write_timeout``, and at
    most ``limit`` pages wait in memory for their clients) and until the worker thread building
    it has finished: a client that disconnects cancels the handler, but the database work it
    started goes on and must still count against the limit.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._lock = threading.Lock()

    def enter(self) -> Ticket | None:
        """A ticket for one request, or None when every slot is taken."""
        with self._lock:
            if self.active >= self.limit:
                return None
            self.active += 1
        return Ticket(self)

    def _leave(self) -> None:
        with self._lock:
            self.active -= 1


class Ticket:
    """One admitted request's slot, held by the worker that builds the page and the handler that
    sends it, and given back when both are done with it (from any thread).

    A worker that has not started when the handler gives up never starts (:meth:`start` says
    so), so the handler's :meth:`release` then gives the slot back for both.
    """

    def __init__(self, gate: ListGate) -> None:
        self._gate = gate
        self._lock = threading.Lock()
        self._holders = 2
        self.started = False

    def start(self) -> bool:
        """Called by the worker before it builds the page: False if the request was abandoned."""
        with self._lock:
            if self._holders < 2:
                return False
            self.started = True
            return True

    def release(self) -> None:
        """One holder is done (the worker, or the handler: then the worker too if not started)."""
        with self._lock:
            if self._holders == 0:
                return
            self._holders -= 1 if self.started else self._holders
            done = self._holders == 0
        if done:
            self._gate._leave()


RESPONDER = web.AppKey("oai_responder", OaiResponder)
LIST_GATE = web.AppKey("oai_list_gate", ListGate)
LIST_WORKERS = web.AppKey("oai_list_workers", ThreadPoolExecutor)
"""Threads for list pages only, so that harvests in progress never keep a thread from Identify,
GetRecord and the other short requests (asyncio's default threads); see :func:`list_threads`."""


def setup_oai(app: web.Application) -> None:
    """Serve OAI-PMH at ``/oai`` from ``app[CATALOG]`` with ``app[SETTINGS]``."""
    settings = app[SETTINGS]
    app[RESPONDER] = OaiResponder(settings, app[CATALOG])
    app[LIST_GATE] = ListGate(settings.oai.max_concurrent_lists)
    app.cleanup_ctx.append(_list_workers)
    app.router.add_get("/oai", handle_oai)
    limit = settings.oai.max_request_bytes
    app.router.add_post("/oai", handle_oai, expect_handler=continue_within(limit))
    app.router.add_get("/static/oai2.xsl", handle_stylesheet)


def list_threads(app: web.Application) -> int:
    """How many list pages this process builds at once.

    On SQLite a page is read in this process, and Python's ``sqlite3`` lets go of the GIL for
    every row it steps: threads building pages side by side hand the GIL to each other row by
    row, which costs more CPU than it overlaps (about a quarter more per record, measured with
    ``bench/oai_workers.py``). So one thread builds the admitted pages in turn, and
    ``koprik serve --workers`` runs the processes that use the other cores. On PostgreSQL the
    threads mostly wait for the server, so there is one per gate slot.
    """
    if app[CATALOG].engine.dialect.name == "sqlite":
        return 1
    return app[LIST_GATE].limit


async def _list_workers(app: web.Application) -> AsyncIterator[None]:
    workers = ThreadPoolExecutor(list_threads(app), thread_name_prefix="koprik-oai-list")
    app[LIST_WORKERS] = workers
    yield
    workers.shutdown(wait=False, cancel_futures=True)


async def handle_oai(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if request.method == "POST":
        if request.content_type != FORM:
            raise web.HTTPUnsupportedMediaType(text=f"OAI-PMH requests by POST must be {FORM}")
        limit = settings.oai.max_request_bytes
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
        body = await read_body(request, limit + 1, settings.server.http_request_timeout)
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
        form: bytes | str = body
    else:
        form = request.rel_url.raw_query_string
    pairs = form_pairs(form)
    encoding = choose_encoding(request.headers.get("Accept-Encoding", ""))
    responder = request.app[RESPONDER]
    gate = request.app[LIST_GATE]
    ticket = None
    if any(name == "verb" and value in LIST_VERBS for name, value in pairs):
        ticket = gate.enter()
        if ticket is None:
            retry = str(settings.oai.retry_after)
            raise web.HTTPServiceUnavailable(
                headers={"Retry-After": retry},
                text=f"Too many harvests at once; retry in {retry} s",
            )
    try:
        if ticket is None:
            answering = asyncio.to_thread(_answer, responder, pairs, encoding, None)
        else:
            answering = asyncio.get_running_loop().run_in_executor(
                request.app[LIST_WORKERS], _answer, responder, pairs, encoding, ticket
            )
        payload = await answered_within(settings.database.answer_timeout, answering)
        response = web.StreamResponse(headers={"Vary": "Accept-Encoding"})
        response.content_type = "text/xml"
        response.charset = "utf-8"
        response.content_length = len(payload)
        if encoding:
            response.headers["Content-Encoding"] = encoding
        await response.prepare(request)
        request[STARTED] = started = Started(response)  # for the access line
        # HEAD: the headers GET would have, and no content (RFC 9110 9.3.2): aiohttp holds a
        # web.Response's back, but sends what a StreamResponse is given
        body = memoryview(payload if request.method != "HEAD" else b"")
        for start in range(0, len(body), WRITE_CHUNK):  # each returns once the socket took it
            chunk = body[start : start + WRITE_CHUNK]
            await response.write(chunk)
            started.sent += len(chunk)
        await response.write_eof()
        return response
    finally:
        if ticket is not None:
            ticket.release()


async def handle_stylesheet(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STYLESHEET_FILE, headers={"Content-Type": "text/xsl"})


def _answer(
    responder: OaiResponder,
    pairs: list[tuple[str, str]],
    encoding: str | None,
    ticket: Ticket | None,
) -> bytes:
    if ticket is not None and not ticket.start():
        return b""  # the handler has given up already: nobody will send this page
    try:
        document = responder.respond(pairs)
        return document if encoding is None else compress(document, encoding)
    finally:
        if ticket is not None:
            ticket.release()


def compress(data: bytes, encoding: str) -> bytes:
    """``data`` in the HTTP content coding ``gzip`` or ``deflate`` (the zlib format)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    return compressor.compress(data) + compressor.flush()


def choose_encoding(accept_encoding: str) -> str | None:
    """The content coding to use for an ``Accept-Encoding`` header: gzip, deflate or None.

    Codings with ``q=0`` are refused; ``*`` stands for any coding not named.
    """
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, parameters = item.partition(";")
        weight = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name.strip():
            weights[name.strip().lower()] = weight
    candidates = [
        (weights.get(coding, weights.get("*", 0.0)), -rank, coding)
        for rank, coding in enumerate(COMPRESSIONS)
    ]
    weight, _, coding = max(candidates)
    return coding if weight > 0 else None
