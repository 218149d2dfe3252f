"""SIGKILL of a `koprik harvest` process at many points of a large harvest, then a rerun.

The provider kills the harvesting process as a chosen ListRecords request arrives (or a few
milliseconds after, while a page is being stored), ten times at different points; a final
uninterrupted run must leave the catalogue equal to an uninterrupted harvest, without duplicates.
A run killed after a date window failed for good must leave its resumption ``partial``, with the
watermark where it was, so that the next run harvests that window again.

An SRU source's run killed mid-way (the server kills it as a chosen searchRetrieve arrives) is
resumed by the next run at the record position saved with its last committed page, unless the
server's hit count, the source's query or its address changed, or the run is ``--full``: then
from record 1. An OAI-PMH run killed mid-list and then pointed at another address harvests its
list anew rather than send the old address's resumption token.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
from collections import Counter

import pytest
from sqlalchemy import Row, func, select, update

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs, harvest_state
from config import DatabaseSettings, HarvestSource, Settings, load_settings
from harvester import dates
from harvester.oai_client import Politeness
from harvester.pipeline import PAGES_AHEAD
from harvester.runs import (
    ENDED_UNSAID,
    INTERRUPTED,
    PARTIAL,
    RUNNING,
    SUCCEEDED,
    RunOptions,
    RunReport,
    harvest,
)
from koprik.dashboard import reads
from tests.conftest import ROOT
from tests.fault_provider import (
    FaultProvider,
    Hold,
    catalogue_of,
    serve,
    sqlite_catalog,
    stamp,
)
from tests.servers import kill_on

RECORDS = 150
PAGE = 5
KILLS = [(1, 0.0), (2, 0.01), (3, 0.0), (1, 0.02), (4, 0.005), (2, 0.0), (5, 0.015),
         (1, 0.0), (3, 0.03), (2, 0.002)]
"""(ListRecords request of the run at which to kill, delay in seconds after it arrives)."""


def _config(folder, url: str, retries: int = 2, sru: bool = False,  # type: ignore[no-untyped-def]
            sets: tuple[str, ...] = ()) -> str:
    path = folder / "koprik.toml"
    kind = f'protocol = "sru"\nquery = "{SRU_QUERY}"\nprefix = "marcxml"\n' if sru else ""
    if sets:
        kind += f"sets = [{', '.join(f'{spec!r}' for spec in sets)}]\n"
    path.write_text(
        f'[database]\nurl = "sqlite:///{folder / "catalog.sqlite3"}"\n'
        f'[[sources]]\nname = "partner"\nurl = "{url}"\ndelay = 0.0\nretries = {retries}\n'
        f"timeout = 10.0\n{kind}"
    )
    return str(path)


def _koprik(config: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "koprik", "--config", config, "harvest", "partner"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_sigkill_at_ten_points_then_rerun_equals_an_uninterrupted_harvest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    records = list(demo_records(RECORDS))
    provider = FaultProvider(records, page_size=PAGE)
    for n in range(0, RECORDS, 11):
        provider.delete(f"oai:fault.test:{n}")
    for n in range(1, RECORDS, 13):
        provider.change(f"oai:fault.test:{n}", next(demo_records(1, seed=500 + n)))
    with serve(provider.app()) as url:
        config = _config(tmp_path, url)
        killed_points = []
        for at_request, delay in KILLS:
            process = _koprik(config)
            base = len(provider.list_requests())

            def kill(count: int, base: int = base, at: int = at_request, delay: float = delay,
                     pid: int = process.pid) -> None:
                if count - base == at:
                    threading.Timer(delay, os.kill, (pid, signal.SIGKILL)).start()

            provider.on_list_request = kill
            process.communicate(timeout=60)
            assert process.returncode == -signal.SIGKILL
            killed_points.append(len(provider.list_requests()))
        provider.on_list_request = None
        before_final = len(provider.list_requests())
        final = _koprik(config)
        out, err = final.communicate(timeout=60)
        assert final.returncode == 0, err.decode()
        assert "succeeded" in out.decode()
        # the last run resumed the list rather than restarted it: its first request carries the
        # token the killed runs left, and it asks for fewer pages than the whole list has
        final_requests = provider.list_requests()[before_final:]
        assert "resumptionToken" in final_requests[0]
        assert len(final_requests) < RECORDS // PAGE

        reference = Catalog.open(dataclasses.replace(
            Settings(), database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'ref.sqlite3'}")))
        clean = harvest(reference, HarvestSource(name="partner", url=url),
                        politeness=Politeness(delay=0))
        assert clean.status == SUCCEEDED
    assert len(set(killed_points)) == len(KILLS)  # every kill at a different point of the list
    catalog = Catalog.open(dataclasses.replace(
        Settings(), database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}")))
    assert catalogue_of(catalog, "partner") == catalogue_of(reference, "partner")
    with catalog.engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(models.records)).scalar_one()
        statuses = connection.execute(
            select(harvest_runs.c.status).order_by(harvest_runs.c.id)).scalars().all()
    assert rows == len(catalogue_of(reference, "partner"))  # no duplicates
    assert statuses == [INTERRUPTED] * len(KILLS) + [SUCCEEDED]
    catalog.close()
    reference.close()


def test_a_window_failed_for_good_then_a_kill_leaves_the_resumed_run_partial(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The provider answers 500 to any page holding record 30, until it is mended. The first
    run halves its way down to that record's second, records the window as failed for good,
    goes on with the later windows and is killed in the middle of one of them. The run that
    resumes it (the provider mended) must end partial and leave the watermark unset; the next
    one harvests the failed window and succeeds."""
    records = list(demo_records(45))
    provider = FaultProvider(records, page_size=1)
    poisoned = provider.poison("oai:fault.test:30")
    poisoned_second = stamp(poisoned.datestamp)
    failed_window: list[dict[str, str]] = []
    with serve(provider.app()) as url:
        process = _koprik(_config(tmp_path, url, retries=0))

        def kill(_count: int) -> None:
            params = provider.list_requests()[-1]
            if params.get("from") == params.get("until") == poisoned_second:
                failed_window.append(params)
            token = params.get("resumptionToken")
            # a page of a list after the failure far enough in for its first page, with its
            # token, to be committed: a page is asked for only once at most PAGES_AHEAD - 1
            # pages wait to be stored besides the (at most PAGES_AHEAD) being stored
            if failed_window and token is not None and int(
                token.rsplit("|", 1)[1]
            ) >= 2 * PAGES_AHEAD:
                provider.on_list_request = None
                os.kill(process.pid, signal.SIGKILL)

        provider.on_list_request = kill
        process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL
        assert len(failed_window) == 1  # the window of record 30's second was asked for once

        provider.poisoned.clear()  # the provider is mended
        catalog = Catalog.open(dataclasses.replace(
            Settings(), database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}")))
        source = HarvestSource(name="partner", url=url)
        resumed = harvest(catalog, source, politeness=Politeness(delay=0))
        assert "resumed run #1 after" in resumed.errors[0]
        assert "run #1 had 1 window(s) failed for good" in resumed.errors
        assert resumed.status == PARTIAL and resumed.watermark is None
        assert "oai:fault.test:30" not in catalogue_of(catalog, "partner")

        again = harvest(catalog, source, politeness=Politeness(delay=0))
        assert again.status == SUCCEEDED and again.watermark is not None
        assert again.errors == []
    assert sorted(catalogue_of(catalog, "partner")) == sorted(
        f"oai:fault.test:{n}" for n in range(45))
    with catalog.engine.connect() as connection:
        statuses = connection.execute(
            select(harvest_runs.c.status).order_by(harvest_runs.c.id)).scalars().all()
    assert statuses == [INTERRUPTED, PARTIAL, SUCCEEDED]
    catalog.close()


def test_a_killed_run_is_shown_as_its_next_run_will_record_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A `koprik harvest` killed mid-list stays recorded running until the source's next run;
    the dashboard and the API showed it running meanwhile, its page reloading itself and its
    seconds growing (a day, for a daily source). They show it interrupted, saying why, as that
    run will record it, once no live run holds the source; one alive is shown running."""
    provider = FaultProvider(list(demo_records(30)), page_size=5)
    hold = Hold(at=3, patience=30)
    provider.on_list_request = hold
    with serve(provider.app()) as url:
        config = _config(tmp_path, url)
        process = _koprik(config)
        try:
            assert hold.held.wait(30)
            settings = load_settings(config)
            catalog = Catalog.open(settings)
            (alive,) = reads.runs(catalog.engine, "partner")
            assert (alive.status, alive.errors) == (RUNNING, [])
            assert _listed(config, alive.id) == ("running", "")
            os.kill(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
        finally:
            hold.release.set()
            if process.poll() is None:
                process.kill()
                process.communicate()
    (dead,) = reads.runs(catalog.engine, "partner")
    assert (dead.status, dead.errors, dead.seconds) == (INTERRUPTED, [ENDED_UNSAID], None)
    assert _listed(config, dead.id) == ("interrupted", f"1: {ENDED_UNSAID[:60]}")
    assert reads.run(catalog.engine, dead.id) == dead
    (view,) = reads.sources(settings, catalog)
    assert view.last_run == dead and dead.as_json()["status"] == INTERRUPTED
    with catalog.engine.connect() as connection:  # as recorded: the next run records it so
        assert connection.execute(select(harvest_runs.c.status)).scalar_one() == RUNNING
    catalog.close()


def _listed(config: str, run_id: int) -> tuple[str, str]:
    """The status of the run ``run_id`` and what follows its numbers (its errors: how many,
    and the first) as ``koprik runs`` lists them."""
    listed = subprocess.run([sys.executable, "-m", "koprik", "--config", config, "runs"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    for line in listed.stdout.splitlines()[1:]:
        number, _source, status, _day, _time, *_numbers = line.split(maxsplit=13)
        if int(number) == run_id:
            return status, line.split(maxsplit=13)[13] if len(line.split()) > 13 else ""
    raise AssertionError(listed.stdout)


def test_a_killed_oai_run_pointed_at_another_address_harvests_its_list_anew(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The resumption token a killed run saved belongs to the address that issued it: once the
    source is moved, the next run asks the new address for the list from its start."""
    provider = FaultProvider(list(demo_records(30)), page_size=PAGE)
    with serve(provider.app()) as url:
        process = _koprik(_config(tmp_path, url))
        base = len(provider.list_requests())
        kill_on(process, lambda hook: setattr(provider, "on_list_request", hook),
                lambda count: count - base == 4, timeout=60)
        catalog = sqlite_catalog(tmp_path, "catalog")
        saved = _position(catalog)
        assert saved.token is not None and saved.endpoint == f"oai-pmh {url} marc21"
        with serve(provider.app()) as moved:
            since = len(provider.list_requests())
            report = harvest(catalog, HarvestSource(name="partner", url=moved),
                             politeness=Politeness(delay=0))
        assert report.status == SUCCEEDED, report.errors
        assert report.errors == [
            f"run #1 stopped after {saved.cursor} records of its list, but the position was "
            f"saved for oai-pmh {url} marc21, the source is now oai-pmh {moved} marc21: its list "
            "is harvested anew"]
        first = provider.list_requests()[since]
        assert "resumptionToken" not in first and first["metadataPrefix"] == "marc21"
    assert sorted(catalogue_of(catalog, "partner")) == sorted(
        f"oai:fault.test:{n}" for n in range(30))
    _assert_cleared(catalog)
    catalog.close()


SETS = ("a", "b", "c")
SET_RECORDS = 30


def test_a_run_killed_between_two_sets_resumes_at_the_next_set(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Killed as the first page of its second set is asked for (the first set's list is
    finished: its last page, committed, had no token), the run is resumed by the next one at
    the second set, with the killed run's start and span; the first set is not asked for
    again."""
    provider = FaultProvider(list(demo_records(SET_RECORDS)), page_size=PAGE, sets=SETS)
    pages_of_a_set = SET_RECORDS // len(SETS) // PAGE
    with serve(provider.app()) as url:
        process = _koprik(_config(tmp_path, url, sets=SETS))
        kill_on(process, lambda hook: setattr(provider, "on_list_request", hook),
                lambda _count: provider.list_requests()[-1].get("set") == "b", timeout=60)
        catalog = sqlite_catalog(tmp_path, "catalog")
        saved = _position(catalog)
        assert (saved.run_id, saved.set_spec, saved.token) == (1, "a", None)
        assert len(catalogue_of(catalog, "partner")) == SET_RECORDS // len(SETS)

        since = len(provider.list_requests())
        report = _run(catalog, HarvestSource(name="partner", url=url, sets=list(SETS)))
        assert report.errors == ["resumed run #1 after set a"]
        asked = Counter(provider.set_of(r) for r in provider.list_requests()[since:])
        assert asked == {"b": pages_of_a_set, "c": pages_of_a_set}
        assert report.watermark == dates.watermark_from(saved.first_response_date, dates.SECONDS)
    assert sorted(catalogue_of(catalog, "partner")) == sorted(
        f"oai:fault.test:{n}" for n in range(SET_RECORDS))
    with catalog.engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(models.records)).scalar_one()
        statuses = connection.execute(
            select(harvest_runs.c.status).order_by(harvest_runs.c.id)).scalars().all()
    assert rows == SET_RECORDS  # each once
    assert statuses == [INTERRUPTED, SUCCEEDED]
    _assert_cleared(catalog)
    catalog.close()


def test_a_run_killed_between_two_halves_of_a_window_resumes_after_the_first(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The provider answers 500 to any page holding record 30: the run halves its way down to
    that record's second, gives it up, and is killed as it asks for the half after it. The
    next run (the provider mended) resumes after the last half whose list was finished, asks
    for nothing before its end, and ends partial (the window given up on is recorded)."""
    provider = FaultProvider(list(demo_records(45)), page_size=100)
    poisoned = stamp(provider.poison("oai:fault.test:30").datestamp)
    with serve(provider.app()) as url:
        process = _koprik(_config(tmp_path, url, retries=0))
        kill_on(process, lambda hook: setattr(provider, "on_list_request", hook),
                lambda _count: provider.list_requests()[-1].get("from", "") > poisoned,
                timeout=60)  # datestamps of one granularity compare as strings
        catalog = sqlite_catalog(tmp_path, "catalog")
        saved = _position(catalog)
        assert (saved.run_id, saved.token, saved.failed_windows) == (1, None, 1)
        assert saved.window_until < poisoned < saved.run_until
        before = {f"oai:fault.test:{n}" for n in range(30)}
        assert set(catalogue_of(catalog, "partner")) == before

        provider.poisoned.clear()
        since, served = len(provider.list_requests()), len(provider.served)
        report = harvest(catalog, HarvestSource(name="partner", url=url),
                         politeness=Politeness(delay=0))
        assert report.errors[:2] == [
            f"resumed run #1 after the window {saved.window_from}..{saved.window_until} of "
            "the list", "run #1 had 1 window(s) failed for good"]
        (first, *_) = asked = provider.list_requests()[since:]
        assert (first["from"], first["until"]) == (
            dates.after(saved.window_until, dates.SECONDS), saved.run_until)
        assert all(r["from"] > saved.window_until for r in asked)
        assert before.isdisjoint(provider.served[served:])
        assert report.status == PARTIAL and report.watermark is None
    assert sorted(catalogue_of(catalog, "partner")) == sorted(
        f"oai:fault.test:{n}" for n in range(45))
    catalog.close()


SRU_QUERY = "cql.allRecords=1"
SRU_RECORDS = 40


def _sru_source(url: str, query: str = SRU_QUERY) -> HarvestSource:
    return HarvestSource(name="partner", url=url.replace("/oai", "/sru"), protocol="sru",
                         query=query, prefix="marcxml")


def _kill_sru_run(provider: FaultProvider, config: str, at: int) -> None:
    """Run ``koprik harvest partner`` and SIGKILL it as its ``at``-th searchRetrieve arrives
    (the pages up to ``2 * PAGES_AHEAD`` before it are committed then, later ones perhaps: a
    page is asked for while up to PAGES_AHEAD are being stored and fewer wait for them)."""
    process = _koprik(config)
    base = len(provider.search_requests())
    kill_on(process, lambda hook: setattr(provider, "on_search_request", hook),
            lambda count: count - base == at, timeout=60)


def _position(catalog: Catalog) -> Row:  # type: ignore[type-arg]
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(harvest_state).where(harvest_state.c.source == "partner")
        ).one()


def _starts(provider: FaultProvider, since: int) -> list[int]:
    """The startRecord of each searchRetrieve from the ``since``-th on."""
    return [int(r["startRecord"]) for r in provider.search_requests()[since:]]


def _assert_each_record_once(catalog: Catalog, count: int) -> None:
    with catalog.engine.connect() as connection:
        rows = connection.execute(
            select(models.records.c.source_identifier).where(models.records.c.source == "partner")
        ).scalars().all()
    assert sorted(rows) == [record["001"].data for record in demo_records(count)]


def _killed_sru_source(tmp_path, provider: FaultProvider, url: str) -> tuple[Catalog, Row]:  # type: ignore[no-untyped-def, type-arg]
    """A first run of the SRU source killed as the page after its first two committed ones is
    asked for; the catalogue and the position that run saved (checked against what it
    committed)."""
    at = 2 * PAGES_AHEAD + 2
    _kill_sru_run(provider, _config(tmp_path, url.replace("/oai", "/sru"), sru=True), at=at)
    catalog = sqlite_catalog(tmp_path, "catalog")
    saved = _position(catalog)
    assert (saved.run_id, saved.query, saved.hits, saved.token) == (1, SRU_QUERY, SRU_RECORDS,
                                                                    None)
    assert saved.endpoint == f"sru {url.replace('/oai', '/sru')} marcxml"
    # pages 1 and 2 committed, perhaps those after them but not the page asked for
    assert saved.cursor in range(2 * PAGE + 1, (at - 1) * PAGE + 2, PAGE)
    assert len(catalogue_of(catalog, "partner")) == saved.cursor - 1  # saved with its page
    return catalog, saved


def _run(catalog: Catalog, source: HarvestSource, full: bool = False) -> RunReport:
    report = harvest(catalog, source, RunOptions(full=full), politeness=Politeness(delay=0))
    assert report.status == SUCCEEDED, report.errors
    return report


def _assert_cleared(catalog: Catalog) -> None:
    state = _position(catalog)
    assert (state.run_id, state.query, state.hits, state.cursor, state.endpoint) == (
        None, None, None, None, None)


def test_a_killed_sru_run_is_resumed_at_its_saved_position_and_a_complete_run_clears_it(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    provider = FaultProvider(list(demo_records(SRU_RECORDS)), page_size=PAGE)
    with serve(provider.app()) as url:
        catalog, saved = _killed_sru_source(tmp_path, provider, url)
        since, served = len(provider.search_requests()), len(provider.served)
        report = _run(catalog, _sru_source(url))
        assert report.errors == [f"resumed run #1 at record {saved.cursor} of {SRU_RECORDS}"]
        assert _starts(provider, since) == list(range(saved.cursor, SRU_RECORDS + 1, PAGE))
        assert provider.served[served:] == [
            f"oai:fault.test:{n}" for n in range(saved.cursor - 1, SRU_RECORDS)]
        assert (report.counts.added, report.counts.unchanged) == (
            SRU_RECORDS - saved.cursor + 1, 0)
        _assert_cleared(catalog)

        since = len(provider.search_requests())
        again = _run(catalog, _sru_source(url))  # nothing saved: from record 1
        assert again.errors == [] and again.counts.unchanged == SRU_RECORDS
        assert _starts(provider, since) == list(range(1, SRU_RECORDS + 1, PAGE))
    _assert_each_record_once(catalog, SRU_RECORDS)
    with catalog.engine.connect() as connection:
        statuses = connection.execute(
            select(harvest_runs.c.status).order_by(harvest_runs.c.id)).scalars().all()
    assert statuses == [INTERRUPTED, SUCCEEDED, SUCCEEDED]
    catalog.close()


def test_a_position_saved_before_revision_0008_names_no_address_and_is_resumed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider = FaultProvider(list(demo_records(SRU_RECORDS)), page_size=PAGE)
    with serve(provider.app()) as url:
        catalog, saved = _killed_sru_source(tmp_path, provider, url)
        with catalog.engine.begin() as connection:  # as revision 0008 leaves a saved position
            connection.execute(update(harvest_state).values(endpoint=None))
        since = len(provider.search_requests())
        report = _run(catalog, _sru_source(url))
        assert report.errors == [f"resumed run #1 at record {saved.cursor} of {SRU_RECORDS}"]
        assert _starts(provider, since) == list(range(saved.cursor, SRU_RECORDS + 1, PAGE))
    _assert_each_record_once(catalog, SRU_RECORDS)
    catalog.close()


def test_a_changed_hit_count_restarts_a_killed_sru_run_from_record_1(tmp_path) -> None:  # type: ignore[no-untyped-def]
    records = list(demo_records(SRU_RECORDS + 1))
    provider = FaultProvider(records[:SRU_RECORDS], page_size=PAGE)
    with serve(provider.app()) as url:
        catalog, saved = _killed_sru_source(tmp_path, provider, url)
        provider.add("oai:fault.test:new", records[-1])  # the result set changed
        since = len(provider.search_requests())
        report = _run(catalog, _sru_source(url))
        assert report.errors == [
            f"run #1 stopped at record {saved.cursor} of {SRU_RECORDS} hits; the query now has "
            f"{SRU_RECORDS + 1}: the result set changed, starting from record 1"]
        # the first answer (at the saved position) tells the hits, then from record 1
        assert _starts(provider, since) == [saved.cursor, *range(1, SRU_RECORDS + 2, PAGE)]
        _assert_cleared(catalog)
    _assert_each_record_once(catalog, SRU_RECORDS + 1)
    catalog.close()


@pytest.mark.parametrize("case", ["another query", "another address", "--full",
                                  "position refused"])
def test_a_killed_sru_run_is_started_again_from_record_1(case: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider = FaultProvider(list(demo_records(SRU_RECORDS)), page_size=PAGE)
    with serve(provider.app()) as url:
        catalog, saved = _killed_sru_source(tmp_path, provider, url)
        since, expected = len(provider.search_requests()), SRU_RECORDS
        if case == "another query":
            report = _run(catalog, _sru_source(url, query="cql.allRecords = 1"))
            assert report.errors == [
                f"run #1 stopped at record {saved.cursor} of another query; starting from "
                "record 1"]
            assert _starts(provider, since) == list(range(1, SRU_RECORDS + 1, PAGE))
        elif case == "another address":
            with serve(provider.app()) as moved:  # the same records, another port
                report = _run(catalog, _sru_source(moved))
            before, after = (u.replace("/oai", "/sru") for u in (url, moved))
            assert report.errors == [
                f"run #1 stopped at record {saved.cursor}, but the position was saved for sru "
                f"{before} marcxml, the source is now sru {after} marcxml; starting from record 1"]
            assert _starts(provider, since) == list(range(1, SRU_RECORDS + 1, PAGE))
        elif case == "--full":
            report = _run(catalog, _sru_source(url), full=True)
            assert report.errors == []
            assert _starts(provider, since) == list(range(1, SRU_RECORDS + 1, PAGE))
        else:
            for n in range(PAGE * 2, SRU_RECORDS):  # 10 hits left: the saved position is past
                provider.delete(f"oai:fault.test:{n}")
            report = _run(catalog, _sru_source(url))
            assert report.errors == [
                f"run #1 stopped at record {saved.cursor}, which the server refuses now (SRU "
                f"diagnostic 61: First record position out of range ({saved.cursor})): starting "
                "from record 1"]
            assert _starts(provider, since) == [saved.cursor, 1, PAGE + 1]
            expected = saved.cursor - 1  # what the killed run stored; nothing is deleted
        _assert_cleared(catalog)
    _assert_each_record_once(catalog, expected)
    catalog.close()
