"""A harvest of an SRU source: its CQL query, paged by startRecord, ingested like every record.

>>> result = await harvest_sru(source, catalog, politeness)     # source.protocol == "sru"
>>> result.counts.added, result.hits, result.requests

The source (:class:`config.HarvestSource`) gives the server's base URL as ``url`` (which may pin
parameters such as ``?version=1.1``, see :mod:`harvester.sru_client`), the CQL query as
``query`` and the record schema as ``prefix``: ``marcxml`` (``marc21`` and an empty prefix mean
the same, or ``dc`` when the server offers no MARCXML) or ``dc`` (Dublin Core, crosswalked into
MARC21 on the way in).

Semantics, as for Z39.50 sources (:mod:`harvester.z3950_harvest`):

- **Idempotent upsert** through the one ingest path (:func:`harvester.ingest.ingest`): each
  record is stored by ``(source.name, identifier)``, the identifier being the record's
  ``recordIdentifier`` if the server sends one, else its 001, else a digest of its payload. A
  second run over the same server changes nothing.
- **One transaction per page**; the run's log is written in it (``on_batch``).
- **Not incremental, no deletions**: SRU has no datestamps; every run asks for the whole result
  set; a record missing from a run's results is never deleted.
- **Faults** are handled like an OAI source's: resets, 5xx, 503/429 with Retry-After and
  truncated XML are retried under the source's politeness; a record that cannot be used is a
  reject with its bytes; a page of records already seen (``loop_pages`` pages in a row), a
  ``nextRecordPosition`` that does not move forward, or a page without records before the
  end of the results ends the harvest with the reason. Pages committed before stay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from catalog import Catalog, CatalogWriter
from config import HarvestSettings, HarvestSource, LimitSettings
from harvester.faults import HarvestError, ListLoop
from harvester.guards import LoopGuard
from harvester.http_fetch import Politeness
from harvester.ingest import Counts, IngestTarget, ingest
from harvester.sru_client import SruClient
from harvester.sru_pages import Explain, SruPage

log = logging.getLogger(__name__)

DEFAULT_PAGE = 50
"""Records asked for in one searchRetrieve (maximumRecords), stored in one transaction."""
MARCXML = "marcxml"
DC = "dc"
SCHEMAS = {"": MARCXML, "marc21": MARCXML, MARCXML: MARCXML, DC: DC}
"""A source's ``prefix`` -> the recordSchema asked for."""

Progress = Callable[[int, int], None]
"""Called after each committed page with (records ingested so far, hits)."""
OnBatch = Callable[[CatalogWriter, Counts], None]
"""Called inside each page's transaction with its counts."""


class SruHarvestError(HarvestError):
    """An SRU harvest that could not be run or finished (the message says why)."""


@dataclass
class SruHarvestResult:
    """What one harvest did: catalogue outcomes, the query's hits, requests sent, the version
    and record schema used, the rejects' reasons."""

    counts: Counts = field(default_factory=Counts)
    hits: int = 0
    requests: int = 0
    version: str = ""
    schema: str = ""
    rejects: list[str] = field(default_factory=list)


def record_schema(prefix: str, explain: Explain) -> str:
    """The recordSchema for a source's ``prefix``, checked against what explain offers.

    An empty prefix (or ``marc21``) takes MARCXML, else Dublin Core when only that is offered.
    Raises SruHarvestError when the server lists its schemas and the one wanted is not there.
    """
    if prefix not in SCHEMAS:
        raise SruHarvestError(f"record schema {prefix!r}: expected marcxml or dc")
    wanted = SCHEMAS[prefix]
    offered = explain.schemas
    if not offered or wanted in offered:
        return wanted
    if prefix in ("", "marc21") and DC in offered:
        return DC
    raise SruHarvestError(
        f"the server offers no {wanted!r} records (it offers {', '.join(sorted(offered))})"
    )


async def harvest_sru(
    source: HarvestSource,
    catalog: Catalog,
    politeness: Politeness,
    *,
    page_size: int = DEFAULT_PAGE,
    run_id: int | None = None,
    on_batch: OnBatch | None = None,
    progress: Progress | None = None,
    result: SruHarvestResult | None = None,
    loop_pages: int = HarvestSettings.loop_pages,
    max_record_bytes: int = LimitSettings.max_record_bytes,
    client: SruClient | None = None,
    limit: int | None = None,
) -> SruHarvestResult:
    """Harvest ``source`` into ``catalog`` now; see the module docstring.

    ``result`` is counted into as the harvest goes (None: a new one), so a caller sees the
    counts after a failure too. ``client`` lets a caller see the client's events (it must not
    be entered yet). ``limit`` caps the records asked for (``koprik sru --import --max``).
    Raises :class:`HarvestError` with the reason (ValueError for a negative ``limit``).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit {limit} must not be negative")
    result = SruHarvestResult() if result is None else result
    target = IngestTarget(source.name, source.url, run_id, max_record_bytes)
    client = client or SruClient(source.url, politeness)
    async with client:
        try:
            explain = await client.explain()
            result.schema = record_schema(source.prefix, explain)
            result.version = client.version or ""
            await _pages(client, source.query, catalog, target, page_size, loop_pages,
                         on_batch, progress, result, limit)
        finally:
            result.requests = client.requests
    return result


async def _pages(
    client: SruClient,
    query: str,
    catalog: Catalog,
    target: IngestTarget,
    page_size: int,
    loop_pages: int,
    on_batch: OnBatch | None,
    progress: Progress | None,
    result: SruHarvestResult,
    limit: int | None = None,
) -> None:
    """Ask for the results page after page from position 1 (up to ``limit`` records),
    storing each while the next one is on its way."""
    loop = LoopGuard(loop_pages)
    start, done = 1, 0

    def ask(position: int) -> asyncio.Future[SruPage]:
        maximum = page_size if limit is None else min(page_size, limit - position + 1)
        return asyncio.ensure_future(
            client.search(query, result.schema, start=position, maximum=maximum)
        )

    pending: asyncio.Future[SruPage] | None = ask(start)
    try:
        while pending is not None:
            page = await pending
            pending = None
            result.requests = client.requests
            result.hits = page.hits
            if start > page.hits or (limit is not None and start > limit):
                return
            if not page.records:
                raise SruHarvestError(
                    f"searchRetrieve at {start} of {page.hits} returned no records"
                )
            if limit is not None:  # a server may send more than maximumRecords
                del page.records[limit - start + 1 :]
            loop.page(record.key for record in page.records)
            following = page.next_position or start + len(page.records)
            if following <= start:
                raise ListLoop(f"nextRecordPosition {following} does not move on from {start}")
            more = following <= page.hits or page.next_position is not None
            if more and (limit is None or following <= limit):
                pending = ask(following)
            counts = await asyncio.to_thread(
                _store, catalog, target, page, on_batch, result.rejects
            )
            result.counts.add(counts)
            done += len(page.records)
            if progress is not None:
                progress(done, page.hits)
            start = following
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.wait([pending])


def _store(
    catalog: Catalog,
    target: IngestTarget,
    page: SruPage,
    on_batch: OnBatch | None,
    reasons: list[str],
) -> Counts:
    """One page in one transaction, through the one ingest path."""
    datestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    items = [record.harvested() for record in page.records]
    for item in items:
        item.datestamp = datestamp
    before = len(reasons)
    with catalog.writer() as writer:
        counts = ingest(writer, target, items, reasons)
        if on_batch is not None:
            on_batch(writer, counts)
    for reason in reasons[before:]:
        log.warning("%s: rejected %s", target.source, reason)
    return counts
