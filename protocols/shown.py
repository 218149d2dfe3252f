"""A peer's own text (a diagnostic's addinfo, an error message, a client's search term) shown
on one line of a log, a run's record or a terminal."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escaped_controls(text: str) -> str:
    """``text`` with each control character (C0, DEL and C1) written as Python writes it
    (``\\r``, ``\\n``, ``\\x1b``, ``\\x9b``): a peer's text cannot split a line in two, write
    over it, or send the terminal showing it an escape sequence (``ESC [ 2 J`` clears it)."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def one_line(error: BaseException) -> str:
    """``error``'s message on one line (each run of white space one space), or its class's
    name when it says nothing: a reason for a log line or a run's record."""
    return " ".join(str(error).split()) or type(error).__name__
