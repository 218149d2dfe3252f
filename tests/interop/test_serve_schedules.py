"""Scheduled harvesting inside ``koprik serve``: a partner Koprik harvested by a second one.

The second server has a source on a two-second interval in its koprik.toml; it harvests by
itself, keeps its schedule across a restart (the job store is in the catalogue), and runs the
missed run once when it starts again.
"""

import itertools
import subprocess
import time

from catalog import Catalog
from catalog.harvest_state import harvest_runs
from config import load_settings
from tests.servers import koprik_serve


def runs_of(config) -> list:  # type: ignore[no-untyped-def]
    catalog = Catalog.open(load_settings(config))
    try:
        with catalog.engine.connect() as connection:
            return list(connection.execute(harvest_runs.select().order_by(harvest_runs.c.id)))
    finally:
        catalog.close()


def live_ids(config) -> set[str]:  # type: ignore[no-untyped-def]
    catalog = Catalog.open(load_settings(config))
    try:
        return {e.local_id for e in catalog.list_entries(None, limit=10_000) if not e.deleted}
    finally:
        catalog.close()


def wait_until(predicate, seconds: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.5)


def test_a_scheduled_source_runs_under_serve_and_survives_a_restart(tmp_path):
    partner_dir, home_dir = tmp_path / "partner", tmp_path / "home"
    partner_dir.mkdir()
    home_dir.mkdir()
    with koprik_serve(partner_dir, demo_records=60) as partner:
        source = (f'[[sources]]\nname = "partner"\nurl = "{partner.oai_url}"\n'
                  f'prefix = "marc21"\nevery = "2s"\ndelay = 0.0\n')
        with koprik_serve(home_dir, extra=source) as home:
            wait_until(lambda: any(r.status == "succeeded" for r in runs_of(home.config)))
            assert len(live_ids(home.config)) == 60  # the partner's demo records, all live
            wait_until(lambda: len(runs_of(home.config)) >= 2)  # it keeps running by itself
            statuses = {r.status for r in runs_of(home.config)}
            assert statuses <= {"succeeded", "running"}
        stopped_at = len(runs_of(home.config))
        time.sleep(4)  # runs are missed while it is down
        with koprik_serve(home_dir, extra=source) as home:
            wait_until(lambda: len(runs_of(home.config)) > stopped_at)
        listed = subprocess.run(home.command("runs", "partner"), capture_output=True,
                                text=True, timeout=60).stdout
        assert "succeeded" in listed
    runs = runs_of(home.config)
    starts = [r.started for r in runs]
    assert starts == sorted(starts)
    for earlier, later in itertools.pairwise(runs):  # two runs never overlap
        assert earlier.finished is not None and earlier.finished <= later.started
