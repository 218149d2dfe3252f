"""A relay on 127.0.0.1 between a Z39.50 client and a real target (a test fixture).

It passes every byte on unchanged both ways, reading the client's side one APDU at a time so
that a hook sees each request (by its tag) as it arrives, before the target does: a test can
kill the client at its third Present. Each connection goes to the target port set at that
moment, so a test can put another target behind the same address between two runs::

    relay = Z3950Relay(zebra_port)
    with relaying(relay) as port:           # harvest z3950://127.0.0.1:PORT/Default
        relay.on_request = lambda tag: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator

from protocols.z3950.codec import PduError
from protocols.z3950.framing import read_pdu

INIT_REQUEST, SEARCH_REQUEST, PRESENT_REQUEST = 0xB4, 0xB6, 0xB8
"""First octets of the request APDUs: tags [20], [22] and [24], context class, constructed."""
MAX_REQUEST_BYTES = 1 << 20


class Z3950Relay:
    """Where to relay, what to call per request, and the tags of the requests relayed."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.on_request: Callable[[int], None] | None = None
        """Called with each request's tag as it arrives, before it is passed on."""
        self.requests: list[int] = []

    def presents(self, since: int = 0) -> int:
        """Present requests relayed from the ``since``-th request on."""
        return self.requests[since:].count(PRESENT_REQUEST)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target_reader, target_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )

        async def requests() -> None:
            with contextlib.suppress(PduError, ConnectionError):
                while True:
                    pdu = await read_pdu(reader, MAX_REQUEST_BYTES)
                    self.requests.append(pdu[0])
                    if self.on_request is not None:
                        self.on_request(pdu[0])
                    target_writer.write(pdu)
                    await target_writer.drain()

        async def responses() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await target_reader.read(65536):
                    writer.write(data)
                    await writer.drain()

        tasks = [asyncio.ensure_future(requests()), asyncio.ensure_future(responses())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        for end in (writer, target_writer):
            end.close()


@contextlib.contextmanager
def relaying(relay: Z3950Relay) -> Iterator[int]:
    """Run ``relay`` on a free 127.0.0.1 port in a thread of its own; yields the port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> asyncio.Server:
        return await asyncio.start_server(relay._relay, "127.0.0.1", 0)

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
