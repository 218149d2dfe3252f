"""A harvest of a Z39.50 source: its PQF query run once, the results presented in batches and
ingested like OAI-PMH records.

>>> result = await harvest_z3950(source, catalog)       # source.protocol == "z3950"
>>> result.counts.added, result.hits, result.requests

The source (:class:`config.HarvestSource`) gives the target as ``url``
(``z3950://HOST:PORT/DATABASE``, or ``HOST:PORT/DATABASE``; see
:func:`harvester.z3950_records.parse_address`), the PQF query as ``query``, the seconds allowed
per request as ``timeout`` and, as ``charset``, the character set to negotiate and to expect in
records when the target does not agree to one (empty: propose UTF-8 and otherwise detect;
MARC-8 is expected but not proposed: :func:`protocols.z3950.charset.negotiable`; see
:mod:`harvester.z3950_records`). Records are presented in USMARC, element set F; in UNIMARC
when the source's ``crosswalk`` says its records are UNIMARC (they are then converted to
MARC21 as they are ingested: :mod:`harvester.ingest`).

Semantics:

- **Idempotent upsert.** Each record is stored by ``(source.name, identifier)``, the identifier
  being its 001 (:func:`harvester.harvested.identifier_of`), with its provenance and the
  bytes as sent. A second run over the same target changes nothing: every record is unchanged.
  The 001 is found in the record's directory (:func:`harvester.harvested.usmarc_identifier`),
  so that the record is decoded where the catalogue derives it (in its worker processes for a
  large batch); a record whose 001 cannot be told so is decoded here.
- **One transaction per batch**, committed while the next batch is being presented and
  prepared (:mod:`harvester.pipeline`).
- **Not incremental, no deletions.** Z39.50 has no datestamps: every run presents the whole
  result set, and unchanged records cost one digest comparison. A record missing from a run's
  results is never deleted here (DESIGN.md: deletions are never inferred from absence).
- **Resumable** (given a :class:`harvester.resumption.ResultSetResume`): each batch commits
  with the next record position, the query and the hits, so a run after a killed one searches
  again and presents from the saved position if the target reports the same hits, else from
  record 1.
- **Rejects.** A record that cannot be decoded, is not valid MARC21, or that the target replaced
  by a surrogate diagnostic goes to ``harvest_rejects`` with its bytes and the reason, through
  the ingest path every protocol shares (:mod:`harvester.ingest`); the harvest goes on.
- **Failures.** A target that cannot be reached, refuses the search, times out, ends the
  association or answers what Z39.50 has no room for (a negative hit count, a Present answered
  with no records and no diagnostic: :class:`harvester.z3950_origin.Z3950Client`) raises
  :class:`Z3950HarvestError` (a :class:`harvester.oai_client.HarvestError`) with a one-line
  reason; batches committed before the failure stay.
- **Retries.** A Present whose association is lost (the connection dropped, the target closed
  it, or the request timed out) is asked again, up to the politeness's ``retries`` times after
  its backoff, on a new association searched again: from the same position if the target
  reports the same hits, else the harvest fails (the next run starts from record 1). Each
  retry is one of the result's ``events``.
- **Answers too large.** A Present whose answer is larger than the origin reads
  (:data:`harvester.z3950_origin.MAX_PDU_BYTES`), or of more BER values than it decodes
  (:data:`~harvester.z3950_origin.MAX_PDU_VALUES`), is asked again in halves, on a new
  association searched again, down to one record
  (:func:`harvester.z3950_origin.present_in_halves`); a record too large alone is a reject,
  and the harvest goes on, up to
  :data:`~harvester.z3950_origin.MOST_TOO_LARGE_IN_A_ROW` of them in a row (then it fails).
  An association replaced is closed at once.
- **Politeness** (given a :class:`harvester.http_fetch.Politeness`, a run's): Init, Search and
  each Present wait their turn at the host, ``delay`` seconds after the previous request to it
  ended, as an OAI-PMH or SRU source's requests do (:func:`harvester.http_fetch.host_turn`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from catalog import Catalog, RecordError
from catalog.store import PARALLEL_BATCH
from config import HarvestSettings, HarvestSource, LimitSettings
from crosswalks import iso2709
from harvester.faults import Event, HarvestError
from harvester.guards import LoopGuard
from harvester.harvested import Harvested, identifier_of, usmarc_identifier
from harvester.http_fetch import MAX_EVENTS, Politeness
from harvester.ingest import Counts, IngestTarget, Plan, Unmapped, prepare
from harvester.pipeline import OnBatch, overlapped, write_pages
from harvester.resumption import ResultSetResume, saving
from harvester.z3950_origin import (
    RetrievedRecord,
    Z3950Client,
    Z3950Closed,
    Z3950Error,
    Z3950TooLarge,
    present_in_halves,
)
from harvester.z3950_records import (
    Z3950Address,
    charset_label,
    decode_usmarc,
    expected_charset,
    marc_syntax,
    parse_address,
)
from protocols.z3950 import oids
from protocols.z3950.pqf import PqfError, parse_pqf

log = logging.getLogger(__name__)

DEFAULT_BATCH = PARALLEL_BATCH
"""Records asked for in one Present request (and stored together): as many as the
catalogue derives in its worker processes (see :data:`harvester.sru_harvest.DEFAULT_PAGE`). A
target that presents fewer is asked for the rest in the next request."""
PROPOSED_CHARSET = "UTF-8"
ELEMENT_SET = "F"

Progress = Callable[[int, int], None]
"""Called after each committed batch with (the position reached in the result set, the last
position to ingest)."""


class Z3950HarvestError(HarvestError):
    """A Z39.50 harvest that could not be run or finished (the message says why)."""


@dataclass
class Z3950HarvestResult:
    """What one harvest did: catalogue outcomes, the search's hit count, requests sent (Init,
    Search and each Present), the character set agreed (None: none), the rejects' reasons, the
    records stored with UNIMARC data that had no place in MARC21."""

    counts: Counts = field(default_factory=Counts)
    hits: int = 0
    requests: int = 0
    charset: str | None = None
    rejects: list[str] = field(default_factory=list)
    unmapped: Unmapped = field(default_factory=Unmapped)
    events: list[Event] = field(default_factory=list)
    """The faults met and retried, for the run's record (:data:`MAX_EVENTS` at most)."""
    events_dropped: int = 0

    def event(self, event: Event) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append(event)
        else:
            self.events_dropped += 1


@dataclass(frozen=True)
class _Plan:
    """A source's definition, checked: where to ask, what, and where the records go."""

    address: Z3950Address
    query: str
    configured: str | None
    """The charset label records are expected in when the target agrees to none."""
    target: IngestTarget
    batch: int
    limit: int | None
    on_batch: OnBatch | None


def _plan(
    source: HarvestSource,
    batch: int,
    limit: int | None,
    run_id: int | None,
    on_batch: OnBatch | None,
    max_record_bytes: int = LimitSettings.max_record_bytes,
) -> _Plan:
    if batch < 1 or (limit is not None and limit < 0):
        raise ValueError(f"batch {batch} must be positive and limit {limit} not negative")
    try:
        address = parse_address(source.url)
        parse_pqf(source.query)
        configured = charset_label(source.charset) if source.charset else None
    except (ValueError, PqfError) as error:
        raise Z3950HarvestError(f"source {source.name}: {error}") from error
    target = IngestTarget.of(source, address.url, run_id, max_record_bytes, once=True)
    return _Plan(address, source.query, configured, target, batch, limit, on_batch)


async def harvest_z3950(
    source: HarvestSource,
    catalog: Catalog,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    limit: int | None = None,
    run_id: int | None = None,
    on_batch: OnBatch | None = None,
    result: Z3950HarvestResult | None = None,
    max_record_bytes: int = LimitSettings.max_record_bytes,
    resume: ResultSetResume | None = None,
    politeness: Politeness | None = None,
    loop_pages: int = HarvestSettings.loop_pages,
) -> Z3950HarvestResult:
    """Harvest ``source`` into ``catalog`` now; see the module docstring.

    ``batch`` records are asked for per Present and stored per transaction; ``limit`` caps the
    records presented (None: all hits); ``run_id`` ties rejects to a row of ``harvest_runs``;
    ``on_batch`` runs in each batch's transaction (see :data:`OnBatch`). ``result`` is the
    result to count into (None: a new one); a caller that passes its own sees the counts so far
    while the harvest runs and after it raises. A record larger than ``max_record_bytes`` is
    a reject. ``resume`` (a run's) says where to start and saves the position with each batch.
    ``politeness`` paces the requests (its ``delay``; None: none). ``loop_pages`` Presents in
    a row of only records already seen end the run (ListLoop): a target that counts 2^63-1
    hits and sends one record on every Present would otherwise never end.
    Returns the result.
    Raises :class:`Z3950HarvestError`, ListLoop (and ValueError for a bad ``batch`` or
    ``limit``).
    """
    plan = _plan(source, batch, limit, run_id, on_batch, max_record_bytes)
    result = Z3950HarvestResult() if result is None else result
    async with _association(plan.address, source, politeness) as client:
        result.requests += 1
        expected = expected_charset(client, plan.configured)
        result.charset = client.charset.charset if client.charset else None

        def sent() -> None:
            result.requests += 1

        async def reopen() -> Z3950Client:
            return await client.searched_again(plan.query, result.hits, sent)

        retries = politeness.retries if politeness is not None else 0
        await _run(client, catalog, plan, expected, progress, result, resume,
                   _Retrying(reopen, retries, politeness), LoopGuard(loop_pages))
    return result


@dataclass(frozen=True)
class _Retrying:
    """How a Present whose association is lost is asked again: on the association ``reopen``
    gives, up to ``retries`` times, after ``politeness``'s backoff."""

    reopen: Callable[[], Awaitable[Z3950Client]]
    retries: int
    politeness: Politeness | None


@dataclass(frozen=True)
class TargetCheck:
    """What :func:`check_target` found: the target's implementation name, the number of hits
    of the source's query, and the character set agreed (None: none)."""

    target_name: str
    hits: int
    charset: str | None


async def check_target(source: HarvestSource) -> TargetCheck:
    """Check that ``source`` can be harvested: connect, search its query, close.

    Raises :class:`Z3950HarvestError` with the reason (target down, Init rejected, query
    refused, timeout).
    """
    plan = _plan(source, DEFAULT_BATCH, None, None, None)
    async with _association(plan.address, source) as client:
        hits = await client.search(plan.query)
        charset = client.charset.charset if client.charset else None
        return TargetCheck(client.target_name, hits, charset)


@asynccontextmanager
async def _association(
    address: Z3950Address, source: HarvestSource, politeness: Politeness | None = None
) -> AsyncIterator[Z3950Client]:
    """An open association with the source's target (closed on leaving), its requests paced by
    ``politeness``; transport and protocol faults inside become :class:`Z3950HarvestError`
    with a one-line reason."""
    try:
        client = await Z3950Client.connect(
            address.host, address.port, address.database, source.charset or PROPOSED_CHARSET,
            source.timeout, politeness,
        )
    except (OSError, TimeoutError, Z3950Error) as error:
        raise Z3950HarvestError(f"cannot open {address}: {_reason(error)}") from error
    try:
        yield client
    except (OSError, TimeoutError, Z3950Error) as error:
        raise Z3950HarvestError(f"{address}: {_reason(error)}") from error
    finally:
        await client.close()


async def _run(
    client: Z3950Client,
    catalog: Catalog,
    plan: _Plan,
    expected: str | None,
    progress: Progress | None,
    result: Z3950HarvestResult,
    resume: ResultSetResume | None,
    retrying: _Retrying,
    loop: LoopGuard,
) -> None:
    """Search, then present (from record 1, or where ``resume`` says) and store batch after
    batch, counting into ``result``: each batch is stored while the next one is presented and
    prepared (:mod:`harvester.pipeline`). A Present whose association is lost is asked again
    as ``retrying`` says."""
    result.hits = hits = await client.search(plan.query)
    result.requests += 1
    wanted = hits if plan.limit is None else min(hits, plan.limit)
    first = resume.start(hits) if resume is not None else 1
    syntax = marc_syntax(plan.target.unimarc)
    log.info("%s: %d hits for %s, presenting %d from %d", plan.address, hits, plan.query,
             wanted, first)

    current: Z3950Client | None = client

    async def replace() -> None:
        """Close the current association (a new one is opened for the next Present)."""
        nonlocal current
        if current is not None:
            await current.close()
            current = None

    async def present(start: int, count: int) -> list[RetrievedRecord]:
        nonlocal current
        attempt = 0
        while True:
            try:
                if current is None:
                    current = await retrying.reopen()
                result.requests += 1
                return await current.present(start, count, syntax, ELEMENT_SET)
            except Z3950TooLarge as error:  # its association is gone: present_in_halves
                await replace()  # asks again, in halves
                if count > 1:
                    result.event(Event("z3950-retry", f"present of {count} at {start}: "
                                                      f"{error}; asked again in halves"))
                raise
            except (Z3950Closed, OSError, TimeoutError) as error:
                if retrying.politeness is None:
                    raise
                if attempt >= retrying.retries:
                    if attempt == 0:
                        raise
                    raise Z3950Error(f"present at {start}: gave up after {attempt + 1} "
                                     f"attempts: {_reason(error)}") from error
                result.event(Event("z3950-retry", f"present at {start}: {_reason(error)}; "
                                                  "asked again on a new association"))
                await replace()
                await asyncio.sleep(retrying.politeness.backoff_wait(attempt))
                attempt += 1

    async def batches() -> AsyncGenerator[tuple[int, Plan, int], None]:
        start = first
        while start <= wanted:
            count = min(plan.batch, wanted - start + 1)
            records = await present_in_halves(present, start, count)
            loop.page(retrieved.data for retrieved in records)  # the bytes: an 001 may repeat
            start += len(records)
            yield len(records), await asyncio.to_thread(
                prepare_batch, catalog, plan.target, records, expected
            ), start

    done = first - 1

    async def store(items: list[tuple[int, Plan, int]]) -> None:
        nonlocal done
        written = [(ready, saving(plan.on_batch, resume, following, hits))
                   for _, ready, following in items]
        stored = await asyncio.to_thread(
            write_pages, catalog, plan.target, written, result.rejects, result.unmapped
        )
        for (size, _, _), counts in zip(items, stored, strict=True):
            result.counts.add(counts)
            done += size
            if progress is not None:
                progress(done, wanted)

    try:
        await overlapped(batches(), store)
    finally:
        if current is not client:  # (the first is its caller's to close)
            await replace()


def store_batch(
    catalog: Catalog,
    target: IngestTarget,
    records: Sequence[RetrievedRecord],
    expected: str | None,
    on_batch: OnBatch | None = None,
    unmapped: Unmapped | None = None,
) -> tuple[Counts, list[str]]:
    """Store one batch of USMARC records (in charset label ``expected``, None: detect) in one
    transaction through the one ingest path; return the counts and the reasons of the rejects
    (also written to ``harvest_rejects``). UNIMARC data with no place in MARC21 is noted in
    ``unmapped``."""
    reasons: list[str] = []
    plan = prepare_batch(catalog, target, records, expected)
    (counts,) = write_pages(catalog, target, [(plan, on_batch)], reasons, unmapped)
    return counts, reasons


def prepare_batch(
    catalog: Catalog, target: IngestTarget, records: Sequence[RetrievedRecord], expected: str | None
) -> Plan:
    """One batch decoded and :func:`harvester.ingest.prepare` d, writing nothing."""
    datestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    items = [_harvested(retrieved, expected, datestamp, target.unimarc) for retrieved in records]
    return prepare(catalog, target, items)


def _harvested(
    retrieved: RetrievedRecord, expected: str | None, datestamp: str, unimarc: bool
) -> Harvested:
    """One presented record as ingest takes it: keyed by its 001 found in its directory and
    decoded where the catalogue derives it (:func:`decode_usmarc` in ``expected``), else
    decoded here to be keyed; or with the reason it cannot be used. ``unimarc``: the record
    was asked for in UNIMARC (ingest converts it)."""
    where = f"record {retrieved.position}"
    data = retrieved.data
    try:
        _check_syntax(retrieved, marc_syntax(unimarc))
        identifier = usmarc_identifier(data)
        if identifier is not None:
            return Harvested(identifier, data, datestamp, format=retrieved.syntax, payload=data,
                             read=partial(decode_usmarc, expected=expected, unimarc=unimarc),
                             where=where)  # fmt: skip
        record = decode_usmarc(data, expected, unimarc)
    except (RecordError, iso2709.RecordError) as error:
        return Harvested(None, data, error=str(error), where=where)
    return Harvested(
        identifier_of(record, data), data, datestamp, record=record,
        format=retrieved.syntax, payload=data, where=where,
    )  # fmt: skip


def _check_syntax(retrieved: RetrievedRecord, asked: str) -> None:
    """Raise RecordError when the target sent something else than a record in ``asked``."""
    if retrieved.diagnostic is not None:
        raise RecordError(f"target sent a diagnostic: {retrieved.diagnostic}")
    if retrieved.unreadable is not None:
        raise RecordError(retrieved.unreadable)
    if retrieved.syntax != asked:
        raise RecordError(f"asked for {oids.record_syntax_name(asked).upper()}, target sent "
                          f"{oids.record_syntax_name(retrieved.syntax)}")


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the target running?)"
    return str(error) or type(error).__name__
