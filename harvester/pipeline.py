"""A harvest's pages in a pipeline: page N is written while page N+1 is fetched and prepared.

Every protocol's page loop (OAI-PMH in :mod:`harvester.runs`, SRU, Z39.50) has the same shape:
an async generator fetches a page and :func:`harvester.ingest.prepare` s it in a thread
(reading the records into MARC21 and starting their derivations); a store step writes a
prepared page in one transaction with whatever must commit with it (the run's counts, where
the run stands: an OAI list's resumption token, a result set's next record position).
:func:`overlapped` runs the two side by side, so the next page's derivations are made (in the
catalogue's worker processes, or in the preparing thread) while the writer commits this page,
and neither waits for the other.

>>> await overlapped(pages(), store)   # pages() yields prepared pages; store(page) writes one

What each loop guarantees is kept: pages are written one at a time and in order; a page's
checks (loops, empty pages, bounds) run in the generator, so a page that fails them is neither
written nor followed by another request; an error of the next page surfaces only once the page
before is written, so every page before it stays; and a cancelled run finishes writing the
page in progress before it stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

from catalog import Catalog, CatalogWriter
from harvester.ingest import Counts, IngestTarget, Plan, apply

log = logging.getLogger(__name__)

T = TypeVar("T")

OnBatch = Callable[[CatalogWriter, Counts], None]
"""Called inside each page's transaction with its counts: a run log written there commits
with the records (or not at all)."""


async def overlapped(pages: AsyncGenerator[T, None], store: Callable[[T], Awaitable[None]]) -> None:
    """``store`` each item of ``pages`` in order, asking ``pages`` for the next item while the
    item before is being stored; ``pages`` is closed when this returns or raises.

    A cancellation that arrives while an item is being stored waits for that store to end
    (its transaction is not abandoned half-way by the loop) and is then raised. The next item
    being fetched at that point, or when ``store`` raises, is cancelled.
    """
    pending: asyncio.Future[T] | None = None
    try:
        pending = asyncio.ensure_future(anext(pages))
        while True:
            try:
                item = await pending
            except StopAsyncIteration:
                pending = None
                return
            pending = asyncio.ensure_future(anext(pages))
            storing = asyncio.ensure_future(store(item))
            try:
                await asyncio.shield(storing)
            except asyncio.CancelledError:
                if not storing.done():
                    await asyncio.wait([storing])  # finish the page in progress, then stop
                if not storing.cancelled():
                    storing.exception()  # retrieved: the cancellation is what is raised
                raise
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # what ended the loop is reported, not this one
        await pages.aclose()


def write_page(
    catalog: Catalog,
    target: IngestTarget,
    plan: Plan,
    on_batch: OnBatch | None = None,
    reasons: list[str] | None = None,
) -> Counts:
    """Write one prepared page in one transaction, ``on_batch`` in it; return its counts.
    The rejects' reasons are logged and appended to ``reasons`` (when given)."""
    found: list[str] = []
    with catalog.writer() as writer:
        counts = apply(writer, target, plan, found)
        if on_batch is not None:
            on_batch(writer, counts)
    for reason in found:
        log.warning("%s: rejected %s", target.source, reason)
    if reasons is not None:
        reasons.extend(found)
    return counts
