"""Log lines a peer can cause at will, bounded: a connection refused over the caps costs its
client one ``connect()`` and the server one line of log, so a flood of them wrote lines as fast
as the kernel accepted connections (about 90 bytes each, gigabytes an hour on disk).

:class:`Damped` logs the first :data:`BURST` lines of its kind in each :data:`WINDOW` seconds
one by one, counts the rest, and says the count in one line as the window ends (or as the
server stops: :meth:`Damped.flush`).

:class:`SaidOnce` says a warning about one thing once: a stored record that cannot be served
(damaged, or over a limit) is met again by every client paging over it, and was logged each
time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from functools import lru_cache

BURST = 20
"""Lines of one kind logged one by one in a window."""

WINDOW = 60.0
"""Seconds of a window."""

KEPT = 1000
"""Things a :class:`SaidOnce` remembers having said, the last said kept."""


class Damped:
    """One kind of line (``what``: "z39.50 connections refused"), logged at INFO by ``log``
    from the event loop's thread."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self._window_starts = self._window_ends = float("-inf")
        self._said = 0
        self._held = 0
        self._summary: asyncio.TimerHandle | None = None

    def info(self, message: str, *args: object) -> None:
        if self.admits():
            self._log.info(message, *args)

    def admits(self) -> bool:
        """Whether one more line of this kind is said now (else it is counted): for a line
        said otherwise than by :meth:`info` (a session log's)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now >= self._window_ends:
            if self._summary is not None:  # due, but not yet run (a busy loop): said now, so
                self._summary.cancel()  # that its count is of its window alone
                self._say_held()
            self._window_starts, self._window_ends, self._said = now, now + WINDOW, 0
        if self._said < BURST:
            self._said += 1
            return True
        self._held += 1
        if self._summary is None:
            self._summary = loop.call_at(self._window_ends, self._say_held)
        return False

    def flush(self) -> None:
        """Say the count of the window in progress now, as the server stops: its line was due
        when the window ended, and was lost with the event loop (a flood of refusals in a
        server's last minute said only its first lines)."""
        if self._summary is None:
            return
        self._summary.cancel()
        self._say_held(asyncio.get_running_loop().time())

    def _say_held(self, now: float | None = None) -> None:
        """Say the count held, of a window that ended (or ends ``now``)."""
        end = self._window_ends if now is None else now
        self._log.info("%s: %d more in the last %g s, not logged one by one", self._what,
                       self._held, round(end - self._window_starts, 1))  # fmt: skip
        self._held, self._summary = 0, None


class SaidOnce:
    """Warnings by ``log``, each about one thing (its key) said once in a process while it is
    among the last :data:`KEPT` said, however often a client brings it about. Safe from any
    thread."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._say = lru_cache(maxsize=KEPT)(self._say_now)

    def warning(self, key: Hashable, message: str, *args: Hashable) -> None:
        """Say ``message % args`` unless it was said about ``key`` already."""
        self._say(key, message, args)

    def forget(self) -> None:
        """Forget what was said (a test says it again)."""
        self._say.cache_clear()

    def _say_now(self, _key: Hashable, message: str, args: tuple[Hashable, ...]) -> None:
        self._log.warning(message, *args)
