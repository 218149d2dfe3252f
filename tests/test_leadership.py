"""One scheduler across processes sharing a PostgreSQL catalogue: the second waits while the
first leads, takes over when the first stops, and a leader whose database session is ended
stops scheduling. On SQLite the scheduler runs at once, as it always did."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from catalog import Catalog
from config import Settings
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
