"""Z39.50 sources in the harvest machinery, against a real Zebra: ``koprik sources add`` checks
the target (and refuses one that does not answer, with the reason), ``koprik harvest`` brings
its records into the catalogue and ``koprik runs`` shows the run; a second harvest changes
nothing; the scheduler runs a Z39.50 source on its interval."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from catalog import Catalog
from catalog.harvest_state import harvest_runs
from config import HarvestSource, Settings, load_settings
from harvester import runs, z3950_harvest
from harvester.runs import SUCCEEDED, PageInfo, RunOptions, harvest
from harvester.scheduler import start_scheduler
from harvester.sources import SourceError, add_source, all_sources, validate
from harvester.z3950_harvest import DEFAULT_BATCH
from tests.conftest import ROOT, free_port
from tests.interop import test_z3950_harvest
from tests.interop.test_z3950_harvest import EVERYTHING, Zebra, assert_same_record
from tests.z3950_relay import INIT_REQUEST, PRESENT_REQUEST, SEARCH_REQUEST, Z3950Relay, relaying

pytestmark = pytest.mark.interop
zebra = test_z3950_harvest.zebra
"""A Zebra serving demo records and marccol1 (this module's own, started once)."""


def koprik(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "koprik", "--config", str(config), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip


def _runs(catalog: Catalog) -> list:  # type: ignore[type-arg]
    with catalog.engine.connect() as connection:
        return connection.execute(select(harvest_runs).order_by(harvest_runs.c.id)).all()


def z3950_source(zebra: Zebra, **changes: object) -> HarvestSource:
    source = HarvestSource(
        name="zebra", url=f"z3950://{zebra.address}", protocol="z3950", query=EVERYTHING,
        timeout=10.0,
    )  # fmt: skip
    return dataclasses.replace(source, **changes)  # type: ignore[arg-type]


def test_definitions_are_checked_before_contacting_the_target() -> None:
    good = HarvestSource(name="z", url="z3950://127.0.0.1:2100/Default", protocol="z3950",
                         query="@attr 1=4 navoiy", charset="UTF-8")
    validate(good)
    validate(HarvestSource(name="z", url="127.0.0.1:2100/Default", protocol="z3950", query="x"))
    for changes, reason in (
        ({"query": ""}, "needs a query"),
        ({"query": "@and x"}, "query '@and x': "),
        ({"url": "z3950://host:port/Default"}, "Z39.50 address: bad port"),
        ({"charset": "klingon"}, "charset: "),
        ({"sets": ["a"]}, "'sets' is not supported for Z39.50"),
        ({"protocol": "gopher"}, "protocol 'gopher': expected oai-pmh, z3950, sru"),
    ):
        with pytest.raises(SourceError, match=reason):
            validate(dataclasses.replace(good, **changes))  # type: ignore[arg-type]


def test_add_harvest_and_runs_commands(zebra: Zebra, tmp_path: Path) -> None:
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n')
    total = len(zebra.records)

    closed = koprik(config, "sources", "add", "down", "--protocol", "z3950", "--url",
                    f"z3950://127.0.0.1:{free_port()}/Default", "--query", EVERYTHING)
    assert closed.returncode == 2 and closed.stdout == ""
    assert len(closed.stderr.splitlines()) == 1
    assert "source 'down' refused: cannot open 127.0.0.1:" in closed.stderr
    assert "connection refused" in closed.stderr
    refused = koprik(config, "sources", "add", "nothing", "--protocol", "z3950", "--url",
                     f"z3950://{zebra.address}", "--query", "@attr 1=9999 x")
    assert refused.returncode == 2 and "diagnostic 114" in refused.stderr

    added = koprik(config, "sources", "add", "zebra", "--protocol", "z3950", "--url",
                   f"z3950://{zebra.address}", "--query", EVERYTHING, "--charset", "UTF-8",
                   "--every", "6h", "--delay", "0")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added source zebra (Z39.50 target ")
    assert added.stdout.endswith(f", {total} hits, character set UTF-8)\n")
    listed = koprik(config, "sources", "list").stdout.splitlines()
    assert len(listed) == 2 and listed[1].split()[:6] == [
        "zebra", "database", "yes", "-", "every", "6h"]
    assert listed[1].endswith(f"z3950://{zebra.address} {EVERYTHING}")

    first = koprik(config, "harvest", "zebra")
    assert first.returncode == 0, first.stderr
    batches = -(-total // DEFAULT_BATCH)
    assert "harvest zebra (run #1): succeeded" in first.stdout
    pages = "1 page" if batches == 1 else f"{batches} pages"
    assert f"  {total} new, 0 updated, 0 deleted, 0 unchanged, 0 rejected; {pages}, " \
        f"{2 + batches} requests" in first.stdout
    catalog = Catalog.open(load_settings(config))
    try:
        for identifier, original in zebra.records.items():
            stored = catalog.marc_of(f"zebra:{identifier}")
            assert stored is not None
            assert_same_record(stored, original)
    finally:
        catalog.close()

    second = koprik(config, "harvest", "zebra", "--full")
    assert second.returncode == 0, second.stderr
    assert f"  0 new, 0 updated, 0 deleted, {total} unchanged, 0 rejected" in second.stdout
    runs = koprik(config, "runs").stdout.splitlines()
    assert [line.split()[:3] for line in runs[1:]] == [
        ["2", "zebra", "succeeded"], ["1", "zebra", "succeeded"]]
    newest, oldest = runs[1].split(), runs[2].split()
    # new, upd, del, same, rej, reqs follow the date, time and seconds
    assert newest[6:13] == ["0", "0", "0", str(total), "0", "0", str(2 + batches)]
    assert oldest[6:13] == [str(total), "0", "0", "0", "0", "0", str(2 + batches)]

    by_hand = koprik(config, "harvest", "zebra", "--from", "2024-01-01")
    assert by_hand.returncode == 2 and "do not apply to a Z39.50 source" in by_hand.stderr


def test_harvest_reports_hits_as_the_total_and_a_failed_run(
    zebra: Zebra, settings: Settings, catalog: Catalog
) -> None:
    pages: list[PageInfo] = []
    report = harvest(catalog, z3950_source(zebra), on_page=pages.append)
    total = len(zebra.records)
    assert report.status == SUCCEEDED and report.counts.added == total
    assert report.watermark is None and report.errors == []
    assert [(p.pages, p.records, p.complete_list_size) for p in pages] == [
        (n + 1, min(DEFAULT_BATCH * (n + 1), total), total) for n in range(len(pages))]
    assert pages[-1].records == total

    down = z3950_source(zebra, name="down", url=f"127.0.0.1:{free_port()}/D")
    failed = harvest(catalog, down, RunOptions(full=True))
    assert failed.status == "failed" and failed.requests == 0
    (error,) = failed.errors
    assert error.startswith("run failed: cannot open 127.0.0.1:") and "connection refused" in error
    assert [(run.source, run.status) for run in _runs(catalog)] == [
        ("zebra", SUCCEEDED), ("down", "failed")]


def test_the_scheduler_runs_a_z3950_source(
    zebra: Zebra, settings: Settings, catalog: Catalog
) -> None:
    add_source(settings, catalog, z3950_source(zebra, every="1s"))
    (entry,) = all_sources(settings, catalog)
    assert entry.source.query == EVERYTHING and entry.source.protocol == "z3950"
    scheduler = start_scheduler(settings, catalog, sync_seconds=0.5)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            runs = _runs(catalog)
            if len(runs) >= 2 and runs[1].finished is not None:
                break
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    first, second = _runs(catalog)[:2]
    total = len(zebra.records)
    assert (first.status, first.added, first.unchanged) == (SUCCEEDED, total, 0)
    assert (second.status, second.added, second.unchanged) == (SUCCEEDED, 0, total)
    assert first.finished <= second.started


def test_a_run_waits_the_sources_delay_between_its_requests(
    zebra: Zebra, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Init, Search and each Present reach the target at least ``delay`` apart (the politeness
    of every source: they came at once)."""
    batch, delay = 10, 0.2
    monkeypatch.setattr(runs, "harvest_z3950",
                        functools.partial(z3950_harvest.harvest_z3950, batch=batch))
    relay = Z3950Relay(zebra.port)
    arrived: list[tuple[int, float]] = []
    relay.on_request = lambda tag: arrived.append((tag, time.monotonic()))
    with relaying(relay) as port:
        source = z3950_source(zebra, url=f"z3950://127.0.0.1:{port}/Default", delay=delay)
        report = harvest(catalog, source)
    assert report.status == SUCCEEDED and report.counts.added == len(zebra.records)
    presents = -(-len(zebra.records) // batch)
    paced = [(tag, at) for tag, at in arrived
             if tag in (INIT_REQUEST, SEARCH_REQUEST, PRESENT_REQUEST)]
    tags = [INIT_REQUEST, SEARCH_REQUEST, *[PRESENT_REQUEST] * presents]
    assert [tag for tag, _ in paced] == tags
    gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(paced)]
    assert min(gaps) >= delay, gaps


def _drop_present(relay: Z3950Relay, *which: int) -> None:
    """Have ``relay`` drop its connection as the ``which``-th Presents arrive (counting all)."""
    presents = 0

    def drop(tag: int) -> None:
        nonlocal presents
        presents += tag == PRESENT_REQUEST
        if tag == PRESENT_REQUEST and presents in which:
            raise ConnectionResetError("dropped by the test")

    relay.on_request = drop


@pytest.mark.parametrize("retries", [0, 1])
def test_a_present_whose_connection_drops_is_asked_again_within_the_retries(
    zebra: Zebra, catalog: Catalog, monkeypatch: pytest.MonkeyPatch, retries: int
) -> None:
    """Retries on a new association, searched again, from the same position (the run failed at
    the first fault whatever the source's retries); with no retries the run fails as before."""
    batch = 10
    monkeypatch.setattr(runs, "harvest_z3950",
                        functools.partial(z3950_harvest.harvest_z3950, batch=batch))
    relay = Z3950Relay(zebra.port)
    _drop_present(relay, 2)
    with relaying(relay) as port:
        source = z3950_source(zebra, url=f"z3950://127.0.0.1:{port}/Default", delay=0.0,
                              retries=retries)
        report = harvest(catalog, source)
    tags = [tag for tag in relay.requests if tag in (INIT_REQUEST, SEARCH_REQUEST, PRESENT_REQUEST)]
    if retries == 0:
        assert report.status == "failed" and report.counts.added == batch
        assert tags == [INIT_REQUEST, SEARCH_REQUEST, PRESENT_REQUEST, PRESENT_REQUEST]
        (error,) = report.errors
        assert "target closed the association: connection lost" in error
        return
    assert report.status == SUCCEEDED, report.errors
    assert report.counts.added == len(zebra.records)
    presents = -(-len(zebra.records) // batch)
    assert tags == [INIT_REQUEST, SEARCH_REQUEST, PRESENT_REQUEST, PRESENT_REQUEST,
                    INIT_REQUEST, SEARCH_REQUEST, *[PRESENT_REQUEST] * (presents - 1)]
    assert report.requests == 2 + 2 + presents + 1  # the dropped Present is one
    (event,) = report.errors
    assert event.startswith(f"z3950-retry: present at {batch + 1}: target closed the association")
    assert event.endswith("; asked again on a new association")


def test_a_present_still_dropped_after_the_retries_fails_the_run(
    zebra: Zebra, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = 10
    monkeypatch.setattr(runs, "harvest_z3950",
                        functools.partial(z3950_harvest.harvest_z3950, batch=batch))
    relay = Z3950Relay(zebra.port)
    _drop_present(relay, 2, 3)
    with relaying(relay) as port:
        source = z3950_source(zebra, url=f"z3950://127.0.0.1:{port}/Default", delay=0.0,
                              retries=1)
        report = harvest(catalog, source)
    assert report.status == "failed" and report.counts.added == batch
    assert relay.presents() == 3 and report.requests == 2 + 2 + 3
    retried, failed = report.errors
    assert retried.startswith(f"z3950-retry: present at {batch + 1}: ")
    assert failed.startswith(f"run failed: 127.0.0.1:{port}/Default: present at {batch + 1}: "
                             "gave up after 2 attempts: target closed the association: ")
