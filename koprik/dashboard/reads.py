"""What the dashboard's pages and the API show, read from the catalogue database.

Plain functions over an engine (each runs in a worker thread, off the event loop), returning
plain data the templates and the JSON API both use.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, inspect, select, text

from catalog import Catalog
from catalog.harvest_state import harvest_rejects, harvest_runs
from catalog.models import hidden, record_sets, records
from catalog.renditions import FORMATS
from config import HarvestSource, Settings
from harvester import locks
from harvester.coverage import NOTHING, Coverage, coverage_of, coverages
from harvester.runs import ENDED_UNSAID, INTERRUPTED, RUNNING
from harvester.scheduler import JOB_PREFIX, JOBS_TABLE
from harvester.sources import SourceEntry, alike, all_sources, named, shown, twins

DAY = 86400
LARGEST_ID = 2**31 - 1
"""The largest id an ``Integer`` key holds on every engine (PostgreSQL's ``integer``): a larger
number from a URL names nothing (and the database would fail on it, not miss it)."""
MAX_RAW_SHOWN = 20_000
"""Bytes of a reject shown on its page (the whole of it is downloadable)."""


@dataclass(frozen=True)
class Run:
    id: int
    source: str
    status: str
    started: int
    finished: int | None
    full: bool
    added: int
    updated: int
    deleted: int
    unchanged: int
    gone: int
    rejected: int
    requests: int
    pages: int
    errors: list[str]

    @property
    def records(self) -> int:
        return self.added + self.updated + self.deleted + self.unchanged + self.gone + self.rejected

    @property
    def seconds(self) -> int | None:
        """How long it ran, or has run so far; None for a run that ended without a finish (its
        process killed: the next run marked it interrupted), whose end nobody saw (counted to
        now, a run killed after seconds showed minutes, then hours)."""
        if self.finished is not None:
            return self.finished - self.started
        return int(time.time()) - self.started if self.status == RUNNING else None

    @property
    def rate(self) -> float | None:
        """Records per second (so far), None when :attr:`seconds` is not known."""
        seconds = self.seconds
        if seconds is None:
            return None
        return self.records / seconds if seconds > 0 else float(self.records)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        rate = self.rate
        data.update(records=self.records, seconds=self.seconds,
                    rate=None if rate is None else round(rate, 1))
        return data


def _as_they_are(connection: Connection, found: list[Run]) -> list[Run]:
    """``found`` with each run recorded running that no live run holds the source of (its
    process killed, its node gone) shown as its source's next run will record it,
    interrupted with a line saying so: it was shown running, its page reloading itself,
    until that run, a day later for a daily source."""
    ended = locks.unheld(connection, {run.source for run in found if run.status == RUNNING})
    return [replace(run, status=INTERRUPTED, errors=[*run.errors, ENDED_UNSAID])
            if run.status == RUNNING and run.source in ended else run for run in found]


def _run(row: Any) -> Run:
    return Run(
        id=row.id, source=row.source, status=row.status, started=row.started,
        finished=row.finished, full=bool(row.full), added=row.added, updated=row.updated,
        deleted=row.deleted, unchanged=row.unchanged, gone=row.gone, rejected=row.rejected,
        requests=row.requests, pages=row.pages, errors=row.errors.splitlines(),
    )  # fmt: skip


def runs(
    engine: Engine, source: str | None = None, limit: int = 50, before: int | None = None
) -> list[Run]:
    """The newest ``limit`` runs (of ``source``: none when the name holds a NUL, which no
    source's does and PostgreSQL refuses in any text it is sent), of those before run
    ``before`` when given (the next page of a list)."""
    if source is not None and "\x00" in source:
        return []
    query = select(harvest_runs).order_by(harvest_runs.c.id.desc()).limit(limit)
    if source is not None:
        query = query.where(harvest_runs.c.source == source)
    if before is not None:
        query = query.where(harvest_runs.c.id < before)
    with engine.connect() as connection:
        return _as_they_are(connection, [_run(row) for row in connection.execute(query)])


RUNS_SHOWN = 200
"""Runs a page of runs (and of the API's) lists; the next page is of those before its last."""


def runs_before(value: str | None) -> int | None:
    """The run a page of runs begins before: a URL's ``before``, None when not given; raises
    ValueError, saying why in one line, for one that is not a run's number."""
    if value is None or value == "":
        return None
    digits = value.lstrip("0")  # (a number of a million digits takes a while to convert)
    if not (value.isascii() and value.isdigit()) or not 0 < len(digits) <= len(str(LARGEST_ID)) \
            or int(digits) > LARGEST_ID + 1:
        raise ValueError(f"before: expected a run's number, got {value[:40]!r}")
    return int(digits)


def runs_page(
    engine: Engine, source: str | None, before: int | None
) -> tuple[list[Run], int | None]:
    """A page of :func:`runs` (:data:`RUNS_SHOWN` of them, before run ``before`` when given),
    and the run the next page begins before (None: this is the last)."""
    found = runs(engine, source, RUNS_SHOWN + 1, before)
    if len(found) <= RUNS_SHOWN:
        return found, None
    return found[:RUNS_SHOWN], found[RUNS_SHOWN - 1].id


def run(engine: Engine, run_id: int) -> Run | None:
    if not 1 <= run_id <= LARGEST_ID:
        return None
    with engine.connect() as connection:
        row = connection.execute(select(harvest_runs).where(harvest_runs.c.id == run_id)).first()
        return None if row is None else _as_they_are(connection, [_run(row)])[0]


@dataclass(frozen=True)
class Reject:
    id: int
    source: str
    run_id: int | None
    identifier: str | None
    reason: str
    size: int
    raw: bytes
    """The record's bytes as received; of a reject listed (:func:`rejects`), the first
    :data:`MAX_RAW_SHOWN` of them."""

    @property
    def shown(self) -> str:
        """The raw bytes as text (invalid UTF-8 replaced), cut at :data:`MAX_RAW_SHOWN`."""
        return self.raw[:MAX_RAW_SHOWN].decode("utf-8", "replace")


REJECTS_SHOWN = 200
"""Rejects a run's page (and the API's run) lists; each one's page has all of it."""


def rejects(engine: Engine, run_id: int, limit: int = REJECTS_SHOWN) -> list[Reject]:
    """The first ``limit`` rejects of run ``run_id``, each with the first
    :data:`MAX_RAW_SHOWN` bytes of its record, what a page shows of it (read whole, a page of
    200 rejects of records up to ``max_record_bytes`` took up to that many megabytes)."""
    r = harvest_rejects.c
    listed = select(r.id, r.source, r.run_id, r.identifier, r.reason,
                    func.length(r.raw).label("size"),
                    func.substr(r.raw, 1, MAX_RAW_SHOWN).label("head"))  # fmt: skip
    with engine.connect() as connection:
        rows = connection.execute(
            listed.where(r.run_id == run_id).order_by(r.id).limit(limit)
        ).all()
    return [Reject(row.id, row.source, row.run_id, row.identifier, row.reason, row.size,
                   bytes(row.head or b"")) for row in rows]


def rejects_shown(engine: Engine, run_id: int) -> tuple[list[Reject], bool]:
    """The first :data:`REJECTS_SHOWN` :func:`rejects` of run ``run_id``, and whether it has
    more."""
    found = rejects(engine, run_id, REJECTS_SHOWN + 1)
    return found[:REJECTS_SHOWN], len(found) > REJECTS_SHOWN


def reject(engine: Engine, reject_id: int) -> Reject | None:
    if not 1 <= reject_id <= LARGEST_ID:
        return None
    with engine.connect() as connection:
        row = connection.execute(
            select(harvest_rejects).where(harvest_rejects.c.id == reject_id)
        ).first()
    if row is None:
        return None
    return Reject(row.id, row.source, row.run_id, row.identifier, row.reason, len(row.raw),
                  row.raw)


def version_of(source: HarvestSource) -> str:
    """A digest of ``source``'s definition, sent back with its edit form: a form shown before
    the source was changed (by another operator) is told apart
    (:func:`koprik.dashboard.sources.update_source`)."""
    shown = json.dumps(asdict(source), sort_keys=True, default=str)
    return hashlib.sha256(shown.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SourceView:
    """A source with what the sources page shows beside its definition."""

    entry: SourceEntry
    last_run: Run | None
    coverage: Coverage
    next_run: datetime | None
    alike: tuple[SourceEntry, ...] = ()
    """The other sources that harvest the same records (:func:`harvester.sources.alike`)."""

    @property
    def version(self) -> str:
        return version_of(self.entry.source)

    @property
    def shown(self) -> HarvestSource:
        """The source as pages and the API show it, its password masked
        (:func:`harvester.sources.shown`)."""
        return shown(self.entry.source)

    @property
    def alike_named(self) -> str:
        """The sources of :attr:`alike` as pages name them, a disabled one said so
        (:func:`harvester.sources.named`)."""
        return ", ".join(named(entry.source) for entry in self.alike)

    @property
    def schedule(self) -> str:
        source = self.entry.source
        return f"every {source.every}" if source.every else (source.cron or "")

    @property
    def watermark(self) -> str | None:
        return self.coverage.watermark

    @property
    def from_the_start(self) -> str | None:
        """What the next run harvests from the start, the watermark not covering it as the
        source is now, and why (the line ``koprik sources list`` ends with); None: nothing."""
        return self.coverage.anew(self.entry.source)[1]

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self.shown),
            "origin": self.entry.origin,
            "watermark": self.watermark,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last_run": self.last_run.as_json() if self.last_run else None,
            "alike": [entry.source.name for entry in self.alike],
        }


def next_run_times(engine: Engine, source: str | None = None) -> dict[str, datetime]:
    """Source name -> the next scheduled run (of ``source`` alone, when given), from the
    scheduler's job store (shared by every node; empty until a scheduler has run on this
    catalogue)."""
    if not inspect(engine).has_table(JOBS_TABLE):
        return {}
    if source is None:
        query = text(f"SELECT id, next_run_time FROM {JOBS_TABLE} WHERE id LIKE :prefix")
        values = {"prefix": JOB_PREFIX + "%"}
    else:
        query = text(f"SELECT id, next_run_time FROM {JOBS_TABLE} WHERE id = :id")
        values = {"id": JOB_PREFIX + source}
    with engine.connect() as connection:
        rows = connection.execute(query, values).all()
    return {
        row.id[len(JOB_PREFIX):]: datetime.fromtimestamp(row.next_run_time, UTC)
        for row in rows if row.next_run_time is not None
    }


def sources(settings: Settings, catalog: Catalog) -> list[SourceView]:
    entries = all_sources(settings, catalog)
    engine = catalog.engine
    with engine.connect() as connection:
        last_ids = select(func.max(harvest_runs.c.id)).group_by(harvest_runs.c.source)
        last = {
            run.source: run
            for run in _as_they_are(connection, [_run(row) for row in connection.execute(
                select(harvest_runs).where(harvest_runs.c.id.in_(last_ids))
            )])
        }
        saved = coverages(connection)
    upcoming = next_run_times(engine)
    others = {(entry.source.name, entry.origin): tuple(
        other for other in group if other is not entry)
        for group in alike(entries) for entry in group}
    return [
        SourceView(e, last.get(e.source.name), saved.get(e.source.name, NOTHING),
                   upcoming.get(e.source.name) if e.source.enabled else None,
                   others.get((e.source.name, e.origin), ()))
        for e in entries
    ]


def source(settings: Settings, catalog: Catalog, entry: SourceEntry) -> SourceView:
    """``entry``'s view (as :func:`sources` makes it), reading that source's runs, state and
    job alone: its page (refreshed while it runs) and the API ask for one source of thousands.
    The definitions of all (one table, no runs) are read to name its
    :func:`~harvester.sources.twins`."""
    name = entry.source.name
    last = runs(catalog.engine, name, limit=1)
    with catalog.engine.connect() as connection:
        coverage = coverage_of(connection, name)
    upcoming = next_run_times(catalog.engine, name).get(name) if entry.source.enabled else None
    others = tuple(twins(all_sources(settings, catalog), entry))
    return SourceView(entry, last[0] if last else None, coverage, upcoming, others)


@dataclass(frozen=True)
class Overview:
    live: int
    """Records served (union records, and records in no union group)."""
    deleted: int
    members: int
    """Records grouped into a union record (served through it)."""
    sets: list[tuple[str, int]]
    formats: list[str]
    recent_problems: list[Run]
    rejects_today: int


def overview(engine: Engine) -> Overview:
    since = int(time.time()) - DAY
    rs, r = record_sets.c, records.c
    with engine.connect() as connection:
        served = ~hidden()
        sizes = dict(connection.execute(
            select(served, func.count()).select_from(records).group_by(served)).all())
        members = connection.execute(
            select(func.count()).select_from(records)
            .where(r.union_id.is_not(None), r.deleted.is_(False))
        ).scalar_one()
        by_set = connection.execute(
            select(rs.set_spec, func.count())
            .select_from(record_sets.join(records, records.c.id == rs.record_id))
            .where(served)
            .group_by(rs.set_spec)
            .order_by(rs.set_spec)
        ).all()
        problems = connection.execute(
            select(harvest_runs)
            .where(harvest_runs.c.started >= since,
                   (harvest_runs.c.errors != "") | (harvest_runs.c.rejected > 0)
                   | harvest_runs.c.status.in_(("failed", "partial", "interrupted")))
            .order_by(harvest_runs.c.id.desc())
            .limit(50)
        ).all()
        rejects_today = connection.execute(
            select(func.count()).select_from(harvest_rejects)
            .join(harvest_runs, harvest_runs.c.id == harvest_rejects.c.run_id)
            .where(harvest_runs.c.started >= since)
        ).scalar_one()
    return Overview(
        live=sizes.get(True, 0),
        deleted=sizes.get(False, 0) - members,
        members=int(members),
        sets=[(spec, count) for spec, count in by_set],
        formats=list(FORMATS),
        recent_problems=[_run(row) for row in problems],
        rejects_today=int(rejects_today),
    )
