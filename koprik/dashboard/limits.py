"""Rate limiting of failed sign-ins, per (address, name) and per address, where an IPv6
address counts as its /64 (:func:`_address`).

The failures are rows of the catalogue's ``login_failures`` table, which every ``--workers``
process and every node on the same database shares: the allowance holds in total, however the
attempts are spread. Times are wall-clock UTC seconds (:func:`time.time`): monotonic clocks
differ between processes and machines. Each method is one short database transaction; call it
from a thread (``asyncio.to_thread``), as the sign-in handler does.

A check and the failure it precedes are not one transaction, so sign-ins racing each other
(each checked before the others failed) may overshoot the allowance by the number in flight.
"""

from __future__ import annotations

import ipaddress
import time
from typing import cast

from sqlalchemy import Connection, Engine, String, delete, func, insert, select

from catalog.models import login_failures
from catalog.transactions import executed, transaction

PER_ADDRESS_FACTOR = 4
"""An address may fail this many times the per-name allowance across all names."""
_ADDRESS = ""
"""The name key of an address's count over all names."""
_table = login_failures
_ADDRESS_WIDTH = cast(String, _table.c.address.type).length
_NAME_WIDTH = cast(String, _table.c.name.type).length


def _address(address: str) -> str:
    """The address key: an IPv6 address is its /64 (``2001:db8::/64``), an IPv4-mapped one its
    IPv4 address, an IPv4 address (or one that is not an IP address) itself.

    A client is usually given a whole /64: keyed on the full address, 30 wrong passwords for
    one name from 30 addresses of it were all answered 401, none 429.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:_ADDRESS_WIDTH]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def _name(name: str) -> str:
    """The name key: names are compared case-folded (folding may lengthen; cut to the column)."""
    return name.casefold()[:_NAME_WIDTH]


class LoginLimiter:
    """Counts failures in a sliding window; :meth:`allowed` is false once a key has too many.

    Rows older than the window are deleted on every failure, and each key keeps only its
    newest ``limit`` rows (all a decision needs), so the table holds at most the failures of
    one window.
    """

    def __init__(self, engine: Engine, attempts: int, window: float) -> None:
        self.engine = engine
        self.attempts = attempts
        self.window = window

    def _limits(self, name: str) -> dict[str, int]:
        """Each key of a sign-in as ``name`` -> the failures it may have in a window."""
        return {_name(name): self.attempts, _ADDRESS: self.attempts * PER_ADDRESS_FACTOR}

    def allowed(self, address: str, name: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        limits = self._limits(name)
        with self.engine.connect() as connection:
            counts = dict(connection.execute(
                select(_table.c.name, func.count())
                .where(_table.c.address == _address(address), _table.c.name.in_(list(limits)),
                       _table.c.at > now - self.window)
                .group_by(_table.c.name)
            ).all())  # fmt: skip
        return all(counts.get(key, 0) < limit for key, limit in limits.items())

    def failed(self, address: str, name: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        address = _address(address)
        limits = self._limits(name)

        def note(connection: Connection) -> None:
            connection.execute(delete(_table).where(_table.c.at <= now - self.window))
            for key, limit in limits.items():
                connection.execute(insert(_table).values(address=address, name=key, at=now))
                same = (_table.c.address == address, _table.c.name == key)
                newest = (select(_table.c.id).where(*same)
                          .order_by(_table.c.at.desc(), _table.c.id.desc()).limit(limit))
                connection.execute(delete(_table).where(*same, _table.c.id.not_in(newest)))

        transaction(self.engine, note, "noting a failed sign-in")

    def succeeded(self, address: str, name: str) -> None:
        forgotten = delete(_table).where(_table.c.address == _address(address),
                                         _table.c.name == _name(name))  # fmt: skip
        executed(self.engine, forgotten, "forgetting the failed sign-ins of a user")
