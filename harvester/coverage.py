"""What an OAI-PMH source's watermark covers: the lists its runs harvested.

The watermark says that everything of the source's lists up to its date is in the catalogue,
but only of the lists harvested: at one endpoint (:func:`harvester.resumption.endpoint_of`,
the protocol, address and format) and of the sets asked for then (none: the whole repository).
A run moves it with what it covers (``harvest_state.watermark_endpoint`` and
``watermark_sets``), and the next incremental run asks from it only the sets it covers: a set
added since (or the whole repository, where only some sets were harvested) is asked from the
start, and every set is once the source was moved to another address or format, where the
watermark of the old one means nothing.

A watermark moved before revision 0010 records neither (both NULL): it is taken as covering
the source as it is now, its sets and its endpoint, so that an upgrade starts no full harvest.

>>> before = Coverage.of(state)              # the source's harvest_state row
>>> before.moved(source)                     # None, or the line saying where it was moved
>>> before.covers(spec, source)              # may this set be asked from the watermark?
>>> specs, line = before.anew(source)         # the sets it does not cover, and why
>>> connection.execute(update(harvest_state)...values(covering(watermark, source, specs)))
>>> coverages(connection)["partner"].anew(source)[1]   # as `koprik sources list` and the
...                                                    # dashboard's sources pages say it
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select

from catalog.harvest_state import harvest_state
from config import HarvestSource
from harvester.resumption import endpoint_of, saved_endpoint

WHOLE = ""
"""``watermark_sets`` of a watermark of the whole repository (a source with no sets)."""


@dataclass(frozen=True)
class Coverage:
    """A source's watermark and what it covers."""

    watermark: str | None
    endpoint: str | None
    """The :func:`endpoint_of` its lists, or None: not recorded (before revision 0010)."""
    sets: frozenset[str] | None
    """The sets harvested (empty: the whole repository), or None: not recorded."""

    @classmethod
    def of(cls, state: Row[Any]) -> Coverage:
        """The coverage saved in a source's ``harvest_state`` row."""
        sets = None if state.watermark_sets is None else frozenset(state.watermark_sets.split())
        return cls(state.watermark, saved_endpoint(state.watermark_endpoint), sets)

    def moved(self, source: HarvestSource) -> str | None:
        """A line saying that ``source`` is no longer asked where the watermark's lists were,
        or None: the same endpoint (or none recorded)."""
        now = endpoint_of(source)
        if self.watermark is None or self.endpoint is None or self.endpoint == now:
            return None
        return f"the watermark {self.watermark} is of {self.endpoint}, the source is now {now}"

    def covers(self, spec: str | None, source: HarvestSource) -> bool:
        """Whether the watermark covers set ``spec`` (None: the whole repository) of ``source``:
        at the endpoint it was moved at, a watermark of the whole repository covers every set,
        one of some sets neither other sets nor the whole repository."""
        if self.watermark is None or self.moved(source) is not None:
            return False
        if self.sets is None or not self.sets:
            return True
        return spec is not None and spec in self.sets

    def anew(self, source: HarvestSource) -> tuple[list[str | None], str | None]:
        """The sets of ``source`` (``[None]``: the whole repository) that an incremental run
        asks from the start, the watermark not covering them, and the line saying why (None:
        it covers every one, or there is no watermark)."""
        if self.watermark is None:
            return [], None
        specs: list[str | None] = list(source.sets) or [None]
        if (elsewhere := self.moved(source)) is not None:
            return specs, f"{elsewhere}: {described(specs)} harvested from the start"
        anew = [spec for spec in specs if not self.covers(spec, source)]
        if not anew:
            return [], None
        covered = described(sorted(self.sets or ()))  # some sets: only those leave some out
        return anew, f"the watermark {self.watermark} covers {covered}, not {described(anew)}: " \
            "harvested from the start"  # fmt: skip


NOTHING = Coverage(None, None, None)
"""The coverage of a source never harvested (or removed and added again): no watermark."""


def coverages(connection: Connection) -> dict[str, Coverage]:
    """Every source's saved coverage, by source name; a source without a row has none
    (:data:`NOTHING`). What :meth:`Coverage.anew` says of each is what ``koprik sources list``
    and the dashboard's sources pages show about the source's next run."""
    return {row.source: Coverage.of(row) for row in connection.execute(select(harvest_state))}


def coverage_of(connection: Connection, source: str) -> Coverage:
    """The saved coverage of ``source`` alone (:func:`coverages`), read from its row."""
    row = connection.execute(select(harvest_state).where(harvest_state.c.source == source)).first()
    return NOTHING if row is None else Coverage.of(row)


def described(specs: Iterable[str | None]) -> str:
    """``set a``, ``sets a, b`` or ``the whole repository`` (``[None]``)."""
    named = [spec for spec in specs if spec is not None]
    if not named:
        return "the whole repository"
    return f"set{'s' if len(named) > 1 else ''} {', '.join(named)}"


def covering(watermark: str, source: HarvestSource, specs: Iterable[str | None]) -> dict[str, str]:
    """The ``harvest_state`` values of ``watermark`` covering sets ``specs`` (``[None]``: the
    whole repository) of ``source`` at its endpoint now."""
    named = [spec for spec in specs if spec is not None]
    return {
        "watermark": watermark,
        "watermark_endpoint": endpoint_of(source),
        "watermark_sets": " ".join(named) if named else WHOLE,
    }
