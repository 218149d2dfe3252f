"""Types of command-line options that several commands share (argparse ``type=``)."""

from __future__ import annotations

import argparse
import math
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
