"""Harvests started from the dashboard or the API ("harvest now"), each in its own thread.

:func:`harvester.runs.harvest` blocks (it runs its own event loop), so each one runs in a
worker thread; the run is recorded in ``harvest_runs`` like any other, and the source's
database lock keeps it from overlapping a scheduled run (that one is then refused with
:class:`harvester.locks.SourceBusy`, whose message the operator sees). When the server stops,
the runs still going are stopped after the pages they are writing (recorded ``interrupted``;
the source's next run resumes them). Each run's end is logged in one line as a scheduled run's
is (:func:`harvester.run_log.log_end`), so a run started here that failed is in the log too.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from sqlalchemy import func, select

from catalog import Catalog
from catalog.db import unavailable
from catalog.harvest_state import harvest_runs
from harvester.locks import SourceBusy
from harvester.run_log import RESUMES, log_end, log_lost
from harvester.runs import RunReport, Stop, harvest
from harvester.sources import SourceEntry, SourceError

log = logging.getLogger(__name__)

START_SECONDS = 60.0
"""How long :meth:`Harvests.start` waits for the run to be recorded (the lock is taken and
the run row written before the partner is contacted, so this is only a database delay)."""
_POLL = 0.05
DASHBOARD = "from the dashboard"
API = "through the API"
"""Where a run was asked for, as the lines logged of it say (``harvest of p started through the
API: failed ...``)."""


class StartRefused(Exception):
    """A harvest that could not start (busy, or a definition that cannot be harvested)."""


class Harvests:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._tasks: set[asyncio.Task[RunReport]] = set()
        self._stop = Stop()

    async def start(self, entry: SourceEntry, via: str) -> int:
        """Start harvesting ``entry``'s source now, asked for ``via`` (:data:`DASHBOARD`,
        :data:`API`); return the id of its run once it is recorded."""
        source = entry.source
        before = await asyncio.to_thread(self._last_run, source.name)
        task: asyncio.Task[RunReport] = asyncio.create_task(asyncio.to_thread(
            harvest, self.catalog, source, stop=self._stop, added=entry.added
        ))  # fmt: skip
        self._tasks.add(task)
        task.add_done_callback(partial(self._finished, source.name, via))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_SECONDS
        while loop.time() < deadline:
            if task.done() and task.exception() is not None:
                error = task.exception()
                if isinstance(error, SourceBusy | SourceError):
                    raise StartRefused(str(error))
                raise StartRefused(f"{type(error).__name__}: {error}")
            run_id = await asyncio.to_thread(self._last_run, source.name)
            if run_id > before:
                return run_id
            await asyncio.sleep(_POLL)
        raise StartRefused("the run was not recorded in time; see the runs page")

    def _finished(self, name: str, via: str, task: asyncio.Task[RunReport]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        started = f"harvest of {{source}} started {via}"
        if isinstance(error, SourceBusy | SourceError):  # (the one asking is told why)
            log.warning("harvest asked for %s not started: %s", via, error)
        elif error is not None and (reason := unavailable(error)) is not None:
            log_lost(log, started.format(source=name), reason, RESUMES)
        elif error is not None:
            log.warning("harvest started %s failed: %s: %s", via, type(error).__name__, error)
        else:
            log_end(log, task.result(), started)

    def _last_run(self, source: str) -> int:
        with self.catalog.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.coalesce(func.max(harvest_runs.c.id), 0)).where(
                        harvest_runs.c.source == source
                    )
                ).scalar_one()
            )

    async def stop(self) -> None:
        """Stop every harvest started here and wait for them to end (at shutdown: seconds,
        the pages being written; a process killed instead loses nothing either, each page is
        committed with where the run stands)."""
        self._stop.request()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
