"""One scheduler across every node sharing a PostgreSQL catalogue.

APScheduler 3 cannot share its job store between processes (each would fire every job), so
only the node holding the scheduler's advisory lock (:mod:`harvester.advisory`) runs one; the
others try again every :data:`RETRY_SECONDS` and one of them takes over within seconds of the
leader's death (the server ends the dead leader's session, which frees the lock). The leader
pings its lock's session as often; if the session is lost (the database restarted, the network
failed) it stops scheduling, stopping a run in progress after the pages it is writing (the
source's next run, on whichever node leads, resumes it), and competes again. The job store
keeps each job's next run time, so a new leader runs what fell due meanwhile once. A leader
whose ``[[sets]]`` rules are no longer the catalogue's (another node ran ``koprik db sets``)
would hold the schedules paused (:attr:`HarvestScheduler.paused`) until restarted: it hands them
over instead (a run the pause skipped left due at once), and competes no more, so that a node
on the current rules runs them; a node on old rules that wins the lock hands it back at once.

On SQLite, one host and one scheduler (the job of ``koprik serve``'s worker 0, or of
``koprik scheduler``), scheduling starts at once as before::

    schedules = lead_schedules(settings, catalog)
    ...
    schedules.shutdown()
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from catalog import Catalog
from catalog.set_rules import SetRulesUnreadable, differing, paused
from config import Settings
from harvester import advisory
from harvester.scheduler import SYNC_SECONDS, HarvestScheduler, start_scheduler

log = logging.getLogger(__name__)

RETRY_SECONDS = 3.0
"""How often a node not leading tries the lock, and the leader checks it still holds it."""


class ScheduleLeadership:
    """Competes for the scheduler's lock in a thread; runs the scheduler while it holds it."""

    def __init__(
        self, settings: Settings, catalog: Catalog, *, retry_seconds: float, sync_seconds: float
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self._retry_seconds = retry_seconds
        self._sync_seconds = sync_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._compete, name="schedule-leadership",
                                        daemon=True)  # fmt: skip
        self.leading = threading.Event()
        """Set while this process runs the schedules."""
        self.stepped_down = threading.Event()
        """Set once this process's ``[[sets]]`` rules kept it from running the schedules."""

    def start(self) -> None:
        self._thread.start()

    def _compete(self) -> None:
        while not self._stop.is_set() and not self.stepped_down.is_set():
            try:
                held = advisory.try_lock(self.catalog.engine, advisory.SCHEDULER, 0)
            except SQLAlchemyError as error:  # the database is away: try again later
                log.warning("could not ask for the harvest scheduler's lock: %s",
                            str(error).splitlines()[0])  # fmt: skip
                held = None
            if held is not None:
                self._lead(held)
            self._stop.wait(self._retry_seconds)

    def _lead(self, held: Connection) -> None:
        scheduler: HarvestScheduler | None = None
        try:
            catalog = self.catalog
            try:
                differs = differing(catalog.engine, catalog.rules, catalog.settings.file)
            except SetRulesUnreadable:  # its scheduler waits until db sets records them anew
                differs = None
            if differs is not None:
                log.warning("%s", paused(differs))
                self._step_down()
                return
            log.info("this node runs the harvest schedules")
            scheduler = start_scheduler(self.settings, self.catalog,
                                        sync_seconds=self._sync_seconds)  # fmt: skip
            self.leading.set()
            while not self._stop.wait(self._retry_seconds):
                if scheduler.paused:
                    handing, scheduler = scheduler, None
                    handing.hand_over()
                    self._step_down()
                    break
                if not advisory.alive(held):
                    log.error("lost the harvest scheduler's lock (database session ended): "
                              "this node stops running the schedules")  # fmt: skip
                    break
        except Exception:
            log.exception("the harvest scheduler stopped")
        finally:
            self.leading.clear()
            if scheduler is not None:
                scheduler.shutdown()  # stops a run in progress, which commits per page
            advisory.unlock(held)

    def _step_down(self) -> None:
        log.warning("this node hands the harvest schedules over to a node on the catalogue's "
                    "[[sets]] rules, and runs them no more")  # fmt: skip
        self.stepped_down.set()

    def shutdown(self) -> None:
        """Stop competing; if leading, stop the scheduler and the runs in progress."""
        self._stop.set()
        self._thread.join()


def lead_schedules(
    settings: Settings,
    catalog: Catalog,
    *,
    retry_seconds: float = RETRY_SECONDS,
    sync_seconds: float = SYNC_SECONDS,
) -> HarvestScheduler | ScheduleLeadership:
    """Run the harvest schedules here: at once on SQLite, on PostgreSQL while this process
    holds the scheduler's lock. Call ``.shutdown()`` on the result to stop."""
    if not advisory.supported(catalog.engine):
        return start_scheduler(settings, catalog, sync_seconds=sync_seconds)
    leadership = ScheduleLeadership(settings, catalog, retry_seconds=retry_seconds,
                                    sync_seconds=sync_seconds)  # fmt: skip
    leadership.start()
    return leadership
