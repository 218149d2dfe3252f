"""Stopping a harvest run (``harvester.runs.Stop``): a run asked to stop in the middle of its
list commits the pages it is writing, is recorded ``interrupted`` with a line saying so,
releases its lock and keeps where it stood, and the next run resumes there and ends with every
record once. OAI-PMH and SRU sources, the run in a thread as the scheduler and the dashboard
run it, the request from another thread.

``koprik harvest`` (a real process, real signals) stops so on ^C or SIGTERM, with one line and
the status 128 + the signal; a second signal while it stops exits at once."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs, harvest_state
from config import DatabaseSettings, HarvestSource, Settings
from harvester import dates
from harvester.oai_client import Politeness
from harvester.runs import INTERRUPTED, SUCCEEDED, RunOptions, Stop, harvest
from harvester.sources import FROM_FILE, SourceEntry
from tests.conftest import ROOT, free_port
from tests.fault_provider import (
    FaultProvider,
    Hold,
    catalogue_of,
    held_then_stopped,
    serve,
)
from tests.postgres import postgres_cluster

RECORDS = 30
PAGE = 5
HELD = 3
"""The list request held at the provider while the run is stopped: pages before it are in."""
LIVENESS = 60.0
"""Seconds a stopped run may take to end on a loaded machine (it takes well under one)."""


def _source(url: str, protocol: str) -> HarvestSource:
    if protocol == "sru":
        return HarvestSource(name="partner", url=url.replace("/oai", "/sru"), protocol="sru",
                             query="cql.allRecords=1", prefix="marcxml")  # fmt: skip
    return HarvestSource(name="partner", url=url)


def _pages_committed(catalog: Catalog) -> int:
    with catalog.engine.connect() as connection:
        return int(connection.execute(select(func.coalesce(func.max(harvest_runs.c.pages), 0)))
                   .scalar_one())  # fmt: skip


def _wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + LIVENESS
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_run_asked_for_by_hand_after_a_stopped_one_says_it_does_not_go_on_from_it(
    catalog: Catalog,
) -> None:
    """A --full (--from, --until) run set the stopped run's position aside without a word, and
    the next run did not resume it (nothing lost: the by-hand run took the whole list)."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE)
    with serve(provider.app()) as url:
        source = _source(url, "oai-pmh")
        with held_then_stopped(catalog, provider, source, HELD, search=False):
            _wait_for(lambda: _pages_committed(catalog) == HELD - 1)
        full = harvest(catalog, source, RunOptions(full=True), politeness=Politeness(delay=0))
    assert full.status == SUCCEEDED, full.errors
    assert full.errors[0] == (
        f"run #1 stopped after {(HELD - 1) * PAGE} records of its list; a run asked for with "
        "--full, --from or --until harvests its own list instead")
    assert sorted(catalogue_of(catalog, "partner")) == sorted(
        f"oai:fault.test:{n}" for n in range(RECORDS))


@pytest.mark.parametrize("protocol", ["oai-pmh", "sru"])
def test_a_run_stopped_mid_list_is_interrupted_and_the_next_run_resumes_it(
    catalog: Catalog, protocol: str
) -> None:
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE)
    with serve(provider.app()) as url:
        source = _source(url, protocol)
        with held_then_stopped(catalog, provider, source, HELD, search=protocol == "sru") as held:
            # the pages fetched before the held request are written before the stop
            _wait_for(lambda: _pages_committed(catalog) == HELD - 1)
        stopped = held.report
        assert stopped is not None
        assert stopped.status == INTERRUPTED
        assert stopped.pages == HELD - 1 and stopped.counts.added == (HELD - 1) * PAGE
        assert stopped.errors[-1] == (
            f"stopped by the operator after page {HELD - 1}; the next run resumes there")
        assert len(catalogue_of(catalog, "partner")) == (HELD - 1) * PAGE
        with catalog.engine.connect() as connection:
            row = connection.execute(select(harvest_runs)).one()
            state = connection.execute(select(harvest_state)).one()
        assert (row.status, row.pages, row.finished is not None) == (INTERRUPTED, HELD - 1, True)
        assert row.errors.splitlines()[-1] == stopped.errors[-1]
        assert state.lock_owner is None  # released
        assert state.run_id == stopped.run_id  # where it stood is kept
        assert state.watermark is None

        since = len(provider.requests)
        again = harvest(catalog, source, politeness=Politeness(delay=0))  # no lock left
        assert again.status == SUCCEEDED, again.errors
        first = next(r for r in provider.requests[since:] if r.get("verb") == "ListRecords"
                     or "query" in r)  # fmt: skip
        if protocol == "sru":
            assert again.errors == [f"resumed run #1 at record {(HELD - 1) * PAGE + 1} of "
                                    f"{RECORDS}"]
            assert first["startRecord"] == str((HELD - 1) * PAGE + 1)
        else:
            assert again.errors[0].startswith("resumed run #1 after")
            assert "resumptionToken" in first
        assert again.counts.added == RECORDS - (HELD - 1) * PAGE
    if protocol == "sru":  # SRU records are known by their 001
        expected = [record["001"].data for record in demo_records(RECORDS)]
    else:
        expected = [f"oai:fault.test:{n}" for n in range(RECORDS)]
    assert sorted(catalogue_of(catalog, "partner")) == sorted(expected)
    with catalog.engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(models.records)).scalar_one()
    assert stored == RECORDS  # each once


SETS = ("a", "b", "c")
PAGES_OF_A_SET = RECORDS // len(SETS) // PAGE


def test_a_run_stopped_between_two_sets_resumes_at_the_next_set(catalog: Catalog) -> None:
    """Stopped as the first page of its second set is asked for (the first set's list is
    finished, its last page committed with no token), the run is interrupted; the next run
    asks for the first set no more, with the span and start of the stopped run, and moves the
    watermark as that run would have."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE, sets=SETS)
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url, sets=list(SETS))
        with held_then_stopped(catalog, provider, source, PAGES_OF_A_SET + 1) as held:
            # the first request of set b
            assert (held.request.get("set"), held.request.get("resumptionToken")) == ("b", None)
        stopped = held.report
        assert stopped is not None
        assert (stopped.status, stopped.pages) == (INTERRUPTED, PAGES_OF_A_SET)
        assert stopped.errors[-1] == (
            f"stopped by the operator after page {PAGES_OF_A_SET}; the next run resumes there")
        with catalog.engine.connect() as connection:
            state = connection.execute(select(harvest_state)).one()
        assert (state.run_id, state.set_spec, state.token) == (stopped.run_id, "a", None)

        since = len(provider.list_requests())
        again = harvest(catalog, source, politeness=Politeness(delay=0))
        assert again.status == SUCCEEDED, again.errors
        assert again.errors == ["resumed run #1 after set a"]
        asked = Counter(provider.set_of(r) for r in provider.list_requests()[since:])
        assert asked == {"b": PAGES_OF_A_SET, "c": PAGES_OF_A_SET}
        assert (again.counts.added, again.counts.unchanged) == (RECORDS * 2 // 3, 0)
        assert again.watermark == dates.watermark_from(state.first_response_date, dates.SECONDS)
    assert sorted(catalogue_of(catalog, "partner")) == sorted(
        f"oai:fault.test:{n}" for n in range(RECORDS))
    with catalog.engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(models.records)).scalar_one()
    assert stored == RECORDS  # each once


def test_a_run_asked_to_stop_before_it_starts_writes_nothing(catalog: Catalog) -> None:
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE)
    stop = Stop()
    stop.request()
    with serve(provider.app()) as url:
        report = harvest(catalog, _source(url, "oai-pmh"), politeness=Politeness(delay=0),
                         stop=stop)  # fmt: skip
    assert report.status == INTERRUPTED and report.pages == 0
    assert report.errors == [
        "stopped by the operator before its first page; the next run starts where it did"]
    assert provider.list_requests() == []
    assert catalogue_of(catalog, "partner") == {}


def test_a_stop_requested_after_a_run_ended_changes_nothing(catalog: Catalog) -> None:
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE)
    stop = Stop()
    with serve(provider.app()) as url:
        report = harvest(catalog, _source(url, "oai-pmh"), politeness=Politeness(delay=0),
                         stop=stop)  # fmt: skip
    stop.request()  # no run watches it any more: nothing is called on a closed loop
    assert report.status == SUCCEEDED and report.counts.added == RECORDS


def test_harvests_started_from_the_dashboard_are_stopped_with_the_server(
    catalog: Catalog,
) -> None:
    """``koprik serve`` stops a "harvest now" run as it stops the scheduled ones (the
    dashboard's clean-up, :meth:`Harvests.stop`), and waits for it to end."""
    from koprik.dashboard.harvests import DASHBOARD, Harvests

    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE)
    hold = Hold(HELD, LIVENESS)
    held, release = hold.held, hold.release
    provider.on_list_request = hold

    async def started_then_stopped(url: str) -> int:
        harvests = Harvests(catalog)
        partner = HarvestSource(name="partner", url=url, delay=0)
        run_id = await harvests.start(SourceEntry(partner, FROM_FILE), DASHBOARD)
        assert await asyncio.to_thread(held.wait, LIVENESS)
        await asyncio.to_thread(_wait_for, lambda: _pages_committed(catalog) == HELD - 1)
        await harvests.stop()
        return run_id

    with serve(provider.app()) as url:
        try:
            run_id = asyncio.run(started_then_stopped(url))
        finally:
            release.set()
    with catalog.engine.connect() as connection:
        row = connection.execute(select(harvest_runs)).one()
    assert (row.id, row.status, row.pages) == (run_id, INTERRUPTED, HELD - 1)
    assert row.errors.splitlines()[-1] == (
        f"stopped by the operator after page {HELD - 1}; the next run resumes there")


@dataclass
class _Command:
    process: subprocess.Popen[str]
    catalog: Catalog
    provider: FaultProvider
    source: HarvestSource
    release: threading.Event
    """Set, the provider answers the held request (it answers nothing else meanwhile)."""


@contextmanager
def _koprik_harvest_held(folder: Path, database: str | None = None) -> Iterator[_Command]:
    """``koprik harvest partner`` running, held on its third list request with the two pages
    before it committed; into the catalogue at URL ``database`` (None: a new SQLite one,
    ``catalog.sqlite3`` in ``folder``)."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE)
    hold = Hold(HELD, LIVENESS)
    held, release = hold.held, hold.release
    provider.on_list_request = hold
    database = database or f"sqlite:///{folder / 'catalog.sqlite3'}"
    with serve(provider.app()) as url:
        config = folder / "koprik.toml"
        config.write_text(
            f'[database]\nurl = "{database}"\n'
            f'[[sources]]\nname = "partner"\nurl = "{url}"\ndelay = 0.0\n'
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "koprik", "--config", str(config), "harvest", "partner"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        catalog = Catalog.open(replace(Settings(), database=DatabaseSettings(url=database)))
        try:
            assert held.wait(LIVENESS)
            _wait_for(lambda: _pages_committed(catalog) == HELD - 1)
            yield _Command(process, catalog, provider, HarvestSource(name="partner", url=url),
                           release)  # fmt: skip
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
                process.communicate()
            provider.on_list_request = None
            catalog.close()


def _resumed_to_the_end(command: _Command) -> None:
    since = len(command.provider.list_requests())
    again = harvest(command.catalog, command.source, politeness=Politeness(delay=0))
    assert again.status == SUCCEEDED, again.errors
    assert again.errors[0].startswith("resumed run #1 after")
    assert "resumptionToken" in command.provider.list_requests()[since]
    assert sorted(catalogue_of(command.catalog, "partner")) == sorted(
        f"oai:fault.test:{n}" for n in range(RECORDS))
    with command.catalog.engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(models.records)).scalar_one()
    assert stored == RECORDS


def _statuses(catalog: Catalog) -> list[tuple[str, int]]:
    with catalog.engine.connect() as connection:
        return [(row.status, row.pages) for row in connection.execute(
            select(harvest_runs).order_by(harvest_runs.c.id))]  # fmt: skip


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_koprik_harvest_stopped_by_a_signal_records_the_run_interrupted(
    tmp_path: Path, signum: int
) -> None:
    """The process ends while the provider still holds the page asked for (it is let go only
    after), with one line on stderr and the status 128 + the signal (130 for ^C)."""
    with _koprik_harvest_held(tmp_path) as command:
        command.process.send_signal(signum)
        out, err = command.process.communicate(timeout=LIVENESS)
        command.release.set()
        assert command.process.returncode == 128 + signum, err
        assert out == ""
        assert err == (f"koprik: harvest partner (run #1) stopped by the operator after page "
                       f"{HELD - 1}; the next run resumes there\n")
        assert _statuses(command.catalog) == [(INTERRUPTED, HELD - 1)]
        _resumed_to_the_end(command)
        assert _statuses(command.catalog)[-1][0] == SUCCEEDED


def test_a_second_signal_while_koprik_harvest_stops_exits_at_once(tmp_path: Path) -> None:
    """The first ^C stops the run, whose end cannot be recorded while another connection holds
    the catalogue's write lock (the process would wait up to its busy timeout of 30 s); a
    second ^C ends the process at once, with one line. The pages committed stay, and the next
    run marks the abandoned one interrupted and resumes from their token."""
    with _koprik_harvest_held(tmp_path) as command:
        holder = sqlite3.connect(tmp_path / "catalog.sqlite3", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # the write lock, until the rollback below
            command.process.send_signal(signal.SIGINT)
            time.sleep(1.0)  # not needed for the outcome: the second signal then finds it stopping
            command.process.send_signal(signal.SIGINT)
            _, err = command.process.communicate(timeout=LIVENESS)
            command.release.set()
        finally:
            holder.rollback()
            holder.close()
        assert command.process.returncode == 130, err
        assert err.splitlines() == [
            "koprik: SIGINT again: stopped at once; the harvest pages being written are asked for "
            "again by the next run, nothing committed is lost"]
        assert _statuses(command.catalog) == [("running", HELD - 1)]
        _resumed_to_the_end(command)
        assert [status for status, _ in _statuses(command.catalog)] == [INTERRUPTED, SUCCEEDED]


@pytest.mark.postgres
def test_koprik_harvest_stopped_with_its_database_gone_says_so_and_exits_143(
    tmp_path: Path,
) -> None:
    """SIGTERM to a harvest whose PostgreSQL stopped meanwhile: the stop cannot be recorded.
    The harvest says it was stopped, one line says why its stop was not recorded, and it
    ends with 143 as any command a SIGTERM stops; it said only that the database was
    unavailable, with status 1."""
    with ExitStack() as cluster:
        server = cluster.enter_context(postgres_cluster(free_port(), durable=False))
        with _koprik_harvest_held(tmp_path, f"{server}/postgres") as command:
            cluster.close()  # the server stopped, its connections gone
            command.process.send_signal(signal.SIGTERM)
            out, err = command.process.communicate(timeout=LIVENESS)
    assert command.process.returncode == 143, err
    assert out == "" and "Traceback" not in err
    stopped, database = err.splitlines()
    assert stopped == "koprik: harvest partner stopped by the operator; the next run resumes it"
    assert database.startswith("koprik: its stop could not be recorded: the catalogue database "
                               "is unavailable (")  # fmt: skip
