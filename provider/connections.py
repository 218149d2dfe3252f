"""Admitting connections: at most so many in total and so many from one client address; and
writing to a stream connection without waiting for ever on a client that does not read.

The Z39.50 target and the HTTP server each keep one :class:`ConnectionCounter` (with their own
settings). It is used from one event loop only, so it needs no lock.

>>> counter = ConnectionCounter(total=256, per_address=32)
>>> refusal = counter.admit("192.0.2.7")    # None: admitted; else why not, for the client
>>> counter.leave("192.0.2.7")              # exactly once for each admitted connection

The Z39.50 port (Z39.50 and SRU) writes with :func:`write_within` and closes with
:func:`close_within`: a client that leaves answers unread would otherwise keep its connection,
and its slot, as long as it likes (the HTTP port has its own guard, :mod:`provider.http_server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
C = TypeVar("C", bound=Hashable)


class ConnectionCounter:
    """Counts open connections, in total and by client address, against two caps."""

    def __init__(self, *, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self.open = 0
        self._by_address: Counter[str] = Counter()

    def admit(self, address: str) -> str | None:
        """Count one more connection from ``address``, or say why it is refused (not counted)."""
        if not self.allows(address):
            return f"more than {self.per_address} connections from one address"
        if self.open >= self.total:
            return f"more than {self.total} connections"
        self.open += 1
        self._by_address[address] += 1
        return None

    def allows(self, address: str) -> bool:
        """Whether one more connection from ``address`` is within the per-address cap."""
        return self._by_address[address] < self.per_address

    def leave(self, address: str) -> None:
        """An admitted connection from ``address`` has ended."""
        self.open -= 1
        self._by_address[address] -= 1
        if not self._by_address[address]:
            del self._by_address[address]


class Waiting(Generic[C]):
    """Admitted connections that have sent nothing of a request yet (Z39.50: no Init), oldest
    first, with their client addresses. When a cap is reached, the oldest of them makes room
    for a new connection: a flood of connections that send nothing shut real clients out until
    each timed out."""

    def __init__(self, counter: ConnectionCounter) -> None:
        self._counter = counter
        self._address: dict[C, str] = {}

    def add(self, connection: C, address: str) -> None:
        self._address[connection] = address

    def discard(self, connection: C) -> None:
        self._address.pop(connection, None)

    def making_room(self, address: str) -> C | None:
        """The connection to close so that one more from ``address`` is within both caps: the
        oldest waiting one of ``address`` when that address is at its cap (only one of its own
        makes room there), else of all when the total is reached; None when there is room, or
        none can make it."""
        counter = self._counter
        if not counter.allows(address):
            return next((c for c, at in self._address.items() if at == address), None)
        if counter.open >= counter.total:
            return next(iter(self._address), None)
        return None


def peer_address(peername: object) -> str:
    """The client address of a transport's ``peername`` extra info (host without the port)."""
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return str(peername)


async def write_within(writer: asyncio.StreamWriter, data: bytes, timeout: float) -> bool:
    """Write ``data``; False when the connection is gone: the peer went away (not an error), or
    left what was written unread for ``timeout`` seconds and was cut off (:func:`drop`)."""
    try:
        writer.write(data)
        async with asyncio.timeout(timeout):
            await writer.drain()
    except (ConnectionError, OSError):
        return False
    except TimeoutError:
        drop(writer, f"answer not read in {timeout:g} s")
        return False
    return True


STOP_WRITE = 1.0
"""Seconds a stopping server waits for a client to take what it was sent before dropping it."""


async def close_within(writer: asyncio.StreamWriter, timeout: float) -> None:
    """Close the connection once what was written has gone, or after ``timeout`` seconds
    whatever is left (closing waits for the peer to read it all); cancelled meanwhile (a
    server stopping), at once."""
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        try:
            async with asyncio.timeout(timeout):
                await writer.wait_closed()
        except TimeoutError:
            drop(writer, f"last answer not read in {timeout:g} s")
        except asyncio.CancelledError:
            drop(writer, "the server stops")
            raise


def drop(writer: asyncio.StreamWriter, reason: str) -> None:
    """End the connection at once, dropping what the peer has not read."""
    log.info("%s: %s; connection dropped", peer_address(writer.get_extra_info("peername")), reason)
    writer.transport.abort()
