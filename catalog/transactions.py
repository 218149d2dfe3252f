"""Running a write transaction again when PostgreSQL aborted it to break a deadlock or a
serialization conflict.

Several nodes write one PostgreSQL catalogue (harvests, ``koprik import``, ``koprik dedup``,
``koprik db sets``). Two transactions taking the same rows in opposite orders deadlock, and
PostgreSQL aborts one of them (SQLSTATE 40P01; 40001 for a serialization failure): that one's
work is sound, it only has to be done again, from the start, once the other has committed.
:func:`retried` does so for a unit of work a transaction does as a whole, a bounded number of
times with a short jittered back-off, saying so in one warning line each time; past the bound
the error is raised as any other (the command's one line).

A unit of work must be repeatable: it begins its own transaction, reads what it needs there, and
keeps whatever else it changes (counts, lists, files) for after the commit. A SQLite catalogue
has one writer at a time (the others wait for its lock): it is never aborted this way.

Every transaction of the catalogue's writer (:meth:`catalog.Catalog.write`: imports, harvest
pages, deduplication, the dashboard's copies) is the catalogue's one writer from its start
(:func:`hold_writes`): it looks for the records it is given and stores them with no other
writer in between. Two ``koprik import`` runs of one file both looked before either stored, and
the second stopped on the unique key of the records the first had added meanwhile.

A COMMIT and that bookkeeping are one step to a ^C or SIGTERM (:func:`uninterrupted`): a stop
signal between them made ``koprik import`` say it kept nothing of a batch it had stored.
"""

from __future__ import annotations

import logging
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType
from typing import TypeVar

from sqlalchemy import Connection, Engine, Executable, event, text
from sqlalchemy.exc import DBAPIError, OperationalError

from catalog.db import SQLITE_BUSY_TIMEOUT, sqlite_code

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRIES = 5
"""How many times a unit of work aborted by the server is run again before its error is raised."""
BACKOFF = 0.05
"""Seconds waited before the first retry, doubled before each next one, each wait drawn between
half and one and a half times that (two nodes aborted together do not meet again)."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals :func:`uninterrupted` holds."""
TRANSIENT = frozenset({"40P01", "40001"})
"""The SQLSTATEs of a transaction aborted so that another could go on: deadlock detected,
serialization failure."""

SQLITE_WRITE_POLL = 0.001
"""Seconds between two asks for a SQLite catalogue's write lock (:func:`hold_writes`)."""
SQLITE_WRITE_GAP = 0.003
"""Seconds at least between the end of a write transaction of a process on a SQLite catalogue
and its next one's ask for the write lock: a writer waiting meanwhile takes it then."""
_wrote_until = 0.0
"""When (time.monotonic) the last write transaction of this process on SQLite ended."""

WRITE_LOCK = 0x6B6F7077
"""The key ("kopw") of the PostgreSQL advisory lock :func:`hold_writes` takes (the one-bigint
form, as :mod:`catalog.schema`'s; not the key of that lock)."""


def transient(error: BaseException) -> bool:
    """Whether ``error`` is the server aborting a transaction that may succeed when run again."""
    return isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) in TRANSIENT


def retried(work: Callable[[], T], what: str) -> T:
    """``work()``, run again as a whole while it fails as :func:`transient` (at most
    :data:`RETRIES` times again); ``what`` names it in the warning said before each retry."""
    attempt = 0
    while True:
        try:
            return work()
        except DBAPIError as error:
            if not transient(error) or attempt == RETRIES:
                raise
            wait = BACKOFF * 2**attempt * random.uniform(0.5, 1.5)
            attempt += 1
            reason = str(error.orig).partition("\n")[0]
            log.warning("%s aborted by the database (%s); running it again in %.2f s "
                        "(retry %d of %d)", what, reason, wait, attempt, RETRIES)  # fmt: skip
            time.sleep(wait)


def transaction(engine: Engine, work: Callable[[Connection], T], what: str) -> T:
    """``work(connection)`` in a transaction of its own on ``engine``, committed when it
    returns, and run again in a new one when the server aborts it (:func:`retried`)."""

    def once() -> T:
        with engine.begin() as connection:
            return work(connection)

    return retried(once, what)


def transaction_then(
    engine: Engine, work: Callable[[Connection], T], then: Callable[[T], None], what: str
) -> T:
    """:func:`transaction`, and ``then(result)`` once it committed: the COMMIT and ``then`` are
    one :func:`uninterrupted` section, as the catalogue's writer makes its COMMIT and what
    follows it (:meth:`catalog.Catalog.write`). For a batch whose rows are moved to the second
    their COMMIT ended in (:func:`catalog.restamp.restamp_after_commit`): a ^C between the
    two left them at their datestamp, which a harvest answered meanwhile had paged past."""

    def once() -> tuple[ExitStack, T]:
        with ExitStack() as section:
            with engine.begin() as connection:
                result = work(connection)
                section.enter_context(uninterrupted())  # the COMMIT, as this block ends
            return section.pop_all(), result

    section, result = retried(once, what)
    with section:
        then(result)
    return result


def executed(engine: Engine, statement: Executable, what: str) -> int:
    """``statement`` in a :func:`transaction` of its own; how many rows it changed."""
    return transaction(engine, lambda connection: int(connection.execute(statement).rowcount),
                       what)  # fmt: skip


def hold_writes(connection: Connection) -> None:
    """Make the transaction that ``connection`` has just begun the catalogue's one writer until
    it ends, waiting while another holds it: SQLite's write lock (``BEGIN IMMEDIATE``, waited
    for up to the busy timeout), a PostgreSQL transaction-level advisory lock.

    SQLite has one writer at a time anyway: this only takes the lock before the transaction's
    first read rather than at its first write, so what it read is still true when it writes.
    On PostgreSQL it puts the writers of all nodes one after another, a transaction (a batch,
    a harvest page) at a time; records are read and derived in worker processes, started
    before the transaction, which go on in parallel meanwhile. A transaction waiting here
    holds nothing yet, so it adds no deadlock.
    """
    if connection.dialect.name == "sqlite":
        _begin_immediate(connection)
    elif connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})


def _begin_immediate(connection: Connection) -> None:
    """``BEGIN IMMEDIATE`` on ``connection`` (pysqlite began none: no SQL yet), asked again
    every :data:`SQLITE_WRITE_POLL` seconds while another connection holds the write lock, for
    up to :data:`catalog.db.SQLITE_BUSY_TIMEOUT` seconds in all.

    SQLite's own wait asks again ever more rarely, every 100 ms after its first 0.3 s, and a
    writer that takes the lock again a few milliseconds after its COMMIT (``koprik import``
    writing its next batch, derived meanwhile) kept it from another writer for as long as it
    had batches: measured, two imports of 20,000 records each into one catalogue waited up to
    15 s for the lock, no transaction holding it 2.5 s, and one of two started together failed
    with "database is locked". Asked this often, the lock goes to the one waiting in the other
    writer's next gap, which each writer leaves :data:`SQLITE_WRITE_GAP` long at least.
    """
    if (pause := _wrote_until + SQLITE_WRITE_GAP - time.monotonic()) > 0:
        time.sleep(pause)  # the gap another writer, asking, finds
    engine = connection.engine
    for end in ("commit", "rollback"):  # once for the engine: see _wrote
        if not event.contains(engine, end, _wrote):
            event.listen(engine, end, _wrote)
    connection.exec_driver_sql("PRAGMA busy_timeout = 0")  # the asking is done here
    try:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
        while True:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                connection.info[_WRITING] = True
                return
            except OperationalError as error:
                if sqlite_code(error.orig) != sqlite3.SQLITE_BUSY or (
                        time.monotonic() > deadline):  # fmt: skip
                    raise
            time.sleep(SQLITE_WRITE_POLL)
    finally:
        if not connection.invalidated:  # (a stop signal in BEGIN: its replacement gets it anew)
            connection.exec_driver_sql(
                f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT * 1000)}")


_WRITING = "koprik.writes_held"
"""The key, in the ``info`` of a connection to SQLite, that says its transaction holds the
write lock (:func:`_begin_immediate`), until :func:`_wrote` takes it out."""


def _wrote(connection: Connection) -> None:
    """Note when a write transaction of this process on a SQLite catalogue ended (a COMMIT or
    a ROLLBACK of a transaction :func:`_begin_immediate` began).

    A listener of the engine's, put once: one put on each transaction's connection was taken
    out as that connection was collected, by a weakref callback, and Python drops an exception
    raised in one: a ^C or SIGTERM arriving as a batch of ``koprik import`` ended was lost,
    and the import went on to its end (2 CI runs in 4). The rollback of a connection invalidated
    (a ^C inside a statement) has no ``info`` to read: asking for it raised, in place of the
    ^C, "Can't reconnect until invalid transaction is rolled back"."""
    global _wrote_until
    if connection.invalidated:  # (a stop signal in a statement): no info, its lock gone with it
        return
    if connection.info.pop(_WRITING, False):
        _wrote_until = time.monotonic()


@contextmanager
def uninterrupted() -> Iterator[None]:
    """A short section of the main thread that SIGINT and SIGTERM do not cut in two: the
    first one that arrives is held, and handled as it would have been (a ^C raised as
    KeyboardInterrupt, a handler's flag set, a SIGTERM not handled ending the process) as the
    section ends, however it ends. A second one within it ends the holding at once (the
    operator insists), both handled then. Elsewhere a no-op: Python handles signals in the
    main thread only, and raises nothing in another.

    For a COMMIT and what follows it (:meth:`catalog.Catalog.write`): counts kept in memory,
    rejects written, the records moved to the second their COMMIT ended in (UPDATEs of a
    batch's ids, which wait only behind another writer's lock on them). For an output's working
    copy made and noted as the run's to remove (:func:`koprik.output_files.working_copy`): a ^C
    between the two left ``OUT.part`` beside an interrupted crosswalk. Nothing that waits on
    the network or a person goes inside: the stop would wait for it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {signum: handler for signum in STOP_SIGNALS
              if (handler := signal.getsignal(signum)) is not None}  # (None: not Python's)
    held: list[int] = []

    def handle_held() -> None:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        for signum in held:
            handler = before[signum]
            if callable(handler):
                # called, not the signal raised again: a loop's handler (asyncio's) was told
                # already, through its wake-up file descriptor, and would count it twice
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)  # its default: the process ends

    def hold(signum: int, _frame: FrameType | None) -> None:
        held.append(signum)
        if len(held) == 2:
            handle_held()

    for signum in before:
        signal.signal(signum, hold)
    try:
        yield
    finally:
        if len(held) < 2:  # (two: handled already)
            handle_held()
