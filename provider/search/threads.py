"""A few long-lived database threads for the search service, each with its own connection.

A server's event loop never waits on the catalogue: each request's database work (search,
fetch, scan, sort) is one job, run on one of at most ``size`` threads, each holding a connection
for as long as it lives. Compared with ``asyncio.to_thread`` and a pooled connection per call,
a job costs one hand-off each way (a C queue put, a ``call_soon_threadsafe``) and no pool
checkout, reset or thread-pool bookkeeping.

Threads start when jobs wait and no thread is idle, and end (closing their connection) after
``idle_seconds`` without work, so a target that is not used holds no thread and no connection.
A job's transaction ends with it (rolled back: jobs only read), so no snapshot or lock outlives
a request; a connection that failed is discarded and the next job opens a new one. A job that
finds its thread's kept connection closed by the server meanwhile (a PostgreSQL restarted, an
administrator's ``pg_terminate_backend``, an idle timeout) runs once more on a new one: each
thread's first search after a restart failed ("terminating connection due to administrator
command"), for seconds after the database was back. A job that
finds the database unavailable (:func:`catalog.db.unavailable`: the server stopped, the
connection lost) raises :class:`SearchError` (``DATABASE_UNAVAILABLE``: Bib-1 2, SRU 2) after
one warning line, where it raised SQLAlchemy's error: a front end answers it as any refusal,
and the client may ask again. So does a job not done within ``answer_timeout`` seconds (a
database that hangs without closing its connections); its thread finishes it when the database
answers, and skips a job given up before it started. The line says the database's reason; the
client is told :func:`catalog.db.said_publicly` (not PostgreSQL's, which names its host and
port). A job given up before a thread took it says so instead: every thread was busy.

Each job stops once it has run ``max_seconds`` (:mod:`catalog.time_bound`), and raises
:class:`SearchError` (``RESOURCES_EXHAUSTED``: Bib-1 31): a client's query that walks the whole
index holds a thread that long at most, not for the time the other clients wait.

Jobs wait in one line per client (:data:`SEARCH_CLIENT`, the address the request came from),
and a thread that comes free takes the first job of the next client in turn (:class:`_Lines`).
In one line for all, a client that sent twenty heavy queries over its connections kept every other
client's query waiting behind all twenty, up to ``answer_timeout`` and then refused as "every
thread busy"; now a newcomer waits at most for one running job to end. A client alone still has
every thread.

>>> threads = DatabaseThreads(catalog.engine, size=4)
>>> count = await threads.run(lambda connection: q.search(connection, query, limit=10).count)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from catalog.db import NoAnswer, answered_within, said_publicly, unavailable
from catalog.time_bound import OverTime, bounded
from config import DatabaseSettings, SearchSettings
from provider.search.errors import Condition, SearchError

T = TypeVar("T")
log = logging.getLogger(__name__)

THREADS = 4
"""Default number of database threads: a slow query holds one, the others carry on."""
IDLE_SECONDS = 60.0

SEARCH_CLIENT: ContextVar[str] = ContextVar("koprik_search_client", default="")
"""Whom the current task's jobs are for (a client's address), set by the front end as it takes
a connection or a request: each client's jobs wait in a line of their own (module docs)."""


class _Job:
    """A job waiting for a thread, or taken by one (``started``)."""

    __slots__ = ("future", "loop", "started", "work")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any],
                 work: Callable[[Connection], Any]) -> None:  # fmt: skip
        self.loop = loop
        self.future = future
        self.work = work
        self.started = False


class _Lines:
    """Jobs waiting for a thread, in one line per client; :meth:`get` takes from the lines in
    turn (a client whose job was taken goes to the back), so no client waits behind another's
    many jobs."""

    def __init__(self) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._lines: dict[str, deque[_Job]] = {}  # in the order of their turns
        self._waiting = 0

    def put(self, client: str, job: _Job) -> None:
        with self._ready:
            self._lines.setdefault(client, deque()).append(job)
            self._waiting += 1
            self._ready.notify()

    def get(self, timeout: float) -> _Job:
        """The next job in turn, waiting up to ``timeout`` seconds for one (else
        :class:`queue.Empty`)."""
        with self._ready:
            if not self._waiting and not self._ready.wait_for(lambda: self._waiting, timeout):
                raise queue.Empty
            client = next(iter(self._lines))
            line = self._lines.pop(client)
            job = line.popleft()
            if line:
                self._lines[client] = line
            self._waiting -= 1
            return job

    def qsize(self) -> int:
        return self._waiting


class DatabaseThreads:
    """Runs blocking jobs ``job(connection)`` for coroutines of any event loop."""

    def __init__(
        self, engine: Engine, *, size: int = THREADS, idle_seconds: float = IDLE_SECONDS,
        answer_timeout: float = DatabaseSettings.answer_timeout,
        max_seconds: float = SearchSettings.max_seconds,
    ) -> None:  # fmt: skip
        if size < 1:
            raise ValueError("at least one database thread is needed")
        self.engine = engine
        self.size = size
        self.idle_seconds = idle_seconds
        self.answer_timeout = answer_timeout
        """Seconds a job is waited for (queued or running) before it fails as unavailable."""
        self.max_seconds = max_seconds
        """Seconds a job may run (:mod:`catalog.time_bound`)."""
        self._jobs = _Lines()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    @property
    def threads(self) -> int:
        """How many threads live now."""
        return self._threads

    async def run(self, job: Callable[[Connection], T]) -> T:
        """The result of ``job(connection)`` run on a database thread (its exception, raised);
        :class:`SearchError` (unavailable) when it has not come within ``answer_timeout``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        waiting = _Job(loop, future, job)
        with self._lock:
            self._jobs.put(SEARCH_CLIENT.get(), waiting)
            if self._jobs.qsize() > self._idle and self._threads < self.size:
                self._threads += 1
                threading.Thread(target=self._work, name="koprik-z3950-db", daemon=True).start()
        try:
            return await answered_within(self.answer_timeout, future)
        except NoAnswer as silence:
            if not waiting.started:
                log.warning("search: no database thread free within %g s (all %d busy)",
                            self.answer_timeout, self.size)  # fmt: skip
                raise SearchError(Condition.DATABASE_UNAVAILABLE, "every thread busy") from None
            log.warning("search: catalogue database unavailable: %s", silence)
            raise SearchError(Condition.DATABASE_UNAVAILABLE, said_publicly(silence)) from None

    def _work(self) -> None:
        connection: Connection | None = None
        counted = True
        try:
            while True:
                with self._lock:
                    self._idle += 1
                try:
                    taken = self._jobs.get(timeout=self.idle_seconds)
                except queue.Empty:
                    with self._lock:
                        self._idle -= 1
                        if not self._jobs.qsize():
                            self._threads -= 1
                            counted = False
                            return
                    continue
                with self._lock:
                    self._idle -= 1
                taken.started = True
                if taken.future.cancelled():  # given up while it waited (all threads busy, or
                    continue  # a database hung meanwhile)
                connection = self._run(connection, taken.loop, taken.future, taken.work)
        finally:
            if counted:  # ended by something other than idleness
                with self._lock:
                    self._threads -= 1
            if connection is not None:
                try:
                    connection.close()
                except Exception:  # the thread ends anyway; the pool discards a broken one
                    log.debug("closing a database thread's connection failed", exc_info=True)

    def _run(
        self,
        connection: Connection | None,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        job: Callable[[Connection], Any],
    ) -> Connection | None:
        """Run one job; the connection to keep for the next (None when it cannot be trusted)."""
        result: Any = None
        error: BaseException | None = None
        try:
            kept = connection is not None
            try:
                connection = connection or self.engine.connect()
                result = _once(connection, job, self.max_seconds)
            except DBAPIError as failure:
                if not (kept and failure.connection_invalidated):
                    raise
                _discard(connection)  # closed by the server while kept: see the module docs
                connection = None  # (a new one that fails to open leaves none to discard)
                connection = self.engine.connect()
                result = _once(connection, job, self.max_seconds)
        except OverTime as stopped:
            error = SearchError(Condition.RESOURCES_EXHAUSTED, str(stopped))
        except SQLAlchemyError as failure:
            error = failure
            if (reason := unavailable(failure)) is not None:
                log.warning("search: catalogue database unavailable: %s", reason)
                error = SearchError(Condition.DATABASE_UNAVAILABLE, said_publicly(failure))
            if connection is not None:  # not back to the pool: the engine opens a new one
                _discard(connection)
            connection = None
        except Exception as failure:
            error = failure
        # The loop may have closed meanwhile (a server shut down): nobody waits for the answer.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, future, result, error)
        return connection


def _once(connection: Connection, job: Callable[[Connection], T], seconds: float) -> T:
    """``job(connection)`` in a transaction of its own, rolled back, stopped after
    ``seconds`` (:class:`~catalog.time_bound.OverTime`)."""
    try:
        with bounded(connection, seconds):
            return job(connection)
    finally:
        connection.rollback()


def _discard(connection: Connection | None) -> None:
    """Close ``connection`` without giving it back to the pool."""
    if connection is None:
        return
    try:
        connection.invalidate()
        connection.close()
    except Exception:  # already unusable: the job's own error is what matters
        log.debug("discarding a failed connection failed", exc_info=True)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
