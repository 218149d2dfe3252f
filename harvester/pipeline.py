"""A harvest's pages in a pipeline: pages are written while the next ones are fetched and prepared.

Every protocol's page loop (OAI-PMH in :mod:`harvester.runs`, SRU, Z39.50) has the same shape:
an async generator fetches a page and :func:`harvester.ingest.prepare` s it in a thread
(reading the records into MARC21 and starting their derivations); a store step writes prepared
pages in one transaction with whatever must commit with them (the run's counts, where the run
stands: an OAI list's resumption token, a result set's next record position).
:func:`overlapped` runs the two side by side, so the next pages' derivations are made (in the
catalogue's worker processes, or in the preparing thread) while the writer commits, and
neither waits for the other.

>>> await overlapped(pages(), store)   # pages() yields prepared pages; store(pages) writes them

When the writer is the slower side, the pages prepared meanwhile (up to :data:`PAGES_AHEAD`)
are written together, in one transaction: each commit rewrites every page of the search
index's B-tree that its records touched, and a large catalogue's index has a page for most of a
batch's terms. Measured on harvests of 20,000 MARCXML records from Koprik's provider: WAL page
writes 250,395 one page a transaction, 192,671 up to two; in three alternating rounds,
2,495-2,590 records/s one page a transaction, 2,723-2,809 up to two, 2,771-2,860 up to three.

What each loop guarantees is kept: pages are written in order; a page's checks (loops, empty
pages, bounds) run in the generator, so a page that fails them is neither written nor followed
by another request; an error of the next page surfaces only once the pages before are written,
so every page before it stays; a page is committed with the position after it (a run killed
before the commit asks for it again); and a cancelled run finishes writing the pages in
progress before it stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TypeVar

from catalog import Catalog, CatalogWriter
from harvester.ingest import Counts, IngestTarget, Plan, Unmapped, apply

log = logging.getLogger(__name__)

T = TypeVar("T")

OnBatch = Callable[[CatalogWriter, Counts], None]
"""Called inside a page's transaction with its counts: a run log written there commits with
the records (or not at all). It is called again when the transaction is run again
(:meth:`catalog.Catalog.write`): what it changes outside the database waits for the commit
(:meth:`catalog.CatalogWriter.after_commit`)."""

PAGES_AHEAD = 2
"""Pages fetched and prepared ahead while pages are being written, and the most written in one
transaction: a harvest holds at most twice this many pages (and their derivations) at once."""


async def overlapped(
    pages: AsyncGenerator[T, None],
    store: Callable[[list[T]], Awaitable[None]],
    ahead: int = PAGES_AHEAD,
) -> None:
    """``store`` the items of ``pages`` in order, asking ``pages`` for up to ``ahead`` items
    ahead while items are being stored; each call of ``store`` gets the items ready when it is
    made (one at least, ``ahead`` at most), to write together. ``pages`` is closed when this
    returns or raises.

    An error of ``pages`` is raised once the items before it are stored. A cancellation that
    arrives while items are being stored waits for that store to end (its transaction is not
    abandoned half-way by the loop) and is then raised. The item being fetched at that point,
    or when ``store`` raises, is cancelled.
    """
    ready: list[T] = []
    arrived = asyncio.Event()  # cleared by the storing side only, set by the fetching side
    room = asyncio.Event()  # the other way round

    async def produce() -> None:
        while True:
            while len(ready) >= ahead:
                room.clear()
                await room.wait()
            try:
                item = await anext(pages)
            except StopAsyncIteration:
                return
            ready.append(item)
            arrived.set()

    producer = asyncio.ensure_future(produce())
    try:
        while True:
            while not ready:
                if producer.done():
                    producer.result()  # what ended the items is raised (or they ended)
                    return
                arrived.clear()
                waiting = asyncio.ensure_future(arrived.wait())
                try:
                    await asyncio.wait([producer, waiting], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
            group = ready[:]
            ready.clear()
            room.set()  # the next items are fetched while these are stored
            storing = asyncio.ensure_future(store(group))
            try:
                await asyncio.shield(storing)
            except asyncio.CancelledError:
                if not storing.done():
                    await asyncio.wait([storing])  # finish the store in progress, then stop
                if not storing.cancelled():
                    storing.exception()  # retrieved: the cancellation is what is raised
                raise
    finally:
        if not producer.done():
            producer.cancel()
            await asyncio.wait([producer])
        if not producer.cancelled():
            producer.exception()  # what ended the loop is reported, not this one
        await pages.aclose()


def write_pages(
    catalog: Catalog,
    target: IngestTarget,
    pages: Sequence[tuple[Plan, OnBatch | None]],
    reasons: list[str] | None = None,
    unmapped: Unmapped | None = None,
) -> list[Counts]:
    """Write prepared pages in one transaction, each followed there by its ``on_batch`` (with
    its counts); return each page's counts. The rejects' reasons are logged and appended to
    ``reasons`` (when given); UNIMARC data with no place in MARC21 noted in ``unmapped``."""
    found: list[str] = []

    def write(writer: CatalogWriter) -> list[Counts]:
        done: list[Counts] = []
        for plan, on_batch in pages:
            counts = apply(writer, target, plan, found, unmapped)
            if on_batch is not None:
                on_batch(writer, counts)
            done.append(counts)
        return done

    done = catalog.write(write)
    for reason in found:
        log.warning("%s: rejected %s", target.source, reason)
    if reasons is not None:
        reasons.extend(found)
    return done
