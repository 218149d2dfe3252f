"""OAI-PMH datestamps: UTC, seconds granularity, day granularity accepted in arguments.

The repository's granularity is ``YYYY-MM-DDThh:mm:ssZ``. ``from`` and ``until`` may be given
at either granularity, but both at the same one; ``until`` is inclusive, so a day-granularity
``until`` means the last second of that day.

>>> format_datestamp(0)
'1970-01-01T00:00:00Z'
>>> parse_range("2002-02-05", "2002-02-06")
(1012867200, 1013039999)
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from functools import lru_cache

from protocols.oaipmh.errors import BadArgument

GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
DAY_SECONDS = 86400

# ASCII digits only: ``\d`` alone would take any script's digits (``٢٠٢٠``), which int() reads.
_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_SECONDS = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z", re.ASCII)
_ECHOED = 40
"""Longest argument value an error message repeats (only printable ASCII is ever repeated)."""


@dataclass(frozen=True)
class Datestamp:
    """A parsed datestamp: epoch seconds (UTC) and whether it was given as a day."""

    seconds: int
    day: bool


@lru_cache(maxsize=4096)
def format_datestamp(seconds: int) -> str:
    """``seconds`` since the epoch as an OAI-PMH datestamp at seconds granularity."""
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"
    )


def parse_datestamp(text: str, name: str = "datestamp") -> Datestamp:
    """Parse a day or seconds datestamp; anything else is :class:`BadArgument` naming ``name``."""
    match = _SECONDS.fullmatch(text) or _DAY.fullmatch(text)
    if match is None:
        raise BadArgument(f"{_named(name, text)} is not a datestamp (YYYY-MM-DD or {GRANULARITY})")
    fields = [int(part) for part in match.groups()]
    year, month, day = fields[:3]
    hour, minute, second = (fields[3:] or [0, 0, 0])
    if not (
        year >= 1
        and 1 <= month <= 12
        and 1 <= day <= calendar.monthrange(year, month)[1]
        and hour <= 23
        and minute <= 59
        and second <= 59
    ):
        raise BadArgument(f"{_named(name, text)} is not a valid date")
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return Datestamp(seconds, day=len(fields) == 3)


def _named(name: str, text: str) -> str:
    """``name='text'`` for an error message, or just ``name`` when ``text`` is not short
    printable ASCII (a client's bytes are not repeated back in other scripts or at length)."""
    if text.isascii() and text.isprintable() and len(text) <= _ECHOED:
        return f"{name}={text!r}"
    return name


def parse_range(from_: str | None, until: str | None) -> tuple[int | None, int | None]:
    """The inclusive ``(from, until)`` bounds in epoch seconds of a list request.

    Raises :class:`BadArgument` for a malformed datestamp, for mixed granularities, and when
    ``from`` is later than ``until``.
    """
    start = parse_datestamp(from_, "from") if from_ is not None else None
    end = parse_datestamp(until, "until") if until is not None else None
    if start is not None and end is not None:
        if start.day != end.day:
            raise BadArgument("from and until must have the same granularity")
        if start.seconds > end.seconds:
            raise BadArgument("from is later than until")
    until_seconds = None
    if end is not None:
        until_seconds = end.seconds + (DAY_SECONDS - 1 if end.day else 0)
    return (start.seconds if start else None, until_seconds)
