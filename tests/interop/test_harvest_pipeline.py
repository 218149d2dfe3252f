"""A harvest of a real Zebra, by SRU and by Z39.50, SIGKILLed between pages (while the next page
is being fetched and prepared, harvester.pipeline) or inside a page's transaction, then run
again: the pages committed before the kill are whole, with the run's counts and the resume
position beside them; nothing of the page in flight or in its transaction is; and the run after
it goes on from that position (asking for none of the committed pages again) and leaves every
one of Zebra's records in the catalogue once, unchanged."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from catalog import Catalog, models
from catalog.harvest_state import harvest_runs, harvest_state
from config import HarvestSource, Settings
from harvester.http_fetch import Politeness
from harvester.ingest import Counts
from harvester.pipeline import PAGES_AHEAD
from harvester.runs import INTERRUPTED, RUNNING, SUCCEEDED, harvest
from harvester.sru_harvest import DEFAULT_PAGE
from harvester.z3950_harvest import DEFAULT_BATCH
from tests.conftest import ROOT
from tests.interop.test_z3950_harvest import EVERYTHING, Zebra, assert_same_record, demo_zebra

pytestmark = pytest.mark.interop

RECORDS = 5 * DEFAULT_PAGE + 10
"""Six pages (the last one short)."""
KILL_AFTER = 2
"""Pages committed when the harvesting process kills itself (between pages: these, and the one
after them if it shared their transaction; inside a transaction: the page after them is in it,
and the one before perhaps)."""
QUICK = Politeness(delay=0, timeout=20, retries=1, backoff=0.1)

CHILD = """
import json, os, signal, sys
import harvester.pipeline
from catalog import Catalog
from config import DatabaseSettings, HarvestSource, Settings
from harvester.http_fetch import Politeness
from harvester.pipeline import PAGES_AHEAD
from harvester.runs import harvest

url, source, politeness, kill_after, inside = sys.argv[1:]
applied = []

def kill_between_pages(info):
    # called for each page once its transaction committed, while the next ones are prepared
    if info.pages == int(kill_after) and inside == "between":
        os.kill(os.getpid(), signal.SIGKILL)

def apply_then_kill(*args, **kwargs):
    # the page after them written, its transaction not yet committed
    counts = apply(*args, **kwargs)
    applied.append(counts)
    if len(applied) == int(kill_after) + 1 and inside == "inside":
        os.kill(os.getpid(), signal.SIGKILL)
    return counts

apply, harvester.pipeline.apply = harvester.pipeline.apply, apply_then_kill
catalog = Catalog.open(Settings(database=DatabaseSettings(url=url)))
harvest(catalog, HarvestSource(**json.loads(source)),
        politeness=Politeness(**json.loads(politeness)), on_page=kill_between_pages)
"""
"""A harvest run in a process of its own that SIGKILLs itself ``between`` two pages (once
``kill_after`` pages are committed) or ``inside`` the transaction of the page after them. argv
is the catalogue URL, the source and the politeness (JSON), ``kill_after`` and where."""


@pytest.fixture(scope="module")
def zebra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zebra]:
    with demo_zebra(tmp_path_factory.mktemp("zebra-pipeline"), RECORDS) as served:
        assert len(served.records) == RECORDS
        yield served


def _source(zebra: Zebra, protocol: str) -> HarvestSource:
    if protocol == "sru":
        address, query = f"http://127.0.0.1:{zebra.port}/Default", "cql.allRecords=1"
    else:
        address, query = f"z3950://{zebra.address}", EVERYTHING
    prefix = "marcxml" if protocol == "sru" else ""
    return HarvestSource(
        name="zebra", url=address, protocol=protocol, query=query, prefix=prefix, timeout=20.0,
        delay=0,
    )  # fmt: skip


def _stored(catalog: Catalog) -> int:
    r = models.records
    with catalog.engine.connect() as connection:
        return int(connection.execute(
            select(func.count()).select_from(r).where(r.c.source == "zebra")
        ).scalar_one())  # fmt: skip


def _position(catalog: Catalog) -> tuple[object, ...]:
    """Where the source's run stands: (run, query, next record, hits)."""
    s = harvest_state.c
    with catalog.engine.connect() as connection:
        return tuple(connection.execute(
            select(s.run_id, s.query, s.cursor, s.hits).where(s.source == "zebra")
        ).one())  # fmt: skip


def _kill(source: HarvestSource, catalog_url: str, kill_after: int, where: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, catalog_url, json.dumps(dataclasses.asdict(source)),
         json.dumps(dataclasses.asdict(QUICK)), str(kill_after), where],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr


@pytest.mark.parametrize("where", ["between", "inside"])
@pytest.mark.parametrize("protocol", ["sru", "z3950"])
def test_a_harvest_killed_between_pages_then_run_again_holds_every_record_once(
    protocol: str, where: str, zebra: Zebra, catalog_url: str, settings: Settings
) -> None:
    assert DEFAULT_PAGE == DEFAULT_BATCH  # RECORDS makes six pages of either
    source = _source(zebra, protocol)
    _kill(source, catalog_url, KILL_AFTER, where)
    catalog = Catalog.open(settings)
    try:
        with catalog.engine.connect() as connection:
            killed = connection.execute(select(harvest_runs)).one()
        assert killed.status == RUNNING
        if where == "between":  # the transaction that reached KILL_AFTER pages committed
            assert KILL_AFTER <= killed.pages < KILL_AFTER + PAGES_AHEAD
        else:  # the one holding the page after them did not
            assert KILL_AFTER - PAGES_AHEAD < killed.pages <= KILL_AFTER
        committed = killed.pages * DEFAULT_PAGE
        assert (killed.added, killed.rejected) == (committed, 0)  # counts commit with pages
        assert _stored(catalog) == committed  # whole pages, none of the one in flight
        assert _position(catalog) == (killed.id, source.query, committed + 1, RECORDS)

        again = harvest(catalog, source, politeness=QUICK, settings=settings)
        assert again.status == SUCCEEDED, again.errors
        assert again.errors == [f"resumed run #{killed.id} at record {committed + 1} of {RECORDS}"]
        assert again.counts == Counts(added=RECORDS - committed)
        opening = 1 if protocol == "sru" else 2  # explain; Init and Search
        pages = -(-RECORDS // DEFAULT_PAGE)
        assert again.requests == opening + pages - killed.pages  # the pages after the committed
        assert _position(catalog) == (None, None, None, None)  # a complete run clears it
        with catalog.engine.connect() as connection:
            statuses = connection.execute(
                select(harvest_runs.c.status).order_by(harvest_runs.c.id)
            ).scalars().all()  # fmt: skip
        assert statuses == [INTERRUPTED, SUCCEEDED]
        assert _stored(catalog) == RECORDS  # every record once
        for identifier, original in zebra.records.items():
            stored = catalog.marc_of(f"zebra:{identifier}")
            assert stored is not None, identifier
            assert_same_record(stored, original)
    finally:
        catalog.close()


@pytest.mark.parametrize("protocol", ["sru", "z3950"])
def test_a_harvest_killed_after_its_last_page_leaves_the_next_run_nothing_to_fetch(
    protocol: str, zebra: Zebra, catalog_url: str, settings: Settings
) -> None:
    """The saved position is then past the hits, which Zebra's SRU refuses (diagnostic 61):
    the next run asks for the last hit to learn that the result set is the same, and stops."""
    source = _source(zebra, protocol)
    pages = -(-RECORDS // DEFAULT_PAGE)
    _kill(source, catalog_url, pages, "between")
    catalog = Catalog.open(settings)
    try:
        assert _position(catalog) == (1, source.query, RECORDS + 1, RECORDS)
        again = harvest(catalog, source, politeness=QUICK, settings=settings)
        assert again.status == SUCCEEDED, again.errors
        assert again.errors == [
            f"run #1 stopped after its last record ({RECORDS} hits): nothing is left to ask for"]
        assert (again.counts.total, again.pages, again.requests) == (0, 0, 2)
        assert _position(catalog) == (None, None, None, None)
        assert _stored(catalog) == RECORDS
    finally:
        catalog.close()
