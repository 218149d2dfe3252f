"""The Z39.50 target: an asyncio TCP server, one :class:`Session` per connection.

Each connection reads one PDU at a time (bounded by ``server.z3950_max_pdu_bytes``, so a length
field claiming gigabytes ends the connection before anything is allocated), answers it, and
waits for the next for at most ``server.z3950_idle_timeout`` seconds. A PDU that cannot be
decoded, or any failure while answering, ends that connection only (with a Close PDU saying
why when the socket still works); every other connection carries on. At most
``server.z3950_max_connections`` connections are served at once: one more is sent a Close
(resources) straight away, before anything it sends is read, and is closed.

>>> server = await start_target(settings, catalog)   # koprik serve
>>> async with server:
...     await server.serve_forever()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from catalog import Catalog
from config import Settings
from protocols.z3950.codec import PduError, decode_pdu, encode_pdu
from protocols.z3950.framing import IncompleteRead, PduTooLarge, read_pdu
from provider.search import SearchService
from provider.sru.front_end import SruFrontEnd
from provider.sru.http_port import opens_with_http, serve_http
from provider.z3950 import session_log
from provider.z3950.backend import Backend
from provider.z3950.session import (
    CLOSE_LACK_OF_ACTIVITY,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_RESOURCES,
    CLOSE_SYSTEM_PROBLEM,
    Pdu,
    Session,
    close_pdu,
)

log = logging.getLogger(__name__)

Observe = Callable[[str, float], None]
"""Told each request's PDU name (``searchRequest``...) and the seconds its answer took."""


async def start_target(
    settings: Settings, catalog: Catalog, service: SearchService | None = None, *,
    reuse_port: bool = False, observe: Observe | None = None,
) -> asyncio.AbstractServer:
    """Listen on ``server.host``:``server.z3950_port`` and serve ``catalog`` (through
    ``service``, a new one when None) until closed (at most ``server.z3950_max_connections``
    connections at once). With ``reuse_port``, other processes may listen on the same port
    (SO_REUSEPORT) and the kernel shares connections. ``observe`` is told of every request
    (for /metrics)."""
    service = service or SearchService(catalog, settings.search)
    backend = Backend(service)
    sru = SruFrontEnd(service, settings, database=settings.server.z3950_database)
    encode_pdu(*close_pdu(CLOSE_LACK_OF_ACTIVITY))  # compiles the codec now, not for a client
    limit = settings.server.z3950_max_connections
    open_connections = 0

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_connections
        if open_connections >= limit:
            log.info("z39.50 %s: %d connections open; refused",
                     writer.get_extra_info("peername"), limit)  # fmt: skip
            await refuse_connection(writer, f"more than {limit} connections")
            return
        open_connections += 1
        try:
            # As in YAZ, an HTTP request on this port is SRU (a BER PDU never starts with ASCII).
            if await opens_with_http(reader, settings.server.z3950_idle_timeout):
                await serve_http(sru, settings, reader, writer)
                return
            await serve_connection(Session(backend, settings.server), reader, writer, observe)
        finally:
            open_connections -= 1

    return await asyncio.start_server(
        on_connection, settings.server.host, settings.server.z3950_port,
        reuse_port=reuse_port or None,
    )


async def serve_connection(
    session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
    observe: Observe | None = None,
) -> None:
    """Answer PDUs on one connection until Close, idleness, a bad PDU or a broken socket.

    Each request, and how the connection ended, goes to the session log
    (:mod:`provider.z3950.session_log`).
    """
    peer = _address(writer.get_extra_info("peername"))
    settings = session.settings
    # reason: why Koprik or the client sent Close; empty when the client just went away.
    started, requests, reason = time.monotonic(), 0, ""
    session_log.log_event(peer, "connect")
    try:
        while True:
            try:
                data = await asyncio.wait_for(
                    read_pdu(reader, settings.z3950_max_pdu_bytes), settings.z3950_idle_timeout
                )
                name, value = decode_pdu(data)
            except TimeoutError:
                reason = "lackOfActivity"
                await _send(writer, close_pdu(CLOSE_LACK_OF_ACTIVITY, "idle"))
                return
            except IncompleteRead:
                return
            except PduTooLarge as error:
                reason = f"resources: {error}"
                await _send(writer, close_pdu(CLOSE_RESOURCES, str(error)))
                return
            except PduError as error:
                reason = f"protocolError: {error}"
                await _send(writer, close_pdu(CLOSE_PROTOCOL_ERROR, "malformed PDU"))
                return
            requests += 1
            try:
                began = time.monotonic()
                responses, done = await session.handle(name, value)
                if observe is not None:
                    observe(name, time.monotonic() - began)
                if session_log.enabled() and name != "close":
                    session_log.log_request(peer, name, value, responses)
                for response in responses:
                    await _send(writer, response)
            except (ConnectionError, OSError):
                return
            except Exception:
                log.exception("z39.50 %s: failed answering %s; closing", peer, name)
                reason = "systemProblem"
                await _send(writer, close_pdu(CLOSE_SYSTEM_PROBLEM, "internal error"))
                return
            if done:
                code = responses[-1][1].get("closeReason", 0) if responses else 0
                reason = session_log.close_reason(code)
                return
    finally:
        session_log.log_end(peer, reason, requests, time.monotonic() - started)
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def _address(peername: object) -> str:
    """``host:port`` of a socket's peer (``[v6]:port``), or ``?`` when unknown."""
    if isinstance(peername, tuple) and len(peername) >= 2:
        host, port = peername[0], peername[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return "?"


async def refuse_connection(writer: asyncio.StreamWriter, reason: str) -> None:
    """Send a Close (resources) saying ``reason`` and close the connection, reading nothing."""
    try:
        await _send(writer, close_pdu(CLOSE_RESOURCES, reason))
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def _send(writer: asyncio.StreamWriter, pdu: Pdu) -> None:
    """Write one PDU; a peer that has gone is not an error."""
    data = encode_pdu(*pdu)
    with contextlib.suppress(ConnectionError, OSError):
        writer.write(data)
        await writer.drain()
