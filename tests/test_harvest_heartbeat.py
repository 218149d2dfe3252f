"""A harvest run's heartbeat (:meth:`harvester.runs.HarvestRun._beating`): while it runs, the run
renews its source's lock whatever its pages, so a run that waits on its partner longer than the
lease keeps its source, and its record shows the requests it sends meanwhile. A run whose
source another run took over stops, whether its heartbeat or its harvest state's writes find
it. The lease and the beat are shortened here (seconds, not an hour and five minutes); the
partner is the fault provider on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Row, select, update
from sqlalchemy.exc import OperationalError

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs, harvest_state
from config import HarvestSource
from harvester import locks
from harvester.oai_client import Politeness
from harvester.runs import (
    FAILED,
    INTERRUPTED,
    SUCCEEDED,
    HarvestRun,
    RunOptions,
    RunReport,
    Stop,
    harvest,
)
from tests.fault_provider import FaultProvider, Hold, catalogue_of, serve

RECORDS = 30
PAGE = 5
LEASE = 2
"""Seconds of the shortened lease."""
BEAT = 0.3
"""Seconds between two beats of the shortened heartbeat."""
LIVENESS = 60.0
"""Seconds a run may take to do what is waited for on a loaded machine (well under one)."""
OTHER = "another-host.example:4242:feedface"
"""The owner of a run that takes the source over (one of another host: never stale here)."""
OTHER_TOKEN = "other|run|token|5"
LEFT = ("another run took source 'partner' over before this run's end was recorded: where the "
        "source stands and its watermark are left to that run")
"""The last line of a run whose close found its source taken over."""


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "LEASE_SECONDS", LEASE)
    monkeypatch.setattr(locks, "BEAT_SECONDS", BEAT)


def _wait_for(predicate: Callable[[], bool], what: str, seconds: float = LIVENESS) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _run_row(catalog: Catalog) -> Row | None:  # type: ignore[type-arg]
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(harvest_runs).where(harvest_runs.c.source == "partner")
            .order_by(harvest_runs.c.id.desc())
        ).first()  # fmt: skip


def _state(catalog: Catalog) -> Row:  # type: ignore[type-arg]
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(harvest_state).where(harvest_state.c.source == "partner")
        ).one()


def _take_over(catalog: Catalog) -> None:
    """Name another run as the source's lock owner, as a run taking it over does (on
    PostgreSQL one holding the advisory lock; the run's own is held here)."""
    with catalog.engine.begin() as connection:
        connection.execute(update(harvest_state).where(harvest_state.c.source == "partner")
                           .values(lock_owner=OTHER,
                                   lock_expires=int(time.time()) + 3600))  # fmt: skip


def _taken_over_where_it_stands(catalog: Catalog) -> None:
    """:func:`_take_over`, and the other run's position saved (run 99, its token)."""
    _take_over(catalog)
    with catalog.engine.begin() as connection:
        connection.execute(update(harvest_state).where(harvest_state.c.source == "partner")
                           .values(run_id=99, token=OTHER_TOKEN))  # fmt: skip


def _silent_after_the_first(count: int) -> None:
    """A provider hook: every list (or search) request after the first is answered late, after
    the run's timeout (the provider's loop held meanwhile)."""
    if count > 1:
        time.sleep(0.4)


@contextmanager
def _running(
    catalog: Catalog, source: HarvestSource, politeness: Politeness, stop: Stop | None = None,
    options: RunOptions | None = None,
) -> Iterator[list[RunReport]]:
    """``source`` harvested in a thread, as the scheduler and the dashboard run it; yields
    the list its report is put in once it ended (the thread is joined on leaving)."""
    reports: list[RunReport] = []
    thread = threading.Thread(target=lambda: reports.append(
        harvest(catalog, source, options, politeness=politeness, stop=stop)))
    thread.start()
    try:
        yield reports
    finally:
        if stop is not None:
            stop.request()
        thread.join(LIVENESS)
        assert not thread.is_alive(), "the run never ended"


@contextmanager
def _held_at(
    catalog: Catalog, request: int
) -> Iterator[tuple[list[RunReport], HarvestSource]]:
    """A run of a partner of :data:`RECORDS` records (:func:`_running`) once the partner holds
    its list request number ``request``, until the block ends; yields the list its report is
    put in, and the source."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE)
    hold = Hold(request, LIVENESS)
    provider.on_list_request = hold
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        with _running(catalog, source, Politeness(delay=0, timeout=LIVENESS)) as reports:
            try:
                assert hold.held.wait(LIVENESS), f"the run never sent list request {request}"
                yield reports, source
            finally:
                hold.release.set()


@pytest.mark.usefixtures("short_lease")
def test_a_run_waiting_on_its_partner_longer_than_the_lease_keeps_its_source(
    catalog: Catalog,
) -> None:
    """The partner holds the run's second list request for longer than the lease: another run
    of the source started meanwhile is refused (SourceBusy), and the first ends with every
    record. Before, the lease lapsed on SQLite and the second run took the source over while
    the first, alive, waited; the first then ended failed at its next page."""
    with _held_at(catalog, 2) as (reports, source):
        time.sleep(LEASE + 1.5)  # the lease, renewed at the first page, has lapsed
        with pytest.raises(locks.SourceBusy, match="'partner' is being harvested by"):
            harvest(catalog, source, politeness=Politeness(delay=0))
    (report,) = reports
    assert (report.status, report.counts.added, report.errors) == (SUCCEEDED, RECORDS, [])
    assert len(catalogue_of(catalog, "partner")) == RECORDS
    assert _state(catalog).lock_owner is None


@pytest.mark.usefixtures("short_lease")
@pytest.mark.parametrize("protocol", ["oai-pmh", "sru"])
def test_a_run_retrying_a_silent_partner_shows_its_requests_as_it_sends_them(
    catalog: Catalog, protocol: str
) -> None:
    """After the first page, the partner answers no request within the run's timeout, and the
    run retries: its row in harvest_runs, read while it runs, counts the requests it sent
    since its last page. Before, it showed the count of its last page's commit until it
    ended (retries up to 1000 of timeouts up to a day each)."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE)
    stop = Stop()
    politeness = Politeness(delay=0, timeout=0.2, retries=1000, backoff=0.01, backoff_max=0.02)
    with serve(provider.app()) as url:
        if protocol == "sru":
            provider.on_search_request = _silent_after_the_first
            source = HarvestSource(name="partner", url=url.replace("/oai", "/sru"),
                                   protocol="sru", query="cql.allRecords=1", prefix="marcxml")
        else:
            provider.on_list_request = _silent_after_the_first
            source = HarvestSource(name="partner", url=url)
        with _running(catalog, source, politeness, stop) as reports:
            _wait_for(lambda: (row := _run_row(catalog)) is not None and row.pages == 1,
                      "the first page")  # fmt: skip
            at_page = _run_row(catalog).requests  # type: ignore[union-attr]
            deadline = time.monotonic() + 10 * BEAT + 5
            seen = at_page
            while time.monotonic() < deadline and seen < at_page + 3:
                row = _run_row(catalog)
                assert row is not None and row.status == "running" and row.pages == 1
                seen = row.requests
                time.sleep(0.05)
            assert seen >= at_page + 3, (at_page, seen, len(provider.list_requests()))
    (report,) = reports
    assert report.status == INTERRUPTED
    assert _run_row(catalog).requests == report.requests >= seen  # type: ignore[union-attr]


@pytest.mark.usefixtures("short_lease")
def test_a_beat_failing_otherwise_is_logged_and_the_run_goes_on(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A beat that fails other than by finding the source taken over (the database away for a
    moment: injected here, twice) is logged and tried again at the next beat: the lease lasts a
    dozen beats. It ended the run failed, with that error."""
    beat = HarvestRun._beat
    failures = [OperationalError("SELECT 1", {}, Exception("server closed the connection"))] * 2

    def flaky(run: HarvestRun) -> None:
        if failures:
            raise failures.pop()
        beat(run)

    monkeypatch.setattr(HarvestRun, "_beat", flaky)
    with _held_at(catalog, 2) as (reports, _):
        _wait_for(lambda: not failures, "two beats failing")
        renewed = _state(catalog).lock_expires
        _wait_for(lambda: _state(catalog).lock_expires > renewed,
                  "a beat renewing the lease after the failures")  # fmt: skip
    (report,) = reports
    assert (report.status, report.counts.added, report.errors) == (SUCCEEDED, RECORDS, [])
    said = [r.getMessage() for r in caplog.records if r.name == "harvester.runs"]
    assert said[:2] == [
        "run of partner: its lease could not be renewed (server closed the connection); tried "
        f"again in {BEAT:g} s",
    ] * 2


@pytest.mark.usefixtures("short_lease")
def test_a_heartbeat_finding_the_source_taken_over_stops_the_run(catalog: Catalog) -> None:
    """Another run takes the source over while the partner holds this run's second list
    request: its heartbeat finds it, and the run ends at once (the request still held),
    failed, with the line a page's commit finding it says; its first page is kept, and the
    lock stays the other run's. Before, the run waited for its partner, however long."""
    with _held_at(catalog, 2) as (reports, _):
        _wait_for(lambda: (row := _run_row(catalog)) is not None and row.pages == 1,
                  "the first page")  # fmt: skip
        _take_over(catalog)
        # well before the held request's patience ends: the heartbeat ended the run
        _wait_for(lambda: bool(reports), "the run's end while its request is held", LIVENESS / 4)
    (report,) = reports
    line = ("run stopped after page 1: another run took source 'partner' over; the pages "
            "committed before are kept")  # fmt: skip
    assert (report.status, report.pages, report.counts.added, report.errors) == (
        FAILED, 1, PAGE, [line])
    row = _run_row(catalog)
    assert row is not None and (row.status, row.pages, row.added, row.errors) == (
        FAILED, 1, PAGE, line)
    assert len(catalogue_of(catalog, "partner")) == PAGE
    assert _state(catalog).lock_owner == OTHER


def test_a_run_whose_source_was_taken_over_does_not_save_its_failed_windows_there(
    catalog: Catalog,
) -> None:
    """A run of one day of a partner of days granularity whose list fails (HTTP 500): the
    window cannot be halved, fails for good, and the run saves the count in the source's
    harvest state at once. The source was taken over while the partner held the list
    request: the run ends failed, saying so, and the other run's state is left as it was.
    Before, the count was written into it, and the run ended partial, clearing where that
    run stood."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE, day_granularity=True)
    provider.poison("oai:fault.test:0")
    hold = Hold(1, LIVENESS)
    provider.on_list_request = hold
    one_day = RunOptions(from_="2020-01-01", until="2020-01-01")
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        with _running(catalog, source, Politeness(delay=0, timeout=LIVENESS, retries=0),
                      options=one_day) as reports:  # fmt: skip
            try:
                assert hold.held.wait(LIVENESS), "the run never asked for its list"
                _taken_over_where_it_stands(catalog)
            finally:
                hold.release.set()
    (report,) = reports
    line = "run stopped before its first page: another run took source 'partner' over"
    assert (report.status, report.errors[-1]) == (FAILED, line)
    state = _state(catalog)
    assert (state.lock_owner, state.failed_windows, state.run_id, state.token) == (
        OTHER, 0, 99, OTHER_TOKEN)


def test_a_run_whose_source_was_taken_over_before_its_end_leaves_its_state_to_the_other(
    catalog: Catalog,
) -> None:
    """The run's last set is empty, which it checks the partner's ListSets names; the source
    is taken over while the partner holds that request. The run ends succeeded (its records
    are in), saying another run took the source over before its end was recorded, and leaves
    the source's harvest state to that run: where it stands, no watermark. Before, the run's
    end cleared that run's position and moved the watermark."""
    provider = FaultProvider(list(demo_records(2)), page_size=PAGE, sets=("a", "b", "empty"))
    hold = Hold(1, LIVENESS)
    provider.on_list_sets = hold
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url, sets=["a", "empty"])
        with _running(catalog, source, Politeness(delay=0, timeout=LIVENESS)) as reports:
            try:
                assert hold.held.wait(LIVENESS), "the run never asked for ListSets"
                _taken_over_where_it_stands(catalog)
            finally:
                hold.release.set()
    (report,) = reports
    assert (report.status, report.counts.added, report.errors) == (SUCCEEDED, 1, [LEFT])
    assert _run_row(catalog).errors == LEFT  # type: ignore[union-attr]
    state = _state(catalog)
    assert (state.lock_owner, state.run_id, state.token, state.watermark) == (
        OTHER, 99, OTHER_TOKEN, None)


@pytest.mark.usefixtures("short_lease")
def test_a_takeover_a_beat_finds_as_the_run_ends_is_the_close_s_to_say(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A beat in progress as the run's work ends finds the source taken over (its transaction
    held here until the work ended): the run, its records all in, ends succeeded with the
    line its close says of a takeover, as when the close finds it. The beat's finding made
    it failed, "stopped after page N", though it had stopped after none."""
    beating, work_ended = threading.Event(), threading.Event()
    until_stopped, beat = HarvestRun._until_stopped, HarvestRun._beat

    async def noting_the_end(run: HarvestRun, work: Any) -> bool:
        try:
            return await until_stopped(run, work)
        finally:
            work_ended.set()

    def late(run: HarvestRun) -> None:
        beating.set()
        assert work_ended.wait(LIVENESS), "the run's work never ended"
        _take_over(catalog)
        beat(run)

    monkeypatch.setattr(HarvestRun, "_until_stopped", noting_the_end)
    monkeypatch.setattr(HarvestRun, "_beat", late)
    with _held_at(catalog, RECORDS // PAGE) as (reports, _):  # its last page, until a beat begins
        assert beating.wait(LIVENESS), "no beat while the last page was held"
    (report,) = reports
    assert (report.status, report.counts.added, report.errors) == (SUCCEEDED, RECORDS, [LEFT])
    assert _run_row(catalog).errors == LEFT  # type: ignore[union-attr]
    assert _state(catalog).lock_owner == OTHER
