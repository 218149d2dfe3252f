"""Rate limiting of failed sign-ins, per (address, name) and per address."""

from __future__ import annotations

import time
from collections import OrderedDict, deque

PER_ADDRESS_FACTOR = 4
"""An address may fail this many times the per-name allowance across all names."""
MAX_KEYS = 10_000
"""Most (address, name) keys remembered: the table cannot be grown without bound."""


class LoginLimiter:
    """Counts failures in a sliding window; :meth:`allowed` is false once a key has too many.

    The counts are per process (each ``--workers`` process keeps its own); an attacker spread
    over processes gets at most ``workers`` times the allowance.
    """

    def __init__(self, attempts: int, window: float) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def allowed(self, address: str, name: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return (
            len(self._recent((address, name.casefold()), now)) < self.attempts
            and len(self._recent((address, ""), now)) < self.attempts * PER_ADDRESS_FACTOR
        )

    def failed(self, address: str, name: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in ((address, name.casefold()), (address, "")):
            times = self._failures.pop(key, None) or deque()
            times.append(now)
            while len(times) > self.attempts * PER_ADDRESS_FACTOR:
                times.popleft()
            self._failures[key] = times
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, address: str, name: str) -> None:
        self._failures.pop((address, name.casefold()), None)
