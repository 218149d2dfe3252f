"""One scheduler across processes sharing a PostgreSQL catalogue: the second waits while the
first leads, takes over when the first stops, and a leader whose database session is ended
stops scheduling. On SQLite the scheduler runs at once, as it always did."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from catalog import Catalog
from catalog.set_rules import place_again
from config import Settings
from config.settings import SetRule
from harvester import advisory
from harvester.leadership import ScheduleLeadership, lead_schedules
from harvester.scheduler import HarvestScheduler

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
    ``koprik db sets`` with a rule added): its schedules pause, and rather than hold them
    paused, and every other node out, until it is restarted, it gives up the lock and competes
    no more; a node on the current rules takes the schedules over."""
    old = lead_schedules(settings, catalog, retry_seconds=0.2, sync_seconds=0.5)
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
        time.sleep(1.0)  # five of its tries, were it still trying
        assert not old.leading.is_set() and current.leading.is_set()
    finally:
        old.shutdown()
        if current is not None:
            current.shutdown()
        current_catalog.close()
