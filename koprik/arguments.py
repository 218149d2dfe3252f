"""Command-line options that several commands share: their types (argparse ``type=``) and
those of the commands that fetch records from a server (:func:`add_fetching`)."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable


def seconds(text: str) -> float:
    """A positive, finite number of seconds (``--timeout``): ``0``, ``-1``, ``nan`` or ``inf``
    would make every request fail at once, or wait for ever."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def whole_number(minimum: int, maximum: int) -> Callable[[str], int]:
    """The type of an option taking a whole number from ``minimum`` to ``maximum``
    (``--records``, ``--limit``): a number past what the catalogue holds was a traceback."""

    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {minimum} to {maximum}, got {value}"
            )
        return value

    return number


def file_to_write(text: str) -> str:
    """The name of a file to write, as given (``-``: standard output; ``./-``: a file named
    ``-``). A name whose last part is empty, ``.`` or ``..`` (``new/``, ``new/.``) names a
    folder, existing or not: ``Path`` drops that part, and ``koprik backup new/`` wrote a file
    ``new``."""
    if not text:
        raise argparse.ArgumentTypeError("an empty name; name a file to write")
    if os.path.basename(text) in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"{text}: names a folder; name a file to write")
    return text


def name(text: str) -> str:
    """A name that is not empty (a source's): ``koprik runs ''`` listed every run, as if no
    source had been named."""
    if not text:
        raise argparse.ArgumentTypeError("an empty name")
    return text


def add_fetching(parser: argparse.ArgumentParser, import_help: str) -> None:
    """The options of a command fetching records from a server (``koprik sru``, ``koprik
    z3950``): the time a request may take, and where the records go, ``import_help`` saying
    what ``--import`` puts into the catalogue."""
    parser.add_argument("--timeout", type=seconds, default=30.0, help="seconds per request")
    parser.add_argument("-o", "--output", type=file_to_write,
                        help="write the records to this file, whole (-: standard output)")
    parser.add_argument("--import", dest="import_", action="store_true", help=import_help)
