"""A one-off harvest into the catalogue from the command line (``koprik sru --import``,
``koprik z3950 --import``): the catalogue opened for it, a progress bar, the deduplication
queue worked through after it (as ``koprik import`` does), the summaries and the rejects
printed, the exit status."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from catalog import Catalog
from catalog.dedup import DedupReport, run_dedup
from config import Settings
from harvester.ingest import Counts, Unmapped
from koprik.progress import Progress

SOURCE_NAME_LENGTH = 100
"""Longest source name the catalogue keeps (its ``sources.name`` column)."""

Report = Callable[[int, int], None]
"""Told the records done so far and how many there are."""


class _Result(Protocol):
    @property
    def counts(self) -> Counts: ...

    @property
    def rejects(self) -> list[str]: ...

    @property
    def unmapped(self) -> Unmapped: ...


R = TypeVar("R", bound=_Result)


@dataclass
class Done(Generic[R]):
    """What a one-off harvest did: its result, and the deduplication after it."""

    result: R
    deduplicated: DedupReport


def harvest_once(
    settings: Settings,
    where: str,
    harvest: Callable[[Catalog, Report], Awaitable[R]],
    *,
    most: int | None = None,
) -> Done[R]:
    """Run ``harvest`` on the catalogue ``settings`` name, with a progress bar of at most
    ``most`` records (None: as many as the peer says), then work through the deduplication
    queue."""
    catalog = Catalog.open(settings)
    try:
        with Progress(f"import from {where}", unit="records") as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total if most is None else min(total, most)
                bar.advance(done - bar.count)

            result = asyncio.run(harvest(catalog, progress))
        return Done(result, run_dedup(catalog))
    finally:
        catalog.close()


def reported(done: Done[R], summary: str, command: str) -> int:
    """Print ``summary``, the deduplication's, the line about UNIMARC data with no place in
    MARC21 and each reject (``COMMAND: ...`` on stderr, as a harvest run's record says them);
    the exit status: 1 when some records were rejected."""
    print(summary)
    print(f"dedup: {done.deduplicated.summary()}")
    if (unmapped := done.result.unmapped.line()) is not None:
        print(f"{command}: {unmapped}", file=sys.stderr)
    for reason in done.result.rejects:
        print(f"{command}: rejected {reason}", file=sys.stderr)
    return 1 if done.result.counts.rejected else 0
