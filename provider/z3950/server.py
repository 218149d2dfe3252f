"""The Z39.50 target: an asyncio TCP server, one :class:`Session` per connection.

Each connection reads one PDU at a time (bounded by ``server.z3950_max_pdu_bytes``, so a length
field claiming gigabytes ends the connection before anything is allocated), answers it, and
waits for the next for at most ``server.z3950_idle_timeout`` seconds (its Init must come
within ``z3950_init_timeout`` of connecting); a client that leaves an answer unread as long is
cut off (:func:`provider.connections.write_within`). A PDU that cannot be decoded, or any failure
while answering, ends that connection only (with a Close PDU saying why when the socket still
works); a client that resets its connection ends it quietly. Every other connection carries
on. As in YAZ, a connection whose first bytes are an HTTP request is served SRU instead
(:mod:`provider.sru.http_port`).

Decoding BER is pure Python; its time and memory go with the number of BER values (a 1 MB tree
of 32,768 operators has 330,000: 1-2 s to decode, and the garbage collector then stops every
thread for a quarter of a second at a time). So a PDU with more than
``server.z3950_max_pdu_values`` values is refused (Close, resources) after a walk over its bytes
that builds nothing; the default, 10,000, is a query of about 1,000 terms and decodes in about
25 ms. Only PDUs up to :data:`INLINE_DECODE_BYTES` are decoded on the event loop; larger ones go
to one decoder thread, which the event loop preempts every few milliseconds (the interpreter's
switch interval) and which decodes one PDU at a time, so that memory holds one large decoded PDU
however many clients send one.

At most ``server.z3950_max_connections`` connections are served at once, and
``z3950_max_connections_per_address`` from one client address. A connection beyond a cap is
sent a Close (resources) straight away, before anything it sends is read, and closed, except
that when a connection that has not sent its Init yet can make room, the oldest such is closed
instead (of the same address when it is that address's cap that is reached), so idle sockets
that never Init cannot keep real clients out.

When the server stops (:meth:`Target.stop`), a session waiting for its client's next PDU is sent
a Close (shutdown) at once (a PDU sent and not yet read goes unanswered), and one being answered
gets its answer and then the Close; one still busy after the grace period is cut off, as is an
SRU connection on the port at once. Python 3.11 logs a connection's task that ends cancelled as
an error with a traceback (asyncio's ``start_server``), so none does.

>>> target = await start_target(settings, catalog)   # koprik serve
>>> ...
>>> await target.stop(grace=5.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from catalog import Catalog
from config import ServerSettings, Settings
from protocols.z3950.codec import PduError, PduTooComplex, compile_codec, decode_pdu, encode_pdu
from protocols.z3950.framing import IncompleteRead, PduTooLarge, read_pdu
from provider.connections import (
    STOP_WRITE,
    ConnectionCounter,
    Waiting,
    close_within,
    peer_address,
    write_within,
)
from provider.damped_log import Damped
from provider.search import SEARCH_CLIENT, SearchService
from provider.sru.front_end import SruFrontEnd
from provider.sru.http_port import opens_with_http, serve_http
from provider.z3950 import session_log
from provider.z3950.backend import Backend
from provider.z3950.session import (
    CLOSE_LACK_OF_ACTIVITY,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_RESOURCES,
    CLOSE_SHUTDOWN,
    CLOSE_SYSTEM_PROBLEM,
    Pdu,
    Session,
    close_pdu,
)

log = logging.getLogger(__name__)

Observe = Callable[[str, float], None]
"""Told each request's PDU name (``searchRequest``...) and the seconds its answer took."""

INLINE_DECODE_BYTES = 4096
"""PDUs up to this size are decoded on the event loop (3 ms at worst; Init, Search and Present
PDUs of real clients are a few hundred bytes); larger ones on the decoder thread."""


async def start_target(
    settings: Settings, catalog: Catalog, service: SearchService | None = None, *,
    reuse_port: bool = False, observe: Observe | None = None, observe_sru: Observe | None = None,
) -> Target:
    """Listen on ``server.host``:``server.z3950_port`` and serve ``catalog`` (through
    ``service``, a new one when None) until closed, within the connection caps (module docs).
    With ``reuse_port``, other processes may listen on the same port (SO_REUSEPORT) and the
    kernel shares connections (each process then counts its own). ``observe`` is told of every
    Z39.50 request, ``observe_sru`` of every SRU request served on the port (for /metrics)."""
    service = service or SearchService(catalog, settings.search)
    backend = Backend(service)
    sru = SruFrontEnd(service, settings, database=settings.server.z3950_database)
    compile_codec()  # now, not for a client
    connections = Connections(settings.server)

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(peer_address(writer.get_extra_info("peername")), writer)
        SEARCH_CLIENT.set(connection.address)  # (this connection's task only)
        if connections.stopping:  # accepted just before the port closed
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        connections.serving[task] = connection
        try:
            await serve(connection, reader, writer)
        except asyncio.CancelledError:  # cut off by a stop (module docs): ends quietly
            writer.transport.abort()  # (one waiting for its first bytes was left open)
        finally:
            del connections.serving[task]

    async def serve(
        connection: Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        refusal = connections.admit(connection)
        init_timeout = settings.server.z3950_init_timeout
        if refusal is not None:
            connections.refusals.info("z39.50 %s: %s; refused", connection.address, refusal)
            await refuse_connection(writer, refusal, init_timeout)
            return
        init_deadline = asyncio.get_running_loop().time() + init_timeout
        connection.waiting = True  # for its first bytes
        try:
            # As in YAZ, an HTTP request on this port is SRU (a BER PDU never starts with ASCII).
            try:
                http = await opens_with_http(reader, init_timeout)
            except (ConnectionError, OSError):
                writer.close()
                return  # reset before it said anything
            if http:
                connections.initialized(connection)  # an HTTP client is never closed for room
                await serve_http(sru, settings, reader, writer, observe_sru,
                                 lambda: connection.stopping)
                return
            session = Session(backend, settings.server)
            await serve_connection(
                session, reader, writer, connection, lambda: connections.initialized(connection),
                observe, init_deadline, connections.unheard,
            )
        finally:
            connections.leave(connection)

    server = await asyncio.start_server(
        on_connection, settings.server.host, settings.server.z3950_port,
        reuse_port=reuse_port or None,
    )
    return Target(server, connections)


@dataclass
class Target:
    """The listening port and the connections being served on it."""

    server: asyncio.Server
    connections: Connections

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self, grace: float) -> None:
        """Stop listening, and end every connection (module docs) within ``grace`` seconds
        and twice :data:`~provider.connections.STOP_WRITE`; then say the lines counted but not
        yet said (:meth:`provider.damped_log.Damped.flush`)."""
        self.server.close()
        serving = self.connections.serving
        self.connections.stopping = True
        for task, connection in serving.items():
            connection.stopping = True
            if connection.waiting:
                task.cancel()
        if serving:
            _, late = await asyncio.wait(list(serving), timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=STOP_WRITE)
        with contextlib.suppress(TimeoutError):  # Python 3.12+ waits for connections here
            await asyncio.wait_for(self.server.wait_closed(), STOP_WRITE)
        for damped in (self.connections.refusals, self.connections.evictions,
                       self.connections.unheard):  # fmt: skip
            damped.flush()


@dataclass(eq=False)
class Connection:
    """One admitted connection, as :class:`Connections` counts it."""

    address: str
    writer: asyncio.StreamWriter
    counted: bool = True
    waiting: bool = False
    """Waiting for what the client sends next (for the whole of an SRU connection on the port):
    a stop ends the connection at once."""
    stopping: bool = False
    """The server stops: the connection ends after the answer being made."""
    closed: str = ""
    """Why the target closed the connection from outside its own task (a Close reason, for its
    session log's last line): another's admission took its place before its Init."""
    accepted: float = field(default_factory=time.monotonic)
    """When the connection was accepted (its session's length counts from there, not from its
    first bytes: one that sent none was logged as lasting 0.0 s)."""


class Connections:
    """The target's open connections, against its caps; those not past Init yet, oldest first."""

    def __init__(self, settings: ServerSettings) -> None:
        self.counter = ConnectionCounter(
            total=settings.z3950_max_connections,
            per_address=settings.z3950_max_connections_per_address,
        )
        self.before_init: Waiting[Connection] = Waiting(self.counter)
        self.serving: dict[asyncio.Task[None], Connection] = {}
        """Every connection's task, admitted or being refused."""
        self.stopping = False
        self.refusals = Damped(log, "z39.50 connections refused")
        self.evictions = Damped(log, "z39.50 connections without Init closed to make room")
        self.unheard = Damped(log, "z39.50 connections ended before any request")
        """The session log's lines of connections that ended before their first request (a
        flood of them, each closed for the next one's room, wrote two lines each)."""

    def admit(self, connection: Connection) -> str | None:
        """Count ``connection`` in (None), or say why it is refused."""
        counter = self.counter
        if (oldest := self.before_init.making_room(connection.address)) is not None:
            self.evictions.info("z39.50 %s: %d connections open; closing one that has not "
                                "sent Init for one from %s", oldest.address, counter.open,
                                connection.address)  # fmt: skip
            self.leave(oldest)
            oldest.closed = "resources: no Init, its place taken by a new connection"
            oldest.writer.write(encode_pdu(*close_pdu(CLOSE_RESOURCES, "no Init")))
            oldest.writer.close()  # its reader ends: serve_connection returns
        refusal = counter.admit(connection.address)
        if refusal is None:
            self.before_init.add(connection, connection.address)
        else:
            connection.counted = False
        return refusal

    def initialized(self, connection: Connection) -> None:
        self.before_init.discard(connection)

    def leave(self, connection: Connection) -> None:
        """``connection`` no longer counts (once, whether it ended or was closed for another)."""
        if connection.counted:
            connection.counted = False
            self.before_init.discard(connection)
            self.counter.leave(connection.address)


async def serve_connection(
    session: Session,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    connection: Connection,
    on_init: Callable[[], None] = lambda: None,
    observe: Observe | None = None,
    init_deadline: float | None = None,
    unheard: Damped | None = None,
) -> None:
    """Answer PDUs on one connection until Close, idleness, a bad PDU, a broken socket or a
    stop of the server (told by ``connection``); ``on_init`` is called once the association is
    initialised. The session log's ``connect`` line comes with the first request; a connection
    that ends before one has its end said as ``unheard`` lets it (damped: every line, when
    None).

    The Init must come by ``init_deadline`` (event-loop time; ``z3950_init_timeout`` from now
    when None): one timeout from the connection's start, however long telling BER from HTTP
    took.

    Each request, and how the connection ended, goes to the session log
    (:mod:`provider.z3950.session_log`).
    """
    peer = _address(writer.get_extra_info("peername"))
    settings = session.settings
    # reason: why Koprik or the client sent Close; empty when the client just went away.
    started, requests, reason = connection.accepted, 0, ""
    loop = asyncio.get_running_loop()
    if init_deadline is None:
        init_deadline = loop.time() + settings.z3950_init_timeout
    unread = settings.z3950_idle_timeout  # seconds an answer may wait for the client to read it
    try:
        while True:
            initialized = session.initialized
            deadline = loop.time() + settings.z3950_idle_timeout if initialized else init_deadline
            try:
                if connection.stopping:  # it stopped while this answer was made
                    raise asyncio.CancelledError
                connection.waiting = True
                try:
                    async with asyncio.timeout_at(deadline):  # no task per PDU, as wait_for makes
                        data = await read_pdu(reader, settings.z3950_max_pdu_bytes,
                                              settings.z3950_max_pdu_values)
                finally:
                    connection.waiting = False
                name, value = await decode(data, settings.z3950_max_pdu_values)
            except asyncio.CancelledError:  # the server stops (Target.stop)
                reason, unread = "shutdown", STOP_WRITE
                await _send(writer, close_pdu(CLOSE_SHUTDOWN, "the server stops"), unread)
                return
            except TimeoutError:
                reason = "lackOfActivity"
                idle = "idle" if initialized else "no Init"
                await _send(writer, close_pdu(CLOSE_LACK_OF_ACTIVITY, idle), unread)
                return
            except (IncompleteRead, ConnectionError, OSError):
                # the client went away or reset the connection (nothing to say), or the target
                # closed it for another's place
                reason = connection.closed
                return
            except (PduTooLarge, PduTooComplex) as error:
                reason = f"resources: {error}"
                await _send(writer, close_pdu(CLOSE_RESOURCES, str(error)), unread)
                return
            except PduError as error:
                reason = f"protocolError: {error}"
                await _send(writer, close_pdu(CLOSE_PROTOCOL_ERROR, "malformed PDU"), unread)
                return
            requests += 1
            if requests == 1:
                session_log.log_event(peer, "connect")
            try:
                began = time.monotonic()
                responses, done = await session.handle(name, value)
                if observe is not None:
                    observe(name, time.monotonic() - began)
                if session.initialized and not initialized:
                    on_init()
                if session_log.enabled() and name != "close":
                    session_log.log_request(peer, name, value, responses)
                for response in responses:
                    if not await _send(writer, response, unread):
                        return
            except (ConnectionError, OSError):
                return
            except Exception:
                log.exception("z39.50 %s: failed answering %s; closing", peer, name)
                reason = "systemProblem"
                await _send(writer, close_pdu(CLOSE_SYSTEM_PROBLEM, "internal error"), unread)
                return
            if done:
                code = responses[-1][1].get("closeReason", 0) if responses else 0
                reason = session_log.close_reason(code)
                return
    finally:
        if requests or unheard is None or unheard.admits():
            session_log.log_end(peer, reason, requests, time.monotonic() - started)
        await close_within(writer, STOP_WRITE if connection.stopping else unread)


def _address(peername: object) -> str:
    """``host:port`` of a socket's peer (``[v6]:port``), or ``?`` when unknown."""
    if isinstance(peername, tuple) and len(peername) >= 2:
        host, port = peername[0], peername[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return "?"


async def decode(data: bytes, max_values: int) -> tuple[str, dict[str, Any]]:
    """:func:`decode_pdu` of ``data``: on the event loop if it is small, else on the decoder
    thread (one PDU at a time, in arrival order)."""
    if len(data) <= INLINE_DECODE_BYTES:
        return decode_pdu(data, max_values)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_decoder(), decode_pdu, data, max_values)


@cache
def _decoder() -> ThreadPoolExecutor:
    """The process's one decoder thread, shared by every target (started on first use)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="koprik-z3950-decode")


async def refuse_connection(writer: asyncio.StreamWriter, reason: str, timeout: float) -> None:
    """Send a Close (resources) saying ``reason`` and close the connection, reading nothing
    (and waiting at most ``timeout`` seconds for the client to take the Close)."""
    try:
        await _send(writer, close_pdu(CLOSE_RESOURCES, reason), timeout)
    finally:
        await close_within(writer, timeout)


async def _send(writer: asyncio.StreamWriter, pdu: Pdu, timeout: float) -> bool:
    """Write one PDU; False when the connection is gone (:func:`write_within`)."""
    return await write_within(writer, encode_pdu(*pdu), timeout)
