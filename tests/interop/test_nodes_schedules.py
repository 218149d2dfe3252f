"""Two ``koprik serve`` nodes on one PostgreSQL catalogue, both configured with a source on a
two-second interval (the fault provider on 127.0.0.1): one node alone runs the schedules, so
each trigger makes at most one run in all and runs never overlap; killed (SIGKILL) while a
harvest waits for a page, the leader leaves the harvest half-done, and the other node takes the
schedules over and resumes it at the page it stopped: the catalogue ends holding every record
of the source once."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs, harvest_state
from config import DatabaseSettings, Settings
from tests.conftest import _fresh_postgres_database, free_port
from tests.fault_provider import FaultProvider, catalogue_of, serve

pytestmark = [pytest.mark.interop, pytest.mark.postgres]

FIRST, ADDED, PAGE = 30, 35, 10
INTERVAL = 2
LIVENESS = 90.0
"""Seconds anything expected may take on a loaded machine (a bound, not a measurement)."""
LEADS = "this node runs the harvest schedules"
SCHEDULED = "scheduled harvest of partner:"


def _eventually(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIVENESS
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


@contextmanager
def _node(folder: Path, url: str, source_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """A ``koprik serve`` on free ports with the catalogue at ``url``, printing to
    ``folder/serve.out``; stopped (SIGTERM) on leaving unless killed before."""
    folder.mkdir()
    port = free_port()
    config = folder / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n'
        f"[server]\nhttp_port = {port}\nz3950_port = {free_port()}\n"
        f'[[sources]]\nname = "partner"\nurl = "{source_url}"\nprefix = "marc21"\n'
        f'every = "{INTERVAL}s"\ndelay = 0.0\n'
    )
    output = folder / "serve.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "koprik", "--config", str(config), "serve"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _eventually(lambda: _answers(f"http://127.0.0.1:{port}/health", process, output),
                    "the node answers")  # fmt: skip
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(url: str, process: subprocess.Popen[bytes], output: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"koprik serve exited: {output.read_text()}")
    try:
        urllib.request.urlopen(url, timeout=5).read()
    except OSError:
        return False
    return True


def _runs(catalog: Catalog) -> list:  # type: ignore[type-arg]
    with catalog.engine.connect() as connection:
        return connection.execute(select(harvest_runs).order_by(harvest_runs.c.id)).all()


def _committed_token(catalog: Catalog) -> str | None:
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(harvest_state.c.token).where(harvest_state.c.source == "partner")
        ).scalar()


def _log(folder: Path) -> str:
    return (folder / "serve.out").read_text(errors="replace")


def test_schedules_fire_once_across_nodes_and_a_dead_nodes_harvest_is_resumed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = _fresh_postgres_database(request)
    catalog = Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url)))
    records = list(demo_records(FIRST + ADDED, seed=12))
    provider = FaultProvider(records[:FIRST], page_size=PAGE)
    armed, entered, release = threading.Event(), threading.Event(), threading.Event()
    held: list[str] = []

    def hold(count: int) -> None:
        """Once armed, stall the first request for a second page (the provider's own thread)."""
        token = provider.requests[-1].get("resumptionToken")
        if armed.is_set() and token is not None and not entered.is_set():
            held.append(token)
            entered.set()
            release.wait(LIVENESS)

    provider.on_list_request = hold
    folders = {name: tmp_path / name for name in ("one", "two")}
    try:
        with serve(provider.app()) as source_url, contextlib.ExitStack() as stack:
            nodes = {name: stack.enter_context(_node(folder, url, source_url))
                     for name, folder in folders.items()}  # fmt: skip

            # -- several triggers: one leader, one run per trigger at most, none overlapping
            _eventually(lambda: sum(r.status == "succeeded" for r in _runs(catalog)) >= 4,
                        "four scheduled runs succeeded")  # fmt: skip
            leaders = [name for name, folder in folders.items() if LEADS in _log(folder)]
            assert len(leaders) == 1, leaders
            leader = leaders[0]
            (follower,) = set(folders) - {leader}
            assert SCHEDULED not in _log(folders[follower])
            for folder in folders.values():
                assert "a run is in progress" not in _log(folder)
            runs = [r for r in _runs(catalog) if r.finished is not None]
            starts = [r.started for r in runs]
            # k runs on distinct triggers span about INTERVAL * (k - 1) seconds (less the
            # first run's lateness and the rounding of started to whole seconds: one interval
            # of slack); two schedulers firing each trigger would make about twice as many
            assert len(runs) <= (starts[-1] - starts[0]) // INTERVAL + 2, starts
            assert sorted(set(catalogue_of(catalog, "partner"))) == sorted(
                item.identifier for item in provider.items
            )

            # -- the leader dies in the middle of a harvest
            for n, record in enumerate(records[FIRST:]):
                provider.add(f"oai:fault.test:new{n}", record)
            armed.set()
            assert entered.wait(LIVENESS), "no run asked for a second page"
            _eventually(lambda: _committed_token(catalog) == held[0],
                        "the page before the held one was committed")  # fmt: skip
            nodes[leader].send_signal(signal.SIGKILL)
            nodes[leader].wait()
            interrupted = _runs(catalog)[-1]
            assert interrupted.status == "running" and interrupted.finished is None
            requests_before = len(provider.requests)
            release.set()

            _eventually(lambda: LEADS in _log(folders[follower]), "the other node leads")
            _eventually(
                lambda: any(r.id > interrupted.id and r.status == "succeeded"
                            for r in _runs(catalog)),
                "the other node finished the harvest",
            )  # fmt: skip
    finally:
        release.set()
    runs = _runs(catalog)
    resumed = next(r for r in runs if r.id > interrupted.id)
    assert resumed.status == "succeeded"
    ended = next(r for r in runs if r.id == interrupted.id)
    assert ended.status == "interrupted"
    assert ended.errors.splitlines()[-1] == (  # it said nothing of why
        "it ended without its end recorded (its process killed, its node gone, or the "
        "catalogue database lost meanwhile); found by the source's next run")
    after = [r for r in provider.requests[requests_before:] if r.get("verb") == "ListRecords"]
    assert after[0] == {"verb": "ListRecords", "resumptionToken": held[0]}  # where it stopped
    wanted = {item.identifier for item in provider.items}
    assert len(wanted) == FIRST + ADDED
    assert set(catalogue_of(catalog, "partner")) == wanted
    assert not any(deleted for deleted, _ in catalogue_of(catalog, "partner").values())
    with catalog.engine.connect() as connection:
        stored = connection.execute(
            select(func.count()).select_from(models.records)
            .where(models.records.c.source == "partner")
        ).scalar_one()  # fmt: skip
    assert stored == FIRST + ADDED  # none doubled
    finished = [r for r in runs if r.finished is not None]
    for earlier, later in itertools.pairwise(finished):  # two runs never overlap
        assert earlier.finished <= later.started
    catalog.close()
