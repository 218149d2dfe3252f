"""A peer's own text (a diagnostic's addinfo, an error message, a client's search term) shown
on one line of a log, a run's record or a terminal."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

SHOWN_CHARS = 200
"""Most characters of a peer's text that a log line or a diagnostic quotes: enough for any real
term, set name, sort field or client name, while a client's megabyte string costs a line no
more than a few hundred bytes (and an answer echoing it no more either)."""


def clipped(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` as a log line, a fault or a diagnostic quotes it: its first ``limit``
    characters, and how many more there were when it is longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def escaped_controls(text: str) -> str:
    """``text`` with each control character (C0, DEL and C1) written as Python writes it
    (``\\r``, ``\\n``, ``\\x1b``, ``\\x9b``): a peer's text cannot split a line in two, write
    over it, or send the terminal showing it an escape sequence (``ESC [ 2 J`` clears it)."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def one_line(error: BaseException) -> str:
    """``error``'s message on one line (each run of white space one space), or its class's
    name when it says nothing: a reason for a log line or a run's record."""
    return " ".join(str(error).split()) or type(error).__name__
