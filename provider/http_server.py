"""Serving Koprik's aiohttp application on a TCP port within the HTTP limits of ``[server]``.

aiohttp bounds the size of a request head, but not the time a client takes to send one, nor how
long a client may leave response bytes unread, nor how many connections it may open. Each
connection of :func:`start_http` is a :class:`GuardedHandler`, which adds those:

- at most ``http_max_connections`` connections, and ``http_max_connections_per_address`` from
  one client address; one more is answered 503 with Retry-After and closed, unread, unless a
  connection that has sent no byte yet makes room for it (the oldest, of its address when
  that address is at its cap), as on the Z39.50 port;
- a request must arrive within ``http_request_timeout`` seconds from its first byte until the
  application starts on it (:func:`guard` tells the connection), else the connection is
  dropped (slow senders); a request body is bounded where it is read;
- a response whose bytes the client does not take for ``http_write_timeout`` seconds (the
  socket's buffer stays above its high-water mark) ends the connection, so a client that never
  reads cannot keep a response, or the slot behind it, for ever; nor can it keep a connection
  aiohttp has closed with bytes left to send (closing waits for them) longer than that;
- idle keep-alive connections close after ``http_keepalive_timeout`` seconds, and, when
  processes share the port, after ``http_keepalive_requests`` requests (:func:`close_when_last`);
- a request line longer than aiohttp's 8190 bytes is answered 414 (URI Too Long), an overlong
  header 431, other malformed requests 400, each with a one-word body and one line in the log
  (aiohttp itself answers 400 with its parser's message and logs a traceback); a body that
  cannot be read (:func:`guard`) is 400 too, not 500;
- a request answered before its body was all read (over a size limit) has its connection
  closed after the answer, the rest of the body unread (:func:`guard`); one that said
  ``Expect: 100-continue`` with a ``Content-Length`` over its route's limit is answered without
  the 100 (Continue) first, so its body is never sent (:func:`continue_within`);
- a request that finds the catalogue database unreachable (:func:`database_unavailable`) is
  answered 503 with Retry-After and one line in the log, so a proxy tries another node.

>>> app = web.Application(middlewares=[guard, database_unavailable(10)])  # init_app does this
>>> app.on_response_prepare.append(close_when_last)  # and this
>>> runner = web.AppRunner(app, access_log=None)
>>> await runner.setup()
>>> server = await start_http(runner, settings, host, port)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestPayloadError
from sqlalchemy.exc import SQLAlchemyError

from catalog.db import NoAnswer, unavailable
from config import Settings
from provider.connections import ConnectionCounter, Waiting, peer_address
from provider.damped_log import Damped

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ExpectHandler = Callable[[web.Request], Awaitable[web.StreamResponse | None]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


async def start_http(
    runner: web.AppRunner,
    settings: Settings,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    **handler_options: Any,
) -> asyncio.AbstractServer:
    """Serve ``runner``'s application (set up already) on ``host:port`` within the limits;
    ``handler_options`` are aiohttp's for each connection (``access_log``...), ``reuse_port``
    lets ``koprik serve --workers`` processes share the port."""
    bound = await bind_http(settings, host, port, reuse_port=reuse_port, **handler_options)
    return await bound.start(runner)


async def bind_http(
    settings: Settings,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    **handler_options: Any,
) -> BoundHttp:
    """:func:`start_http` in two steps: the port bound and listening, answering no connection
    until :meth:`BoundHttp.start` gives it the application. ``koprik serve --port 0`` learns
    the port the kernel chose (:attr:`BoundHttp.port`) before it makes the application that
    announces it."""
    limits = settings.server
    counter = ConnectionCounter(
        total=limits.http_max_connections, per_address=limits.http_max_connections_per_address
    )
    door = Door(counter, Waiting(counter), Damped(log, "http connections refused"),
                Damped(log, "http connections that sent nothing closed to make room"))
    loop = asyncio.get_running_loop()
    bound = BoundHttp(door)

    shared = limits.http_keepalive_requests if reuse_port else None

    def connection() -> GuardedHandler:
        return GuardedHandler(bound.manager(), loop=loop, settings=settings, door=door,
                              keepalive_timeout=limits.http_keepalive_timeout,
                              keepalive_requests=shared, **handler_options)  # fmt: skip

    bound.server = await loop.create_server(
        connection, host, port, reuse_port=reuse_port or None, start_serving=False
    )
    return bound


class BoundHttp:
    """An HTTP port of :func:`bind_http`, bound but not yet answering."""

    server: asyncio.AbstractServer
    _manager: web.Server | None = None

    def __init__(self, door: Door) -> None:
        self._door = door

    @property
    def port(self) -> int:
        """The port bound (the one the kernel chose for a port 0)."""
        return int(self.server.sockets[0].getsockname()[1])

    def manager(self) -> web.Server:
        if self._manager is None:
            raise RuntimeError("a connection before BoundHttp.start")
        return self._manager

    async def start(self, runner: web.AppRunner) -> asyncio.AbstractServer:
        """Answer on the port with ``runner``'s application (set up already)."""
        if runner.server is None:
            raise RuntimeError("start_http needs a runner that has been set up")
        self._manager = runner.server
        await self.server.start_serving()
        return self.server

    def close(self) -> None:
        """Stop listening, and say the refusals and room made counted but not yet said."""
        self.server.close()
        self._door.refusals.flush()
        self._door.evictions.flush()


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tells the connection's :class:`GuardedHandler` when the application is at work on a
    request, so that bytes read meanwhile (a body) are not timed as a new request's.

    A request whose body cannot be read is malformed, answered 400 as the parser's malformed
    requests are (:meth:`GuardedHandler.handle_error`), not 500: a body that its
    ``Content-Encoding`` (gzip, deflate) does not decode, wherever a handler reads it, and a
    ``Content-Length`` that aiohttp's parser takes but ``int()`` refuses (zeros before a 5,
    over 4,300 digits in all).
    """
    try:
        body_bytes: int | None = request.content_length or 0
    except ValueError:  # aiohttp's parser takes any digits; int() refuses over 4,300
        return _bad_request(request, "Content-Length of too many digits")
    if "chunked" in request.headers.get(hdrs.TRANSFER_ENCODING, "").lower():
        body_bytes = None  # its length on the wire (with the chunks' framing) is not known
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    guarded = isinstance(protocol, GuardedHandler)
    if guarded:
        protocol.request_started()
    try:
        response = await handler(request)
    except web.HTTPException as refusal:
        _close_if_unread(request, refusal)
        raise
    except RequestPayloadError as error:
        # The body ends here: aiohttp would read on after the answer (to keep the connection
        # alive), meet the same error and log it with a traceback.
        request.content.feed_eof()
        return _bad_request(request, " ".join(str(error).split()))
    finally:
        if guarded:
            protocol.request_ended(body_bytes)
    _close_if_unread(request, response)
    return response


def database_unavailable(retry_after: int) -> Middleware:
    """A middleware: a request whose handler finds the catalogue database unreachable is
    answered 503 (Service Unavailable) with ``Retry-After: retry_after`` (``oai.retry_after``)
    and one line in the log, where it was aiohttp's 500 with SQLAlchemy's traceback: a proxy
    (nginx's ``proxy_next_upstream http_503``) then asks another node, and a harvester waits
    and asks again.

    Unavailable is what :func:`catalog.db.unavailable` says (a connection refused or lost, the
    pool's connections all in use); any other database error (a constraint, a statement the
    database refuses) is a fault of ours, left to be a 500 with its traceback.
    """

    @web.middleware
    async def unavailable_database(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except (SQLAlchemyError, NoAnswer) as error:
            reason = unavailable(error)
            if reason is None or request.writer.output_size:
                raise  # a fault of ours; or an answer under way, which a 503 cannot replace
            log.warning("http %s: 503 Service Unavailable (catalogue database unavailable: %s)",
                        request.remote, reason)  # fmt: skip
            return web.Response(
                status=HTTPStatus.SERVICE_UNAVAILABLE.value,
                headers={"Retry-After": str(retry_after)},
                text=f"The catalogue database is unavailable; retry in {retry_after} s\n",
            )

    return unavailable_database


async def close_when_last(request: web.Request, response: web.StreamResponse) -> None:
    """An ``on_response_prepare`` hook: the answer to the last request a connection may bring
    (:attr:`config.ServerSettings.http_keepalive_requests`, when processes share the port)
    says ``Connection: close`` and closes it. Here, before the headers go, since a list page
    is streamed: closed after its answer without saying so, the connection would be reused by
    the client and found reset."""
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    if isinstance(protocol, GuardedHandler) and protocol.last_request():
        response.force_close()  # closed after the answer; aiohttp has chosen its headers by now
        response.headers[hdrs.CONNECTION] = "close"


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim response a client that said ``Expect: 100-continue`` waits for (or for its own
timeout: curl's is 1 s) before it sends the body."""


class UnknownExpectation(Exception):
    """An ``Expect`` header other than ``100-continue``: 417 (Expectation Failed)."""


def asks_to_continue(expect: str, *, http11: bool) -> bool:
    """Whether a request whose ``Expect`` header is ``expect`` ("" without one) waits for a
    100 (Continue) before it sends its body, as RFC 9110 10.1.1 has a server read it:
    ``100-continue`` (in any case) is the only expectation defined, any other is refused
    (:class:`UnknownExpectation`), and an HTTP/1.0 request's are ignored. Both HTTP servers
    (aiohttp's port, :func:`continue_within`; SRU on the Z39.50 port) decide by it."""
    if not http11 or not expect:
        return False
    if expect.lower() != "100-continue":
        raise UnknownExpectation(expect)
    return True


async def read_body(request: web.Request, most: int, timeout: float) -> bytes:
    """A POST body, or its first ``most`` bytes, read from the stream within ``timeout`` seconds
    (else 408): all of it (a read returns what has arrived, which may be a part: a query cut
    there was answered). A route's own limit (``oai.max_request_bytes``,
    ``search.sru_max_request_bytes``) holds, where ``request.read()`` would refuse a body past
    the request's ``client_max_size`` (1 MiB) whatever the limit."""
    chunks: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        while size < most and (chunk := await request.content.read(most - size)):
            chunks.append(chunk)
            size += len(chunk)

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise web.HTTPRequestTimeout(text="The request body did not arrive in time") from None
    return b"".join(chunks)


def continue_within(limit: int | None = None) -> ExpectHandler:
    """The ``expect_handler`` of a route whose handler refuses a body of a ``Content-Length``
    over ``limit`` bytes without reading it (None: the request's ``client_max_size``, which
    aiohttp's own readers, ``request.post()`` and the like, keep): ``Expect: 100-continue``
    with such a length gets no 100 (Continue), the handler's refusal comes at once, before the
    client sends the body, and :func:`guard` closes the connection (the body is never read as a
    next request). aiohttp's own handler sent the 100 first, and the client sent the whole body
    to be refused. Any other request gets what aiohttp's would give it: 100 before the
    handler, or 417 for an expectation other than 100-continue; a ``Content-Length`` ``int()``
    refuses gets no 100, :func:`guard` answers it. The 100 is written here, with aiohttp's
    public names only: its own handler is a private name
    (``web_urldispatcher._default_expect_handler``) that a release of aiohttp may rename, and
    importing it would then stop every server from starting.

    >>> app.router.add_post("/oai", handle_oai, expect_handler=continue_within(limit))
    """

    async def expect(request: web.Request) -> web.StreamResponse | None:
        try:
            length = request.content_length
            wanted = asks_to_continue(request.headers.get(hdrs.EXPECT, ""),
                                      http11=request.version == HttpVersion11)  # fmt: skip
        except UnknownExpectation as error:
            raise web.HTTPExpectationFailed(text=f"Unknown Expect: {error}") from None
        except ValueError:
            return None
        within = request.client_max_size if limit is None else limit
        if wanted and (length is None or length <= within):
            await request.writer.write(CONTINUE)
            # The response proper is yet to come: had a byte of it gone, an error would find
            # the connection broken instead of answering, and its size would count the 100.
            request.writer.output_size = 0
        return None

    return expect


def _close_if_unread(request: web.Request, response: web.StreamResponse) -> None:
    """An answer given before the request's body was all read (a body over its limit, or of
    the wrong type) closes the connection, saying so: the rest is never read, since
    :class:`GuardedHandler` does not linger. aiohttp read it on and threw it away for up to
    10 s to keep the connection (268 MB of a 256 MiB SRU POST answered 12, on loopback)."""
    if not request.content.is_eof():
        response.force_close()


def _bad_request(request: web.Request, reason: str) -> web.Response:
    """400 with a one-word body and one line in the log, the connection closed (what is left
    of the body is not read)."""
    log.info("http %s: 400 Bad Request (%s)", request.remote, reason)
    return _short_answer(HTTPStatus.BAD_REQUEST)


def _short_answer(status: HTTPStatus) -> web.Response:
    response = web.Response(status=status.value, text=f"{status.phrase}\n")
    response.force_close()
    return response


@dataclass
class Door:
    """What the connections of one HTTP port share: the count against the caps, those that
    have sent nothing yet (which make room for new ones when a cap is reached), and the lines
    said of refusals and of room made (damped: a peer causes them at will)."""

    counter: ConnectionCounter
    waiting: Waiting[GuardedHandler]
    refusals: Damped
    evictions: Damped


class GuardedHandler(web.RequestHandler):
    """aiohttp's handler of one connection, with Koprik's caps and timeouts (module docs)."""

    def __init__(
        self, manager: web.Server, *, settings: Settings, door: Door,
        keepalive_requests: int | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        # No lingering: a body left unread by its answer is not read on (:func:`guard`).
        super().__init__(manager, lingering_time=0, **kwargs)
        self._settings = settings
        self._door = door
        self._counted = False
        """Whether this connection counts against the caps (admitted, and not closed to make
        room for another)."""
        self._requests_left = keepalive_requests
        """Requests this connection may still bring (None: any number), see :func:`guard`."""
        self._address = ""
        self._admitted = False
        self._request_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._socket: asyncio.BaseTransport | None = None
        """The connection's transport (aiohttp forgets its own when it closes it)."""
        self._working = False
        self._read_while_working = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._address = peer_address(transport.get_extra_info("peername"))
        door = self._door
        if (oldest := door.waiting.making_room(self._address)) is not None:
            door.evictions.info("http %s: %d connections open; closing one that has sent "
                                "nothing for one from %s", oldest._address, door.counter.open,
                                self._address)  # fmt: skip
            oldest._make_room()
        refusal = door.counter.admit(self._address)
        assert isinstance(transport, asyncio.WriteTransport)
        if refusal is not None:
            door.refusals.info("http %s: %s; refused", self._address, refusal)
            transport.write(_refusal(refusal, self._settings.oai.retry_after))
            transport.close()  # aiohttp never sees this connection
            return
        self._admitted = self._counted = True
        door.waiting.add(self, self._address)
        self._socket = transport
        super().connection_made(transport)

    def _make_room(self) -> None:
        """Close this connection, which has sent nothing, for a new one: it counts no more."""
        self._leave()
        assert isinstance(self._socket, asyncio.WriteTransport)
        self._socket.write(_refusal("its place taken by a new one, as it sent nothing",
                                    self._settings.oai.retry_after))  # fmt: skip
        self._socket.close()

    def _leave(self) -> None:
        if self._counted:
            self._counted = False
            self._door.waiting.discard(self)
            self._door.counter.leave(self._address)

    async def start(self) -> None:
        """aiohttp's request loop; once it is over, the connection is closing, which waits for
        the client to read what is left in the transport's buffer (below its high-water mark,
        no write pauses to time): a client that has not done so in ``http_write_timeout``
        seconds is dropped."""
        try:
            await super().start()
        finally:
            if self._admitted:
                self._close_timer = self._loop.call_later(
                    self._settings.server.http_write_timeout, self._drop,
                    "last response not read in time",
                )  # fmt: skip

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._leave()
        for timer in (self._request_timer, self._write_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if data:
            self._door.waiting.discard(self)
        if self._working:
            self._read_while_working += len(data)
        elif self._request_timer is None and data:
            self._start_request_timer()
        super().data_received(data)

    def last_request(self) -> bool:
        """Count a request; whether it is the last this connection may bring (its answer then
        closes it)."""
        if self._requests_left is None:
            return False
        self._requests_left -= 1
        return self._requests_left <= 0

    def request_started(self) -> None:
        self._working = True
        self._read_while_working = 0
        self._stop_request_timer()

    def request_ended(self, body_bytes: int | None) -> None:
        """The application is done with a request whose body was ``body_bytes`` long: more
        bytes than that read meanwhile are (a part of) the next request, which is timed. None
        (a chunked body): how many were its own is not known, and none is timed (an idle
        connection kept for a request never coming was dropped at the request timeout, said
        as a request not sent in time)."""
        self._working = False
        if body_bytes is not None and self._read_while_working > body_bytes and self._admitted:
            self._start_request_timer()

    def eof_received(self) -> None:
        if self._admitted:
            super().eof_received()

    def _process_keepalive(self) -> None:
        """aiohttp's keep-alive check (a private hook: renamed, it is simply not called, and
        a test fails): a connection through which a request is arriving is not idle, and
        ``http_request_timeout`` bounds it. aiohttp took it for idle, and closed a request
        head still being sent at ``http_keepalive_timeout``, without a word."""
        if self._request_timer is not None:
            self._keepalive_handle = None  # (as aiohttp's check does first)
            return
        super()._process_keepalive()  # type: ignore[misc]

    def _start_request_timer(self) -> None:
        self._request_timer = self._loop.call_later(
            self._settings.server.http_request_timeout, self._drop, "request not sent in time"
        )

    def _stop_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None and self._admitted:
            self._write_timer = self._loop.call_later(
                self._settings.server.http_write_timeout, self._drop, "response not read in time"
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _drop(self, reason: str) -> None:
        log.info("http %s: %s; connection dropped", self._address, reason)
        if isinstance(self._socket, asyncio.WriteTransport):
            self._socket.abort()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Malformed requests get a short answer and one log line, a client gone mid-response
        one log line; anything else (a failure of ours) is aiohttp's 500 with its traceback."""
        if isinstance(exc, ConnectionError):
            log.info("http %s: connection lost while answering", self._address)
            response = web.Response(status=HTTPStatus.INTERNAL_SERVER_ERROR.value)
            response.force_close()
            return response  # never sent: the connection is gone
        if not isinstance(exc, BadHttpMessage):
            return super().handle_error(request, status, exc, message)
        status = HTTPStatus.BAD_REQUEST
        if isinstance(exc, LineTooLong):
            line = exc.args[0] if exc.args else b""
            url = isinstance(line, bytes | bytearray) and bytes(line).startswith((b"/", b"http"))
            status = (
                HTTPStatus.REQUEST_URI_TOO_LONG if url
                else HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            )  # fmt: skip
        log.info("http %s: %d %s", self._address, status.value, status.phrase)
        return _short_answer(status)


def _refusal(reason: str, retry_after: int) -> bytes:
    body = f"Too many connections ({reason}); retry in {retry_after} s\n".encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Retry-After: {retry_after}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body
