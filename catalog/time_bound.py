"""A client's database work bounded in time: one search, present, scan or sort stops once it
has run ``seconds``, whatever it was doing.

A query whose leaves each walk much of the index (64 relations on ``any``: "every word before
``a``", "every word after ``b``" ...) took 14 to 17 s on a catalogue of 2,000 records, on one
of the search service's few threads; four of them from one client held every thread, and every
other client's search waited its 30 s and was told the database was unavailable. The caps on
ids read (:mod:`catalog.query`) bound its memory, not its time.

Bounded so:

- a statement still running at the bound is stopped by the database itself: on SQLite by a
  progress handler that looks at the clock every :data:`SQLITE_STEPS` virtual-machine steps,
  which stops as well any statement begun after the bound (a search calls it about once); on
  PostgreSQL by the transaction's ``statement_timeout``, each statement's own;
- a job of many statements looks at the clock between them (:func:`check`: a query does before
  each leaf), so that on PostgreSQL 64 leaves are not 64 timeouts.

Either way the job raises :class:`OverTime`. (A ``before_cursor_execute`` listener would have
checked every statement, but an engine with a listener runs each of its statements 12 to 19 µs
slower, a tenth of a Z39.50 search and present's CPU.)
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

SQLITE_STEPS = 1000
"""SQLite virtual-machine steps between looks at the clock."""

_BOUND = "koprik_time_bound"
"""The key of a job's deadline (``time.monotonic()``) and its seconds in its connection's
``info``."""

_POSTGRES_CANCELED = "57014"
"""PostgreSQL's SQLSTATE of a statement cancelled (its statement_timeout passed)."""


class OverTime(Exception):
    """A job stopped at its time bound (the message says after how many seconds)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped after {seconds:g} s")


@contextmanager
def bounded(connection: Connection, seconds: float) -> Iterator[None]:
    """Work on ``connection`` in this block stops once the block has run ``seconds``
    (:class:`OverTime`). On PostgreSQL the block must end its transaction (the timeout is the
    transaction's own: ``SET LOCAL``)."""
    deadline = time.monotonic() + seconds
    raw = connection.connection.driver_connection
    sqlite = connection.engine.dialect.name == "sqlite"
    if sqlite:
        raw.set_progress_handler(  # type: ignore[union-attr]
            lambda: time.monotonic() > deadline, SQLITE_STEPS)
    else:
        milliseconds = max(1, round(seconds * 1000))
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
    info = connection.info  # (asked for after a connection was lost, it would reconnect)
    info[_BOUND] = (deadline, seconds)
    try:
        yield
    except Exception as error:  # (a driver's own, where its cursor is read directly)
        if time.monotonic() >= deadline and _stopped(error):
            raise OverTime(seconds) from None
        raise
    finally:
        info.pop(_BOUND, None)
        if sqlite:
            raw.set_progress_handler(None, 0)  # type: ignore[union-attr]


def _stopped(error: Exception) -> bool:
    """Whether ``error`` (SQLAlchemy's, or the driver's) is the database stopping a statement
    at the bound."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(cause, sqlite3.OperationalError):
        return str(cause) == "interrupted"
    return getattr(cause, "sqlstate", None) == _POSTGRES_CANCELED


def check(connection: Connection) -> None:
    """:class:`OverTime` if the job on ``connection`` (in a :func:`bounded` block) has run
    past its bound: called between the statements of a job that runs many."""
    bound = connection.info.get(_BOUND)
    if bound is not None and time.monotonic() >= bound[0]:
        raise OverTime(bound[1])
