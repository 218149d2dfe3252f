"""A harvest run as it goes on, against a partner that accepts connections and never answers
(a listening socket on 127.0.0.1): its row shows the requests it has sent, retries included,
and it keeps its source's lock for as long as it runs, however long its lease."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select, update

from catalog import Catalog
from catalog.harvest_state import harvest_runs, harvest_state
from catalog.transactions import executed
from config import HarvestSource
from harvester import locks
from harvester.locks import SourceBusy
from harvester.oai_client import Politeness
from harvester.runs import (
    FAILED,
    HEARTBEAT_SECONDS,
    INTERRUPTED,
    RUNNING,
    RunReport,
    Stop,
    harvest,
)
from tests.fault_provider import sqlite_catalog

PATIENT = Politeness(delay=0, timeout=1.0, retries=5, backoff=0.01)
"""Six requests of a second each to a partner that never answers: a run of some six seconds."""
LONG = Politeness(delay=0, timeout=1.0, retries=30, backoff=0.01, backoff_max=0.01)
"""A run of some thirty seconds against a partner that never answers (the tests stop it)."""


@contextmanager
def _silent_partner() -> Iterator[str]:
    """A server on 127.0.0.1 that accepts every connection and never answers on it (nor closes
    it); yields its /oai URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    done = threading.Event()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while not done.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/oai"
    finally:
        done.set()
        thread.join(10)
        listener.close()
        for connection in accepted:
            connection.close()


@contextmanager
def _running(
    catalog: Catalog, source: HarvestSource, politeness: Politeness, stop: Stop | None = None
) -> Iterator[list[RunReport | BaseException]]:
    """A harvest of ``source`` in a thread of its own, as the scheduler runs one; yields the
    list its report (or what it raised) is put in when it ends, which the block waits for."""
    ended: list[RunReport | BaseException] = []

    def work() -> None:
        try:
            ended.append(harvest(catalog, source, politeness=politeness, stop=stop))
        except BaseException as error:  # (said by the test)
            ended.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        yield ended
    finally:
        thread.join(60)


def _rows(catalog: Catalog) -> list[tuple[str, int]]:
    """(status, requests) of every run recorded."""
    with catalog.engine.connect() as connection:
        rows = connection.execute(select(harvest_runs.c.status, harvest_runs.c.requests))
        return [(row.status, row.requests) for row in rows]


def test_a_run_retrying_a_silent_partner_shows_its_requests_while_it_runs(
    catalog: Catalog,
) -> None:
    seen: list[tuple[str, int]] = []
    with _silent_partner() as url, \
            _running(catalog, HarvestSource(name="silent", url=url), PATIENT) as ended:
        while not ended:
            seen += _rows(catalog)
            time.sleep(0.1)
    (report,) = ended
    assert isinstance(report, RunReport) and report.status == FAILED
    assert report.requests == 6
    assert _rows(catalog) == [(FAILED, 6)]
    shown = {requests for status, requests in seen if status == RUNNING}
    assert max(shown) >= 2, f"while the run went on its row said {sorted(shown)} requests"


def _started(catalog: Catalog) -> None:
    """Wait until the run is recorded (its lock taken)."""
    deadline = time.monotonic() + 30
    while not _rows(catalog):
        assert time.monotonic() < deadline, "the run was not recorded"
        time.sleep(0.05)


def test_a_run_waiting_on_a_silent_partner_past_its_lease_keeps_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite: on PostgreSQL the run's advisory lock keeps the source whatever its lease says
    monkeypatch.setattr(locks, "LEASE_SECONDS", 3)
    catalog = sqlite_catalog(tmp_path, "lease")
    stop, stopped = Stop(), Stop()
    stopped.request()  # a second run that starts ends at once
    with _silent_partner() as url:
        source = HarvestSource(name="silent", url=url)
        with _running(catalog, source, LONG, stop) as ended:
            _started(catalog)
            time.sleep(locks.LEASE_SECONDS + 2)
            try:
                with pytest.raises(SourceBusy):
                    harvest(catalog, source, politeness=LONG, stop=stopped)
                assert [status for status, _ in _rows(catalog)] == [RUNNING]
            finally:
                stop.request()
    (report,) = ended
    assert isinstance(report, RunReport) and report.status == INTERRUPTED
    catalog.close()


def test_a_run_whose_source_is_taken_over_ends_at_once(catalog: Catalog) -> None:
    taken_over = update(harvest_state).values(lock_owner="elsewhere:1:0ther")  # as by a node
    with _silent_partner() as url, \
            _running(catalog, HarvestSource(name="silent", url=url), LONG) as ended:
        _started(catalog)
        executed(catalog.engine, taken_over, "taking the source over")
        taken = time.monotonic()
        while not ended:
            time.sleep(0.05)
        waited = time.monotonic() - taken
    (error,) = ended
    assert isinstance(error, SourceBusy), error
    assert waited < 3 * HEARTBEAT_SECONDS + 2, f"the run went on {waited:.1f} s"
    with catalog.engine.connect() as connection:
        row = connection.execute(select(harvest_runs.c.status, harvest_runs.c.errors)).one()
    assert row.status == FAILED
    assert row.errors.endswith("run failed: SourceBusy: the lock of source 'silent' was taken over")
