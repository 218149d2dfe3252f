"""What can go wrong with a partner, whatever its protocol: the harvest's errors and events.

A :class:`HarvestError` ends a request for good (after the retries the politeness policy
allows); an :class:`Event` is a fault met and handled (or given up on), kept for the run's
record. OAI-PMH, SRU and Z39.50 clients raise these (or subclasses), so a run treats every
protocol's faults alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.shown import clipped, escaped_controls

MAX_QUOTED = 500
"""Most characters of a partner's own text (an error's message, a value it sent) a fault
quotes: a partner may send megabytes of it, and a run may repeat the line (a window halved
some 30 times)."""


def quoted(text: str) -> str:
    """``text`` from a partner as a fault quotes it: its first :data:`MAX_QUOTED` characters,
    and how many more there were, on one line (:func:`~protocols.shown.escaped_controls`: a
    target's addinfo reached the run's record, ``koprik runs`` and the terminal as it came,
    escape sequences and line breaks included)."""
    return escaped_controls(clipped(text, MAX_QUOTED))


class HarvestError(Exception):
    """A request that failed for good (after the retries the politeness policy allows)."""


class MalformedResponse(HarvestError):
    """A response that is not a usable document, even record by record.

    ``raw`` holds the response's bytes when there were any, to be kept as a reject.
    """

    def __init__(self, message: str, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw


class ResponseTooLarge(HarvestError):
    """A response body past a size bound (on the wire or once decompressed): a bomb, an
    endless body, or a page too large for the settings. Asking again would bring the same."""


class Unavailable(HarvestError):
    """A partner not there to answer: 503 or 429 still answered after the retries, or no
    connection at all (refused, host not found). Unlike a timeout or a 500, which a smaller
    request may get past, no smaller request can help: a run stops at once."""


class ListLoop(HarvestError):
    """A list that goes round: a token that comes back, or pages of records already seen."""


@dataclass
class Event:
    """A fault the client met and handled (or gave up on); kept for the run's record."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"
