"""Opening the catalogue database: SQLite (WAL) by default, PostgreSQL for a national node."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Awaitable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, MetaData, Row, Table, create_engine, event, insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    OperationalError,
    SAWarning,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from catalog.models import ENGINES, metadata
from config.settings import DatabaseSettings, in_memory

T = TypeVar("T")

class DatabaseFileError(Exception):
    """A SQLite catalogue file or folder Koprik cannot write, or a file that is not there
    (:func:`refuse_missing_file`); the message names it."""


class NoAnswer(Exception):
    """The catalogue database did not answer within ``database.answer_timeout`` seconds (the
    message says how many); the statement may still be running."""


class DamagedFile(Exception):
    """The SQLite catalogue file is damaged (:func:`catalog.file_damage.check`): the message
    says how, in one line."""


async def answered_within(seconds: float, awaitable: Awaitable[T]) -> T:
    """What ``awaitable`` (work on the catalogue database, in a thread) gives, or
    :class:`NoAnswer` after ``seconds``; the thread is left to finish."""
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            return await awaitable
    except TimeoutError:
        if not deadline.expired():
            raise  # the work's own
        raise NoAnswer(f"no answer in {seconds:g} s") from None


SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds a statement on a SQLite catalogue waits for a lock another connection holds (a
writer's) before it fails with "database is locked"."""

CONNECT_TIMEOUT = 10
"""Seconds a new PostgreSQL connection waits for the server (libpq's ``connect_timeout``;
``?connect_timeout=N`` in ``database.url`` overrides it): without it a server that accepts the
connection and never answers (frozen, a port held by something else) kept ``koprik serve``,
every command and every request needing a new connection waiting for ever."""
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
              "keepalives_count": 3, "tcp_user_timeout": 30_000}
"""How a PostgreSQL connection finds its server's host gone (a failover, a network cut)
without the connection closed (libpq's parameters; each may be given in ``database.url``
instead, and, given here, they override libpq's environment variables and service file): when
it has heard nothing for 10 s it probes, and is found dead about 25 s in; when what it sent is
not acknowledged (a query or a pool's ping sent as the host went), 30 s in (``tcp_user_timeout``,
in ms), where the kernel retransmits for some 15 minutes. With the system's defaults a thread
waited on such a connection for two hours, and a node whose database threads all waited so
answered 503 after the database was back."""


class DatabaseUrlError(Exception):
    """A ``database.url`` that names no database SQLAlchemy can open (the message says it)."""


def open_engine(url: str, *, echo: bool = False, pool: DatabaseSettings | None = None) -> Engine:
    """An engine for ``url``; for a SQLite file its folder is created and WAL switched on. A
    PostgreSQL engine's pool keeps ``pool.pool_size`` connections and opens up to
    ``pool.max_overflow`` more (each checked with a ping as it is taken); the defaults of
    :class:`config.DatabaseSettings` without ``pool``.

    A new SQLite file is created readable by its owner only (0600), in a folder only its owner
    can enter if the folder is new: it holds the resumption token key (:mod:`catalog.secrets`).
    SQLite gives its -wal and -shm files the same mode. Raises :class:`DatabaseFileError` when
    the SQLite file or its folder cannot be written.
    """
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        file = sqlite_file(parsed)
        if file is not None:
            check_sqlite_file(Path(file))
            _create_private(Path(file))
        engine = create_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        pool = pool or DatabaseSettings()
        engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=pool.pool_size,
                               max_overflow=pool.max_overflow,
                               connect_args=postgres_connect_args(parsed))  # fmt: skip
    return engine


def postgres_connect_args(url: URL) -> dict[str, Any]:
    """What a PostgreSQL connection to ``url`` is opened with beyond the URL's own parameters:
    :data:`CONNECT_TIMEOUT` and :data:`KEEPALIVES`, each unless the URL gives it."""
    chosen = {"connect_timeout": CONNECT_TIMEOUT, **KEEPALIVES}
    return {name: value for name, value in chosen.items() if name not in url.query}


def unavailable(error: BaseException) -> str | None:
    """Why the database cannot be used now, in one line, when ``error`` says so; None when it
    says a statement was wrong, or is no database's error.

    Unavailable: an ``OperationalError`` (PEP 249: "related to the database's operation and not
    necessarily under the control of the programmer": a connection refused or lost, the server
    shutting down, too many connections, a timeout, SQLite's file locked or unreadable), an
    ``InterfaceError`` (the driver's connection unusable, closed under it), any error SQLAlchemy
    took for a disconnect (``connection_invalidated``), whatever the driver called it, and the
    connection pool's timeout (every connection in use for ``pool_timeout`` seconds), no answer
    within ``database.answer_timeout`` (:class:`NoAnswer`), and a SQLite
    file found corrupt or no database (SQLITE_CORRUPT, SQLITE_NOTADB: the file must be restored;
    until then no request can be answered, which a 503 says where a 500 said a fault of ours).
    Integrity, programming and data errors are not: another node, or a moment later, would fail
    the same way.
    """
    if isinstance(error, PoolTimeout):
        return "no connection free in the pool"
    if isinstance(error, NoAnswer):
        return str(error)
    if not isinstance(error, DBAPIError) or not (
        isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated
        or sqlite_code(error.orig) in SQLITE_DAMAGED
    ):
        return None
    return " ".join(str(error.orig or error).split("\n", 1)[0].split()) or type(error).__name__


UNSAID = "database unavailable (the reason is in this node's log)"
"""What a client is told of a database driver's reason (:func:`said_publicly`)."""


def said_publicly(error: BaseException) -> str:
    """Why the catalogue database cannot be used, as a client may be told (``/health``, SRU's
    and Z39.50's diagnostic): Koprik's own reasons (no answer within the timeout, no connection
    free in the pool, a damaged SQLite file) and SQLite's (which name no file) as they are; any
    other (PostgreSQL's, which name the database's host, port, name or user; or no reason of
    unavailability at all) as :data:`UNSAID`. The full reason goes to the log, where the
    operator reads it."""
    if isinstance(error, DamagedFile):
        return str(error)
    reason = unavailable(error)
    if reason is None or not (
        isinstance(error, PoolTimeout | NoAnswer)
        or (isinstance(error, DBAPIError) and isinstance(error.orig, sqlite3.Error))
    ):
        return UNSAID
    return reason


SQLITE_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
"""SQLite's result codes for a file that holds no usable database (:mod:`catalog.file_damage`)."""


def sqlite_code(error: BaseException | None) -> int | None:
    """SQLite's primary result code of a ``sqlite3`` error (its extended code's low byte)."""
    code = getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.Error) else None
    return None if code is None else code & 0xFF


def database_url(url: str) -> URL:
    """``url`` parsed; raises :class:`DatabaseUrlError` for one that names no database
    SQLAlchemy can open (not a URL, a port that is not a number, an unknown dialect or driver,
    a driver not installed, a parameter the driver takes of another type) or one that is not
    SQLite or PostgreSQL."""
    try:
        parsed = make_url(url)  # a port that is not a number fails here (int())
        dialect = parsed.get_dialect()  # an unknown dialect or driver fails here
    except (ArgumentError, ImportError, ValueError) as error:
        raise _not_openable(url, error) from None
    if (backend := parsed.get_backend_name()) not in ("sqlite", "postgresql"):
        # (it said to install the driver of MySQL, as if Koprik would then keep it there)
        raise DatabaseUrlError(f"database.url {url!r} names a {backend} database: Koprik keeps "
                               "its catalogue in SQLite (sqlite:///FILE) or PostgreSQL "
                               "(postgresql+psycopg://...)")  # fmt: skip
    try:
        dbapi = dialect.import_dbapi()  # what create_engine imports: a driver not installed
    except ImportError as error:
        module = error.name or parsed.get_driver_name()
        raise DatabaseUrlError(
            f"database.url {url!r} needs the Python driver {module!r} "
            f"({parsed.get_backend_name()}+{parsed.get_driver_name()}), which is not installed"
        ) from None
    try:
        # What create_engine does next: SQLite's ?timeout=abc fails here (float()), and a
        # parameter the driver ignores is a warning (printed, with ?mode=ro, above a line
        # saying a new catalogue was made where a read-only one was meant): refused.
        with warnings.catch_warnings():
            warnings.simplefilter("error", SAWarning)
            dialect(dbapi=dbapi).create_connect_args(parsed)
    except (ArgumentError, ValueError, SAWarning) as error:
        raise _not_openable(url, error) from None
    return parsed


def _not_openable(url: str, error: Exception) -> DatabaseUrlError:
    reason = str(error).split(" (Background on ", 1)[0]  # SQLAlchemy's link to its docs
    return DatabaseUrlError(f"database.url {url!r} is not a database URL Koprik can open "
                            f"({reason})")


def refuse_missing_file(url: str, consequence: str) -> None:
    """Raise :class:`DatabaseFileError` when ``url`` names a SQLite catalogue file that is not
    there: ``no catalogue at FILE (database.url): consequence``. For a command that only reads
    the catalogue (or upgrades it): opened, a mistyped path would be made a new, empty
    catalogue, and the command would tell of it as of the one meant (an export of 0 records)."""
    file = missing_file(url)
    if file is not None:
        raise DatabaseFileError(f"no catalogue at {file} (database.url): {consequence}")


SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
"""What SQLite keeps beside a catalogue file, by suffix."""


def sqlite_file(url: URL) -> str | None:
    """The file of the SQLite catalogue ``url`` (None: not SQLite, or in memory)."""
    if url.get_backend_name() != "sqlite" or in_memory(url):
        return None
    return url.database


def sqlite_files(url: str) -> list[str]:
    """The files of the SQLite catalogue ``url`` names, with those SQLite keeps beside it
    (none when the catalogue is not a file)."""
    try:
        file = sqlite_file(make_url(url))
    except (ArgumentError, ValueError):  # a command that does not open the catalogue need not
        # fail on it (ValueError: a port that is not a number)
        return []
    return [] if file is None else [file, *(file + suffix for suffix in SQLITE_SIDE_FILES)]


def missing_file(url: str) -> str | None:
    """The SQLite catalogue file ``url`` names, when it is not there (None: it is, or the
    catalogue is not a file)."""
    file = sqlite_file(database_url(url))
    return None if file is None or Path(file).exists() else file


def check_sqlite_file(path: Path) -> None:
    """Create the folder of a SQLite catalogue if needed and make sure SQLite can write there.

    SQLite's own error ("unable to open database file") names neither; in WAL mode even a
    reader must create the ``-wal`` and ``-shm`` files beside the catalogue, so the folder must
    be writable, and so must the file.
    """
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        file = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        reason = f"{file} is a file, not a folder" if file is not None else error.strerror
        raise DatabaseFileError(f"cannot create the catalogue folder {folder}: {reason}") from None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise DatabaseFileError(
            f"the catalogue folder {folder} is not writable ({error.strerror}); SQLite writes "
            f"{path.name}-wal and {path.name}-shm there: let the user Koprik runs as write to it"
        ) from None
    if path.exists():
        try:
            path.open("r+b").close()
        except OSError as error:
            raise DatabaseFileError(
                f"the catalogue file {path} cannot be written ({error.strerror})"
            ) from None


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite then opens it as new)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


WAL_CHECKPOINT_PAGES = 10_000
"""WAL pages written between two automatic checkpoints (SQLite's default: 1,000)."""
WAL_SWITCH_SECONDS = 30.0
"""How long a connection to a new SQLite catalogue keeps asking to switch it to WAL."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")
    # Checkpoint the WAL every 10,000 pages (~40 MB) rather than 1,000: a page the writer
    # changes again and again (the search index's) is copied into the database once per
    # checkpoint. Measured on an import of 19,794 records, 4 alternating pairs: 13.1 against
    # 13.6 s, the writing process 8.4 against 8.8 s CPU.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cursor.close()


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """Put the database in WAL mode unless it is already (the mode is kept in the file).

    Switching needs an exclusive lock and SQLite answers SQLITE_BUSY at once, without its busy
    timeout, while another connection holds one: processes opening a new catalogue together
    (``koprik serve --workers``) retry for up to :data:`WAL_SWITCH_SECONDS`.
    """
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def all_tables(engine: str) -> MetaData:
    """The catalogue's tables on database ``engine`` (a dialect name): every module's tables
    share one MetaData, filled on import, some of them on one engine only (``ENGINES``)."""
    import catalog.harvest_state
    import catalog.search_index  # noqa: F401

    return _tables_on(engine, tuple(metadata.tables))


@cache
def _tables_on(engine: str, _names: tuple[str, ...]) -> MetaData:
    """:func:`all_tables`, copied once a process (a tenth of a second, at each catalogue made)
    while the tables are those named (``koprik db revision`` compares a table added since)."""
    chosen = MetaData()
    for table in metadata.sorted_tables:
        if engine in table.info.get(ENGINES, (engine,)):
            table.to_metadata(chosen)
    return chosen


def create_schema(connection: Connection) -> None:
    """Create every table that does not exist yet (:mod:`catalog.schema` stamps the revision),
    and on SQLite the search index's FTS5 tables."""
    engine = connection.dialect.name
    all_tables(engine).create_all(connection)
    if engine == "sqlite":
        from catalog.search_index import create_fts

        create_fts(connection)


_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` in one bulk statement.

    The rows go to the driver as they are, without SQLAlchemy's per-row parameter processing
    (which costs more than the insert itself for tens of thousands of small rows), so every
    value must already be one the driver takes: ``str``, ``int``, ``bytes`` or ``None``. On
    PostgreSQL (psycopg) they are sent with COPY, many times faster than an executemany INSERT;
    on SQLite with one executemany INSERT; on an engine with another parameter style, through
    SQLAlchemy as usual. It runs on ``connection``, within its transaction.
    """
    if not rows:
        return
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    if connection.dialect.driver == "psycopg":
        _copy_rows(connection, f"COPY {quote(table.name)} ({names}) FROM STDIN", rows)
        return
    marker = _MARKERS.get(connection.dialect.paramstyle)
    if marker is None:
        connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    markers = ", ".join([marker] * len(columns))
    connection.exec_driver_sql(
        f"INSERT INTO {quote(table.name)} ({names}) VALUES ({markers})", list(rows)
    )


def _copy_rows(connection: Connection, statement: str, rows: Sequence[tuple[object, ...]]) -> None:
    """``rows`` sent by the COPY ``statement`` on ``connection``'s psycopg connection. Its
    error is raised as SQLAlchemy's (:class:`~sqlalchemy.exc.DBAPIError`), as that of any other
    statement: the driver's own, raised past SQLAlchemy, was neither a transaction to run again
    when the server aborted it (:mod:`catalog.transactions`) nor said in one line."""
    driver_error = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except driver_error as error:
        raise DBAPIError.instance(statement, None, error, driver_error,
                                  dialect=connection.dialect) from error  # fmt: skip
    finally:
        cursor.close()


IN_CHUNK = 500
"""Values :func:`execute_in` sends in one statement."""
_IN_LIST = re.compile(r"(?<!NOT )\bIN \(\{values\}\)", re.IGNORECASE)
"""Where :func:`execute_in`'s values go: an ``IN`` list (not ``NOT IN``: ``<> ALL``)."""


def execute_in(
    connection: Connection,
    statement: str,
    values: Sequence[object],
    parameters: Sequence[object] = (),
    after: Sequence[object] = (),
) -> list[Row[Any]]:
    """Run ``statement`` for ``values``, ``IN_CHUNK`` at a time; returns the rows it reads.

    ``statement`` is SQL for the driver, with ``{p}`` where a value of ``parameters`` goes and
    ``IN ({values})`` where the test for a chunk of ``values`` goes, after all of
    ``parameters``: ``"UPDATE records SET datestamp = {p} WHERE id IN ({values})"``; or
    ``{rows}`` for them as the rows of a ``VALUES`` list (``(VALUES {rows}) AS k``, the value
    ``k.column1``), and ``{p}`` after it for the values of ``after``. Like :func:`insert_rows`
    it skips SQLAlchemy's expansion of an IN list, which names and processes every value (more
    than the lookup itself costs for a list of hundreds), so values must be ones the driver
    takes as they are (``str``, ``int``, ``bytes``, ``None``).

    On PostgreSQL (psycopg) ``IN ({values})`` is sent as ``= ANY({p})``, the chunk one array
    parameter: psycopg took 0.72 ms of CPU and 1.7 ms of wall time for a statement with 500
    parameters, 0.22 and 0.49 ms with one array of 500.
    """
    if "{values}" in _IN_LIST.sub("", statement):
        raise ValueError(f"execute_in: {{values}} outside IN ({{values}}): {statement}")
    marker = _MARKERS[connection.dialect.paramstyle]
    arrays = connection.dialect.driver == "psycopg" and "{rows}" not in statement
    if arrays:
        statement = _IN_LIST.sub("= ANY({p})", statement)
    rows: list[Row[Any]] = []
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        if arrays:
            sql, sent = statement.format(p=marker), (*parameters, list(chunk), *after)
        else:
            sql = statement.format(p=marker, values=", ".join([marker] * len(chunk)),
                                   rows=", ".join([f"({marker})"] * len(chunk)))
            sent = (*parameters, *chunk, *after)
        result = connection.exec_driver_sql(sql, sent)
        if result.returns_rows:
            rows.extend(result.all())
    return rows
