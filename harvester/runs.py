"""A harvest run of one source (OAI-PMH, SRU or Z39.50): incremental, resumable, recorded.

>>> report = harvest(catalog, source)               # blocks; one run, recorded in harvest_runs
>>> report.status, report.counts.added

Semantics (DESIGN.md, Harvesting):

- **Incremental.** A run asks for records ``from`` the source's watermark: the responseDate of
  the first request (Identify) of the last successful run, minus one granularity step, written
  in the source's granularity. A responseDate after Koprik's own clock (or unreadable) is a
  fault in the run's record and our clock is taken instead (:func:`harvester.guards.own_clock`),
  so a partner's clock can never push the watermark into the future. ``--full`` ignores the
  watermark; ``--from``/``--until`` bound a run by hand (such a run moves the watermark only
  if it covered everything after it). The watermark covers only the lists harvested
  (:mod:`harvester.coverage`): a set added since is asked from the start, the others from the
  watermark; every set is once the source was moved to another address or format.
- **Crash-safe.** Each page commits with its records, the run's counts and the source's
  resumption token, cursor, set and date window (pages ready together, up to
  :data:`harvester.pipeline.PAGES_AHEAD`, in one transaction: the token of the last). A run
  started after a killed one resumes at the page where it stopped; if the provider rejects
  that token (expired), the list restarts from the start of the window, which for an unsplit
  run is the watermark. A run killed (or stopped) after a list ended, its last page committed
  with no token, resumes after that list: the rest of the set after a half of a failed window,
  then every set of the source the run had not finished (the sets it finished are saved with
  each page: one added to the source meanwhile, wherever in its list, is harvested too); the
  lists finished are not asked for again.
  A resumed run keeps the first responseDate and bounds of the run it resumes, so the
  watermark moves, once every set is harvested, as that run's would have.
- **Faults.** The client retries transport faults (see :mod:`harvester.oai_client`). A
  badResumptionToken or a repeating token mid-list restarts the window (at most
  :data:`MAX_RESTARTS` times). A list whose pages hold only records already seen in it for
  ``[harvest] loop_pages`` pages is a loop whatever its tokens say
  (:class:`harvester.guards.LoopGuard`): restarted as well, then its window fails for good.
  A window whose list still fails otherwise is halved and each half harvested, down to one
  granularity step, so one bad record cannot block a source (only the error's text is kept,
  never a response); a window that cannot be split any more is recorded as failed and the run
  ends ``partial`` (the watermark does not move, so the next run tries again). So is a list
  that ends (by an empty resumption token, or by noRecordsMatch answered to a token) short of
  the completeListSize its tokens announced (:class:`harvester.guards.ListSize`): the records it
  lost are asked for by the next run. A list short by no more than the source's
  ``tolerated_shortfall`` records is taken as whole, with a line saying so (a partner that counts
  records it never serves would otherwise keep every run partial and the watermark unmoved).
  The count of such windows is saved in the source's resumption state as soon as a window
  fails and with every page, so a run that resumes a killed one after a failed window still
  ends ``partial``. A partner not there to answer (503 or 429 still answered after the client's
  retries, a connection refused, a host not found: :class:`harvester.faults.Unavailable`) ends
  the run at once, ``failed``: no smaller window can help; where it stood stays saved, and the
  next run resumes there (timeouts and 500 are still halved: a smaller window may get past
  them). Every fault is written to the run's ``errors``.
- **One at a time.** A run holds the source's database lock (:mod:`harvester.locks`), renewed
  with each page and, while it runs, every :data:`harvester.locks.BEAT_SECONDS` whatever its
  pages (its heartbeat, which also writes the requests it sent so far to its record): a run
  waiting out a long delay, or retrying a silent partner, keeps its source.
- **Stoppable.** A run given a :class:`Stop` ends soon after :meth:`Stop.request` (from any
  thread: a command's signal handling, a scheduler shutting down): the pages being written
  are committed, the rest is not asked for, and the run is recorded ``interrupted`` with a line
  saying so, its lock released and where it stood kept, so the next run resumes there. The
  union catalogue is not brought up to date after a stopped run (that would take as long as
  the records it wrote), nor further once a stop is requested while it is: the records stay
  queued for the scheduler, the next harvest or ``koprik dedup``.
- **Z39.50 sources** (``protocol = "z3950"``) are harvested by
  :func:`harvester.z3950_harvest.harvest_z3950` under the same lock and run log: each batch
  commits with the run's counts and the source's resume position (the next record, the query
  and the hits the target reported; :class:`harvester.resumption.ResultSetResume`). They have
  no watermark: every run asks for the whole result set of the source's query (ingest is an
  idempotent upsert), so ``--from``/``--until`` do not apply. A run after a killed one of the
  same query searches again and presents from the saved position, unless the hits changed
  (the result set changed: from record 1, said in the run's errors); ``--full`` starts from
  record 1 whatever was saved; a run that ends complete clears the position.
- **SRU sources** (``protocol = "sru"``) likewise, by :func:`harvester.sru_harvest.harvest_sru`:
  the CQL query's results paged by startRecord (a resumed run's first startRecord is the saved
  position), each page committed with the run's counts and the resume position, with the
  politeness and fault handling of OAI-PMH sources.

Where a run stands is saved and cleared for every protocol by :mod:`harvester.resumption`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterator,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, case, delete, update

from catalog import Catalog, CatalogWriter
from catalog.db import unavailable
from catalog.dedup import run_dedup
from catalog.harvest_state import (
    FAILED,
    INTERRUPTED,
    PARTIAL,
    RUNNING,
    SUCCEEDED,
    harvest_runs,
    harvest_state,
)
from catalog.set_rules import SetRulesError
from catalog.transactions import executed, hold_writes, transaction
from config import HarvestSettings, HarvestSource, Settings
from harvester import dates, guards, locks, resumption
from harvester.coverage import Coverage, coverage_of, covering
from harvester.faults import ListLoop, Unavailable
from harvester.http_fetch import shown_url
from harvester.ingest import Counts, IngestTarget, Plan, Unmapped, apply, prepare, reject
from harvester.oai_client import (
    HarvestError,
    Identity,
    MalformedResponse,
    OaiClient,
    OaiError,
    Page,
    Politeness,
    ResumptionLoop,
)
from harvester.pipeline import overlapped
from harvester.sources import OAI_PMH, SRU, Z3950, SourceError, added_source, validate
from harvester.sru_client import SruClient
from harvester.sru_harvest import SruHarvestResult, harvest_sru
from harvester.z3950_harvest import Z3950HarvestResult, harvest_z3950
from protocols.shown import one_line

log = logging.getLogger(__name__)

MAX_RESTARTS = 2
"""Restarts of one window after a rejected or repeating resumption token."""
MAX_WINDOW_FAILURES = 64
"""Failed lists in one run before it gives up: bounds halving (one bad record in a
seconds-granularity source of some years costs about 30 failed halves)."""
MAX_EMPTY_PAGES = 50
"""Consecutive empty pages that still carry a resumption token before the list is abandoned."""
MAX_ERROR_LINES = 500

ENDED_UNSAID = ("it ended without its end recorded (its process killed, its node gone, or the "
                 "catalogue database lost meanwhile); found by the source's next run")
"""The line a run left running ends with when the next run of its source finds it."""


@dataclass(frozen=True)
class RunOptions:
    full: bool = False
    from_: str | None = None
    until: str | None = None


@dataclass
class PageInfo:
    """What the progress display is told after each committed page."""

    pages: int
    """Pages committed by the run, this one included."""
    records: int
    """Records the run has done, this page's included."""
    complete_list_size: int | None
    set_spec: str | None
    delivered: int | None = None
    """Entries of the current list (or result set) delivered up to this page when known: a
    resumed run's list began before the run."""

    @property
    def expected(self) -> int | None:
        """Records the run will have done when its current list ends, by the partner's count
        (for a progress bar: a resumed run's, too, ends at its total)."""
        if self.complete_list_size is None:
            return None
        if self.delivered is None:
            return self.complete_list_size
        return self.records + max(0, self.complete_list_size - self.delivered)


@dataclass
class RunReport:
    run_id: int
    source: str
    status: str
    counts: Counts
    requests: int
    pages: int
    errors: list[str]
    seconds: float
    watermark: str | None


class GiveUp(HarvestError):
    """Too many failures in one run (the partner is down or broken beyond halving), or one no
    retry can mend."""


class Stop:
    """A request to stop harvest runs, made from any thread; every run given it (with
    :func:`harvest`'s ``stop``), running or started later, ends after the pages it is writing,
    recorded ``interrupted``::

        stop = Stop()
        threading.Thread(target=harvest, args=(catalog, source), kwargs={"stop": stop}).start()
        stop.request()                      # the run ends within seconds, resumable

    Each run's event loop is in the thread that runs it, so a request reaches it with
    ``loop.call_soon_threadsafe``. Not to be called from a signal handler (it takes a lock the
    interrupted thread may hold): a handler sets a flag that a thread acts on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requested = False
        self._cancels: list[Callable[[], None]] = []

    @property
    def requested(self) -> bool:
        """Whether :meth:`request` was called."""
        return self._requested

    def request(self) -> None:
        """Ask every run watching this, and every run that starts watching it later, to stop."""
        with self._lock:  # held while calling: a run cannot close its loop in between
            self._requested = True
            for cancel in self._cancels:
                cancel()

    @contextmanager
    def watching(self, cancel: Callable[[], None]) -> Iterator[None]:
        """Within the block, a request calls ``cancel`` (at once if one was made already);
        ``cancel`` must not block and may be called more than once."""
        with self._lock:
            self._cancels.append(cancel)
            if self._requested:
                cancel()
        try:
            yield
        finally:
            with self._lock:
                self._cancels.remove(cancel)


def politeness_of(source: HarvestSource, bounds: HarvestSettings) -> Politeness:
    """The politeness policy of ``source``, reading bodies within ``bounds``."""
    return Politeness(
        delay=source.delay, timeout=source.timeout, retries=source.retries,
        max_bytes=bounds.max_response_bytes, max_decompressed_bytes=bounds.max_decompressed_bytes,
    )  # fmt: skip


def harvest(
    catalog: Catalog,
    source: HarvestSource,
    options: RunOptions | None = None,
    *,
    politeness: Politeness | None = None,
    on_page: Callable[[PageInfo], None] | None = None,
    settings: Settings | None = None,
    stop: Stop | None = None,
    added: bool = False,
) -> RunReport:
    """Run one harvest of ``source`` now (blocking) and return its report.

    ``settings`` gives the bounds of ``[harvest]`` and ``[limits]`` (None: the defaults);
    ``politeness``, when given, replaces the source's own policy (tests use it). A request of
    ``stop`` ends the run early, ``interrupted`` (see :class:`Stop`). ``added`` says the source
    is one of the database's (``koprik sources add``): once the run holds the source's lock, it
    checks the source is as it was read, and starts no run of one removed or changed meanwhile
    (a removal forgets the harvest state under that lock; a run started at the same moment,
    from the dashboard, wrote the state of the removed source again).

    Raises :class:`harvester.locks.SourceBusy` when another run of the source holds the lock
    (a run whose lock another takes over meanwhile ends ``failed``, saying so), and
    :class:`harvester.sources.SourceError` for a definition that cannot be harvested.
    """
    validate(source)
    options = options or RunOptions()
    if source.protocol in (Z3950, SRU) and (options.from_ or options.until):
        kind = "a Z39.50" if source.protocol == Z3950 else "an SRU"
        raise SourceError(
            f"--from and --until do not apply to {kind} source: every run asks for the whole "
            "result set of its query"
        )
    if source.protocol == OAI_PMH and not source.prefix:
        raise SourceError(f"source {source.name!r} has no metadataPrefix")
    if source.protocol == OAI_PMH and options.until and not (options.from_ or options.full):
        _refuse_until_before_watermark(catalog, source, options.until)
    settings = settings or Settings()
    politeness = politeness or politeness_of(source, settings.harvest)
    run = HarvestRun(catalog, source, options, politeness, on_page, settings, stop=stop,
                     added=added)
    report = asyncio.run(run.execute())
    if report.status != INTERRUPTED:  # a stopped run's records wait in the queue
        # the union catalogue follows every harvest (until a stop is requested meanwhile)
        run_dedup(catalog, stop=None if stop is None else lambda: stop.requested)
    return report


def _refuse_until_before_watermark(catalog: Catalog, source: HarvestSource, until: str) -> None:
    """Refuse an ``--until`` before the watermark a run without ``--from`` asks from (for the
    sets it covers): the partner was asked a ``from`` later than ``until``, answered
    badArgument, and the run ended partial."""
    with catalog.engine.connect() as connection:
        before = coverage_of(connection, source.name)
    if before.watermark is None or not any(
        before.covers(spec, source) for spec in list(source.sets) or [None]
    ):
        return
    if dates.parse(before.watermark) > _last_moment(until):
        raise SourceError(
            f"--until {until} is before its watermark {before.watermark}: give --from (or "
            "--full) to harvest up to it"
        )


def _last_moment(until: str) -> datetime:
    """The last moment ``--until`` includes: a day's last second."""
    moment = dates.parse(until)
    if len(until.strip()) == len(dates.DAY):
        moment += dates.step(dates.DAY) - dates.step(dates.SECONDS)
    return moment


@dataclass
class _Plan:
    """What a run harvests: its span (``run_from``..``run_until``) of every set, but from the
    start of the sets in ``anew``. A run that resumes another (``resumed_from``) starts in the
    set it stood in, at ``token`` in the list of ``window``, or after that list when ``token``
    is None, then goes on with every set but those in ``done``."""

    first_response_date: str
    run_from: str | None
    run_until: str | None
    set_spec: str | None = None
    window: tuple[str | None, str | None] = (None, None)
    token: str | None = None
    delivered: int | None = None
    """The entries the list had delivered up to ``token``, when known."""
    resumed_from: int | None = None
    done: tuple[str, ...] = ()
    """The sets the runs it resumes finished, saved with their pages (:meth:`HarvestRun._done`)."""
    anew: frozenset[str | None] = frozenset()
    """Sets asked from the start though the span starts at the watermark: it does not cover
    them (:meth:`HarvestRun._anew`)."""

    def start_of(self, spec: str | None) -> str | None:
        """Where the run asks set ``spec`` from (None: the start)."""
        return None if spec in self.anew else self.run_from


def _short_of(window_until: str, run_until: str | None) -> bool:
    """Whether a window of a set that ends at ``window_until`` stops short of the end of the
    run's span, ``run_until`` (None: no end): it was a half of a failed window, and the rest of
    the set comes after it."""
    return run_until is None or dates.parse(window_until) < dates.parse(run_until)


def _window_named(spec: str | None, start: str | None, end: str | None) -> str:
    """A window of a set as the run's lines name it ("window set boks the start..now" read as
    a set named "boks the start")."""
    of = f" of set {spec}" if spec else ""
    return f"window {start or 'the start'}..{end or 'now'}{of}"


class _Listed(NamedTuple):
    """A page of a list, with the entries the list had delivered up to its end when known
    (:attr:`harvester.guards.ListSize.delivered`), saved with its token."""

    page: Page
    delivered: int | None


def _stood(state: Row[Any]) -> str:
    """Where a saved OAI-PMH position stands, as the run's lines say it: after the entries its
    list delivered up to its token (:attr:`harvester.guards.ListSize.delivered`), or (no token)
    after the list of a set or of a window of one (a failed window's half)."""
    if state.token is not None:
        return f"after {state.cursor} records of its list" if state.cursor is not None \
            else "at a token of its list"
    of = f"set {state.set_spec}" if state.set_spec is not None else "the list"
    if state.window_until is None or not _short_of(state.window_until, state.run_until):
        return f"after {of}"
    return f"after the window {state.window_from or 'the start'}..{state.window_until} of {of}"


@dataclass
class HarvestRun:
    catalog: Catalog
    source: HarvestSource
    options: RunOptions
    politeness: Politeness
    on_page: Callable[[PageInfo], None] | None = None
    settings: Settings = field(default_factory=Settings)
    stop: Stop | None = None
    added: bool = False
    """Whether the source is one of the database's, checked to be as read (:func:`harvest`)."""
    owner: str = field(default_factory=locks.new_owner)
    counts: Counts = field(default_factory=Counts)
    errors: list[str] = field(default_factory=list)
    pages: int = 0
    run_id: int = 0
    granularity: str = dates.SECONDS
    earliest: str = ""
    failures: int = 0
    failed_windows: int = 0
    unmapped: Unmapped = field(default_factory=Unmapped)
    """The records stored with UNIMARC data that had no place in MARC21 (a line at the end)."""
    _plan: _Plan | None = None
    _client: OaiClient | None = None
    _z3950: Z3950HarvestResult | None = None
    _sru: SruClient | None = None
    _rejected_pages: set[str] = field(default_factory=set)
    _unshown: deque[tuple[int, int]] = field(default_factory=deque)
    """(pages, records) of the run as each page recorded was written: told to ``on_page`` once
    the page's transaction committed (a transaction may hold several pages)."""
    future: guards.FutureDatestamps = field(default_factory=guards.FutureDatestamps)
    _beat_failed: locks.TakenOver | None = None
    """What stopped the run's heartbeat (:meth:`_beating`): the source taken over."""

    async def execute(self) -> RunReport:
        started = time.monotonic()
        engine = self.catalog.engine
        locks.acquire(engine, self.source.name, self.owner)
        if self.added:
            self._still_as_read()
        status = FAILED
        stopped = None
        try:
            self.run_id = self._open_run()
            try:
                if await self._beating(self._harvest_source()):
                    status = PARTIAL if self.failed_windows else SUCCEEDED
                    if self.future.fault() is not None:
                        self.errors.append(str(self.future.fault()))
                else:
                    status = INTERRUPTED
                    stopped = self._stopped()
            except (HarvestError, SetRulesError) as error:  # the node's rules: no page can help
                self.errors.append(f"run failed: {error}")
            except locks.TakenOver as error:  # the other run goes on: this one ends, in a line
                self.errors.append(self._taken_over(error))
            except (Exception, asyncio.CancelledError) as error:
                self.errors.append(f"run failed: {type(error).__name__}: {error}")
                self._close_run(FAILED)
                raise
            watermark = self._close_run(status, stopped)
        finally:
            locks.release(engine, self.source.name, self.owner)
        return RunReport(
            run_id=self.run_id,
            source=self.source.name,
            status=status,
            counts=self.counts,
            requests=self.requests,
            pages=self.pages,
            errors=self._error_lines(),
            seconds=time.monotonic() - started,
            watermark=watermark,
        )

    async def _harvest_source(self) -> None:
        try:
            if self.source.protocol == Z3950:
                await self._harvest_z3950()
            elif self.source.protocol == SRU:
                await self._harvest_sru()
            else:
                async with OaiClient(self.source.url, self.politeness) as client:
                    self._client = client
                    await self._harvest(client)
        except Unavailable as error:
            raise self._unavailable(error) from None

    async def _beating(self, work: Coroutine[Any, Any, None]) -> bool:
        """:meth:`_until_stopped` ``work`` while a heartbeat renews the run's lease every
        :data:`harvester.locks.BEAT_SECONDS` whatever its pages, and writes the run's requests so
        far to its row (:meth:`_beat`). A heartbeat that finds the source taken over cancels the
        work, and its error is raised as a page's commit raises it. The heartbeat has ended, its
        last transaction with it, when this returns or raises however the work ended, so that
        it does not write beside the run's closing writes or its lock's release (but when this
        task is cancelled again meanwhile, as by a second ^C: a beat in progress then ends on
        its own, harmless, its writes keyed on the run's owner and on a larger count)."""
        running = asyncio.ensure_future(self._until_stopped(work))
        ended = asyncio.Event()
        heartbeat = asyncio.ensure_future(self._heartbeat(ended, running))
        cut_short: locks.TakenOver | None = None
        try:
            finished = await running
        except asyncio.CancelledError:
            itself = asyncio.current_task()
            if self._beat_failed is None or (itself is not None and itself.cancelling()):
                raise
            cut_short, finished = self._beat_failed, False
        finally:
            ended.set()
            await heartbeat  # not cancelled: a beat being written ends first
        if cut_short is not None:
            raise cut_short
        return finished  # a takeover a beat found as the work ended is the close's to find

    async def _heartbeat(self, ended: asyncio.Event, work: asyncio.Future[bool]) -> None:
        """:meth:`_beat` every :data:`harvester.locks.BEAT_SECONDS` until ``ended`` is set (or
        a beat finds the source taken over: its error kept, ``work`` cancelled). A beat that
        fails otherwise (the database away for a moment) is logged and tried again at the next:
        the lease lasts a dozen beats, and the run's pages find a database that stays away."""
        while True:
            try:
                await asyncio.wait_for(ended.wait(), locks.BEAT_SECONDS)
                return
            except TimeoutError:
                pass
            try:
                await asyncio.to_thread(self._beat)
            except locks.TakenOver as error:  # raised by _beating, in the run's task
                self._beat_failed = error
                work.cancel()
                return
            except Exception as error:
                said = unavailable(error) or one_line(error)
                log.warning("run of %s: its lease could not be renewed (%s); tried again in "
                            "%g s", self.source.name, said, locks.BEAT_SECONDS)

    def _beat(self) -> None:
        """Renew the run's lease (raises :class:`harvester.locks.TakenOver` if it was lost) and
        write the requests sent so far to the run's row, if more than it says, in a short
        transaction that is the catalogue's one writer (a page's, being written, first)."""
        name = self.source.name

        def renewed(connection: Connection) -> None:
            hold_writes(connection)
            locks.renew(connection, name, self.owner)
            requests = self.requests  # read once no page commits meanwhile: never less
            runs = harvest_runs.c
            connection.execute(update(harvest_runs)
                               .where(runs.id == self.run_id, runs.requests < requests)
                               .values(requests=requests))  # fmt: skip

        transaction(self.catalog.engine, renewed, f"renewing the lock of the run of {name}")

    async def _until_stopped(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run ``work`` to its end (True), or until :attr:`stop` is requested (False): it is
        then cancelled, which lets the pages being written commit (:mod:`harvester.pipeline`).
        A cancellation of this run's own task is raised as ever."""
        if self.stop is None:
            await work
            return True
        task = asyncio.ensure_future(work)
        loop = asyncio.get_running_loop()
        with self.stop.watching(lambda: loop.call_soon_threadsafe(task.cancel)):
            try:
                await task
            except asyncio.CancelledError:
                itself = asyncio.current_task()
                if not self.stop.requested or (itself is not None and itself.cancelling()):
                    raise
                return False
        return True

    def _end_record(self, stopped: str | None) -> None:
        """The last lines of the run's record: the one about the records stored with UNIMARC
        data that had no place in MARC21 (:meth:`harvester.ingest.Unmapped.line`), if there
        were any (one line, not one a record), then ``stopped``, the line a stopped run's
        record ends with (quoted as its end, as a failed run's first line is as its reason)."""
        if (unmapped := self.unmapped.line()) is not None:
            self.errors.append(unmapped)
        if stopped is not None:
            self.errors.append(stopped)

    def _taken_over(self, error: locks.TakenOver) -> str:
        """The line the record of a run whose source another run took over says (a run that
        raised :class:`harvester.locks.SourceBusy` then was said to have been skipped, as one
        never started)."""
        if not self.pages:
            return f"run stopped before its first page: {error}"
        return f"run stopped after page {self.pages}: {error}; the pages committed before are kept"

    def _stopped(self) -> str:
        """The line a stopped run's record ends with."""
        if not self.pages:
            return "stopped by the operator before its first page; the next run starts where it did"
        return f"stopped by the operator after page {self.pages}; the next run resumes there"

    @property
    def requests(self) -> int:
        """Requests sent to the source so far in this run."""
        if self._client is not None:
            return self._client.requests
        if self._sru is not None:
            return self._sru.requests
        return self._z3950.requests if self._z3950 is not None else 0

    def _progress(self, done: int, wanted: int) -> None:
        """Progress of a result-set source (Z39.50, SRU), told for each page once committed:
        its hits are the total, ``done`` the position reached in them."""
        self._shown(wanted, None, done)

    def _shown(self, total: int | None, spec: str | None, delivered: int | None) -> None:
        """Tell ``on_page`` about the next page committed and not yet told."""
        pages, records = self._unshown.popleft()
        if self.on_page is not None:
            self.on_page(PageInfo(pages, records, total, spec, delivered))

    async def _harvest_z3950(self) -> None:
        self._z3950 = Z3950HarvestResult(unmapped=self.unmapped)
        await harvest_z3950(
            self.source, self.catalog, run_id=self.run_id, on_batch=self._record_batch,
            progress=self._progress, result=self._z3950,
            max_record_bytes=self.settings.limits.max_record_bytes, resume=self._resume(),
            politeness=self.politeness, loop_pages=self.settings.harvest.loop_pages,
        )  # fmt: skip

    async def _harvest_sru(self) -> None:
        self._sru = SruClient(self.source.url, self.politeness)
        await harvest_sru(
            self.source, self.catalog, self.politeness, run_id=self.run_id,
            on_batch=self._record_batch, progress=self._progress, client=self._sru,
            result=SruHarvestResult(unmapped=self.unmapped),
            loop_pages=self.settings.harvest.loop_pages,
            max_record_bytes=self.settings.limits.max_record_bytes, resume=self._resume(),
        )  # fmt: skip

    def _resume(self) -> resumption.ResultSetResume:
        """Where a run over a result set (SRU, Z39.50) starts, and saves where it stands."""
        with self.catalog.engine.connect() as connection:
            return resumption.ResultSetResume.of(
                connection, self.source, self.run_id, self.errors, ignore=self.options.full
            )

    # -- planning ----------------------------------------------------------------------

    async def _harvest(self, client: OaiClient) -> None:
        identity = await client.identify()
        self.granularity = identity.granularity
        self.earliest = identity.earliest_datestamp
        state = self._state()
        sets = self._sets
        plan = self._resumed(state, sets)
        if plan is None:
            run_from = self.options.from_
            if run_from is None and not self.options.full:
                run_from = state.watermark
            plan = _Plan(self._start(identity), self._in_granularity(run_from),
                         self._until_in_granularity(self.options.until))
            plan.window = (plan.run_from, plan.run_until)
        plan.anew = self._anew(Coverage.of(state), plan)
        self._plan = plan
        if plan.resumed_from is not None:
            await self._rest_of_set(plan.set_spec, plan)
            self._finished(plan.set_spec)
        for spec in sets:
            if spec not in plan.done and (plan.resumed_from is None or spec != plan.set_spec):
                await self._window(spec, plan.start_of(spec), plan.run_until, None)
                self._finished(spec)

    @property
    def _sets(self) -> list[str | None]:
        """The sets the source harvests, in order; ``[None]``: the whole repository."""
        return list(self.source.sets) or [None]

    def _finished(self, spec: str | None) -> None:
        """Note that the lists of set ``spec`` are harvested: saved with the run's next page, so
        that a run resuming this one does not ask for the set again (the whole repository, the
        one "set" of a run without sets, needs no note: the run ends with it)."""
        if spec is not None:
            self._planned().done += (spec,)

    def _anew(self, before: Coverage, plan: _Plan) -> frozenset[str | None]:
        """The sets asked from the start though the span of ``plan`` starts at the watermark
        (``before``): those it does not cover, every one if the source has moved since; a line
        in the run's errors says why. A run from another date (``--from``, or none) is asked
        what it was asked. A resumed run decides as the run it resumes did: the watermark moves
        only when a run succeeds."""
        if plan.run_from is None or plan.run_from != self._in_granularity(before.watermark):
            return frozenset()
        anew, why = before.anew(self.source)
        if why is not None:
            self.errors.append(why)
        return frozenset(anew)

    def _resumed(self, state: Row[Any], sets: list[str | None]) -> _Plan | None:
        """The plan that goes on from where an unfinished run of the source stood (a line in
        the run's errors says so), or None: none stood anywhere, this run is bounded by hand,
        or the position is of another address or set list (said too, when of another address).

        A run stands mid-list (the saved token) or, with no token, after the list of the saved
        set and window: its last page was committed, so the list is not asked for again."""
        by_hand = self.options.full or self.options.from_ or self.options.until
        if not (state.run_id and state.first_response_date):
            return None  # an SRU or Z39.50 position saves no first_response_date
        where = _stood(state)
        if by_hand:  # (it set the position aside without a word)
            self.errors.append(f"run #{state.run_id} stopped {where}; a run asked for with "
                               "--full, --from or --until harvests its own list instead")
            return None
        elsewhere = resumption.moved(state.endpoint, self.source)
        if elsewhere is not None:
            self.errors.append(
                f"run #{state.run_id} stopped {where}, but {elsewhere}: its list is harvested anew"
            )
            return None
        if state.set_spec not in sets:
            return None
        self.failed_windows = state.failed_windows
        self.errors.append(f"resumed run #{state.run_id} {where}")
        if state.failed_windows:
            self.errors.append(
                f"run #{state.run_id} had {state.failed_windows} window(s) failed for good"
            )
        return _Plan(
            first_response_date=state.first_response_date,
            run_from=state.run_from,
            run_until=state.run_until,
            set_spec=state.set_spec,
            window=(state.window_from, state.window_until),
            token=state.token,
            delivered=state.cursor,
            resumed_from=state.run_id,
            done=tuple((state.done_sets or "").split()),
        )

    async def _rest_of_set(self, spec: str | None, plan: _Plan) -> None:
        """Harvest what a resumed run left of the set it stood in: its list from the saved token
        (none if that list was finished), then the set after the list's window, if the list was
        of a window of the set (halved)."""
        window_from, window_until = plan.window
        if plan.token is not None:
            await self._window(spec, window_from, window_until, plan.token, plan.delivered)
        if window_until is not None and _short_of(window_until, plan.run_until):
            rest_from = dates.after(window_until, self.granularity)
            await self._window(spec, rest_from, plan.run_until, None)

    def _start(self, identity: Identity) -> str:
        """The run's start as the watermark will take it: never past our own clock."""
        start, fault = guards.own_clock(identity.response_date, guards.now())
        if fault is not None:
            self.errors.append(fault)
        return start

    def _earliest(self) -> str | None:
        """Identify's earliestDatestamp in the source's granularity; None when it gives none
        (or text that is no datestamp: only a failed list's halving needs it)."""
        try:
            return self._in_granularity(self.earliest)
        except ValueError:
            return None

    def _in_granularity(self, datestamp: str | None) -> str | None:
        if datestamp is None:
            return None
        return dates.render(dates.parse(datestamp), self.granularity)

    def _until_in_granularity(self, until: str | None) -> str | None:
        """``--until`` in the source's granularity, inclusive: a day asked of a source of
        seconds is that day's last second (its first, as it was, left out the rest of it)."""
        if until is None:
            return None
        return dates.render(_last_moment(until), self.granularity)

    # -- lists -------------------------------------------------------------------------

    async def _window(
        self, spec: str | None, start: str | None, end: str | None, token: str | None,
        delivered: int | None = None, restarts: int = 0,
    ) -> None:
        """Harvest one date window of one set, restarting or halving it after failures; a list
        taken up at ``token`` had ``delivered`` entries before it, if known."""
        try:
            await self._list(spec, start, end, token, delivered)
            return
        except (OaiError, ResumptionLoop) as error:
            if isinstance(error, OaiError) and error.code == "cannotDisseminateFormat":
                raise self._format_not_served(error) from None
            if isinstance(error, OaiError) and error.code == "noSetHierarchy":
                raise self._sets_not_served(error) from None
            token_fault = isinstance(error, ResumptionLoop) or error.code == "badResumptionToken"
            if token_fault and restarts < MAX_RESTARTS:
                self.errors.append(f"{error}; restarting the list from {start or 'the start'}")
                await self._window(spec, start, end, None, restarts=restarts + 1)
                return
            failure = str(error)
        except ListLoop as error:  # records seen again: halving a loop cannot help
            if restarts < MAX_RESTARTS:
                self.errors.append(f"{error}; restarting the list from {start or 'the start'}")
                await self._window(spec, start, end, None, restarts=restarts + 1)
                return
            await self._failed_for_good(spec, start, end, str(error))
            return
        except MalformedResponse as error:
            self._reject_page(error)
            failure = str(error)
        except Unavailable:  # no smaller window can help: the run ends (_harvest_source)
            raise
        except HarvestError as error:
            failure = str(error)
        # only the text goes on: the error (its traceback, its page) is dropped before halving
        self.failures += 1
        if self.failures > MAX_WINDOW_FAILURES:
            raise GiveUp(f"{self.failures} failed lists in one run; last: {failure}")
        await self._halve(spec, start, end, failure)

    def _format_not_served(self, error: OaiError) -> GiveUp:
        """The end of a run whose list the partner answered with cannotDisseminateFormat: it
        does not serve the source's metadataPrefix, which no smaller window can change (halving
        windows asked some 65 times before the run gave up)."""
        return GiveUp(f"{self.source.name} ({self.source.url}) does not serve metadataPrefix "
                      f"{self.source.prefix!r}: {error}")

    def _sets_not_served(self, error: OaiError) -> GiveUp:
        """The end of a run whose list of a set the partner answered with noSetHierarchy: it
        has no sets, which no smaller window can change (as :meth:`_format_not_served`)."""
        sets = ", ".join(repr(spec) for spec in self.source.sets)
        return GiveUp(f"{self.source.name} ({self.source.url}) has no sets, so none of {sets} "
                      f"can be harvested: {error}")

    def _unavailable(self, error: Unavailable) -> GiveUp:
        """The end of a run whose partner (OAI-PMH or SRU) is not there to answer (503 or 429
        to every retry, no connection): no smaller window can help, and halving went on for up
        to :data:`MAX_WINDOW_FAILURES` lists, each with its retries (about a day). Where the
        run stands stays saved with its last page, for the next run to resume."""
        return GiveUp(f"{self.source.name} ({shown_url(self.source.url)}) is unavailable: "
                      f"{error}; the run stops; the next run resumes from where this one is")

    async def _halve(
        self, spec: str | None, start: str | None, end: str | None, failure: str
    ) -> None:
        plan = self._planned()
        low = start or self._earliest() or "1970-01-01"
        if end is None:
            end = dates.render(dates.parse(plan.first_response_date), self.granularity)
            plan.run_until = plan.run_until or end
        where = f"set {spec} " if spec else ""
        halves = dates.split(low, end, self.granularity)
        if halves is None:
            await self._failed_for_good(spec, low, end, failure)
            return
        self.errors.append(f"window {where}{low}..{end} failed ({failure}); halving it (what "
                           "it delivered before the failure is asked for and counted again)")
        for half_from, half_until in halves:
            await self._window(spec, half_from, half_until, None)

    async def _failed_for_good(
        self, spec: str | None, start: str | None, end: str | None, failure: str
    ) -> None:
        """Record a window given up on: the run ends partial and the watermark stays."""
        self.failed_windows += 1
        self.errors.append(f"{_window_named(spec, start, end)} failed for good: {failure}")
        await asyncio.to_thread(self._save_failed_windows)

    def _short_list(
        self, spec: str | None, start: str | None, end: str | None, shortfall: guards.Shortfall
    ) -> None:
        """Record a list that ended short of its completeListSize: by no more than the source's
        ``tolerated_shortfall`` records, as a line only; by more, as a window failed for good:
        the run ends partial and the watermark stays, so the next run asks for the window
        again. Counted before the list's last page is written, which saves the count with it
        (a run resuming this one ends partial too)."""
        window = _window_named(spec, start, end)
        tolerated = self.source.tolerated_shortfall
        if shortfall.missing <= tolerated:
            self.errors.append(f"{window}: {shortfall}; no more than the source's "
                               f"tolerated_shortfall ({tolerated}) short: taken as whole")
            return
        self.failed_windows += 1
        self.errors.append(f"{window}: {shortfall}; the run ends partial, its watermark unmoved")

    async def _list(
        self, spec: str | None, start: str | None, end: str | None, token: str | None,
        delivered: int | None,
    ) -> None:
        if self._client is None:
            raise RuntimeError("a list was asked for outside the run's OAI-PMH client")
        pages: AsyncIterator[Page] = self._client.list_pages(
            "ListRecords", prefix=self.source.prefix, set_spec=spec, from_=start, until=end,
            token=token,
        )
        target = self._target()

        received = 0

        async def prepared() -> AsyncGenerator[tuple[_Listed, Plan], None]:
            nonlocal received
            empty = 0
            loop = guards.LoopGuard(self.settings.harvest.loop_pages)
            size = guards.ListSize(seen=0, reached=None) if token is None else \
                guards.ListSize(seen=None, reached=delivered)
            async for page in pages:  # a page's checks come before the next page is asked for
                empty = empty + 1 if page.token and not page.records else 0
                if empty > MAX_EMPTY_PAGES:
                    raise ResumptionLoop(f"{empty} empty pages in a row, each with a token")
                loop.page(record.identifier or record.raw for record in page.records)
                received += len(page.records)
                shortfall = size.page(len(page.records), page.token, page.cursor,
                                      page.complete_list_size)
                if shortfall is not None:
                    self._short_list(spec, start, end, shortfall)
                self.future.check((record.datestamp for record in page.records), guards.now())
                records = [r.harvested() for r in page.records]
                plan = await asyncio.to_thread(prepare, self.catalog, target, records)
                yield _Listed(page, size.delivered), plan

        async def store(items: list[tuple[_Listed, Plan]]) -> None:
            await asyncio.to_thread(self._commit, items, spec, (start, end))

        try:
            await overlapped(prepared(), store)  # the next pages are fetched while some are stored
        finally:
            await pages.aclose()
        if spec is not None and start is None and token is None and not received:
            await self._check_listed(self._client, spec, end)

    async def _check_listed(self, client: OaiClient, spec: str, end: str | None) -> None:
        """See that the partner's ListSets names a set whose whole list was empty: most
        partners answer a misspelt setSpec with noRecordsMatch, and a source harvesting it
        would succeed, empty, at every run. A set not named is a window failed for good (the
        run ends partial, its watermark unmoved); a ListSets that cannot be read, or too long
        to read through, is let be."""
        try:
            named = await client.named_sets({spec})
        except OaiError as error:
            if error.code == "noSetHierarchy":
                raise self._sets_not_served(error) from None
            named = None
        except HarvestError:
            named = None
        if named is not None and spec not in named:
            await self._failed_for_good(
                spec, None, end, f"no records, and the partner's ListSets does not name the set "
                f"{spec!r}: is the source's setSpec misspelt?"
            )

    def _planned(self) -> _Plan:
        """The run's plan; raises RuntimeError if called before :meth:`_harvest` made it."""
        if self._plan is None:
            raise RuntimeError("the run has no plan yet: lists are harvested only after Identify")
        return self._plan

    # -- database ----------------------------------------------------------------------

    def _state(self) -> Row[Any]:
        with self.catalog.engine.connect() as connection:
            return resumption.load(connection, self.source.name)

    def _still_as_read(self) -> None:
        """Under the source's lock, refuse the run (SourceError) of a source of the database
        removed or changed since it was read (:func:`harvest`): a removed one's state, which
        the lock's row began anew, is forgotten again; a changed one is to be asked for
        again, as it is now."""
        engine, name = self.catalog.engine, self.source.name
        now = added_source(self.catalog, name)
        if now == self.source:
            return
        if now is None:
            mine = (harvest_state.c.source == name) & (harvest_state.c.lock_owner == self.owner)
            executed(engine, delete(harvest_state).where(mine),
                     f"forgetting the lock of removed source {name!r}")  # fmt: skip
        locks.release(engine, name, self.owner)
        raise SourceError(f"source {name!r} was {'removed' if now is None else 'changed'} "
                          "meanwhile")

    def _open_run(self) -> int:
        return transaction(self.catalog.engine, self._opened,
                           f"opening a run of {self.source.name}")

    def _opened(self, connection: Connection) -> int:
        """The run's row, added as running (a run of the source left running ends interrupted,
        with a line saying so: it said nothing of why, as if stopped by the operator)."""
        errors = harvest_runs.c.errors
        connection.execute(
            update(harvest_runs)
            .where(harvest_runs.c.source == self.source.name, harvest_runs.c.status == RUNNING)
            .values(status=INTERRUPTED, errors=case((errors == "", ENDED_UNSAID),
                                                    else_=errors + "\n" + ENDED_UNSAID))
        )
        return int(
            connection.execute(
                harvest_runs.insert().values(
                    source=self.source.name,
                    status=RUNNING,
                    started=int(time.time()),
                    full=self.options.full,
                    from_=self.options.from_,
                    until=self.options.until,
                )
            ).inserted_primary_key[0]
        )

    def _commit(
        self, items: list[tuple[_Listed, Plan]], spec: str | None,
        window: tuple[str | None, str | None],
    ) -> None:
        """Write prepared pages in one transaction, with where the list stands after the last
        of them (its resumption token, and the entries delivered up to it)."""
        plan = self._planned()
        page, delivered = items[-1][0]

        def write(writer: CatalogWriter) -> None:
            for _, prepared in items:
                counts = apply(writer, self._target(), prepared, unmapped=self.unmapped)
                self._record_batch(writer, counts)
            resumption.save(
                writer.connection,
                self.source.name,
                run_id=self.run_id,
                first_response_date=plan.first_response_date,
                run_from=plan.run_from,
                run_until=plan.run_until,
                set_spec=spec,
                done_sets=" ".join(plan.done) or None,
                window_from=window[0],
                window_until=window[1],
                token=page.token,
                cursor=delivered,
                failed_windows=self.failed_windows,
                endpoint=resumption.endpoint_of(self.source),
            )

        self.catalog.write(write)
        for each, _ in items:
            self._shown(each.page.complete_list_size, spec, each.delivered)

    def _target(self) -> IngestTarget:
        return IngestTarget.of(
            self.source, self.source.url, self.run_id, self.settings.limits.max_record_bytes
        )

    def _save_failed_windows(self) -> None:
        """Save the count of windows failed for good at once, not only with the next page: a
        run killed before that page must still not look complete when it is resumed. Saved only
        while the run holds the source's lock (raises :class:`harvester.locks.TakenOver` if
        not): the count went into the harvest state of the run that took the source over."""
        name = self.source.name
        state = harvest_state.c
        saved = (update(harvest_state).where(state.source == name, state.lock_owner == self.owner)
                 .values(failed_windows=self.failed_windows))  # fmt: skip
        what = f"saving the failed windows of the run of {name}"
        if executed(self.catalog.engine, saved, what) != 1:
            raise locks.TakenOver(f"another run took source {name!r} over")

    def _record_batch(self, writer: CatalogWriter, counts: Counts) -> None:
        """In a page's (or batch's) transaction: renew the source's lock and add the page and
        its counts to the run, in its row and, once the row commits with the records, here."""
        locks.renew(writer.connection, self.source.name, self.owner)
        runs = harvest_runs.c
        writer.connection.execute(
            update(harvest_runs)
            .where(runs.id == self.run_id)
            .values(
                added=runs.added + counts.added,
                updated=runs.updated + counts.updated,
                deleted=runs.deleted + counts.deleted,
                unchanged=runs.unchanged + counts.unchanged,
                gone=runs.gone + counts.gone,
                rejected=runs.rejected + counts.rejected,
                pages=runs.pages + 1,
                requests=self.requests,
            )
        )
        writer.after_commit(partial(self._count_batch, counts))

    def _count_batch(self, counts: Counts) -> None:
        self.counts.add(counts)
        self.pages += 1
        self._unshown.append((self.pages, self.counts.total))

    def _reject_page(self, error: MalformedResponse) -> None:
        """Keep a page that could not be used at all, once per run per distinct content, and
        of a large page only its first ``max_record_bytes`` (a partner sending a new broken
        page on every request must not fill the catalogue)."""
        digest = hashlib.sha256(error.raw).hexdigest()
        if not error.raw or digest in self._rejected_pages:
            return
        self._rejected_pages.add(digest)
        target = self._target()
        kept = error.raw[: target.max_record_bytes]
        reason = f"page: {error}"
        if len(kept) < len(error.raw):
            reason += f" (first {len(kept)} of {len(error.raw)} bytes kept)"
        def write(writer: CatalogWriter) -> None:
            reject(writer, target, None, reason, kept)
            runs = harvest_runs.c
            writer.connection.execute(
                update(harvest_runs)
                .where(runs.id == self.run_id)
                .values(rejected=runs.rejected + 1)
            )
            writer.after_commit(self._count_rejected_page)

        self.catalog.write(write)

    def _count_rejected_page(self) -> None:
        self.counts.rejected += 1

    def _close_run(self, status: str, stopped: str | None = None) -> str | None:
        """Record the end of the run (its record ended by :meth:`_end_record`); if it ended
        complete (succeeded, or partial with its failures recorded) forget where it stood, and
        on success move the watermark (an OAI-PMH source's; SRU and Z39.50 sources have none).
        Returns the watermark.

        A run whose source another run took over since its last page (on PostgreSQL, its
        advisory lock's session gone) leaves where the source stands and its watermark to that
        run, and its record says so."""
        self._end_record(stopped)
        watermark, owned = transaction(self.catalog.engine, partial(self._closed, status),
                                       f"closing the run of {self.source.name}")  # fmt: skip
        if not owned:
            self.errors.append(self._left_to_the_other_run())
        return watermark

    def _left_to_the_other_run(self) -> str:
        """The last line of the record of a run that ended complete, its source taken over."""
        return (f"another run took source {self.source.name!r} over before this run's end was "
                "recorded: where the source stands and its watermark are left to that run")

    def _closed(self, status: str, connection: Connection) -> tuple[str | None, bool]:
        """:meth:`_close_run` on ``connection``, once the record is ended; and whether the run
        still held the source's lock (always said True of a run not complete)."""
        lines = self._error_lines()
        connection.execute(
            update(harvest_runs)
            .where(harvest_runs.c.id == self.run_id)
            .values(
                status=status,
                finished=int(time.time()),
                requests=self.requests,
                errors="\n".join(lines),
            )
        )
        before = Coverage.of(resumption.load(connection, self.source.name))
        watermark = before.watermark
        plan = self._plan
        if status not in (SUCCEEDED, PARTIAL):
            return watermark, True
        try:  # (after a write: a SQLite transaction holds the write lock from there)
            locks.renew(connection, self.source.name, self.owner)
        except locks.TakenOver:
            lines = self._error_lines([self._left_to_the_other_run()])  # as its report's
            connection.execute(update(harvest_runs).where(harvest_runs.c.id == self.run_id)
                               .values(errors="\n".join(lines)))  # fmt: skip
            return watermark, False
        if plan is not None and status == SUCCEEDED:
            watermark = self._move_watermark(connection, plan, before)
        resumption.clear(connection, self.source.name)
        return watermark, True

    def _move_watermark(self, connection: Connection, plan: _Plan, before: Coverage) -> str | None:
        """Move the watermark, on ``connection``, past the succeeded run of ``plan``, covering
        the sets that run leaves complete, and return it; unless the run left none complete:
        the watermark stays ``before``."""
        covered = self._covered(plan, before)
        if not covered:
            return before.watermark
        watermark = dates.watermark_from(plan.first_response_date, self.granularity)
        connection.execute(
            update(harvest_state)
            .where(harvest_state.c.source == self.source.name)
            .values(covering(watermark, self.source, covered))
        )
        return watermark

    def _covered(self, plan: _Plan, before: Coverage) -> list[str | None]:
        """The sets whose lists the run of ``plan`` leaves in the catalogue up to its new
        watermark, which covers them (none: the watermark stays ``before``): each asked from
        the start, or from no later than a watermark that covered it. A resumed run's sets
        were each asked by it or by a run it resumes (``plan.done``), with the same plan."""
        new = dates.parse(dates.watermark_from(plan.first_response_date, self.granularity))
        if plan.run_until is not None and dates.parse(plan.run_until) < new:
            return []  # bounded by hand (--until) before now
        return [
            spec for spec in self._sets
            if plan.start_of(spec) is None or self._continues(before, spec, plan.start_of(spec))
        ]  # fmt: skip

    def _continues(self, before: Coverage, spec: str | None, start: str | None) -> bool:
        """Whether a list of set ``spec`` from ``start`` goes on from the watermark ``before``:
        it covers the set, and ``start`` is no later."""
        if before.watermark is None or not before.covers(spec, self.source):
            return False
        return start is None or dates.parse(start) <= dates.parse(before.watermark)

    def _error_lines(self, then: Sequence[str] = ()) -> list[str]:
        """The run's record: its client's events, then its own lines (what it resumed, the
        windows it gave up, how it failed) and ``then``, :data:`MAX_ERROR_LINES` at most. The
        events are cut first; the run's own lines, past half of the record, in their middle
        (the first and the last say where the run started and how it ended)."""
        client = self._client or self._sru or self._z3950
        events = [str(event) for event in client.events] if client is not None else []
        dropped = client.events_dropped if client is not None else 0
        own = [*self.errors, *then]
        if len(own) > MAX_ERROR_LINES // 2:
            end = MAX_ERROR_LINES // 4
            own = [*own[:end], f"... and {len(own) - 2 * end} more", *own[-end:]]
        room = MAX_ERROR_LINES - len(own)
        if len(events) + dropped > room:
            shown = events[: room - 1]
            events = [*shown, f"... and {len(events) - len(shown) + dropped} more"]
        return events + own
