"""The catalogue's schema revision: check it on opening, create a new catalogue, upgrade.

Revisions are Alembic scripts in ``catalog/migrations/versions/``, configured here in code (no
``alembic.ini``). A catalogue records its revision in Alembic's ``alembic_version`` table.

- :func:`ensure_current` runs whenever a command opens the catalogue: a database without any
  table gets every table of the current models and is stamped with the head revision; one at
  the head revision is used; one holding only another application's tables is refused, left
  as it is; anything else raises :class:`SchemaError`, one line that names the catalogue and
  says to run ``koprik db upgrade``.
- :func:`upgrade` (``koprik db upgrade``) moves a catalogue to the head revision. A catalogue
  made before revisions were kept (the tables, no ``alembic_version``) is first checked against
  the baseline revision and stamped with it.

Only one process creates or upgrades at a time: PostgreSQL takes an advisory lock for the
transaction, SQLite a write lock (``BEGIN IMMEDIATE``).

Alembic is imported by the functions that use it, not with this module: every process that
imports :mod:`catalog` imports this module, and the worker processes deriving records never
open a catalogue (importing Alembic cost each of them about half a second of CPU).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, inspect, text

from catalog.db import create_schema

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from config import Settings

Progress = Callable[[int, int], None]
"""Told, as a revision goes through the records, the steps done so far and how many in all."""

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_LOCATIONS: list[Path] = [MIGRATIONS / "versions"]
"""Folders revisions are read from; new revisions are written to the first."""

BASELINE = "0001"
"""The schema as it was when revisions began to be kept."""

EMPTY = "(empty)"
""":func:`revision_of` a database with no catalogue table."""
UNVERSIONED = "(before revisions)"
""":func:`revision_of` a catalogue made before revisions were kept."""
FOREIGN = "(not a catalogue)"
""":func:`revision_of` a database holding tables, none of them a catalogue's: another
application's, which no command of Koprik may write to (a ``database.url`` naming the wrong
file had a catalogue's tables made beside that application's by ``koprik runs``)."""

_MARKER_TABLE = "records"
_ADVISORY_LOCK = 0x6B6F7072  # "kopr": one schema change at a time on a PostgreSQL server


class SchemaError(Exception):
    """A catalogue whose schema this Koprik cannot use as it is; one line saying what to do."""


def alembic_config(
    connection: Connection | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> Config:
    """Alembic's configuration for the catalogue's revisions, running on ``connection``; a
    revision that derives from the records again reads the ``settings`` they are derived by
    (``config.attributes["settings"]``; None: the defaults) and tells ``progress`` how far it
    is (``config.attributes["progress"]``; None: nobody)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(map(str, VERSION_LOCATIONS)))
    config.attributes["connection"] = connection
    config.attributes["settings"] = settings
    config.attributes["progress"] = progress
    return config


def head() -> str:
    """The revision this Koprik's tables are at (exactly one head, or SchemaError)."""
    heads = tuple(_scripts().get_heads())
    if len(heads) != 1:
        raise SchemaError(
            f"the schema revisions have {len(heads)} heads ({', '.join(sorted(heads))}) instead "
            "of one: give the later one the other as down_revision (README.md, Upgrading)"
        )
    return heads[0]


def _scripts() -> ScriptDirectory:
    """The revisions, read once a process while their folders are unchanged (compiling them
    costs more than a catalogue check)."""
    return _scripts_in(tuple((str(p), p.stat().st_mtime_ns) for p in VERSION_LOCATIONS))


@cache
def _scripts_in(_folders: tuple[tuple[str, int], ...]) -> ScriptDirectory:
    """The revisions of the folders (the key changes when a folder or its contents change)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def revision_of(connection: Connection) -> str:
    """The revision the database is at, or :data:`EMPTY`, :data:`UNVERSIONED` or
    :data:`FOREIGN`; raises :class:`SchemaError` for one recorded as other than text (SQLite
    keeps what it is given: a hand edit, a damaged file), which ended every command with a
    TypeError's traceback."""
    from alembic.migration import MigrationContext

    heads = MigrationContext.configure(connection).get_current_heads()
    if not all(isinstance(revision, str) for revision in heads):  # a damaged catalogue
        raise SchemaError(
            f"{where(connection.engine)}: the schema revision its alembic_version table records "
            f"is not text ({', '.join(map(repr, heads))[:100]}): the catalogue is damaged; "
            "restore it from a backup"
        )
    if heads:
        return ",".join(sorted(heads))
    tables = inspect(connection).get_table_names()
    if _MARKER_TABLE in tables:
        return UNVERSIONED
    return FOREIGN if tables else EMPTY


def _catalogue_revision(engine: Engine, connection: Connection) -> str:
    """:func:`revision_of`, raising SchemaError for a database of another application's tables
    (:data:`FOREIGN`), which is left as it is."""
    found = revision_of(connection)
    if found != FOREIGN:
        return found
    names = sorted(inspect(connection).get_table_names())
    shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    raise SchemaError(
        f"{where(engine)} is not a Koprik catalogue: it holds another application's tables "
        f"({shown}), left as they are; give database.url a database of its own"
    )


def where(engine: Engine) -> str:
    """The catalogue's URL for a message, without its password."""
    return engine.url.render_as_string(hide_password=True)


def ensure_current(engine: Engine) -> None:
    """Create the catalogue if the database is empty; raise SchemaError unless at the head.

    A new catalogue is stamped by Alembic's migration context itself, not by its stamp command,
    which ran its environment script and read every revision again for each one (making a new
    catalogue after the first in a process took 0.07-0.10 s of CPU so, 0.03 without)."""
    from alembic.migration import MigrationContext

    wanted = head()
    with engine.connect() as connection:
        found = revision_of(connection)
    if found in (EMPTY, UNVERSIONED, FOREIGN):
        # Read again under the schema lock: the reads of revision_of may straddle the commit
        # of another process creating the catalogue, which looks unversioned (or, its first
        # tables made, another application's).
        with _schema_transaction(engine) as connection:
            found = _catalogue_revision(engine, connection)
            if found == EMPTY:
                create_schema(connection)
                MigrationContext.configure(connection).stamp(_scripts(), wanted)
                return
    if found == wanted:
        return
    raise SchemaError(_refusal(engine, found, wanted))


def upgrade(
    engine: Engine, settings: Settings | None = None, progress: Progress | None = None
) -> tuple[str, str]:
    """Move the catalogue to the head revision (what the revisions derive from the records, by
    ``settings``, telling ``progress``: see :func:`alembic_config`); returns the revisions
    before and after."""
    from alembic import command

    wanted = head()
    with _schema_transaction(engine) as connection:
        found = _catalogue_revision(engine, connection)
        config = alembic_config(connection, settings, progress)
        if found == UNVERSIONED:
            _check_baseline(engine, connection)
            command.stamp(config, BASELINE)
        elif found != EMPTY:
            _known(engine, found, wanted)
        command.upgrade(config, "head")
    return found, wanted


def current(engine: Engine) -> tuple[str, str]:
    """The revision the catalogue is at, and the one this Koprik needs."""
    with engine.connect() as connection:
        return _catalogue_revision(engine, connection), head()


def _refusal(engine: Engine, found: str, wanted: str) -> str:
    _known(engine, found, wanted)
    if found == UNVERSIONED:
        made = "was made before schema revisions were kept"
    else:
        made = f"has schema revision {found}"
    return (
        f"the catalogue {where(engine)} {made}; this Koprik needs revision {wanted}: "
        "run `koprik db upgrade` (after `koprik backup`)"
    )


def known(found: str) -> bool:
    """Whether this Koprik has revision ``found`` (of :func:`current`); a catalogue upgraded by
    a newer release is at one it does not have, and ``koprik db upgrade`` cannot move it."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if found in (EMPTY, UNVERSIONED):
        return True
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        for revision in found.split(","):
            scripts.get_revision(revision)
    except CommandError:
        return False
    return True


NEWER_ADVICE = (
    "run the Koprik release that upgraded it, or restore a backup taken before that upgrade"
)
"""What to do about a catalogue at a revision newer than this Koprik knows."""


def _known(engine: Engine, found: str, wanted: str) -> None:
    """Raise SchemaError when ``found`` is a revision this Koprik does not have (a newer one)."""
    if not known(found):
        raise SchemaError(
            f"the catalogue {where(engine)} has schema revision {found}, newer than this "
            f"Koprik knows (up to {wanted}): {NEWER_ADVICE}"
        )


def _check_baseline(engine: Engine, connection: Connection) -> None:
    """Raise SchemaError unless the unversioned catalogue has every baseline table and column."""
    expected = baseline_columns()
    found = inspect(connection)
    tables = set(found.get_table_names())
    missing: list[str] = []
    for table, columns in sorted(expected.items()):
        if table not in tables:
            missing.append(table)
            continue
        have = {column["name"] for column in found.get_columns(table)}
        missing += [f"{table}.{column}" for column in sorted(columns - have)]
    if missing:
        raise SchemaError(
            f"the catalogue {where(engine)} predates the baseline schema {BASELINE} "
            f"(missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}) and "
            "cannot be upgraded in place: load its records into a new catalogue"
        )


def baseline_columns() -> dict[str, set[str]]:
    """Table -> column names of the baseline revision (built in a scratch in-memory database)."""
    from alembic import command

    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as connection:
            command.upgrade(alembic_config(connection), BASELINE)
            found = inspect(connection)
            return {
                table: {column["name"] for column in found.get_columns(table)}
                for table in found.get_table_names()
                if table != "alembic_version"
            }
    finally:
        scratch.dispose()


@contextmanager
def _schema_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction no other process changes the schema in at the same time.

    On SQLite, foreign keys are off while it lasts and checked before it commits: a revision
    that rebuilds a table (Alembic's batch mode copies it and drops the old one) would otherwise
    cascade the drop into every row that refers to it (renditions, sets, provenance).
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # only outside a transaction
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.begin()
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _ADVISORY_LOCK})
        try:
            yield connection
            if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check")
                           .first()):  # fmt: skip
                raise SchemaError(f"the schema change left rows of {broken[0]} without the row "
                                  f"of {broken[2]} they refer to; nothing was changed")
        except BaseException:
            connection.rollback()
            raise
        else:
            connection.commit()
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
