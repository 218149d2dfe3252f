"""A harvest of an SRU source: its CQL query, paged by startRecord, ingested like every record.

>>> result = await harvest_sru(source, catalog, politeness)     # source.protocol == "sru"
>>> result.counts.added, result.hits, result.requests

The source (:class:`config.HarvestSource`) gives the server's base URL as ``url`` (which may pin
parameters such as ``?version=1.1``, see :mod:`harvester.sru_client`), the CQL query as
``query`` and the record schema as ``prefix``: ``marcxml`` (``marc21`` and an empty prefix mean
the same, or ``dc`` when the server offers no MARCXML) or ``dc`` (Dublin Core, crosswalked into
MARC21 on the way in).

Semantics, as for Z39.50 sources (:mod:`harvester.z3950_harvest`):

- **Idempotent upsert** through the one ingest path (:mod:`harvester.ingest`): each
  record is stored by ``(source.name, identifier)``, the identifier being the record's
  ``recordIdentifier`` if the server sends one, else its 001, else a digest of its payload. A
  second run over the same server changes nothing. A MARCXML record's 001 is found without
  reading it (:func:`harvester.harvested.marcxml_identifier`), so that it is read where the
  catalogue derives it (in its worker processes for a large page).
- **Pages commit with the run's log** (``on_batch``), those ready together in one
  transaction. While pages are written, the next ones are fetched and prepared
  (:mod:`harvester.pipeline`).
- **Not incremental, no deletions**: SRU has no datestamps; every run asks for the whole result
  set; a record missing from a run's results is never deleted.
- **Resumable** (given a :class:`harvester.resumption.ResultSetResume`): each page commits with
  the next record position, the query and the hits, so a run after a killed one asks from the
  saved position (startRecord) if the server still reports the same hits, else from record 1;
  a server that refuses the saved position (a diagnostic) is asked from record 1 too. A saved
  position past the hits (the killed run followed a nextRecordPosition past them) is asked
  for when the server, asked at its last hit, still points past it; otherwise nothing is left.
- **Faults** are handled like an OAI source's: resets, 5xx, 503/429 with Retry-After and
  truncated XML are retried under the source's politeness; a record that cannot be used is a
  reject with its bytes; a page of records already seen (``loop_pages`` pages in a row), a
  ``nextRecordPosition`` that does not move forward, or a page without records before the
  end of the results ends the harvest with the reason. Pages committed before stay. A
  ``nextRecordPosition`` past the records a page sent is not followed: the records between
  are asked for next (the fault is in the run's record). One past ``numberOfRecords`` is
  followed, within the same guards: a server may count fewer records than it serves, and
  it says there are more.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from catalog import Catalog
from catalog.store import PARALLEL_BATCH
from config import HarvestSettings, HarvestSource, LimitSettings
from harvester.faults import Event, HarvestError, ListLoop, quoted
from harvester.guards import LoopGuard
from harvester.harvested import Harvested
from harvester.http_fetch import Politeness
from harvester.ingest import Counts, IngestTarget, Plan, Unmapped, prepare
from harvester.pipeline import OnBatch, overlapped, write_pages
from harvester.resumption import ResultSetResume, saving
from harvester.sru_client import SruClient
from harvester.sru_pages import Explain, SruError, SruPage

DEFAULT_PAGE = PARALLEL_BATCH
"""Records asked for in one searchRetrieve (maximumRecords), stored together: as
many as the catalogue derives in its worker processes (a smaller page is derived in the
harvesting process, beside the writer, which then waits on it). A server that sends fewer per
response is followed by its nextRecordPosition."""
MARCXML = "marcxml"
DC = "dc"
SCHEMAS = {"": MARCXML, "marc21": MARCXML, MARCXML: MARCXML, DC: DC}
"""A source's ``prefix`` -> the recordSchema asked for."""

Progress = Callable[[int, int], None]
"""Called after each committed page with (the position reached in the result set, hits)."""


class SruHarvestError(HarvestError):
    """An SRU harvest that could not be run or finished (the message says why)."""


@dataclass
class SruHarvestResult:
    """What one harvest did: catalogue outcomes, the query's hits, requests sent, the version
    and record schema used, the rejects' reasons, the records stored with UNIMARC data that had
    no place in MARC21."""

    counts: Counts = field(default_factory=Counts)
    hits: int = 0
    requests: int = 0
    version: str = ""
    schema: str = ""
    rejects: list[str] = field(default_factory=list)
    unmapped: Unmapped = field(default_factory=Unmapped)


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
        f"the server offers no {wanted!r} records (it offers "
        f"{quoted(', '.join(sorted(offered)))})"
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
    resume: ResultSetResume | None = None,
) -> SruHarvestResult:
    """Harvest ``source`` into ``catalog`` now; see the module docstring.

    ``result`` is counted into as the harvest goes (None: a new one), so a caller sees the
    counts after a failure too. ``client`` lets a caller see the client's events (it must not
    be entered yet). ``limit`` caps the records asked for (``koprik sru --import --max``).
    ``resume`` (a run's) says where to start and saves the position with each page.
    Raises :class:`HarvestError` with the reason (ValueError for a negative ``limit``).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit {limit} must not be negative")
    result = SruHarvestResult() if result is None else result
    target = IngestTarget.of(source, source.url, run_id, max_record_bytes, once=True)
    client = client or SruClient(source.url, politeness)
    async with client:
        try:
            explain = await client.explain()
            result.schema = record_schema(source.prefix, explain)
            result.version = client.version or ""
            await _pages(client, source.query, catalog, target, page_size, loop_pages,
                         on_batch, progress, result, limit, resume)
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
    resume: ResultSetResume | None = None,
) -> None:
    """Ask for the results page after page from position 1 or where ``resume`` says (up to
    ``limit`` records), storing each while the next one is fetched and prepared
    (:mod:`harvester.pipeline`)."""

    async def pages() -> AsyncGenerator[tuple[SruPage, Plan, int], None]:
        loop = LoopGuard(loop_pages)
        start = resume.first if resume is not None else 1
        # the first answer tells whether a saved position still holds
        deciding = resume is not None and resume.saved is not None
        while True:
            maximum = page_size if limit is None else min(page_size, limit - start + 1)
            try:
                page = await client.search(query, result.schema, start=start, maximum=maximum)
            except SruError as error:
                if not deciding or resume is None:
                    raise
                resume.refused(str(error))
                deciding, start = False, 1
                continue
            result.requests = client.requests
            result.hits = page.hits
            if deciding and resume is not None:
                deciding = False
                further = page.next_position is not None
                chosen = resume.start(page.hits, further)
                if chosen > page.hits and not further:
                    return  # the killed run had stored every record
                if chosen != start:
                    start = chosen
                    continue
            if limit is not None and start > limit:
                return
            if not page.records:
                if start > page.hits:
                    return
                raise SruHarvestError(
                    f"searchRetrieve at {start} of {page.hits} returned no records"
                )
            following = _following(client, page, start)  # (those past maximum are dropped)
            loop.page(record.key for record in page.records)
            if following <= start:
                raise ListLoop(f"nextRecordPosition {following} does not move on from {start}")
            yield page, await asyncio.to_thread(prepare, catalog, target, _items(page)), following
            more = following <= page.hits or page.next_position is not None
            if not more or (limit is not None and following > limit):
                return
            start = following

    async def store(items: list[tuple[SruPage, Plan, int]]) -> None:
        written = [(plan, saving(on_batch, resume, following, page.hits))
                   for page, plan, following in items]
        stored = await asyncio.to_thread(write_pages, catalog, target, written, result.rejects,
                                         result.unmapped)
        for (page, _, following), counts in zip(items, stored, strict=True):
            result.counts.add(counts)
            if progress is not None:
                progress(following - 1, page.hits)  # the position reached

    await overlapped(pages(), store)


def _following(client: SruClient, page: SruPage, start: int) -> int:
    """The position to ask for after ``page`` (asked from ``start``): its nextRecordPosition,
    but never past its last record. A server that points further (it sent fewer records than
    it counted on) would have the records between skipped; the fault is recorded."""
    sent = start + len(page.records)
    if page.next_position is None or page.next_position <= sent:
        return page.next_position or sent
    client.events.append(Event("next-position", f"nextRecordPosition {page.next_position} "
                               f"after {len(page.records)} records from {start}; {sent} is "
                               "asked for next"))
    return sent


def _items(page: SruPage) -> list[Harvested]:
    """The page's records as ingest takes them, dated now (SRU records carry no datestamp)."""
    datestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    items = [record.harvested() for record in page.records]
    for item in items:
        item.datestamp = datestamp
    return items
