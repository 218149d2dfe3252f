"""Every catalogue writer is run again when PostgreSQL aborts its transaction as a serialization
failure (or a deadlock): a harvest run's own rows, the source's lock, the commands that change
sources and operators, sign-ins and the keys a node keeps. The abort is the server's own: a
PL/pgSQL trigger the test creates raises SQLSTATE 40001 the first time a row of its table is
written, as PostgreSQL does when two nodes' transactions conflict. Before, such a writer failed
with the abort: a harvest run with a traceback, a command with the server's error."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine.default import DefaultDialect

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_rejects, harvest_runs, harvest_sources, harvest_state
from catalog.secrets import stored_secret
from config import HarvestSource, Settings
from harvester.faults import MalformedResponse
from harvester.runs import PARTIAL, SUCCEEDED, HarvestRun, RunOptions, harvest
from harvester.sources import add_source, edit_source, remove_source
from koprik.dashboard import accounts
from koprik.dashboard.limits import LoginLimiter
from tests.books import write_marc
from tests.conftest import ROOT
from tests.fault_provider import FAST, FaultProvider, catalogue_of, serve

pytestmark = pytest.mark.parametrize("catalog_url", ["postgresql"], indirect=True)


def _aborted_once(catalog: Catalog, table: str, event: str, when: str = "") -> Callable[[], int]:
    """Make the first row ``event`` (INSERT, UPDATE or DELETE) of ``table`` that matches
    ``when`` (a trigger's WHEN clause) abort its transaction on the server with SQLSTATE 40001;
    returns how many times such a row was written since (a sequence counts them: it is not
    rolled back with the transaction it is used in)."""
    name = f"abort_{table}_{event.lower()}"
    with catalog.engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SEQUENCE {name}")
        connection.exec_driver_sql(f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('{name}') = 1 THEN
                    RAISE EXCEPTION 'could not serialize access due to concurrent update'
                        USING ERRCODE = '40001';
                END IF;
                RETURN NULL;
            END $$""")
        connection.exec_driver_sql(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {when} "
            f"EXECUTE FUNCTION {name}()")  # fmt: skip

    def written() -> int:
        with catalog.engine.connect() as connection:
            row = connection.exec_driver_sql(f"SELECT last_value, is_called FROM {name}").one()
        return int(row.last_value) if row.is_called else 0

    return written


def _said_again(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "catalog.transactions" and r.levelno == logging.WARNING]  # fmt: skip


@pytest.mark.parametrize(("table", "event", "when", "what", "poisoned"), [
    ("harvest_runs", "INSERT", "", "opening a run of partner", False),
    ("harvest_runs", "UPDATE", "WHEN (NEW.status <> 'running')", "closing the run of partner",
     False),
    ("harvest_state", "INSERT", "", "adding the lock of source 'partner'", False),
    ("harvest_state", "UPDATE", "WHEN (OLD.lock_owner IS NULL AND NEW.lock_owner IS NOT NULL)",
     "taking the lock of source 'partner'", False),
    ("harvest_state", "UPDATE", "WHEN (OLD.lock_owner IS NOT NULL AND NEW.lock_owner IS NULL)",
     "releasing the lock of source 'partner'", False),
    ("harvest_state", "UPDATE", "WHEN (NEW.failed_windows > OLD.failed_windows)",
     "saving the failed windows of the run of partner", True),
], ids=["open", "close", "lock row", "lock", "release", "failed windows"])  # fmt: skip
def test_a_harvest_run_aborted_in_a_write_of_its_own_goes_on(
    catalog: Catalog, caplog: pytest.LogCaptureFixture, table: str, event: str, when: str,
    what: str, poisoned: bool,
) -> None:
    """The run ends as it would have, its records stored, with one line saying what was run
    again; before, it raised the abort (its lock and its run's row left behind)."""
    provider = FaultProvider(list(demo_records(8)))
    if poisoned:  # a window of one second fails for good: the run ends partial
        provider.poison("oai:fault.test:5")
    written = _aborted_once(catalog, table, event, when)
    with serve(provider.app()) as url, caplog.at_level(logging.WARNING):
        report = harvest(catalog, HarvestSource(name="partner", url=url, delay=0),
                         politeness=FAST)  # fmt: skip
    assert report.status == (PARTIAL if poisoned else SUCCEEDED)
    assert written() >= 2  # aborted, then written
    (said,) = _said_again(caplog)
    assert said.startswith(f"{what} aborted by the database (could not serialize access due "
                           "to concurrent update); running it again in ")  # fmt: skip
    assert len(catalogue_of(catalog, "partner")) == 8 - poisoned
    with catalog.engine.connect() as connection:
        runs = connection.execute(select(harvest_runs.c.status)).scalars().all()
        state = connection.execute(select(harvest_state.c.lock_owner,
                                          harvest_state.c.failed_windows)).one()
    assert runs == [report.status]
    assert state.lock_owner is None
    if poisoned:
        assert state.failed_windows == 0  # the partial run ended complete: its state cleared


def test_koprik_sources_and_users_commands_aborted_once_do_their_work(
    settings: Settings, catalog: Catalog, tmp_path: Any
) -> None:
    """``koprik sources add`` and ``koprik users add``, each aborted once on the server: the
    command succeeds, its row stored, with one warning line on stderr."""
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n')
    sources = _aborted_once(catalog, "harvest_sources", "INSERT")
    users = _aborted_once(catalog, "users", "INSERT")
    commands = {
        "adding source 'partner'": ("sources", "add", "partner", "--url",
                                    "http://127.0.0.1:9/oai", "--prefix", "marc21", "--no-check"),
        "adding user 'alice'": ("users", "add", "alice"),
    }  # fmt: skip
    for what, command in commands.items():
        done = subprocess.run([sys.executable, "-m", "koprik", "--config", str(config), *command],
                              cwd=ROOT, input="s3cret-password\n", capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        (line,) = done.stderr.splitlines()
        assert f" WARNING catalog.transactions: {what} aborted by the database (could not " \
            "serialize access due to concurrent update); running it again in " in line
    assert (sources(), users()) == (2, 2)
    with catalog.engine.connect() as connection:
        assert connection.execute(select(harvest_sources.c.name)).scalars().all() == [
            "partner"]
    verified = accounts.check_password(catalog.engine, "alice", "s3cret-password")
    assert verified is not None and verified.name == "alice"


WRITERS = {
    "sources edit": ("harvest_sources", "UPDATE",
                     lambda s, c: edit_source(s, c, "partner", check=False, delay=2.0)),
    "sources remove": ("harvest_sources", "DELETE", lambda s, c: remove_source(s, c, "partner")),
    "users passwd": ("users", "UPDATE",
                     lambda s, c: accounts.set_password(c.engine, "alice", "another-secret")),
    "users token": ("users", "UPDATE", lambda s, c: accounts.new_token(c.engine, "alice")),
    "users remove": ("users", "DELETE", lambda s, c: accounts.remove_user(c.engine, "alice")),
    "sign-in": ("user_sessions", "INSERT",
                lambda s, c: accounts.open_session(
                    c.engine, accounts.check_password(c.engine, "alice", "s3cret-password"), 60)),
    "failed sign-in": ("login_failures", "INSERT",
                       lambda s, c: LoginLimiter(c.engine, 5, 60).failed("127.0.0.1", "alice")),
    "a node's key": ("secrets", "INSERT", lambda s, c: stored_secret(c.engine, "test-key")),
}  # fmt: skip
"""What each writer writes (its table and the event aborted), and the call that writes it."""


@pytest.mark.parametrize(("table", "event", "write"), WRITERS.values(), ids=WRITERS.keys())
def test_a_small_writer_aborted_once_does_its_work(
    settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture, table: str,
    event: str, write: Callable[[Settings, Catalog], object],
) -> None:
    add_source(settings, catalog, HarvestSource(name="partner", url="http://127.0.0.1:9/oai",
                                                prefix="marc21"), check=False)  # fmt: skip
    accounts.add_user(catalog.engine, "alice", "s3cret-password")
    written = _aborted_once(catalog, table, event)
    with caplog.at_level(logging.WARNING):
        write(settings, catalog)
    assert written() >= 2
    assert len(_said_again(caplog)) == 1


def test_koprik_import_whose_bulk_copy_is_aborted_once_stores_its_records(
    settings: Settings, catalog: Catalog, tmp_path: Any
) -> None:
    """``koprik import`` whose COPY of new records PostgreSQL aborts once: the batch is written
    again, the command ends 0 with one warning line, each record stored once. Before, the COPY's
    error, raised by psycopg past SQLAlchemy (:func:`catalog.db.insert_rows`), was not seen as
    an abort to run again, and the command ended with its traceback."""
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n')
    source = tmp_path / "few.mrc"
    write_marc(source, demo_records(5))
    written = _aborted_once(catalog, "records", "INSERT")
    done = subprocess.run([sys.executable, "-m", "koprik", "--config", str(config), "import",
                           str(source)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    assert " WARNING catalog.transactions: import transaction aborted by the database (could " \
        "not serialize access due to concurrent update); running it again in " in line
    assert "import: 5 added, 0 updated, 0 unchanged, 0 rejected" in done.stdout
    assert written() >= 2
    with catalog.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM records").scalar_one() == 5


def test_a_rejected_page_run_again_and_interrupted_at_its_commit_is_counted_once(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page no record could be read from, kept as a reject: its transaction aborted once by
    the server, then a ^C as its COMMIT returns. The run counts the page once, as its row does;
    before, the count was added after the write returned, past the section a ^C waits for, and
    the page was counted in the row but not by the run."""
    run = HarvestRun(catalog, HarvestSource(name="partner", url="http://127.0.0.1:9/oai"),
                     RunOptions(), FAST)  # fmt: skip
    run.run_id = run._open_run()
    written = _aborted_once(catalog, "harvest_rejects", "INSERT")
    committed = DefaultDialect.do_commit

    def commit(dialect: DefaultDialect, connection: Any) -> None:
        committed(dialect, connection)
        monkeypatch.setattr(DefaultDialect, "do_commit", committed)  # the first one only
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(DefaultDialect, "do_commit", commit)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run._reject_page(MalformedResponse("malformed XML", b"<OAI-PMH><ListRecords>"))
    finally:
        signal.signal(signal.SIGINT, before)
    assert written() == 2
    with catalog.engine.connect() as connection:
        counted = connection.execute(select(harvest_runs.c.rejected)).scalar_one()
        kept = connection.execute(select(func.count()).select_from(harvest_rejects)).scalar_one()
    assert (run.counts.rejected, counted, kept) == (1, 1, 1)
