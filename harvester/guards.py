"""Guards against partners whose clocks or lists cannot be trusted.

- :func:`own_clock`: a watermark never moves past Koprik's own clock. A responseDate in the
  future (a partner's clock set to 2998) would otherwise become the watermark, and every later
  incremental run would silently get nothing.
- :class:`LoopGuard`: a list that keeps sending records already seen in the same list is a
  loop, whatever its resumption tokens say (tokens whose text changes on every page would
  otherwise be followed forever).
- :class:`FutureDatestamps`: records dated after our clock are counted for the run's record.
- :class:`ListSize`: a list whose last, empty, resumption token says it held more records than
  it sent ended short (its partner lost the rest, or counts records it does not serve), which
  a list ended by any empty token would otherwise hide: the watermark would move past the
  records never sent. The :class:`Shortfall` says by how much.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from harvester import dates
from harvester.faults import ListLoop, quoted

CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of ours a partner's clock may be before it is reported (it is never used)."""
_SECONDS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
"""The start of a seconds datestamp written in full, in ASCII digits (as text, in time order)."""


def now() -> datetime:
    """Koprik's clock, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def own_clock(said: str, clock: datetime) -> tuple[str, str | None]:
    """The date a run may take as its start: the partner's responseDate ``said`` unless it is
    unreadable or after ``clock`` (ours), then ``clock``. Returns it (seconds granularity,
    written as Koprik writes datestamps: a responseDate may carry a fraction of a second of any
    length) and the fault to record, if any."""
    mine = dates.render(clock, dates.SECONDS)
    try:
        theirs = dates.parse(said)
    except ValueError:
        return mine, f"bad-response-date: responseDate {said[:40]!r} is not a datestamp; " \
            f"our clock ({mine}) is used"
    if theirs <= clock:
        return dates.render(theirs, dates.SECONDS), None
    if theirs - clock <= CLOCK_SKEW:
        return mine, None
    return mine, f"future-response-date: responseDate {quoted(said)} is after our clock " \
        f"({mine}); the watermark uses our clock"


@dataclass
class LoopGuard:
    """Pages of one list, watched for ``limit`` pages in a row of records already seen in it.

    Identifiers are kept as their hashes (a set of integers): a list of a million records
    costs some tens of MiB, which a harvest of that size spends on pages anyway.
    """

    limit: int
    seen: set[int] = field(default_factory=set)
    repeated: int = 0

    def page(self, identifiers: Iterable[Hashable]) -> None:
        """Note one page's identifiers (or, for records without one, their bytes); raises
        :class:`ListLoop` when the list goes round."""
        keys = {hash(identifier) for identifier in identifiers if identifier}
        if keys and keys <= self.seen:
            self.repeated += 1
            if self.repeated >= self.limit:
                raise ListLoop(
                    f"{self.repeated} pages in a row held only records already seen in this "
                    "list (loop_pages)"
                )
        else:
            self.repeated = 0
        self.seen |= keys


@dataclass
class FutureDatestamps:
    """Records whose datestamp is after our clock (beyond :data:`CLOCK_SKEW`)."""

    count: int = 0
    example: str = ""

    def check(self, datestamps: Iterable[str | None], clock: datetime) -> None:
        # Most datestamps are written in full in ASCII digits and are in the past: compared as
        # text with the horizon (our clock and the skew, written so), they need no parsing.
        horizon = dates.render(clock + CLOCK_SKEW, dates.SECONDS)[:19]
        for datestamp in datestamps:
            if not datestamp or (
                _SECONDS.match(datestamp) is not None and datestamp[:19] <= horizon
            ):
                continue
            try:
                moment = dates.parse(datestamp)
            except ValueError:
                continue
            if moment - clock > CLOCK_SKEW:
                self.count += 1
                self.example = self.example or datestamp

    def fault(self) -> str | None:
        """The line for the run's record, or None when every datestamp was in the past."""
        if not self.count:
            return None
        return f"future-datestamps: {self.count} record(s) dated after our clock " \
            f"(e.g. {quoted(self.example)})"


@dataclass
class ListSize:
    """The entries of one list, held against the last ``completeListSize`` its resumption
    tokens announced.

    The entries the list delivered are the last ``cursor`` a token gave (the entries before
    its page) and the entries of the pages since, or the entries counted here (``seen``) if
    more: records and deletions alike, both being entries of the list. Partners count
    ``completeListSize`` approximately, so only a shortfall is a fault, never an excess. A
    list ended by noRecordsMatch answered to a token (it has no last token) is held against
    what the tokens before announced; a list whose tokens announced nothing says nothing.
    """

    seen: int | None = 0
    """Entries of the list seen so far; None for a list taken up at a token (a resumed run),
    whose first pages were not seen."""
    reached: int | None = None
    """Entries delivered by the last page whose token gave a cursor, and by the pages since;
    for a resumed list, from the entries the interrupted run had (:attr:`delivered`)."""
    announced: int | None = None
    """The last completeListSize a token of the list gave."""

    def page(
        self, entries: int, token: str | None, cursor: int | None, size: int | None
    ) -> Shortfall | None:
        """Note a page of ``entries`` with its resumption ``token``, ``cursor`` and
        completeListSize (``size``); at the end of the list (``token`` None), its shortfall if
        it delivered fewer than announced, else None."""
        if self.seen is not None:
            self.seen += entries
        if cursor is not None:
            self.reached = cursor + entries
        elif self.reached is not None:
            self.reached += entries
        if size is not None:
            self.announced = size
        if token is not None or self.announced is None:
            return None
        delivered = self.delivered
        if delivered is None or delivered >= self.announced:
            return None
        return Shortfall(delivered, self.announced)

    @property
    def delivered(self) -> int | None:
        """The entries the list delivered so far, None when not known (a resumed list of a
        partner giving no cursor, whose interrupted run did not know them either). Saved with
        the list's token, so that a run resuming it goes on counting."""
        counts = [n for n in (self.seen, self.reached) if n is not None]
        return max(counts) if counts else None


@dataclass(frozen=True)
class Shortfall:
    """A list that ended at ``delivered`` of the ``announced`` entries of its last
    completeListSize."""

    delivered: int
    announced: int

    @property
    def missing(self) -> int:
        return self.announced - self.delivered

    def __str__(self) -> str:
        return f"the list ended at {self.delivered} of the {self.announced} records its " \
            "completeListSize announced"
