"""A progress line for long batch work (import, crosswalk, harvest, dedup).

On a terminal it redraws one line on stderr at most a few times a second; elsewhere (CI, pipes)
it stays silent so logs are not flooded. The caller owns the summary at the end.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Count work items and show ``label: N items (R/s) [extra]`` while it runs.

    >>> with Progress("import", unit="records") as bar:
    ...     for record in records:
    ...         bar.advance()
    """

    def __init__(
        self,
        label: str,
        *,
        unit: str = "records",
        total: int | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 0.2,
    ) -> None:
        self.label = label
        self.unit = unit
        self.total = total
        self.count = 0
        self.extra = ""
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self.started = time.monotonic()
        self._last_draw = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        elapsed = self.elapsed
        return self.count / elapsed if elapsed > 0 else 0.0

    def advance(self, n: int = 1, extra: str | None = None) -> None:
        self.count += n
        if extra is not None:
            self.extra = extra
        now = time.monotonic()
        if self.enabled and now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        done = f"{self.count:,}" if self.total is None else f"{self.count:,}/{self.total:,}"
        percent = ""
        if self.total:
            percent = f" {100 * self.count / self.total:5.1f}%"
        line = f"{self.label}: {done} {self.unit}{percent} ({self.rate:,.0f}/s) {self.extra}"
        self.stream.write("\r\x1b[K" + line.rstrip())
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False
