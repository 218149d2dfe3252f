"""Checks of options that several commands share, made when the command runs (they need modules
that the command line alone does not load: :mod:`koprik.cli`); each refuses a value with a
:class:`koprik.errors.UserError` naming the option, one line and exit status 2."""

from __future__ import annotations

from crosswalks import charsets
from koprik.errors import UserError
from protocols.oaipmh import BadArgument, parse_datestamp, parse_range


def checked_date_range(from_: str | None, until: str | None) -> tuple[int | None, int | None]:
    """The inclusive bounds in epoch seconds of ``--from`` and ``--until`` (UTC, a day or
    ``YYYY-MM-DDThh:mm:ssZ``, as OAI-PMH has them: :func:`protocols.oaipmh.parse_range`), None
    for one not given. Refused: a value that is no such date, a day beside a time (mixed
    granularity), and a ``--from`` later than ``--until`` (``koprik harvest`` sent those to the
    partner, and recorded the run partial on its badArgument)."""
    try:
        for option, value in (("--from", from_), ("--until", until)):
            if value is not None:
                parse_datestamp(value, option)  # so that the message names the option
    except BadArgument as error:
        raise UserError(str(error)) from None
    try:
        return parse_range(from_, until)
    except BadArgument as error:  # OAI-PMH's words ("from is later than until"): name ours
        raise UserError(f"--from {from_} --until {until}: {error}") from None


def checked_charset(name: str | None) -> str | None:
    """The :mod:`crosswalks.charsets` label of the set ``--charset`` names (``KOI8-R``:
    ``koi8-r``), None when not given; a set records cannot be read in is refused (``koprik
    z3950`` without ``--import`` proposed any name to the target)."""
    if name is None:
        return None
    try:
        return charsets.charset_name(name)
    except ValueError as error:
        raise UserError(f"--charset: {error}") from None
