"""Scheduled harvests: APScheduler 3 with its job store in the catalogue database.

>>> scheduler = start_scheduler(settings, catalog)   # inside `koprik serve`, or `koprik scheduler`
>>> scheduler.shutdown()

Each enabled source with a schedule (``every`` or ``cron``) is one persistent job
``harvest:<name>`` in the table ``apscheduler_jobs``, so schedules survive restarts. A job whose
trigger did not change keeps its stored next run time across a restart; if that time passed
while Koprik was down, the job runs once on start (``coalesce`` and no misfire limit). Sources
are re-read every :data:`SYNC_SECONDS`, so one added with ``koprik sources add`` is scheduled
without a restart. A source never has two runs at once: ``max_instances=1`` within a process (a
trigger falling due during the run is said once in the log, :func:`_overran`), and the
source's database lock (:mod:`harvester.locks`) across processes and nodes (a run that
finds the lock taken is skipped and logged). A job store that fails (the database unreachable)
is looked at again :data:`RETRY_SECONDS` later, with one error line. As often, the deduplication
queue is worked through while no scheduled harvest runs (:func:`work_through_queue`): records
written outside an import or a harvest (copy cataloguing, ``koprik demo``) join their union
records within that time, not at the next harvest. Which process runs the scheduler when several
nodes share a PostgreSQL catalogue is decided by :mod:`harvester.leadership`.

A node whose ``[[sets]]`` rules are no longer the catalogue's (another node ran ``koprik db
sets``) would have every write of a run refused, each run ending failed: once a job finds so
(:func:`catalog.set_rules.differing`, one read as it falls due), the scheduler starts no run and
works through no queue any more, and says so in one warning line
(:func:`catalog.set_rules.paused`, which ``/health`` says too), until the node is restarted with
the current settings file. Recorded rules that cannot be read (a damaged catalogue) pause it
likewise, but only until ``koprik db sets`` records them anew: it then goes on, saying so.

Stopping (:meth:`HarvestScheduler.shutdown`, on SIGTERM or ^C) starts no new run, asks the
runs in progress to stop (:class:`harvester.runs.Stop`: each commits the pages it is writing
and is recorded ``interrupted``, and the source's next run resumes it), waits the seconds that
takes, and logs one line saying what it stopped. A process killed meanwhile loses nothing
either: each page is committed with where the run stands.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import exists, select
from sqlalchemy.exc import SQLAlchemyError

from catalog import Catalog
from catalog.db import unavailable
from catalog.dedup import run_dedup
from catalog.models import dedup_queue
from catalog.set_rules import SetRulesUnreadable, differing, paused
from config import HarvestSource, Settings
from harvester.locks import SourceBusy
from harvester.run_log import RESUMES, SCHEDULED, counted, log_end, log_lost
from harvester.runs import INTERRUPTED, RunReport, Stop, harvest
from harvester.sources import (
    SourceEntry,
    SourceError,
    all_sources,
    find_source,
    hidden,
    hidden_note,
    parse_every,
    validate,
)

log = logging.getLogger(__name__)

JOB_PREFIX = "harvest:"
DEDUP_JOB = "dedup:queue"
JOBS_TABLE = "apscheduler_jobs"
SYNC_SECONDS = 30.0
RETRY_SECONDS = 5.0
"""How soon the scheduler looks again after its job store failed (the database unreachable)."""


@dataclass
class _Context:
    settings: Settings
    catalog: Catalog
    stop: Stop = field(default_factory=Stop)
    """Requested when the scheduler stops: the runs in progress end, interrupted."""
    running: set[str] = field(default_factory=set)
    """Sources whose scheduled run is in progress (guarded by ``_context_lock``)."""
    stopped: list[RunReport] = field(default_factory=list)
    """Reports of the runs that ended once the stop was requested (guarded likewise)."""
    paused: bool = False
    """Whether scheduled work is paused (:func:`_pausing`; guarded likewise)."""
    unreadable: str | None = None
    """The line saying the recorded ``[[sets]]`` rules cannot be read, while they cannot
    (:func:`_waiting`; guarded likewise)."""
    skipped: set[str] = field(default_factory=set)
    """Sources whose run fell due while paused, not started (guarded likewise)."""
    overran: set[str] = field(default_factory=set)
    """Running sources whose schedule fell due again during the run, said in the log (guarded
    likewise)."""


_context: _Context | None = None
_context_lock = threading.Lock()


def trigger_of(source: HarvestSource) -> BaseTrigger | None:
    """The APScheduler trigger of a source's schedule (None when it has none)."""
    if source.every:
        return IntervalTrigger(seconds=parse_every(source.every).total_seconds(), timezone="UTC")
    if source.cron:
        return CronTrigger.from_crontab(source.cron, timezone="UTC")
    return None


def run_scheduled(name: str) -> None:
    """The job function (stored by reference): harvest source ``name`` now, if it may run."""
    with _context_lock:
        context = _context
    if context is None:
        log.error("scheduled harvest of %s: no scheduler context in this process", name)
        return
    work = SCHEDULED.format(source=name)
    with _unless_unavailable(work, "it runs at its next trigger", "not started"):
        if _pausing(context):
            with _context_lock:
                context.skipped.add(name)
            return
        try:
            entry = find_source(context.settings, context.catalog, name)
        except SourceError as error:
            log.warning("scheduled harvest skipped: %s", error)
            return
    with _unless_unavailable(work, RESUMES):
        _run(context, name, entry)


def _run(context: _Context, name: str, entry: SourceEntry) -> None:
    """The scheduled run of source ``name`` (``entry``), unless it cannot run now; its end
    logged."""
    source = entry.source
    if not source.enabled:
        log.info("scheduled harvest of %s skipped: the source is disabled", name)
        return
    with _context_lock:
        if context.stop.requested:  # fell due as the scheduler began to stop
            log.info("scheduled harvest of %s not started: the scheduler is stopping", name)
            return
        context.running.add(name)
    try:
        report = harvest(context.catalog, source, settings=context.settings, stop=context.stop,
                         added=entry.added)
    except SourceBusy as error:
        log.warning("scheduled harvest of %s skipped, a run is in progress: %s", name, error)
        return
    except SourceError as error:
        log.error("scheduled harvest of %s refused: %s", name, error)
        return
    finally:
        with _context_lock:
            context.running.discard(name)
            context.overran.discard(name)
    if context.stop.requested:
        with _context_lock:
            context.stopped.append(report)
    log_end(log, report, SCHEDULED)


def work_through_queue() -> None:
    """The job run every ``sync_seconds`` (kept in memory, not stored): deduplicate what
    waits in the queue, unless a scheduled harvest is running (its end takes the queue) or
    the scheduler is stopping; a stop requested meanwhile ends it between batches."""
    with _context_lock:
        context = _context
        if context is None or context.running or context.stop.requested:
            return
    with _unless_unavailable("deduplicating the queue", "it goes on at its next turn"):
        if _pausing(context):
            return
        with context.catalog.engine.connect() as connection:
            if not connection.execute(select(exists().select_from(dedup_queue))).scalar():
                return
        report = run_dedup(context.catalog, stop=lambda: context.stop.requested)
        log.info("deduplicated the queue: %s", report.summary())


@contextlib.contextmanager
def _unless_unavailable(work: str, after: str, ended: str = "stopped") -> Iterator[None]:
    """Run the block (a job's ``work``); if the catalogue database is unavailable
    (:func:`catalog.db.unavailable`: stopped, restarted, out of connections), say in one
    line that ``work`` ``ended``, and what comes ``after``: a job that raised it was logged by
    APScheduler with a traceback of each chained exception (four for a harvest whose
    database stopped, some 375 lines). Any other error is raised."""
    try:
        yield
    except SQLAlchemyError as error:
        reason = unavailable(error)
        if reason is None:
            raise
        log_lost(log, work, reason, after, ended)


def _pausing(context: _Context) -> bool:
    """Whether scheduled work is paused: from the first job that finds this node's ``[[sets]]``
    rules are not the catalogue's (:func:`catalog.set_rules.differing`), said then in one
    warning line, until the process ends (module docstring); and while the recorded rules
    cannot be read (:func:`_waiting`)."""
    with _context_lock:
        if context.paused:
            return True
    catalog = context.catalog
    try:
        why = differing(catalog.engine, catalog.rules, catalog.settings.file)
    except SetRulesUnreadable as error:
        _waiting(context, str(error))
        return True
    _waiting(context, None)
    if why is None:
        return False
    with _context_lock:
        first, context.paused = not context.paused, True
    if first:
        log.warning("%s", paused(why))
    return True


def _waiting(context: _Context, unreadable: str | None) -> None:
    """Note whether the recorded ``[[sets]]`` rules cannot be read (``unreadable``, the line
    saying so), saying it once as scheduled work stops and once as it goes on: not for good,
    as for other rules, since ``koprik db sets`` records them anew, this node's own."""
    with _context_lock:
        before, context.unreadable = context.unreadable, unreadable
    if unreadable is not None and unreadable != before:
        log.warning("%s", paused(unreadable))
    elif unreadable is None and before is not None:
        log.info("scheduled harvests go on: the [[sets]] rules the catalogue records can be "
                 "read again")  # fmt: skip


class _SchedulerLines(logging.Filter):
    """Drops APScheduler's warning that a job fell due while it was still running ("Execution
    of job ... skipped: maximum number of running instances reached"), which it logs at every
    trigger: a schedule shorter than its harvest (``every = "1min"``, a first harvest of hours)
    filled the log with a line a minute. :func:`_overran` says it once a run instead.

    Its other lines are made one line each: a failed look for due jobs quoted SQLAlchemy's
    whole message (the driver's lines, a hint, a link)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances" in str(record.msg):
            return False
        message = record.getMessage()
        if "\n" in message:
            record.msg, record.args = message.partition("\n")[0], ()
        return True


_apscheduler_log = logging.getLogger("apscheduler.scheduler.harvests")
_apscheduler_log.addFilter(_SchedulerLines())


def _overran(event: JobSubmissionEvent) -> None:
    """A scheduled harvest fell due while its run goes on (the run is not started twice):
    said once a run, in one line."""
    if not event.job_id.startswith(JOB_PREFIX):
        return  # the queue's deduplication, due again while it works: its next turn comes
    name = event.job_id.removeprefix(JOB_PREFIX)
    with _context_lock:
        context = _context
        if context is None or name not in context.running or name in context.overran:
            return
        context.overran.add(name)
    log.warning("scheduled harvest of %s fell due again while its run goes on: that run is "
                "not started twice, and its schedule is skipped until the run ends (a schedule "
                "shorter than the source's harvests?)", name)  # fmt: skip


class _BackgroundScheduler(BackgroundScheduler):
    """APScheduler's background scheduler, less a race at shutdown.

    ``shutdown()`` marks the scheduler stopped, then waits for the running jobs while holding
    the job-store lock. Its loop, woken meanwhile by a job falling due, passes its own check of
    the state and queues for that lock; once the running harvest ended it submitted the due job
    to the executor just shut down, which logged a traceback ("cannot schedule new futures
    after shutdown"). Asking for the state under the same lock closes the gap: a look for due
    jobs either ends before ``shutdown()`` takes the lock (its job is then waited for) or finds
    the scheduler stopped and starts nothing.
    """

    def _process_jobs(self) -> float | None:
        with self._jobstores_lock:
            if self.state == STATE_STOPPED:
                return None
            try:
                wait_seconds: float | None = super()._process_jobs()
            except Exception as error:
                # APScheduler retries a failed look for due jobs, but not a failed write of the
                # next run time or read of the next wake-up: raised here, it ended the
                # scheduler's thread, and every schedule, for good (the database restarted as
                # a job fell due). A job whose next run time was not written runs again then.
                cause = getattr(error, "orig", None) or error  # a DBAPIError: the driver's
                log.error("harvest scheduler: its job store failed (%s: %s); looking again in %g s",
                          type(cause).__name__, str(cause).partition("\n")[0], RETRY_SECONDS)
                return RETRY_SECONDS
            return wait_seconds


class HarvestScheduler:
    """A running scheduler; :meth:`shutdown` stops it (and the harvests it runs)."""

    def __init__(self, settings: Settings, catalog: Catalog, sync_seconds: float) -> None:
        self.settings = settings
        self.catalog = catalog
        self._scheduler = _BackgroundScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=catalog.engine, tablename=JOBS_TABLE),
                "memory": MemoryJobStore(),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            jobstore_retry_interval=RETRY_SECONDS,
            timezone="UTC",
            logger=_apscheduler_log,
        )
        self._scheduler.add_listener(_overran, EVENT_JOB_MAX_INSTANCES)
        self._sync_seconds = sync_seconds
        self._hidden_said: set[str] = set()
        """The sources :func:`harvester.sources.hidden` whose warning is in the log."""
        self._context = _Context(settings, catalog)
        self._stop_sync = threading.Event()
        self._sync_thread = threading.Thread(
            target=self._sync_until_stopped, name="harvest-schedule-sync", daemon=True
        )

    @property
    def paused(self) -> bool:
        """Whether its scheduled work is paused: this node's ``[[sets]]`` rules are no longer
        the catalogue's (:func:`_pausing`)."""
        with _context_lock:
            return self._context.paused

    def start(self) -> None:
        global _context
        with _context_lock:
            _context = self._context
        # paused until the jobs match the sources, so a removed source's job never fires
        self._scheduler.start(paused=True)
        self.sync()
        self._scheduler.add_job(
            work_through_queue, IntervalTrigger(seconds=self._sync_seconds, timezone="UTC"),
            id=DEDUP_JOB, name=DEDUP_JOB, jobstore="memory",
        )
        self._scheduler.resume()
        self._sync_thread.start()

    def _sync_until_stopped(self) -> None:
        """Re-read the sources every ``sync_seconds``, in a thread of its own: APScheduler's
        shutdown holds its job-store lock while it waits for running jobs, so a sync run as a
        job would deadlock with it."""
        while not self._stop_sync.wait(self._sync_seconds):
            try:
                with _unless_unavailable("re-reading the harvest sources",
                                         f"read again in {self._sync_seconds:g} s"):
                    self.sync()
            except Exception:  # a fault of ours must not end scheduling for good either
                log.exception("could not re-read the harvest sources")

    def sync(self) -> None:
        """Make the jobs match the enabled, scheduled sources (unchanged jobs are kept as is)."""
        wanted: dict[str, tuple[HarvestSource, BaseTrigger]] = {}
        entries = all_sources(self.settings, self.catalog)
        shadowed = {entry.source.name for entry in hidden(entries)}
        for name in sorted(shadowed - self._hidden_said):
            log.warning("%s", hidden_note(name, self.settings.file))
        self._hidden_said = shadowed
        for entry in entries:
            if entry.added and entry.source.name in shadowed:
                continue  # its schedule ran koprik.toml's source, whose runs were its own
            try:
                validate(entry.source)
            except SourceError as error:
                log.error("source %s is not scheduled: %s", entry.source.name, error)
                continue
            trigger = trigger_of(entry.source)
            if entry.source.enabled and trigger is not None:
                wanted[JOB_PREFIX + entry.source.name] = (entry.source, trigger)
        for job in self._scheduler.get_jobs(jobstore="default"):
            if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
                log.info("unscheduling %s", job.id)
                job.remove()
        for job_id, (source, trigger) in wanted.items():
            job = self._scheduler.get_job(job_id, jobstore="default")
            if job is not None and str(job.trigger) == str(trigger):
                continue
            log.info("scheduling %s: %s", job_id, trigger)
            self._scheduler.add_job(
                run_scheduled, trigger, args=[source.name], id=job_id, name=job_id,
                jobstore="default", replace_existing=True,
            )

    def next_run_time(self, name: str) -> datetime | None:
        """When source ``name`` runs next, or None if it is not scheduled."""
        job = self._scheduler.get_job(JOB_PREFIX + name, jobstore="default")
        return None if job is None else job.next_run_time

    def hand_over(self) -> None:
        """Stop (:meth:`shutdown`), each run that fell due while paused left due at once in
        the job store the nodes share, so that the node running the schedules next starts it
        (APScheduler moved its next run time on as it fired)."""
        self._scheduler.pause()
        with _context_lock:
            skipped = sorted(self._context.skipped)
        for name in skipped:
            with contextlib.suppress(JobLookupError):  # its source removed meanwhile
                self._scheduler.modify_job(JOB_PREFIX + name, jobstore="default",
                                           next_run_time=datetime.now(UTC))  # fmt: skip
        self.shutdown()

    def shutdown(self, wait: bool = True) -> None:
        """Start no new run, ask the runs in progress to stop and wait for them to end
        (unless ``wait`` is False), and log one line saying what was stopped."""
        global _context
        started = time.monotonic()
        self._stop_sync.set()
        if self._sync_thread.is_alive():
            self._sync_thread.join()
        context = self._context
        context.stop.request()
        with _context_lock:
            running = sorted(context.running)
        self._scheduler.shutdown(wait=wait)
        with _context_lock:
            if _context is context:
                _context = None
            stopped = sorted(context.stopped, key=lambda report: report.source)
        seconds = time.monotonic() - started
        log.info("%s", _stopped(stopped, seconds) if wait else _not_waited(running))


NOTHING_SCHEDULED_RAN = "harvest scheduler stopped; no scheduled harvest was running"
"""The scheduler's stopping line when none of its runs was in progress (a harvest started from
the dashboard is not the scheduler's: it logs its own line as it ends)."""


def _stopped(reports: list[RunReport], seconds: float) -> str:
    """The line logged once the scheduler stopped: the runs it stopped, and how."""
    if not reports:
        return NOTHING_SCHEDULED_RAN
    runs = ", ".join(f"{r.source} (run #{r.run_id} {r.status} after {counted(r.pages, 'page')})"
                     for r in reports)  # fmt: skip
    line = (f"harvest scheduler stopped in {seconds:.1f} s: started no new run and stopped "
            f"the harvest{'s' if len(reports) > 1 else ''} of {runs}")
    if any(report.status == INTERRUPTED for report in reports):
        line += "; the next run resumes where each stopped"
    return line


def _not_waited(running: list[str]) -> str:
    if not running:
        return NOTHING_SCHEDULED_RAN
    runs = f"the harvest{'s' if len(running) > 1 else ''} of {', '.join(running)}"
    return f"harvest scheduler stopped without waiting for {runs} it asked to stop"


def start_scheduler(
    settings: Settings, catalog: Catalog, *, sync_seconds: float = SYNC_SECONDS
) -> HarvestScheduler:
    """Start scheduled harvesting in background threads; call ``.shutdown()`` to stop it."""
    scheduler = HarvestScheduler(settings, catalog, sync_seconds)
    scheduler.start()
    return scheduler
