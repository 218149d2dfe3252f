"""catalog/db.py: a SQLite catalogue Koprik cannot write is named, in one line from any command;
a new one (it holds the token key) is private to its owner."""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from catalog import Catalog, models
from catalog.db import (
    IN_CHUNK,
    DatabaseFileError,
    DatabaseUrlError,
    check_sqlite_file,
    execute_in,
    insert_rows,
    open_engine,
)
from catalog.demo import demo_records
from catalog.secrets import stored_secret
from config import DatabaseSettings, Settings
from koprik.cli import main


def _protect(path: Path, on: bool) -> None:
    """Make ``path`` unwritable (or writable again) even for root: the immutable attribute."""
    if os.geteuid() != 0:
        path.chmod((0o555 if path.is_dir() else 0o444) if on else 0o755)
        return
    done = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only folder as root here: {done.stderr.strip()!r}")


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[list[Path]]:
    """Paths appended to the list are made unwritable, and writable again afterwards."""
    protected: list[Path] = []
    yield protected
    for path in reversed(protected):
        _protect(path, False)


def _config(folder: Path, database: Path) -> str:
    config = folder / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n')
    return str(config)


def test_a_read_only_folder_is_named_by_every_command(tmp_path: Path, read_only, capsys):
    folder = tmp_path / "var"
    url = f"sqlite:///{folder / 'koprik.sqlite3'}"
    Catalog.open(Settings(database=DatabaseSettings(url=url))).close()  # made, then read-only
    read_only.append(folder)
    _protect(folder, True)
    config = _config(tmp_path, folder / "koprik.sqlite3")
    for command in (["demo", "--records", "1"], ["runs"], ["db", "upgrade"]):
        assert main(["--config", config, *command]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"the catalogue folder {folder} is not writable" in err, command
    serve = subprocess.run([sys.executable, "-m", "koprik", "--config", config, "serve"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert serve.returncode == 2 and serve.stderr.count("\n") == 1
    assert f"the catalogue folder {folder} is not writable" in serve.stderr


def test_a_read_only_catalogue_file_is_named(tmp_path: Path, read_only):
    database = tmp_path / "koprik.sqlite3"
    check_sqlite_file(database)
    database.write_bytes(b"")
    read_only.append(database)
    _protect(database, True)
    with pytest.raises(DatabaseFileError, match=f"the catalogue file {database} cannot be written"):
        check_sqlite_file(database)


def test_a_folder_that_cannot_be_made_is_named(tmp_path: Path):
    (tmp_path / "file").write_text("not a folder")
    database = tmp_path / "file" / "var" / "koprik.sqlite3"
    with pytest.raises(DatabaseFileError) as refused:
        check_sqlite_file(database)
    assert str(refused.value) == (  # mkdir's own reason was "File exists"
        f"cannot create the catalogue folder {database.parent}: {tmp_path / 'file'} is a file,"
        " not a folder"
    )


def test_a_new_sqlite_catalogue_and_its_wal_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "catalog.sqlite3"
    catalog = Catalog.open(Settings(database=DatabaseSettings(url=f"sqlite:///{path}")))
    try:
        stored_secret(catalog.engine, "oai-resumption-token")  # the token key is in there
        files = [path, path.with_name(path.name + "-wal")]
        assert all(file.exists() for file in files)
        assert [stat.S_IMODE(file.stat().st_mode) for file in files] == [0o600, 0o600]
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        catalog.close()


def test_execute_in_reads_and_writes_a_list_in_chunks_on_each_engine(catalog: Catalog) -> None:
    """More values than one statement takes, a parameter before the list, on SQLite and
    PostgreSQL: every row read once; an UPDATE touches exactly the listed rows."""
    names = [f"s{n:04d}" for n in range(IN_CHUNK * 2 + 7)]
    with catalog.engine.begin() as connection:
        insert_rows(connection, models.sets, ("spec", "name"), [(n, "old") for n in names])
        listed = [*names[::2], "absent"]
        execute_in(connection, "UPDATE sets SET name = {p} WHERE spec IN ({values})",
                   listed, ("new",))
        rows = execute_in(connection, "SELECT spec, name FROM sets WHERE name = {p} AND "
                          "spec IN ({values})", [*names, "absent"], ("new",))
        assert sorted(tuple(row) for row in rows) == [(n, "new") for n in names[::2]]
        assert [row.spec for row in execute_in(
            connection, "SELECT spec FROM sets WHERE spec IN ({values})", [])] == []


def test_execute_in_takes_a_list_as_the_rows_of_values_with_parameters_after_it(
    catalog: Catalog,
) -> None:
    """``{rows}``: each value a row of a VALUES list, joined like a table; the ``after``
    parameters follow it, in every chunk, on SQLite and PostgreSQL."""
    names = [f"s{n:04d}" for n in range(IN_CHUNK * 2 + 7)]
    with catalog.engine.begin() as connection:
        insert_rows(connection, models.sets, ("spec", "name"),
                    [(n, "odd" if i % 2 else "even") for i, n in enumerate(names)])
        rows = execute_in(
            connection, "SELECT s.spec, s.name FROM (VALUES {rows}) AS k CROSS JOIN sets AS s "
            "WHERE s.spec = k.column1 AND s.name <> {p}",
            [*names[::3], "absent"], after=("odd",))
    assert sorted(tuple(row) for row in rows) == [
        (n, "even") for i, n in enumerate(names) if i % 3 == 0 and i % 2 == 0]


def test_execute_in_takes_its_list_only_as_an_in_list(catalog: Catalog) -> None:
    """``{values}`` stands for an ``IN`` list only: PostgreSQL gets it as ``= ANY(array)``,
    which no other place of a statement could take."""
    with catalog.engine.begin() as connection, pytest.raises(ValueError, match="outside IN"):
        execute_in(connection, "SELECT spec FROM sets WHERE spec NOT IN ({values})", ["a"])


@pytest.mark.parametrize(("url", "reason"), [
    ("notaurl", "Could not parse SQLAlchemy URL"),
    ("mysql+nosuchdriver://host/db", "Can't load plugin"),
])  # fmt: skip
def test_a_url_that_names_no_database_is_one_line(
    url: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DatabaseUrlError, match=reason):
        open_engine(url)
    from koprik.cli import main

    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    assert main(["--config", str(config), "runs"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"koprik: {config}: database.url {url!r} is not a database URL Koprik can open (")


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://koprik@127.0.0.1:notaport/koprik",
    "postgresql+psycopg://koprik@127.0.0.1:/koprik",
    "postgresql+psycopg://koprik@[::1:21050/koprik",
    "sqlite:///{tmp}/catalog.sqlite3?timeout=abc",
    # ignored with a warning above the output: a new catalogue made where a read-only one
    # was meant
    "sqlite:///{tmp}/catalog.sqlite3?mode=ro",
])  # fmt: skip
def test_a_url_with_a_port_or_parameter_that_is_no_number_is_one_line_exit_2(
    url: str, tmp_path: Path
) -> None:
    """make_url's int() of the port, or the SQLite dialect's float() of ``timeout``, was a
    ValueError traceback and exit status 1, which systemd restarts (2 it does not). The line
    names the settings file holding the URL."""
    from tests.servers import write_config

    url = url.format(tmp=tmp_path)
    with pytest.raises(DatabaseUrlError, match="is not a database URL Koprik can open"):
        open_engine(url)
    koprik = write_config(tmp_path)
    koprik.config.write_text(koprik.config.read_text().replace(
        f"sqlite:///{tmp_path / 'catalog.sqlite3'}", url))  # fmt: skip
    for command in (["db", "current"], ["export", "-o", str(tmp_path / "out.mrc")], ["serve"]):
        done = subprocess.run(koprik.command(*command), capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 2, (command, done.stderr)
        (line,) = done.stderr.splitlines()
        assert line.startswith(
            f"koprik: {koprik.config}: database.url {url!r} is not a database URL Koprik can "
            "open ("
        ), command
    assert not (tmp_path / "out.mrc").exists()
    assert not (tmp_path / "catalog.sqlite3").exists()


@pytest.mark.parametrize(("url", "said"), [
    pytest.param("postgresql+psycopg2://host/db", "needs the Python driver 'psycopg2' "
                 "(postgresql+psycopg2), which is not installed",
                 marks=pytest.mark.skipif(importlib.util.find_spec("psycopg2") is not None,
                                          reason="psycopg2 installed")),
    ("mysql://host/db", "names a mysql database: Koprik keeps its catalogue in SQLite "
     "(sqlite:///FILE) or PostgreSQL (postgresql+psycopg://...)"),
])  # fmt: skip
def test_a_url_whose_driver_is_not_installed_is_one_line_exit_2(
    tmp_path: Path, url: str, said: str
) -> None:
    """A known dialect whose driver is missing is named before create_engine imports it: one
    line naming database.url and the driver, exit 2 (systemd does not restart on 2). A database
    other than SQLite or PostgreSQL is said to be none Koprik keeps its catalogue in: it was
    said to need its driver, as if Koprik would then keep it there."""
    with pytest.raises(DatabaseUrlError):
        open_engine(url)
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    for command in (["runs"], ["db", "current"]):
        done = subprocess.run(
            [sys.executable, "-m", "koprik", "--config", str(config), *command],
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines() == [f"koprik: {config}: database.url {url!r} {said}"]


TURNS = 25
"""Times the other connection takes the write lock (80 ms each) in the test below."""


def test_a_sqlite_writer_gets_the_lock_in_a_gap_of_another_that_takes_it_again_at_once(
    tmp_path: Path,
) -> None:
    """Another connection takes the write lock again half a millisecond after each COMMIT, as
    ``koprik import`` writes its next batch: a writer of the catalogue gets the lock in one of
    its gaps (:func:`catalog.transactions.hold_writes` asks every millisecond). SQLite's own wait
    asked every 100 ms, missed the gaps, and a second import failed with "database is locked"
    once its busy timeout had passed, the first still writing."""
    import sqlite3
    import threading
    import time

    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    catalog = Catalog.open(replace(Settings(), database=DatabaseSettings(url=url)))
    other = sqlite3.connect(tmp_path / "c.sqlite3", isolation_level=None, timeout=30,
                            check_same_thread=False)  # fmt: skip
    holding, done = threading.Event(), threading.Event()
    turns: list[int] = []

    def take_it_again_and_again() -> None:
        for turn in range(TURNS):  # 2 s, unless the writer got in first
            if done.is_set():
                return
            other.execute("BEGIN IMMEDIATE")
            holding.set()
            time.sleep(0.08)
            other.execute("COMMIT")
            turns.append(turn)
            time.sleep(0.0005)

    taker = threading.Thread(target=take_it_again_and_again)
    taker.start()
    try:
        holding.wait(10)
        with catalog.writer() as writer:
            writer.put(next(demo_records(1)))
            got_in = len(turns)
        done.set()
    finally:
        taker.join()
        other.close()
        catalog.close()
    assert got_in < TURNS, f"the other connection kept the write lock all its {TURNS} turns"


def test_a_stop_signal_in_a_statement_on_sqlite_is_raised_as_it_came(tmp_path: Path) -> None:
    """A ^C (or SIGTERM) raised inside a statement: SQLAlchemy invalidates the connection, and
    the end of its transaction, as it closed, was told the writers' listener
    (:func:`catalog.transactions._wrote`), which asked the connection's ``info`` and raised
    "Can't reconnect until invalid transaction is rolled back" in place of the ^C (seen: an
    import stopped by SIGTERM ended with that traceback and status 1)."""
    from sqlalchemy import event

    from catalog.transactions import hold_writes

    engine = open_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    try:
        with engine.begin() as connection:
            hold_writes(connection)  # the engine's listener is in place

        def stopped(*_arguments: object) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt), engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")  # a transaction begun
            event.listen(engine, "before_cursor_execute", stopped)
            connection.exec_driver_sql("SELECT 2")
    finally:
        engine.dispose()


def test_a_stop_signal_as_a_sqlite_writer_asks_for_the_lock_is_raised_as_it_came(
    tmp_path: Path,
) -> None:
    """A ^C inside the BEGIN IMMEDIATE of a writer waiting for the lock: the connection is
    invalidated, and setting its busy timeout back raised "Can't reconnect until invalid
    transaction is rolled back" in place of the ^C."""
    from sqlalchemy import event

    from catalog.transactions import hold_writes

    engine = open_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")

    def stopped(_connection: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement == "BEGIN IMMEDIATE":
            raise KeyboardInterrupt

    event.listen(engine, "before_cursor_execute", stopped)
    try:
        with pytest.raises(KeyboardInterrupt), engine.begin() as connection:
            hold_writes(connection)
    finally:
        engine.dispose()
