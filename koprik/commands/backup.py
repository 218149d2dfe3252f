"""``koprik backup FILE``: a consistent copy of a SQLite catalogue, taken while Koprik runs.

It uses SQLite's online backup API in one step: in WAL mode the copy is the catalogue as of one
moment, and writers (a harvest, an import) go on meanwhile. The copy is written beside ``FILE``
first and renamed when complete (:func:`koprik.output_files.working_copy`). It works on a
catalogue at any schema revision, so that one can be taken before ``koprik db upgrade``. A
PostgreSQL catalogue is backed up with ``pg_dump``; for one, the command prints the line to run,
writing ``FILE`` readable by its owner only, and exits 1: it copied nothing, and a timer running
it nightly (``contrib/systemd/koprik-backup.service``) must fail where it said it succeeded.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import PoolProxiedConnection

from catalog.db import database_url, open_engine, sqlite_file
from config import load_settings
from koprik.errors import UserError
from koprik.output_files import no_folder, not_written, refuse_own_files, working_copy


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    url = database_url(settings.database.url)
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise UserError(f"database.url: a {backend} catalogue cannot be backed up by Koprik; "
                        "use that database's own tools")
    if args.file == "-":  # standard output elsewhere; a SQLite copy is a file
        raise UserError("backup writes a file, not standard output: name one ('./-' for a "
                        "file named -)")  # fmt: skip
    target = Path(args.file)
    # a copy named as the catalogue's -wal or -shm was renamed over it, then removed by SQLite
    refuse_own_files([target], args.config, settings.database.url)
    if target.is_dir():
        raise UserError(f"{target} is a folder: name a new file (in it, say)")
    if target.exists():
        raise UserError(f"{target} exists: name a new file")
    if not target.parent.is_dir():
        raise UserError(f"{target}: {no_folder(target.parent)}")
    if backend == "postgresql":
        print("backup: a PostgreSQL catalogue is backed up with pg_dump; run:")
        print(pg_dump_line(url, target))
        return 1  # nothing copied
    file = sqlite_file(url)
    if file is None:
        raise UserError("the catalogue is in memory: there is nothing to back up")
    if Path(file).is_dir():
        raise UserError(f"{file} (database.url): a folder, not a catalogue file")
    if not Path(file).is_file():
        raise UserError(f"{file}: no such catalogue file")
    engine = open_engine(str(url))
    try:
        source = _connected(engine, file)
        try:
            with working_copy(target) as partial:
                _create_private(partial, target)
                _copy(source, partial, target)
        finally:
            source.close()
    finally:
        engine.dispose()
    print(f"backup: {file} copied to {target} ({target.stat().st_size:,} bytes)")
    return 0


def _copy(source: PoolProxiedConnection, partial: Path, target: Path) -> None:
    """Copy the catalogue ``source`` is connected to into the file ``partial``, in one step; a
    UserError naming ``target``, the copy's own name, when it cannot be written.

    A copy that fails leaves no rollback journal beside ``partial`` (removed as ``partial`` is,
    by :func:`~koprik.output_files.working_copy`): a write that failed (a full disk) once the
    copy had outgrown its page cache left ``FILE.part-journal``, which SQLite keeps for the
    next opening of the file to roll back."""
    journal = partial.with_name(partial.name + "-journal")
    try:
        copy = sqlite3.connect(partial)
        try:
            source.driver_connection.backup(copy)  # type: ignore[union-attr]
        finally:
            copy.close()
    except sqlite3.Error as error:  # SQLite's own message names no file
        raise not_written(target, False, str(error)) from None
    finally:
        journal.unlink(missing_ok=True)  # (none once the copy is made)


def _connected(engine: Engine, file: str) -> PoolProxiedConnection:
    """A connection to the catalogue ``file``; a UserError naming it when SQLite cannot read
    it (a file that is not a database: this raw connection is not wrapped by SQLAlchemy, whose
    error the command line would have said in one line)."""
    try:
        return engine.raw_connection()
    except sqlite3.DatabaseError as error:
        raise UserError(f"{file} (database.url): not a SQLite catalogue ({error})") from None


def _create_private(path: Path, target: Path) -> None:
    """Create ``path`` (the working copy of ``target``) readable by its owner only (0600), as
    the catalogue is: the copy holds the token key and the password and token hashes. A file
    left by a copy that was killed is emptied and made private too."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as error:
        raise not_written(target, False, error) from None
    try:
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)


def pg_dump_line(url: URL, file: Path) -> str:
    """The ``pg_dump`` command writing the catalogue at ``url`` to ``file``, without the
    password (pg_dump reads it from ~/.pgpass or PGPASSWORD; a masked one would be sent).

    It runs in a subshell with ``umask 077``, so the dump is readable by its owner only, as a
    SQLite copy is (:func:`_create_private`): it holds the token key and the password and
    token hashes. pg_dump creates its file as the umask lets it (0644 under the usual 022)."""
    address = URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                         database=url.database, query=url.query).render_as_string()
    dump = f"pg_dump --format=custom --file={shlex.quote(str(file))} {shlex.quote(address)}"
    return f"(umask 077 && {dump})"
