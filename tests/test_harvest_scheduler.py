"""Scheduled harvests: a source on a short interval runs by itself, its schedule survives a
restart (a run missed while down runs once on start), two runs of a source never overlap, and
stopping the scheduler mid-run lets the run end."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs, harvest_state
from config import HarvestSource, Settings, load_settings
from harvester import locks
from harvester.ingest import Counts
from harvester.runs import FAILED, SUCCEEDED, RunReport, harvest
from harvester.scheduler import ERROR_CHARS, first_error, run_scheduled, start_scheduler
from harvester.sources import add_source, edit_source
from tests.conftest import ROOT, free_port
from tests.fault_provider import FaultProvider, serve


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


def test_two_runs_of_one_source_never_overlap(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    provider = FaultProvider(list(demo_records(30)), page_size=5)
    entered = threading.Event()
    release = threading.Event()

    def hold(count: int) -> None:
        if count == 2:  # the first run stalls on its second page
            entered.set()
            release.wait(10)

    provider.on_list_request = hold
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url, delay=0, every="1s")
        add_source(settings, catalog, source, check=False)
        scheduler = start_scheduler(settings, catalog, sync_seconds=0.5)
        try:
            assert entered.wait(10)
            with pytest.raises(locks.SourceBusy):
                harvest(catalog, source)  # by hand, while the scheduled run goes on
            with caplog.at_level("WARNING", logger="harvester.scheduler"):
                run_scheduled("partner")  # as a second scheduler process would
            assert "skipped, a run is in progress" in caplog.text
            time.sleep(1.2)  # the interval passes: max_instances keeps it to one
            assert len(_runs(catalog)) == 1
            release.set()
            assert _wait_for(lambda: _runs(catalog)[0].finished is not None, timeout=5)
        finally:
            release.set()
            scheduler.shutdown()
    runs = _runs(catalog)
    assert runs[0].status == SUCCEEDED and runs[0].added == 30
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished is not None and earlier.finished <= later.started


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopping_the_scheduler_command_mid_harvest_lets_the_run_end_and_says_so(
    tmp_path, catalog_url: str, signum: int
) -> None:  # type: ignore[no-untyped-def]
    """^C or SIGTERM while a scheduled run is held on its third page: the run ends complete,
    no run starts after the signal, and `koprik scheduler` stops with one line saying what it
    did, no traceback (the source falling due while its run was awaited once made APScheduler
    submit it to its closed executor: "cannot schedule new futures after shutdown")."""
    provider = FaultProvider(list(demo_records(30)), page_size=5)
    entered, release = threading.Event(), threading.Event()

    def hold(count: int) -> None:
        if count == 3:
            entered.set()
            release.wait(60)

    provider.on_list_request = hold
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{catalog_url}"\n')
    settings = load_settings(config)
    catalog = Catalog.open(settings)
    with serve(provider.app()) as url:
        add_source(settings, catalog, HarvestSource(name="partner", url=url, every="1s", delay=0),
                   check=False)  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-m", "koprik", "--config", str(config), "scheduler"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert entered.wait(60)
            process.send_signal(signum)
            time.sleep(2.5)  # the source falls due twice while its stopped scheduler waits
            release.set()
            _, err = process.communicate(timeout=60)
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
                process.communicate()
    runs = _runs(catalog)
    catalog.close()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "Error submitting" not in err, err
    assert [(run.status, run.added) for run in runs] == [(SUCCEEDED, 30)]
    stopped = [line for line in err.splitlines() if "harvest scheduler stopped" in line]
    assert len(stopped) == 1, err
    assert stopped[0].endswith("for the harvest of partner in progress to end"), stopped[0]
    assert "started no new run and waited" in stopped[0]


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
    assert message.startswith(f"scheduled harvest of gone: failed (run #{_runs(catalog)[-1].id})")
    assert f"first of 2 errors: connection: ClientConnectorError: Cannot connect to host " \
        f"127.0.0.1:{gone.split(':')[2].split('/')[0]}" in message
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
