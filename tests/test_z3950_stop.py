"""How a Z39.50 target ends its connections when the server stops (provider.z3950.server's
``Target.stop``), in one process: each client is told or let go at once, none is left open."""

from __future__ import annotations

import asyncio
import dataclasses

from catalog import Catalog
from config import ServerSettings, Settings
from protocols.z3950.codec import decode_pdu
from protocols.z3950.framing import read_pdu
from protocols.z3950.pqf import parse_pqf, rpn_to_pdu
from provider.z3950 import start_target
from provider.z3950.server import Target
from tests.hostile import INIT, search_pdu

GRACE = 30.0
"""Longer than any test waits: a connection still open after a stop is one the stop missed."""


async def _target(settings: Settings, catalog: Catalog) -> Target:
    server = dataclasses.replace(ServerSettings(), z3950_port=0)
    return await start_target(dataclasses.replace(settings, server=server), catalog)


async def test_a_connection_that_sent_nothing_is_closed_by_a_stop(
    settings: Settings, catalog: Catalog
) -> None:
    """It was cancelled and left open until the event loop closed."""
    target = await _target(settings, catalog)
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    await asyncio.sleep(0.2)  # accepted, waiting for its first bytes
    stopping = asyncio.ensure_future(target.stop(GRACE))
    assert await asyncio.wait_for(reader.read(), 10) == b""
    await asyncio.wait_for(stopping, 10)
    writer.close()


async def test_a_session_is_answered_then_told_the_server_stops(
    settings: Settings, catalog: Catalog
) -> None:
    """A session waiting for its next PDU gets a Close (shutdown) at once; its answers to the
    PDUs it sent before are not lost."""
    target = await _target(settings, catalog)
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(INIT)
    assert decode_pdu(await read_pdu(reader, 1 << 20))[0] == "initResponse"
    writer.write(search_pdu(rpn_to_pdu(parse_pqf("@attr 1=4 navoiy"))))
    assert decode_pdu(await read_pdu(reader, 1 << 20))[0] == "searchResponse"
    stopping = asyncio.ensure_future(target.stop(GRACE))
    name, close = decode_pdu(await asyncio.wait_for(read_pdu(reader, 1 << 20), 10))
    assert (name, close["closeReason"]) == ("close", 1)
    assert await asyncio.wait_for(reader.read(), 10) == b""
    await asyncio.wait_for(stopping, 10)
    writer.close()
