"""``koprik backup``: SQLite's online backup, and the pg_dump line for PostgreSQL (run here)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from catalog import Catalog
from catalog.demo import demo_records
from catalog.store import Incoming
from config import DatabaseSettings, Settings
from koprik.cli import main
from tests.conftest import DATA
from tests.postgres import PG_BIN
from tests.servers import limit_files_to


def _config(folder: Path, url: str) -> Path:
    path = folder / "koprik.toml"
    path.write_text(f'[database]\nurl = "{url}"\n')
    return path


def test_a_sqlite_catalogue_in_use_is_copied_whole(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    settings = dataclasses.replace(Settings(), database=DatabaseSettings(url=url))
    catalog = Catalog.open(settings)
    try:
        with catalog.writer() as writer:
            for record in demo_records(30):
                writer.put(record)
        reading = catalog.engine.connect()  # another connection holds a read transaction
        reading.execute(text("SELECT count(*) FROM records")).scalar()
        copy = tmp_path / "backup.sqlite3"
        assert main(["--config", str(_config(tmp_path, url)), "backup", str(copy)]) == 0
        reading.close()
        assert f"copied to {copy}" in capsys.readouterr().out
        # private as the catalogue is: it holds the token key, password and token hashes
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        with sqlite3.connect(copy) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copied = Catalog.open(dataclasses.replace(
            settings, database=DatabaseSettings(url=f"sqlite:///{copy}")
        ))  # fmt: skip
        try:
            original = catalog.list_entries("marc21", limit=100)
            assert copied.list_entries("marc21", limit=100) == original and len(original) == 30
        finally:
            copied.close()
    finally:
        catalog.close()


def test_a_catalogue_not_yet_upgraded_can_be_backed_up(tmp_path: Path):
    database = tmp_path / "old.sqlite3"
    shutil.copy(DATA / "catalog-before-revisions.sqlite3", database)
    config = _config(tmp_path, f"sqlite:///{database}")
    assert main(["--config", str(config), "backup", str(tmp_path / "copy.sqlite3")]) == 0
    with sqlite3.connect(tmp_path / "copy.sqlite3") as check:
        assert check.execute("SELECT count(*) FROM records").fetchone() == (31,)


@pytest.mark.parametrize(
    ("target", "message"),
    [("exists.sqlite3", "exists.sqlite3 exists: name a new file"),
     ("folder", "folder is a folder: name a new file (in it, say)"),  # was 'folder exists'
     ("no-folder/copy.sqlite3", "no-folder/copy.sqlite3: no such folder {tmp}/no-folder"),
     # a file named as a folder was said to be no folder, though it is there
     ("exists.sqlite3/copy.sqlite3", "exists.sqlite3/copy.sqlite3: {tmp}/exists.sqlite3 is a "
      "file, not a folder"),
     # the copy cannot be created (here its working name is taken by a folder)
     ("blocked.sqlite3", "cannot write {tmp}/blocked.sqlite3.part: it is a folder and not a "
      "working copy of koprik's; remove it"),
     ],
)
def test_a_target_that_cannot_be_written_is_named(tmp_path: Path, capsys, target, message):
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url))).close()
    (tmp_path / "exists.sqlite3").write_bytes(b"")
    (tmp_path / "blocked.sqlite3.part").mkdir()
    (tmp_path / "folder").mkdir()
    assert main(["--config", str(_config(tmp_path, url)), "backup", str(tmp_path / target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(tmp=tmp_path) in err


@pytest.mark.postgres
@pytest.mark.parametrize("catalog_url", ["postgresql"], indirect=True)
def test_postgresql_gets_the_pg_dump_line_and_that_line_works(
    settings: Settings, catalog: Catalog, tmp_path: Path, capsys
):
    with catalog.writer() as writer:
        for record in demo_records(12):
            writer.put(record)
    dump = tmp_path / "koprik.dump"
    assert main(["--config", str(_config(tmp_path, settings.database.url)), "backup",
                 str(dump)]) == 1  # fmt: skip  # nothing copied: a nightly timer fails
    said, line = capsys.readouterr().out.splitlines()
    assert said == "backup: a PostgreSQL catalogue is backed up with pg_dump; run:"
    assert line.startswith(f"(umask 077 && pg_dump --format=custom --file={dump} ")
    # The line as printed, in sh, with the umask of a shell that makes files world-readable;
    # then README's restore: createdb, pg_restore into it.
    path = {**os.environ, "PATH": f"{PG_BIN}:{os.environ['PATH']}"}
    subprocess.run(["sh", "-c", f"umask 022 && {line}"], env=path,
                   check=True, capture_output=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600  # it holds the secrets and users tables
    restored = settings.database.url.rsplit("/", 1)[0] + "/restored"
    address = make_url(restored.replace("+psycopg", ""))
    for command in (
        f"createdb --host={address.host} --port={address.port} --username=koprik restored",
        f"pg_restore --dbname='{address.render_as_string()}' {dump}",
    ):
        subprocess.run(["sh", "-c", command], env=path, check=True, capture_output=True,
                       timeout=120)  # fmt: skip
    engine = create_engine(restored)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM records")).scalar() == 12
    finally:
        engine.dispose()


def test_a_copy_left_by_a_killed_backup_is_made_private(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url))).close()
    (tmp_path / "copy.sqlite3.part").write_bytes(b"half a copy")
    (tmp_path / "copy.sqlite3.part").chmod(0o644)
    assert main(["--config", str(_config(tmp_path, url)), "backup",
                 str(tmp_path / "copy.sqlite3")]) == 0  # fmt: skip
    assert stat.S_IMODE((tmp_path / "copy.sqlite3").stat().st_mode) == 0o600


def test_the_pg_dump_line_writes_the_file_named_and_holds_no_password(tmp_path: Path, capsys):
    """It printed ``koprik-$(date +%F).dump`` whatever FILE said, and exited 2; the password
    was masked as ``***``, which pg_dump would have sent. It exits 1: it copied nothing (it
    exited 0, and the nightly backup unit said it succeeded on a PostgreSQL catalogue)."""
    url = "postgresql+psycopg://koprik:secret@dbhost:5433/koprik"
    config = _config(tmp_path, url)
    target = tmp_path / "nightly copy.dump"
    assert main(["--config", str(config), "backup", str(target)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "backup: a PostgreSQL catalogue is backed up with pg_dump; run:",
        f"(umask 077 && pg_dump --format=custom --file='{target}' "
        "postgresql://koprik@dbhost:5433/koprik)",
    ]
    target.write_bytes(b"")
    assert main(["--config", str(config), "backup", str(target)]) == 2
    assert f"{target} exists: name a new file" in capsys.readouterr().err


def test_a_catalogue_file_that_is_not_sqlite_is_named_in_one_line(tmp_path: Path, capsys):
    database = tmp_path / "k.sqlite3"
    database.write_bytes(b"not a database\n" * 300)
    config = _config(tmp_path, f"sqlite:///{database}")
    assert main(["--config", str(config), "backup", str(tmp_path / "copy.sqlite3")]) == 2
    err = capsys.readouterr().err
    assert err == (f"koprik: {database} (database.url): not a SQLite catalogue "
                   "(file is not a database)\n")  # fmt: skip
    assert not (tmp_path / "copy.sqlite3").exists()
    assert not (tmp_path / "copy.sqlite3.part").exists()


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_a_copy_named_as_a_file_of_the_catalogue_is_refused(tmp_path: Path, capsys, suffix):
    """``koprik backup k.sqlite3-wal`` wrote the copy over the catalogue's write-ahead log,
    which SQLite then removed ("No such file or directory"); ``-journal`` left a database
    posing as the catalogue's rollback journal, and said it had backed it up."""
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url))).close()
    target = tmp_path / f"k.sqlite3{suffix}"
    assert main(["--config", str(_config(tmp_path, url)), "backup", str(target)]) == 2
    assert capsys.readouterr().err == (f"koprik: {target}: the catalogue's file {target} "
                                       "(database.url); name another file to write\n")
    assert not target.with_name(target.name + ".part").exists()


def test_a_catalogue_path_that_is_a_folder_is_said_to_be_one(tmp_path: Path, capsys):
    """It said "no such catalogue file", where every other command says it is a folder."""
    (tmp_path / "k.sqlite3").mkdir()
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    assert main(["--config", str(_config(tmp_path, url)), "backup",
                 str(tmp_path / "copy.sqlite3")]) == 2  # fmt: skip
    assert capsys.readouterr().err == (
        f"koprik: {tmp_path / 'k.sqlite3'} (database.url): a folder, not a catalogue file\n")


def test_a_dash_is_not_taken_for_a_file(tmp_path: Path, capsys, monkeypatch):
    """``-`` is standard output to koprik export, crosswalk, z3950 and sru: backup made a file
    named ``-`` of it, in the working folder."""
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url))).close()
    monkeypatch.chdir(tmp_path)
    assert main(["--config", str(_config(tmp_path, url)), "backup", "-"]) == 2
    assert capsys.readouterr().err == ("koprik: backup writes a file, not standard output: "
                                       "name one ('./-' for a file named -)\n")  # fmt: skip
    assert not (tmp_path / "-").exists()
    assert main(["--config", str(_config(tmp_path, url)), "backup", "./-"]) == 0
    assert (tmp_path / "-").is_file()


def test_a_backup_that_fails_midway_leaves_nothing_but_its_one_line(tmp_path: Path):
    """The copy cannot be written whole (files limited to 64 KiB: a write fails as on a full
    disk): one line naming it, exit 2, and nothing left in the folder of the copy. SQLite's
    rollback journal of the copy, ``copy.sqlite3.part-journal``, was left there when the copy
    was larger than its page cache (2 MiB), written before the commit."""
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    catalog = Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url)))
    try:
        with catalog.writer() as writer:
            writer.put_many([Incoming(record) for record in demo_records(400)])
    finally:
        catalog.close()
    assert (tmp_path / "k.sqlite3").stat().st_size > 3 << 20  # more than the copy's cache
    folder = tmp_path / "copies"
    folder.mkdir()
    failed = subprocess.run(
        [sys.executable, "-m", "koprik", "--config", str(_config(tmp_path, url)), "backup",
         str(folder / "copy.sqlite3")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        preexec_fn=lambda: limit_files_to(65536),
    )  # fmt: skip
    assert failed.returncode == 2, failed.stderr
    assert failed.stderr.splitlines() == [
        f"koprik: {folder}/copy.sqlite3: not written (disk I/O error)"]
    assert list(folder.iterdir()) == []



def _stale_wal(database: Path) -> None:
    """Leave ``database``'s -wal and -shm behind as a killed writer does: commit in WAL mode,
    then end the process without closing (no checkpoint, no removal)."""
    program = (
        "import os, sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "for n in range(200):\n"
        "    db.execute('UPDATE records SET datestamp = datestamp + 1')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", program, str(database)], check=True, timeout=120)
    assert Path(f"{database}-wal").stat().st_size > 0


@pytest.mark.parametrize("as_readme_says", [True, False])
def test_a_copy_restored_as_the_readme_says_is_whole(tmp_path: Path, as_readme_says: bool):
    """README's restore, after a stop that was cut short: remove the catalogue's -wal and -shm,
    then put the copy in place. Put in place beside the old -wal (as README once said: "stop
    Koprik and put the copy in place"), the copy was read through that WAL: corrupt, while
    ``db current`` and /health said all was well."""
    database = tmp_path / "koprik.sqlite3"
    url = f"sqlite:///{database}"
    settings = dataclasses.replace(Settings(), database=DatabaseSettings(url=url))
    catalog = Catalog.open(settings)
    with catalog.writer() as writer:
        for record in demo_records(40):
            writer.put(record)
    catalog.close()
    copy = tmp_path / "backups-koprik.sqlite3"
    assert main(["--config", str(_config(tmp_path, url)), "backup", str(copy)]) == 0
    catalog = Catalog.open(settings)  # the catalogue grows on after the copy
    with catalog.writer() as writer:
        for record in islice(demo_records(400), 40, None):
            writer.put(record)
    catalog.close()
    _stale_wal(database)
    if as_readme_says:
        for leftover in ("koprik.sqlite3-wal", "koprik.sqlite3-shm"):
            (tmp_path / leftover).unlink(missing_ok=True)
    shutil.copyfile(copy, database)
    with sqlite3.connect(database) as check:
        try:
            checked = check.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as error:
            checked = [(str(error),)]
    if not as_readme_says:
        assert checked != [("ok",)]  # why README says to remove them
        return
    assert checked == [("ok",)]
    restored = Catalog.open(settings)
    try:
        assert len(restored.list_entries("marc21", limit=100)) == 40
    finally:
        restored.close()
