"""A Z39.50 source's run killed mid-way, against a real Zebra (through a relay that kills the
``koprik harvest`` process as its fifth Present arrives): the next run searches again and
presents from the record position saved with the last committed batch; if the target now
reports another hit count (another Zebra behind the same address, one record more), or the run
is ``--full``, it starts from record 1. Each record ends in the catalogue exactly once, and a
run that ends complete clears the position. A run stopped by ^C instead (``koprik harvest``
sent SIGINT as that Present arrives) is recorded interrupted and resumed the same way."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Row, select

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs, harvest_state
from config import HarvestSource, load_settings
from harvester.pipeline import PAGES_AHEAD
from harvester.runs import INTERRUPTED, SUCCEEDED, PageInfo, RunOptions, RunReport, harvest
from harvester.z3950_harvest import DEFAULT_BATCH
from tests.conftest import ROOT
from tests.interop.test_z3950_harvest import EVERYTHING, Zebra, demo_zebra
from tests.servers import kill_on
from tests.z3950_relay import PRESENT_REQUEST, Z3950Relay, relaying

pytestmark = pytest.mark.interop

KILL_AT = 2 * PAGES_AHEAD + 1
"""The Present the run is killed at: batch 1 is committed then (a batch is asked for while up to
PAGES_AHEAD are being stored and fewer wait for them), the ones after it perhaps."""
BATCHES = KILL_AT + 1
RECORDS = BATCHES * DEFAULT_BATCH
"""Zebra's records: a batch more than the Presents a killed run asks for."""


@pytest.fixture(scope="module")
def zebras(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Zebra, Zebra]]:
    """A Zebra of RECORDS demo records, and one of the same and one more."""
    with demo_zebra(tmp_path_factory.mktemp("zebra-a"), RECORDS) as first, \
            demo_zebra(tmp_path_factory.mktemp("zebra-b"), RECORDS + 1) as grown:
        yield first, grown


@pytest.fixture
def relay(zebras: tuple[Zebra, Zebra]) -> Iterator[tuple[Z3950Relay, int]]:
    relay = Z3950Relay(zebras[0].port)
    with relaying(relay) as port:
        yield relay, port


def _config(folder: Path, port: int) -> Path:
    path = folder / "koprik.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{folder / "catalog.sqlite3"}"\n'
        f'[[sources]]\nname = "zebra"\nurl = "z3950://127.0.0.1:{port}/Default"\n'
        f'protocol = "z3950"\nquery = \'{EVERYTHING}\'\ntimeout = 30.0\n'
    )
    return path


def _kill_run(relay: Z3950Relay, config: Path) -> None:
    """Run ``koprik harvest zebra`` and SIGKILL it as its ``KILL_AT``-th Present arrives."""
    process = subprocess.Popen(
        [sys.executable, "-m", "koprik", "--config", str(config), "harvest", "zebra"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    presents = 0

    def kill_at(tag: int) -> bool:
        nonlocal presents
        presents += tag == PRESENT_REQUEST
        return presents == KILL_AT

    kill_on(process, lambda hook: setattr(relay, "on_request", hook), kill_at)


def _state(catalog: Catalog) -> Row:  # type: ignore[type-arg]
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(harvest_state).where(harvest_state.c.source == "zebra")
        ).one()


def _killed(relay: Z3950Relay, config: Path, catalog: Catalog, run: int, hits: int) -> int:
    """Kill run #``run`` mid-way; the position it saved, checked against what it committed."""
    before = _stored(catalog)
    _kill_run(relay, config)
    saved = _state(catalog)
    assert (saved.run_id, saved.query, saved.hits, saved.token) == (run, EVERYTHING, hits, None)
    last = (KILL_AT - 1) * DEFAULT_BATCH + 1  # every batch before the one asked for committed
    assert saved.cursor in range(DEFAULT_BATCH + 1, last + 1, DEFAULT_BATCH)
    if not before:
        assert len(_stored(catalog)) == saved.cursor - 1  # the position commits with its batch
    return int(saved.cursor)


def _stored(catalog: Catalog) -> list[str]:
    with catalog.engine.connect() as connection:
        return sorted(connection.execute(
            select(models.records.c.source_identifier).where(models.records.c.source == "zebra")
        ).scalars())


def _each_once(count: int) -> list[str]:
    return [record["001"].data for record in demo_records(count)]


def _run(catalog: Catalog, port: int, relay: Z3950Relay, presents: int,
         full: bool = False) -> RunReport:
    """A run through the relay that must succeed after ``presents`` Present requests, each
    page telling a progress bar the records the run will have done."""
    source = HarvestSource(name="zebra", url=f"z3950://127.0.0.1:{port}/Default",
                           protocol="z3950", query=EVERYTHING, timeout=30.0, delay=0.0)
    since = len(relay.requests)
    pages: list[PageInfo] = []
    report = harvest(catalog, source, RunOptions(full=full), on_page=pages.append)
    assert report.status == SUCCEEDED, report.errors
    assert {page.expected for page in pages} == {report.counts.total}
    assert relay.presents(since) == presents and report.requests == 2 + presents
    state = _state(catalog)
    assert (state.run_id, state.query, state.hits, state.cursor) == (None, None, None, None)
    return report


def _statuses(catalog: Catalog) -> list[str]:
    with catalog.engine.connect() as connection:
        return list(connection.execute(
            select(harvest_runs.c.status).order_by(harvest_runs.c.id)).scalars())


def test_a_killed_run_is_resumed_at_its_saved_position(
    relay: tuple[Z3950Relay, int], tmp_path: Path
) -> None:
    relayed, port = relay
    config = _config(tmp_path, port)
    catalog = Catalog.open(load_settings(config))
    try:
        position = _killed(relayed, config, catalog, 1, RECORDS)
        left = RECORDS - position + 1
        report = _run(catalog, port, relayed, presents=-(-left // DEFAULT_BATCH))
        assert report.errors == [f"resumed run #1 at record {position} of {RECORDS}"]
        # nothing before the saved position was presented again
        assert (report.counts.added, report.counts.unchanged) == (left, 0)
        assert _stored(catalog) == sorted(_each_once(RECORDS))

        again = _run(catalog, port, relayed, presents=BATCHES)  # nothing saved: from 1
        assert again.errors == [] and again.counts.unchanged == RECORDS
        assert _statuses(catalog) == [INTERRUPTED, SUCCEEDED, SUCCEEDED]
    finally:
        catalog.close()


def test_another_hit_count_or_full_starts_from_record_1(
    zebras: tuple[Zebra, Zebra], relay: tuple[Z3950Relay, int], tmp_path: Path
) -> None:
    relayed, port = relay
    config = _config(tmp_path, port)
    catalog = Catalog.open(load_settings(config))
    try:
        position = _killed(relayed, config, catalog, 1, RECORDS)
        relayed.target_port = zebras[1].port  # the same address now finds one record more
        grown = _run(catalog, port, relayed, presents=BATCHES + 1)
        assert grown.errors == [
            f"run #1 stopped at record {position} of {RECORDS} hits; the query now has "
            f"{RECORDS + 1}: the result set changed, starting from record 1"]
        assert (grown.counts.added, grown.counts.unchanged) == (
            RECORDS + 1 - (position - 1), position - 1)

        _killed(relayed, config, catalog, 3, RECORDS + 1)
        full = _run(catalog, port, relayed, presents=BATCHES + 1, full=True)
        assert full.errors == [] and full.counts.unchanged == RECORDS + 1
        assert _stored(catalog) == sorted(_each_once(RECORDS + 1))
        assert _statuses(catalog) == [INTERRUPTED, SUCCEEDED, INTERRUPTED, SUCCEEDED]
    finally:
        catalog.close()


def test_a_run_stopped_by_a_signal_is_interrupted_and_resumed_at_its_saved_position(
    relay: tuple[Z3950Relay, int], tmp_path: Path
) -> None:
    relayed, port = relay
    config = _config(tmp_path, port)
    catalog = Catalog.open(load_settings(config))
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "koprik", "--config", str(config), "harvest", "zebra"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        presents = 0

        def stop_at(tag: int) -> None:
            nonlocal presents
            presents += tag == PRESENT_REQUEST
            if presents == KILL_AT:
                relayed.on_request = None
                process.send_signal(signal.SIGINT)

        relayed.on_request = stop_at
        try:
            _, err = process.communicate(timeout=120)
        finally:
            relayed.on_request = None
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 130, err
        saved = _state(catalog)
        pages = (saved.cursor - 1) // DEFAULT_BATCH  # every batch is full
        assert 1 <= pages < BATCHES
        assert err == (f"koprik: harvest zebra (run #1) stopped by the operator after page "
                       f"{pages}; the next run resumes there\n")
        assert _statuses(catalog) == [INTERRUPTED]
        assert len(_stored(catalog)) == saved.cursor - 1  # the position commits with its batch
        left = RECORDS - saved.cursor + 1
        report = _run(catalog, port, relayed, presents=-(-left // DEFAULT_BATCH))
        assert report.errors == [f"resumed run #1 at record {saved.cursor} of {RECORDS}"]
        assert _stored(catalog) == sorted(_each_once(RECORDS))
        assert _statuses(catalog) == [INTERRUPTED, SUCCEEDED]
    finally:
        catalog.close()


def test_a_retry_that_finds_other_hits_fails_the_run_and_the_next_starts_from_record_1(
    zebras: tuple[Zebra, Zebra], relay: tuple[Z3950Relay, int], tmp_path: Path
) -> None:
    """A Present whose connection drops is asked again on a new association only if its search
    finds the same hits (another target behind the address now: one record more)."""
    relayed, port = relay
    catalog = Catalog.open(load_settings(_config(tmp_path, port)))
    try:
        presents = 0

        def drop_and_grow(tag: int) -> None:
            nonlocal presents
            presents += tag == PRESENT_REQUEST
            if tag == PRESENT_REQUEST and presents == 2:
                relayed.target_port = zebras[1].port
                raise ConnectionResetError("dropped by the test")

        relayed.on_request = drop_and_grow
        source = HarvestSource(name="zebra", url=f"z3950://127.0.0.1:{port}/Default",
                               protocol="z3950", query=EVERYTHING, timeout=30.0, delay=0.0,
                               retries=1)
        failed = harvest(catalog, source)
        relayed.on_request = None
        assert failed.status == "failed" and relayed.presents() == 2
        assert failed.errors[-1].endswith(
            f"searched again on a new association, the target reports {RECORDS + 1} hits, not "
            f"{RECORDS}: the result set changed")
        assert failed.requests == 2 + 2 + 2
        again = _run(catalog, port, relayed, presents=BATCHES + 1)
        assert again.errors[0].endswith("the result set changed, starting from record 1")
        assert _stored(catalog) == sorted(_each_once(RECORDS + 1))
    finally:
        catalog.close()
