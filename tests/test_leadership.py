"""One scheduler across processes sharing a PostgreSQL catalogue: the second waits while the
first leads, takes over when the first stops, and a leader whose database session is ended
stops scheduling. On SQLite the scheduler runs at once, as it always did."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from catalog import Catalog
from catalog.harvest_state import harvest_runs
from catalog.set_rules import paused, place_again, refusal
from config import HarvestSource, Settings
from config.settings import SetRule
from harvester import advisory
from harvester.leadership import ScheduleLeadership, lead_schedules
from harvester.scheduler import HarvestScheduler, start_scheduler
from harvester.sources import add_source

LIVENESS = 60.0
"""Seconds anything expected may take on a loaded machine (a bound, not a measurement)."""


def _eventually(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + LIVENESS
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_scheduler_starts_at_once(settings: Settings, catalog: Catalog) -> None:
    schedules = lead_schedules(settings, catalog)
    try:
        assert isinstance(schedules, HarvestScheduler)
    finally:
        schedules.shutdown()


@pytest.mark.postgres
@pytest.mark.parametrize("catalog_url", ["postgresql"], indirect=True)
def test_one_leader_at_a_time_and_a_successor_when_it_stops(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    first = lead_schedules(settings, catalog, retry_seconds=0.2, sync_seconds=0.5)
    second = lead_schedules(settings, catalog, retry_seconds=0.2, sync_seconds=0.5)
    assert isinstance(first, ScheduleLeadership) and isinstance(second, ScheduleLeadership)
    try:
        _eventually(lambda: first.leading.is_set() or second.leading.is_set())
        leader, other = (first, second) if first.leading.is_set() else (second, first)
        time.sleep(1.0)  # five of the other's tries
        assert not other.leading.is_set()
        leader.shutdown()
        _eventually(other.leading.is_set)
        with caplog.at_level(logging.ERROR, logger="harvester.leadership"):
            with catalog.engine.connect() as connection:  # as a database restart would
                ended = connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                         "WHERE locktype = 'advisory' AND classid = :namespace"),
                    {"namespace": advisory.SCHEDULER},
                ).scalars().all()  # fmt: skip
            assert ended == [True]
            _eventually(lambda: "lost the harvest scheduler's lock" in caplog.text)
        _eventually(other.leading.is_set)  # it competes again, and wins: no one else runs
    finally:
        first.shutdown()
        second.shutdown()


@pytest.mark.postgres
@pytest.mark.parametrize("catalog_url", ["postgresql"], indirect=True)
def test_a_leader_on_old_set_rules_hands_the_schedules_over(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    """The leading node's ``[[sets]]`` rules stop being the catalogue's (another node ran
    ``koprik db sets`` with a rule added) and a source's hourly run falls due there: rather
    than skip it and hold the schedules paused, every other node shut out, until it is
    restarted, it leaves that run due, gives up the lock and competes no more; a node on the
    current rules takes the schedules over and starts the run at once, not an hour later."""
    add_source(settings, catalog, HarvestSource(name="partner", url="http://127.0.0.1:9/oai",
                                                every="1h", delay=0, retries=0),
               check=False)  # fmt: skip
    made = start_scheduler(settings, catalog)  # the job, stored as a node made it earlier,
    made._scheduler.pause()  # falling due in two seconds
    made._scheduler.modify_job("harvest:partner", jobstore="default",
                               next_run_time=datetime.now(UTC) + timedelta(seconds=2))
    made.shutdown()
    old = lead_schedules(settings, catalog, retry_seconds=0.2, sync_seconds=60)
    assert isinstance(old, ScheduleLeadership)
    current_settings = dataclasses.replace(
        settings, sets=[*settings.sets, SetRule(spec="by", name="By", rule="material")])
    current_catalog = Catalog.open(current_settings)
    current = None
    try:
        _eventually(old.leading.is_set)
        place_again(current_catalog.engine, current_settings.sets)
        current = lead_schedules(current_settings, current_catalog, retry_seconds=0.2,
                                 sync_seconds=0.5)  # fmt: skip
        assert isinstance(current, ScheduleLeadership)
        with caplog.at_level(logging.WARNING, logger="harvester.leadership"):
            _eventually(current.leading.is_set)
        assert old.stepped_down.is_set() and not old.leading.is_set()
        assert "hands the harvest schedules over" in caplog.text
        _eventually(lambda: _runs_of(catalog, "partner") == 1)  # started on the current node
        time.sleep(1.0)  # five of its tries, were it still trying
        assert not old.leading.is_set() and current.leading.is_set()
        current.shutdown()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="harvester.leadership"):
            late = lead_schedules(settings, catalog, retry_seconds=0.2, sync_seconds=60)
            assert isinstance(late, ScheduleLeadership)  # another node on the old rules
            _eventually(late.stepped_down.is_set)  # wins the lock, starts no schedule
        assert not late.leading.is_set()
        late.shutdown()
        said = [r.getMessage() for r in caplog.records if r.name == "harvester.leadership"]
        assert said == [paused(refusal(settings.file)),  # why, which it did not say
                        "this node hands the harvest schedules over to a node on the "
                        "catalogue's [[sets]] rules, and runs them no more"]  # fmt: skip
    finally:
        old.shutdown()
        if current is not None:
            current.shutdown()
        current_catalog.close()


def _runs_of(catalog: Catalog, source: str) -> int:
    with catalog.engine.connect() as connection:
        return int(connection.execute(
            select(func.count()).select_from(harvest_runs).where(harvest_runs.c.source == source)
        ).scalar_one())  # fmt: skip
