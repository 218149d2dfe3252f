"""provider.search.threads.py: database threads with long-lived connections, off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from catalog import Catalog
from catalog.db import UNSAID, open_engine
from catalog.time_bound import check
from provider.search.errors import Condition, SearchError
from provider.search.threads import SEARCH_CLIENT, DatabaseThreads
from tests.conftest import _fresh_postgres_database


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{tmp_path / 'workers.sqlite3'}")
    yield engine
    engine.dispose()


def _dbapi_id(connection: Connection) -> int:
    return id(connection.connection.dbapi_connection)


def test_jobs_get_results_and_errors_and_keep_their_connection(engine: Engine) -> None:
    threads = DatabaseThreads(engine, size=1)

    def boom(connection: Connection) -> None:
        raise LookupError("no such thing")

    async def main() -> tuple[int, list[int]]:
        one = await threads.run(lambda c: c.execute(text("SELECT 1")).scalar_one())
        with pytest.raises(LookupError, match="no such thing"):
            await threads.run(boom)
        ids = [await threads.run(_dbapi_id) for _ in range(3)]
        return one, ids

    one, ids = asyncio.run(main())
    assert one == 1
    assert len(set(ids)) == 1  # one thread, one connection, kept across jobs and errors


def test_a_failed_connection_is_replaced(engine: Engine) -> None:
    threads = DatabaseThreads(engine, size=1)

    def broken(connection: Connection) -> None:
        raise OperationalError("SELECT 1", {}, RuntimeError("disk I/O error"))

    def dbapi(connection: Connection) -> object:
        return connection.connection.dbapi_connection

    async def main() -> tuple[object, object, object]:
        before = await threads.run(dbapi)
        kept = await threads.run(dbapi)
        with pytest.raises(SearchError) as refused:  # the database is unavailable: say so
            await threads.run(broken)
        assert refused.value.condition is Condition.DATABASE_UNAVAILABLE
        assert refused.value.detail == UNSAID  # not SQLite's own error: said only in the log
        return before, kept, await threads.run(dbapi)

    before, kept, after = asyncio.run(main())
    assert kept is before
    assert after is not before


@pytest.mark.postgres
def test_a_kept_connection_the_server_closed_is_replaced_and_the_job_answered(
    request: pytest.FixtureRequest,
) -> None:
    """A PostgreSQL restarted (or an administrator's pg_terminate_backend) closes every kept
    connection: each thread's first search after it failed ("terminating connection due to
    administrator command"), for seconds after the database was back."""
    engine = open_engine(_fresh_postgres_database(request))
    admin = request.getfixturevalue("_postgres_admin")
    threads = DatabaseThreads(engine, size=1)

    def backend(connection: Connection) -> int:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()

    try:
        before = asyncio.run(threads.run(backend))
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"),
                                      {"pid": before}).scalar_one()  # fmt: skip
        after = asyncio.run(threads.run(backend))  # answered, on a new connection
        assert after != before
        assert asyncio.run(threads.run(backend)) == after  # which is kept in turn

        def broken(connection: Connection) -> None:  # a job failing so on a new connection
            connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

        asyncio.run(threads.run(backend))
        with pytest.raises(SearchError) as refused:  # tried twice, then said unavailable
            asyncio.run(threads.run(broken))
        assert refused.value.condition is Condition.DATABASE_UNAVAILABLE
    finally:
        engine.dispose()


def test_at_most_size_threads_and_the_loop_runs_meanwhile(engine: Engine) -> None:
    threads = DatabaseThreads(engine, size=2)
    gate = threading.Event()
    lock = threading.Lock()
    started: list[int] = []

    def held(connection: Connection) -> bool:
        with lock:
            started.append(threading.get_ident())
        return gate.wait(30)  # only the event loop opens the gate

    async def main() -> tuple[list[bool], int, int]:
        jobs = [asyncio.create_task(threads.run(held)) for _ in range(5)]
        while len(started) < 2:  # the loop is free while jobs wait on their threads
            await asyncio.sleep(0.001)
        during = threads.threads
        gate.set()
        results = await asyncio.gather(*jobs)
        return results, during, len(set(started))

    results, during, distinct = asyncio.run(main())
    assert results == [True] * 5
    assert during == 2
    assert distinct == 2


def test_each_client_waits_in_a_line_of_its_own_and_the_threads_take_them_in_turn(
    engine: Engine,
) -> None:
    """One client's many heavy jobs do not keep another's waiting behind all of them: with the
    one thread held, a greedy client queues six jobs, then a newcomer one; the newcomer's is
    the next taken, and the greedy client's go on after it."""
    threads = DatabaseThreads(engine, size=1)
    gate = threading.Event()
    done: list[str] = []

    def job(name: str, wait: bool = False) -> None:
        if wait:
            gate.wait(30)
        done.append(name)

    async def as_client(client: str, name: str, wait: bool = False) -> None:
        SEARCH_CLIENT.set(client)  # (each task has a context of its own)
        await threads.run(lambda connection: job(name, wait))

    async def main() -> None:
        held = asyncio.create_task(as_client("198.51.100.7", "greedy 0", wait=True))
        while not threads.threads or threads._jobs.qsize():  # taken by the thread
            await asyncio.sleep(0.001)
        greedy = [asyncio.create_task(as_client("198.51.100.7", f"greedy {n}"))
                  for n in range(1, 7)]  # fmt: skip
        await asyncio.sleep(0.01)
        newcomer = asyncio.create_task(as_client("203.0.113.5", "newcomer"))
        while threads._jobs.qsize() < 7:
            await asyncio.sleep(0.001)
        assert list(threads._jobs._lines) == ["198.51.100.7", "203.0.113.5"]  # in turn
        gate.set()
        await asyncio.gather(held, *greedy, newcomer)

    asyncio.run(main())
    assert done == ["greedy 0", "greedy 1", "newcomer", *(f"greedy {n}" for n in range(2, 7))]


def test_idle_threads_end_and_come_back(engine: Engine) -> None:
    threads = DatabaseThreads(engine, size=2, idle_seconds=0.05)

    async def main() -> tuple[int, int, int]:
        first = await threads.run(lambda c: c.execute(text("SELECT 2")).scalar_one())
        deadline = time.monotonic() + 30
        while threads.threads and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        idle = threads.threads
        return first, idle, await threads.run(lambda c: c.execute(text("SELECT 3")).scalar_one())

    assert asyncio.run(main()) == (2, 0, 3)


def test_jobs_from_several_event_loops(engine: Engine) -> None:
    threads = DatabaseThreads(engine, size=2)

    async def ask(n: int) -> int:
        return await threads.run(lambda c: c.execute(text(f"SELECT {n}")).scalar_one())

    assert asyncio.run(ask(7)) == 7
    assert asyncio.run(ask(8)) == 8  # a new loop, the same threads


def test_size_must_be_positive(engine: Engine) -> None:
    with pytest.raises(ValueError):
        DatabaseThreads(engine, size=0)


_LONG_STATEMENT = {
    "sqlite": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
              "WHERE x < 1000000000) SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(60)",
}


def test_a_job_running_past_max_seconds_is_stopped_and_its_thread_goes_on(
    catalog: Catalog,
) -> None:
    """One statement running past the bound, and a job of short statements passing it between
    them (looking at the clock as a query does between its leaves), are each stopped:
    resources exhausted (Bib-1 31), not the database unavailable; the thread keeps its
    connection and answers the next job at once."""
    threads = DatabaseThreads(catalog.engine, size=1, max_seconds=0.3)
    engine = catalog.engine.dialect.name

    def long_statement(connection: Connection) -> object:
        return connection.execute(text(_LONG_STATEMENT[engine])).scalar()

    def many_statements(connection: Connection) -> None:
        for _ in range(600):  # 30 s, were it not stopped
            check(connection)  # as a query does between its leaves
            connection.execute(text("SELECT 1")).scalar()
            time.sleep(0.05)

    async def main() -> tuple[list[SearchError], list[int], int]:
        before = await threads.run(_dbapi_id)
        refused = []
        for job in (long_statement, many_statements):
            with pytest.raises(SearchError) as stopped:
                await threads.run(job)
            refused.append(stopped.value)
        answers = [await threads.run(lambda c: c.execute(text("SELECT 5")).scalar_one())]
        return refused, answers, before - await threads.run(_dbapi_id)

    refused, answers, moved = asyncio.run(main())
    assert [(e.condition, e.detail) for e in refused] == [
        (Condition.RESOURCES_EXHAUSTED, "stopped after 0.3 s")] * 2
    assert answers == [5]
    assert moved == 0  # the connection kept: nothing was wrong with it


def test_a_job_no_thread_took_in_time_says_every_thread_was_busy(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Not "catalogue database unavailable", which sent the operator to a database that was
    well: the threads were busy with other clients' work."""
    threads = DatabaseThreads(engine, size=1, answer_timeout=0.5, max_seconds=60)
    gate = threading.Event()

    async def main() -> SearchError:
        held = asyncio.create_task(threads.run(lambda _: gate.wait(30)))
        while not threads.threads:
            await asyncio.sleep(0.01)
        with pytest.raises(SearchError) as refused:
            await threads.run(lambda c: c.execute(text("SELECT 1")).scalar_one())
        gate.set()
        with contextlib.suppress(SearchError):  # (waited past the 0.5 s too)
            await held
        return refused.value

    refused = asyncio.run(main())
    assert (refused.condition, refused.detail) == (Condition.DATABASE_UNAVAILABLE,
                                                   "every thread busy")  # fmt: skip
    lines = [r.getMessage() for r in caplog.records if r.name == "provider.search.threads"]
    assert lines.count("search: no database thread free within 0.5 s (all 1 busy)") == 1


def test_a_query_of_many_leaves_is_stopped_between_them_on_either_engine(
    catalog: Catalog,
) -> None:
    """Leaves each walking much of the index: on PostgreSQL each leaf is its own statement,
    each under its own statement_timeout, so the query looks at the clock before each leaf.
    The bound is a small part of the query's time on any machine: under 0.1 s, its first
    bound, 30 leaves ran whole on PostgreSQL on a fast one (0.07-0.17 s measured)."""
    from catalog.demo import demo_records
    from protocols.z3950.pqf import parse_pqf
    from provider.search import SearchService
    from provider.z3950.attributes import query_of

    with catalog.writer() as writer:
        for record in demo_records(300):
            writer.put(record)
    leaves = [f"@attr 1=1016 @attr 2=1 {letter}" for letter in "abcdefghijklmnopqrstuvwxyz0123"]
    pqf = leaves[0]
    for leaf in leaves[1:]:
        pqf = f"@or {leaf} {pqf}"
    service = SearchService(catalog)
    threads = DatabaseThreads(catalog.engine, size=1, max_seconds=0.01)
    query = query_of(parse_pqf(pqf), lambda name: [])

    with pytest.raises(SearchError) as stopped:
        asyncio.run(threads.run(lambda connection: service.search(connection, query)))
    assert (stopped.value.condition, stopped.value.detail) == (
        Condition.RESOURCES_EXHAUSTED, "stopped after 0.01 s")
