"""Admitting connections: at most so many in total and so many from one client address.

The Z39.50 target and the HTTP server each keep one :class:`ConnectionCounter` (with their own
settings). It is used from one event loop only, so it needs no lock.

>>> counter = ConnectionCounter(total=256, per_address=32)
>>> refusal = counter.admit("192.0.2.7")    # None: admitted; else why not, for the client
>>> counter.leave("192.0.2.7")              # exactly once for each admitted connection
"""

from __future__ import annotations

from collections import Counter


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


def peer_address(peername: object) -> str:
    """The client address of a transport's ``peername`` extra info (host without the port)."""
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return str(peername)
