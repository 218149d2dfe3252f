"""Scheduled harvests: a source on a short interval runs by itself, its schedule survives a
restart (a run missed while down runs once on start), two runs of a source never overlap, and
stopping the scheduler mid-run stops the run (interrupted, resumed by the next run); a second
signal while it stops exits at once."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs, harvest_state
from catalog.set_rules import paused, place_again, refusal
from config import DatabaseSettings, HarvestSource, SetRule, Settings, load_settings
from harvester import locks
from harvester.ingest import Counts
from harvester.leadership import ScheduleLeadership, lead_schedules
from harvester.run_log import ERROR_CHARS, first_error
from harvester.runs import FAILED, INTERRUPTED, SUCCEEDED, RunReport, harvest
from harvester.scheduler import run_scheduled, start_scheduler
from harvester.sources import add_source, edit_source, hidden_note
from tests.conftest import ROOT, free_port
from tests.fault_provider import FaultProvider, Hold, catalogue_of, serve
from tests.postgres import PG_BIN, postgres_cluster, run_as_postgres
from tests.servers import RunningKoprik, running, stderr_after, write_config


def _runs(catalog: Catalog) -> list:  # type: ignore[type-arg]
    with catalog.engine.connect() as connection:
        return connection.execute(select(harvest_runs).order_by(harvest_runs.c.id)).all()


def _wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_scheduled_source_runs_by_itself_and_its_schedule_survives_a_restart(
    settings: Settings, catalog: Catalog
) -> None:
    provider = FaultProvider(list(demo_records(12)))
    interval = 2.0
    with serve(provider.app()) as url:
        add_source(settings, catalog, HarvestSource(name="partner", url=url, every="2s", delay=0))
        scheduler = start_scheduler(settings, catalog, sync_seconds=0.5)
        try:
            assert _wait_for(lambda: len(_runs(catalog)) >= 2, timeout=3 * interval + 2)
            assert _wait_for(lambda: _runs(catalog)[-1].finished is not None, timeout=5)
            stored = scheduler.next_run_time("partner")
        finally:
            scheduler.shutdown()
        assert stored is not None
        assert all(run.status == SUCCEEDED for run in _runs(catalog))
        assert _runs(catalog)[0].added == 12
        # down while two runs were due; the restart comes 3/4 of an interval before the next tick
        time.sleep((stored - datetime.now(UTC)).total_seconds() + interval * 1.25)
        before = len(_runs(catalog))
        scheduler = start_scheduler(settings, catalog, sync_seconds=0.5)
        try:
            # the missed runs run once (coalesced), at once rather than a tick later
            assert _wait_for(lambda: len(_runs(catalog)) > before, timeout=interval * 0.75 - 0.2)
            assert len(_runs(catalog)) == before + 1
            # and the schedule is the stored one: the next tick is on the old grid
            following = scheduler.next_run_time("partner")
            assert following is not None
            steps = (following - stored).total_seconds() / interval
            assert steps >= 2 and abs(steps - round(steps)) < 0.01
            # disabling a source takes its job away without a restart
            edit_source(settings, catalog, "partner", check=False, enabled=False)
            assert _wait_for(lambda: scheduler.next_run_time("partner") is None, timeout=3)
        finally:
            scheduler.shutdown()


def test_a_source_added_then_defined_in_koprik_toml_too_is_scheduled_as_the_file_says(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    """koprik.toml's source is the one harvested (``koprik harvest``, Harvest now): the
    schedule of the database's source of the same name ran it, which the operator never
    scheduled, and its failures were shown as the added source's. Now the file's schedule
    (none here) is kept, and the log says which source is not harvested."""
    add_source(settings, catalog, HarvestSource(name="partner", url="http://127.0.0.1:9/oai",
                                                every="1s", delay=0), check=False)  # fmt: skip
    in_file = HarvestSource(name="partner", url="http://127.0.0.1:8/oai", prefix="marc21")
    both = dataclasses.replace(settings, sources=[in_file])
    with caplog.at_level(logging.WARNING, logger="harvester.scheduler"):
        scheduler = start_scheduler(both, catalog, sync_seconds=0.2)
        try:
            time.sleep(1.5)
            assert scheduler.next_run_time("partner") is None
        finally:
            scheduler.shutdown()
    assert _runs(catalog) == []
    said = [r.getMessage() for r in caplog.records if "not harvested" in r.getMessage()]
    assert said == [hidden_note("partner", settings.file)]  # once, not at every sync


def test_two_runs_of_one_source_never_overlap(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    provider = FaultProvider(list(demo_records(30)), page_size=5)
    hold = Hold(2, 10)  # the first run stalls on its second page
    entered, release = hold.held, hold.release
    provider.on_list_request = hold
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url, delay=0, every="1s")
        add_source(settings, catalog, source, check=False)
        scheduler = start_scheduler(settings, catalog, sync_seconds=0.5)
        try:
            assert entered.wait(10)
            with pytest.raises(locks.SourceBusy):
                harvest(catalog, source)  # by hand, while the scheduled run goes on
            with caplog.at_level("WARNING"):
                time.sleep(2.5)  # the interval passes twice: max_instances keeps it to one
            assert len(_runs(catalog)) == 1
            # said once for the run, not at each trigger by APScheduler
            assert [r.getMessage() for r in caplog.records] == [
                "scheduled harvest of partner fell due again while its run goes on: that run "
                "is not started twice, and its schedule is skipped until the run ends (a "
                "schedule shorter than the source's harvests?)"]
            with caplog.at_level("WARNING", logger="harvester.scheduler"):
                run_scheduled("partner")  # as a second scheduler process would
            assert "skipped, a run is in progress" in caplog.text
            release.set()
            assert _wait_for(lambda: _runs(catalog)[0].finished is not None, timeout=5)
        finally:
            release.set()
            scheduler.shutdown()
    runs = _runs(catalog)
    assert runs[0].status == SUCCEEDED and runs[0].added == 30
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished is not None and earlier.finished <= later.started


RECORDS, PAGE, HELD = 30, 5, 3
"""The scheduler tests' list: its third request is held at the provider while the process is
stopped, so the two pages before it are committed and the run is mid-list."""
LIVENESS = 60.0
"""Seconds a stopped process may take to end on a loaded machine (it takes about one)."""


def _pages_committed(catalog: Catalog) -> int:
    with catalog.engine.connect() as connection:
        return int(connection.execute(select(func.coalesce(func.max(harvest_runs.c.pages), 0)))
                   .scalar_one())  # fmt: skip


@dataclass
class _MidHarvest:
    process: subprocess.Popen[str]
    catalog: Catalog
    provider: FaultProvider
    url: str
    release: threading.Event
    """Set, the provider answers the held request (it answers nothing else meanwhile)."""


@contextmanager
def _scheduler_mid_harvest(tmp_path, catalog_url: str, command: tuple[str, ...]  # type: ignore[no-untyped-def]
                           ) -> Iterator[_MidHarvest]:
    """A `koprik COMMAND` process (`scheduler`, or `serve`, which runs the scheduler too)
    harvesting a source due every second, held on the third list request of its run with the
    two pages before it committed."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE)
    hold = Hold(HELD, LIVENESS)
    entered, release = hold.held, hold.release
    provider.on_list_request = hold
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{catalog_url}"\n'
                      f"[server]\nhttp_port = {free_port()}\nz3950_port = {free_port()}\n")
    settings = load_settings(config)
    catalog = Catalog.open(settings)
    try:
        with serve(provider.app()) as url:
            add_source(settings, catalog, HarvestSource(name="partner", url=url, every="1s",
                                                        delay=0), check=False)  # fmt: skip
            process = subprocess.Popen(
                [sys.executable, "-m", "koprik", "--config", str(config), *command],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            try:
                assert _wait_for(lambda: entered.is_set() or process.poll() is not None,
                                 LIVENESS), "the scheduled run never reached the partner"
                if process.poll() is not None:
                    pytest.fail(f"koprik {' '.join(command)} ended (status {process.returncode}) "
                                f"before its run reached the partner:\n{process.communicate()[1]}")
                assert _wait_for(lambda: _pages_committed(catalog) == HELD - 1, LIVENESS)
                yield _MidHarvest(process, catalog, provider, url, release)
            finally:
                release.set()
                if process.poll() is None:
                    process.kill()
                    process.communicate()
                provider.on_list_request = None
    finally:
        catalog.close()


def _resumed_to_the_end(catalog: Catalog, provider: FaultProvider, url: str) -> None:
    """The next run resumes from the token the stopped one saved and ends with every record
    once."""
    since = len(provider.list_requests())
    report = harvest(catalog, HarvestSource(name="partner", url=url, delay=0))
    assert report.status == SUCCEEDED, report.errors
    assert report.errors[0].startswith("resumed run #1 after")
    assert "resumptionToken" in provider.list_requests()[since]
    assert report.counts.added == RECORDS - (HELD - 1) * PAGE
    assert sorted(catalogue_of(catalog, "partner")) == sorted(
        f"oai:fault.test:{n}" for n in range(RECORDS))
    with catalog.engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(models.records)).scalar_one()
    assert stored == RECORDS


COMMANDS = pytest.mark.parametrize("command", [("scheduler",), ("serve", "--workers", "1")],
                                   ids=["scheduler", "serve"])
SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM],
                                  ids=["SIGINT", "SIGTERM"])


@COMMANDS
@SIGNALS
def test_stopping_the_scheduler_command_mid_harvest_stops_the_run_and_says_so(
    tmp_path, catalog_url: str, signum: int, command: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    """^C or SIGTERM while a scheduled run waits for its third page: the process ends without
    that page (the provider holds it until the process has ended), the run is recorded
    interrupted with the two pages it committed, no run starts after the signal, and
    `koprik scheduler` (or `koprik serve`) stops with status 0 and one line saying what it
    stopped, no traceback
    (the source falling due while its run was awaited once made APScheduler submit it to its
    closed executor: "cannot schedule new futures after shutdown"). The next run resumes."""
    with _scheduler_mid_harvest(tmp_path, catalog_url, command) as mid:
        err = stderr_after(mid.process, signum, LIVENESS)
        mid.release.set()  # only now: the process ended without the held page
        process, catalog = mid.process, mid.catalog
        runs = _runs(catalog)
        assert process.returncode == 0, err
        assert "Traceback" not in err and "Error submitting" not in err, err
        assert [(run.status, run.pages, run.added) for run in runs] == [
            (INTERRUPTED, HELD - 1, (HELD - 1) * PAGE)]
        assert runs[0].errors.splitlines()[-1] == (
            f"stopped by the operator after page {HELD - 1}; the next run resumes there")
        stopped = [line for line in err.splitlines() if "harvest scheduler stopped" in line]
        assert len(stopped) == 1, err
        assert stopped[0].endswith(
            f"started no new run and stopped the harvest of partner (run #1 interrupted after "
            f"{HELD - 1} pages); the next run resumes where each stopped"), stopped[0]
        _resumed_to_the_end(catalog, mid.provider, mid.url)


def test_a_run_whose_source_another_run_takes_over_ends_saying_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`koprik scheduler` mid-harvest, two pages committed; the run's lease lapses (as on
    SQLite after an hour without a page) and another process takes the source over, as
    `koprik harvest` would. The run's third page is not committed: the run ends failed,
    its record and the scheduler's line saying it stopped as another run took the source over
    and that the pages before are kept. Before, the scheduler said the run was "skipped, a run
    is in progress", as if it had never started, and its record "SourceBusy: the lock of
    source 'partner' was taken over"."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    with _scheduler_mid_harvest(tmp_path, url, ("scheduler",)) as mid:
        catalog = mid.catalog
        with catalog.engine.begin() as connection:
            connection.execute(update(harvest_state).where(harvest_state.c.source == "partner")
                               .values(lock_expires=int(time.time()) - 1))  # fmt: skip
        other = locks.new_owner()
        locks.acquire(catalog.engine, "partner", other)
        try:
            mid.release.set()
            assert _wait_for(lambda: _runs(catalog)[0].finished is not None, LIVENESS)
            err = stderr_after(mid.process, signal.SIGTERM, LIVENESS)
        finally:
            locks.release(catalog.engine, "partner", other)
        (run,) = _runs(catalog)
    line = (f"run stopped after page {HELD - 1}: another run took source 'partner' over; the "
            "pages committed before are kept")  # fmt: skip
    assert (run.status, run.pages, run.added, run.errors) == (
        FAILED, HELD - 1, (HELD - 1) * PAGE, line)
    ended = [said for said in err.splitlines() if "scheduled harvest of partner" in said]
    assert ended and ended[0].endswith(f"; error: {line}"), err
    assert " failed (run #1), " in ended[0], err
    assert all("source 'partner' is being harvested by " in said for said in ended[1:]), err


@COMMANDS
@SIGNALS
def test_a_second_signal_while_the_scheduler_stops_exits_at_once(
    tmp_path, signum: int, command: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    """The first signal stops the run, whose end cannot be recorded while another connection
    holds the SQLite catalogue's write lock (the process waits up to its busy timeout of
    30 s); a second signal ends the process at once with one line. The pages committed stay,
    and the next run marks the abandoned one interrupted and resumes from their token."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    with _scheduler_mid_harvest(tmp_path, url, command) as mid:
        process, catalog = mid.process, mid.catalog
        holder = sqlite3.connect(tmp_path / "catalog.sqlite3", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # the write lock, until the rollback below
            process.send_signal(signum)
            time.sleep(1.0)  # not needed for the outcome: the second signal then finds it stopping
            process.send_signal(signum)
            _, err = process.communicate(timeout=LIVENESS)
            mid.release.set()
        finally:
            holder.rollback()
            holder.close()
        assert process.returncode == 128 + signum, err
        assert "Traceback" not in err, err
        name = signal.Signals(signum).name
        assert err.splitlines()[-1] == (
            f"koprik: {name} again: stopped at once; the harvest pages being written are asked "
            "for again by the next run, nothing committed is lost")
        assert [(run.status, run.pages) for run in _runs(catalog)] == [("running", HELD - 1)]
        _resumed_to_the_end(catalog, mid.provider, mid.url)
        assert [run.status for run in _runs(catalog)] == [INTERRUPTED, SUCCEEDED]


def test_a_scheduled_run_that_fails_logs_why_in_one_line(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    gone = f"http://127.0.0.1:{free_port()}/oai"  # nothing listens there
    add_source(settings, catalog, HarvestSource(name="gone", url=gone, delay=0, retries=0),
               check=False)  # fmt: skip
    scheduler = start_scheduler(settings, catalog)  # no schedule: the run is started by hand
    try:
        with caplog.at_level("INFO", logger="harvester.scheduler"):
            run_scheduled("gone")
    finally:
        scheduler.shutdown()
    (line,) = [r for r in caplog.records if r.getMessage().startswith("scheduled harvest of")]
    assert line.levelname == "ERROR"
    message = line.getMessage()
    assert "\n" not in message
    assert message.startswith(f"scheduled harvest of gone: failed (run #{_runs(catalog)[-1].id}), "
                              "0 new, 0 updated, 0 deleted, 0 unchanged, 0 rejected, ")
    assert f"first of 2 errors: connection: " \
        f"127.0.0.1:{gone.split(':')[2].split('/')[0]} refused the connection" in message
    assert message.endswith("(see koprik runs gone --errors)")


def test_the_error_a_run_is_logged_with_is_one_bounded_line() -> None:
    def report(errors: list[str]) -> RunReport:
        return RunReport(run_id=7, source="partner", status=FAILED, counts=Counts(), requests=3,
                         pages=0, errors=errors, seconds=1.0, watermark=None)  # fmt: skip

    long = "run failed: malformed XML:\n" + "<record>" * 1000
    said = first_error(report([long, "another"]))
    assert "\n" not in said and said.startswith("first of 2 errors: run failed: malformed XML: <re")
    assert len(said) < ERROR_CHARS + 100
    assert "...  (see" not in said and "... (see koprik runs partner --errors)" in said
    assert first_error(report(["run failed: HTTP 503"])) == "error: run failed: HTTP 503"
    assert first_error(report([])) == "no error recorded"


def test_the_lock_of_a_dead_process_is_taken_over(catalog: Catalog) -> None:
    import socket

    dead = f"{socket.gethostname()}:{2**22 + 12345}:deadbeef"  # beyond pid_max: never alive
    first = locks.new_owner()
    locks.acquire(catalog.engine, "partner", first)  # makes the source's row
    locks.release(catalog.engine, "partner", first)
    with catalog.engine.begin() as connection:  # a dead process's lock, its lease running
        connection.execute(
            update(harvest_state).where(harvest_state.c.source == "partner")
            .values(lock_owner=dead, lock_expires=int(time.time()) + locks.LEASE_SECONDS)
        )
    alive = locks.new_owner()
    locks.acquire(catalog.engine, "partner", alive)
    with pytest.raises(locks.SourceBusy):
        locks.acquire(catalog.engine, "partner", locks.new_owner())
    locks.release(catalog.engine, "partner", alive)
    after = locks.new_owner()
    locks.acquire(catalog.engine, "partner", after)
    locks.release(catalog.engine, "partner", after)


@contextmanager
def _serving_a_harvest_every_second(
    koprik: RunningKoprik, settings: Settings, catalog: Catalog
) -> Iterator[None]:
    """``koprik serve`` harvesting source ``partner`` every second, every run with a record to
    write (one is added as each list is asked for), from its first run that succeeded."""
    records = list(demo_records(40))
    provider = FaultProvider(records[:6])
    provider.on_list_request = lambda count: provider.add(f"oai:fault.test:new-{count}",
                                                          records[6 + count % 34])
    with serve(provider.app()) as url:
        add_source(settings, catalog, HarvestSource(name="partner", url=url, every="1s",
                                                    delay=0), check=False)  # fmt: skip
        identify = f"{koprik.oai_url}?verb=Identify"
        with running(koprik.command("serve"), koprik.log, identify):
            assert _wait_for(lambda: any(r.status == SUCCEEDED for r in _runs(catalog)),
                             LIVENESS)  # fmt: skip
            yield


def test_a_node_whose_set_rules_are_no_longer_the_catalogue_s_pauses_its_schedule(
    tmp_path: Path,
) -> None:
    """``koprik serve`` harvesting a source every second; another node runs ``koprik db
    sets`` with a rule added. This node's runs would each end failed, refused: its scheduler
    says so in one warning line, starts no run from then on, and ``/health`` says why. Before,
    a failed run was recorded every second until the node was restarted."""
    koprik = write_config(tmp_path)
    settings = load_settings(koprik.config)
    catalog = Catalog.open(settings)
    try:
        with _serving_a_harvest_every_second(koprik, settings, catalog):
            place_again(catalog.engine, [*settings.sets,
                                         SetRule(spec="by", name="By", rule="material")])
            time.sleep(5)  # five times the interval
            with urllib.request.urlopen(f"http://127.0.0.1:{koprik.http_port}/health",
                                        timeout=10) as response:  # fmt: skip
                health = json.load(response)
            runs = _runs(catalog)
        assert sum(run.status == FAILED for run in runs) <= 1  # one running as db sets ran
        lines = [line for line in koprik.log.read_text().splitlines() if "paused" in line]
        assert len(lines) == 1 and lines[0].endswith(
            f" WARNING harvester.scheduler: {paused(refusal(settings.file))}")
        named = Path(settings.file).name  # on /health, without its folder
        assert health["status"] == "ok" and health["harvests"] == paused(refusal(named))
        assert health["catalogue"]["sets"] == refusal(named)
    finally:
        catalog.close()


def test_a_node_whose_recorded_set_rules_cannot_be_read_waits_for_db_sets_then_goes_on(
    tmp_path: Path,
) -> None:
    """``koprik serve`` harvesting a source every second; the recorded ``[[sets]]`` rules made
    unreadable (a hand edit): its scheduler starts no run, saying so once, and once ``koprik db
    sets`` has recorded them anew, goes on by itself, saying so. Before, it stayed paused (and
    on PostgreSQL its node stepped down) until restarted, ``/health`` saying nothing wrong."""
    koprik = write_config(tmp_path)
    settings = load_settings(koprik.config)
    catalog = Catalog.open(settings)
    try:
        with _serving_a_harvest_every_second(koprik, settings, catalog):
            with catalog.engine.begin() as connection:  # as a hand edit would
                connection.execute(models.set_rules.update().values(rules="placed by hand"))
            assert _wait_for(lambda: "paused" in koprik.log.read_text(), LIVENESS)
            time.sleep(1)  # a run started as the row changed ends
            waited = len(_runs(catalog))
            time.sleep(3)  # three times the interval
            assert len(_runs(catalog)) == waited
            place_again(catalog.engine, settings.sets)  # as koprik db sets does
            assert _wait_for(lambda: len(_runs(catalog)) > waited + 1, LIVENESS)
        log = koprik.log.read_text()
        assert [line.split(" WARNING harvester.scheduler: ")[1] for line in log.splitlines()
                if "paused" in line] == [
            paused("the [[sets]] rules recorded in the catalogue's set_rules table (the row of "
                   "id 1) are unreadable (not JSON): run `koprik db sets` to place every record "
                   "by this node's [[sets]] rules and record them anew")]
        assert ("INFO harvester.scheduler: scheduled harvests go on: the [[sets]] rules the "
                "catalogue records can be read again") in log
        assert "Traceback" not in log
    finally:
        catalog.close()


def _refuse_job_store_writes(catalog: Catalog) -> Callable[[], None]:
    """Make every write of the scheduler's job store fail in the database itself, as a database
    that went away would; the function returned lets writes through again."""
    from harvester.scheduler import JOBS_TABLE

    with catalog.engine.begin() as connection:
        if catalog.engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE UPDATE ON {JOBS_TABLE} "
                "BEGIN SELECT RAISE(ABORT, 'job store unavailable'); END")  # fmt: skip
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'job store unavailable'; END $$")  # fmt: skip
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE UPDATE ON {JOBS_TABLE} FOR EACH ROW "
                "EXECUTE FUNCTION refuse()")  # fmt: skip

    def allow() -> None:
        with catalog.engine.begin() as connection:
            on = "" if catalog.engine.dialect.name == "sqlite" else f" ON {JOBS_TABLE}"
            connection.exec_driver_sql(f"DROP TRIGGER refuse{on}")

    return allow


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "job store failed" in r.getMessage()]


def test_the_schedules_outlive_a_job_store_that_fails_as_a_job_falls_due(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    """A job falling due is started, then its next run time written: if the database fails
    that write, APScheduler's loop raised and its thread ended, and no schedule of the node ran
    again until a restart. It says so in one line and looks again a few seconds later."""
    from harvester.scheduler import RETRY_SECONDS

    provider = FaultProvider(list(demo_records(3)))
    with serve(provider.app()) as url, caplog.at_level("ERROR", logger="harvester.scheduler"):
        add_source(settings, catalog, HarvestSource(name="partner", url=url, every="1s", delay=0))
        scheduler = start_scheduler(settings, catalog, sync_seconds=0.5)
        try:
            assert _wait_for(lambda: len(_runs(catalog)) >= 1, timeout=10)
            allow = _refuse_job_store_writes(catalog)
            refused = len(_runs(catalog))
            # a run falls due: it starts, and the write of its next run time fails
            assert _wait_for(lambda: len(_runs(catalog)) > refused, timeout=10)
            time.sleep(0.5)
            allow()
            before = len(_runs(catalog))
            assert _wait_for(lambda: len(_runs(catalog)) >= before + 2, timeout=RETRY_SECONDS + 5)
        finally:
            scheduler.shutdown()
    message = _failures(caplog)[0]
    assert "\n" not in message
    assert "job store unavailable" in message
    assert message.endswith(f"looking again in {RETRY_SECONDS:g} s")


@contextmanager
def _database_stopped(catalog: Catalog, port: int) -> Iterator[None]:
    """The PostgreSQL cluster on ``port`` of ``catalog`` stopped (``pg_ctl -m fast``) while the
    block runs, then started again."""
    with catalog.engine.connect() as connection:
        data = connection.execute(text("SHOW data_directory")).scalar_one()
    catalog.engine.dispose()
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", data]
    run_as_postgres([*pg_ctl, "-m", "fast", "stop"])
    try:
        yield
    finally:
        run_as_postgres([*pg_ctl, "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 "
                         "-c fsync=off", "-l", f"{data}/log", "-w", "start"])


@pytest.mark.postgres
@pytest.mark.parametrize("command", [("scheduler",), ("serve", "--workers", "1")])
def test_a_scheduled_run_cut_by_the_database_going_away_is_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """PostgreSQL stopped under a scheduled run: its job raised, and APScheduler logged it with
    four chained tracebacks (and the queue's job and the sources' re-reading theirs); each is
    one line now. Once the database is back, the next run resumes the list."""
    port = free_port()
    with (postgres_cluster(port, durable=False) as server,
          _scheduler_mid_harvest(tmp_path, f"{server}/postgres", command) as mid):
        with _database_stopped(mid.catalog, port):
            mid.release.set()  # the held page is answered: the run fails to write it
            time.sleep(8)
            err = stderr_after(mid.process, signal.SIGTERM, LIVENESS)
        assert "Traceback" not in err, err
        lost = [line for line in err.splitlines()
                if "scheduled harvest of partner stopped: the catalogue database" in line]
        assert len(lost) == 1, err
        assert lost[0].endswith("the source's next run resumes it")
        _resumed_to_the_end(mid.catalog, mid.provider, mid.url)


@pytest.mark.postgres
def test_a_leader_whose_database_goes_away_says_so_in_one_line_and_leads_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PostgreSQL stopped under the node running the schedules (``koprik serve`` on a shared
    catalogue): it stops leading and competes again, each step said in one line, and leads
    once the database is back."""
    port = free_port()
    with postgres_cluster(port, durable=False) as server:
        settings = Settings(database=DatabaseSettings(url=f"{server}/postgres"))
        catalog = Catalog.open(settings)
        try:
            leadership = lead_schedules(settings, catalog, retry_seconds=0.2, sync_seconds=0.2)
            assert isinstance(leadership, ScheduleLeadership)
            caplog.set_level(logging.INFO)
            try:
                assert _wait_for(leadership.leading.is_set, LIVENESS)
                with _database_stopped(catalog, port):
                    time.sleep(7)  # past the scheduler's look again (5 s) at its job stores
                    assert not leadership.leading.is_set()
                assert _wait_for(leadership.leading.is_set, LIVENESS)
            finally:
                leadership.shutdown()
        finally:
            catalog.close()
    said = [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.exc_info], said
    assert all("\n" not in line for line in said), said
    assert "lost the harvest scheduler's lock (database session ended): this node stops running " \
        "the schedules" in said
    assert any(line.startswith("could not ask for the harvest scheduler's lock: ")
               for line in said), said


@pytest.mark.postgres
def test_a_harvest_command_cut_by_the_database_going_away_ends_in_one_line_status_1(
    tmp_path: Path,
) -> None:
    """It ended with status 2 ("a source or setting it cannot use") and the catalogue's URL
    said "cannot be used", which is what a wrong URL says."""
    port = free_port()
    with (postgres_cluster(port, durable=False) as server,
          _scheduler_mid_harvest(tmp_path, f"{server}/postgres", ("harvest", "partner")) as mid):
        with _database_stopped(mid.catalog, port):
            mid.release.set()
            _, err = mid.process.communicate(timeout=LIVENESS)
        assert mid.process.returncode == 1, err
        assert err.splitlines()[-1].startswith(
            "koprik: harvest partner stopped: the catalogue database is unavailable (")
        assert err.splitlines()[-1].endswith("); the next run resumes it")
        assert "Traceback" not in err
        _resumed_to_the_end(mid.catalog, mid.provider, mid.url)


@pytest.mark.postgres
def test_the_schedulers_own_jobs_say_a_database_gone_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The queue's deduplication (a job of the scheduler's memory, run while the database's job
    store fails) raised as it looked whether the set rules paused it, and APScheduler logged
    each turn with its traceback; the sources' re-reading likewise."""
    port = free_port()
    with postgres_cluster(port, durable=False) as server:
        settings = Settings(database=DatabaseSettings(url=f"{server}/postgres"))
        catalog = Catalog.open(settings)
        try:
            scheduler = start_scheduler(settings, catalog, sync_seconds=0.2)
            caplog.set_level(logging.INFO)
            try:
                with _database_stopped(catalog, port):
                    time.sleep(7)  # past the scheduler's look again (5 s) at its job stores
                    traced = [r for r in caplog.records if r.exc_info]
                    said = [r.getMessage() for r in caplog.records]
            finally:
                scheduler.shutdown()
        finally:
            catalog.close()
    assert not traced, [r.getMessage() for r in traced]
    assert any(line.startswith("deduplicating the queue stopped: the catalogue database is "
                               "unavailable (") for line in said), said
    assert any(line.startswith("re-reading the harvest sources stopped: the catalogue database "
                               "is unavailable (") for line in said), said
    assert all("\n" not in line for line in said)
