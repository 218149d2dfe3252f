"""``koprik backup FILE``: a consistent copy of a SQLite catalogue, taken while Koprik runs.

It uses SQLite's online backup API in one step: in WAL mode the copy is the catalogue as of one
moment, and writers (a harvest, an import) go on meanwhile. The copy is written beside ``FILE``
first and renamed when complete. It works on a catalogue at any schema revision, so that one
can be taken before ``koprik db upgrade``. A PostgreSQL catalogue is backed up with ``pg_dump``;
for one, the command prints the line to run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL

from catalog.db import database_url, open_engine
from config import load_settings
from koprik.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("backup", help="copy a SQLite catalogue while it is in use")
    parser.add_argument("file", type=Path, metavar="FILE", help="the copy to write (a new file)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    url = database_url(load_settings(args.config).database.url)
    if url.get_backend_name() != "sqlite":
        raise UserError(f"a PostgreSQL catalogue is backed up with pg_dump: {pg_dump_line(url)}")
    if not url.database or url.database == ":memory:":
        raise UserError("the catalogue is in memory: there is nothing to back up")
    if not Path(url.database).is_file():
        raise UserError(f"{url.database}: no such catalogue file")
    target: Path = args.file
    if target.exists():
        raise UserError(f"{target} exists: name a new file")
    if not target.parent.is_dir():
        raise UserError(f"{target.parent}: no such folder")
    partial = target.with_name(target.name + ".part")
    _create_private(partial)
    engine = open_engine(str(url))
    try:
        source = engine.raw_connection()
        try:
            copy = sqlite3.connect(partial)
            try:
                source.driver_connection.backup(copy)  # type: ignore[union-attr]
            finally:
                copy.close()
        except sqlite3.Error as error:  # SQLite's own message names no file
            raise UserError(f"cannot write the copy {partial}: {error}") from None
        finally:
            source.close()
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            partial.unlink()  # the copy made, if any
        engine.dispose()
    print(f"backup: {url.database} copied to {target} ({target.stat().st_size:,} bytes)")
    return 0


def _create_private(path: Path) -> None:
    """Create ``path`` readable by its owner only (0600), as the catalogue is: the copy holds
    the token key and the password and token hashes. A file left by a copy that was killed
    is emptied and made private too."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as error:
        raise UserError(f"cannot write the copy {path}: {error.strerror}") from None
    try:
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)


def pg_dump_line(url: URL) -> str:
    """The ``pg_dump`` command for the catalogue at ``url``, password hidden (use ~/.pgpass)."""
    address = url.set(drivername="postgresql").render_as_string(hide_password=True)
    return f"pg_dump --format=custom --file=koprik-$(date +%F).dump '{address}'"
