"""catalog.transactions: a unit of work the database aborts as a deadlock or a serialization
failure is run again, a bounded number of times; any other error is raised at once. The errors
are the database's own: PostgreSQL raising the SQLSTATE asked for, SQLite failing a statement.
A stop signal does not come between a COMMIT and what follows it (the signals are this
process's own, sent with os.kill)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import DBAPIError

from catalog import Catalog, CatalogWriter, Outcome, transactions
from tests.books import book
from tests.conftest import signalled


def _failing(sqlstate: str) -> tuple[list[int], Callable[[Connection], None]]:
    """A unit of work that fails on the server with ``sqlstate`` (PostgreSQL) or a statement
    SQLite refuses; the list of the tries it counts."""
    tries: list[int] = []

    def work(connection: Connection) -> None:
        tries.append(1)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(
                f"DO $$ BEGIN RAISE EXCEPTION 'aborted' USING ERRCODE = '{sqlstate}'; END $$")
        else:
            connection.exec_driver_sql("SELECT * FROM no_such_table")

    return tries, work


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_an_aborted_transaction_is_run_again_then_its_error_raised(
    catalog: Catalog, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
    sqlstate: str,
) -> None:
    monkeypatch.setattr(transactions, "BACKOFF", 0.001)
    tries, work = _failing(sqlstate)
    with caplog.at_level(logging.WARNING), pytest.raises(DBAPIError):
        transactions.transaction(catalog.engine, work, "the test's work")
    said = [r.getMessage() for r in caplog.records if r.name == "catalog.transactions"]
    if catalog.engine.dialect.name == "sqlite":  # no deadlock there: its error is raised at once
        assert tries == [1] and said == []
        return
    assert len(tries) == transactions.RETRIES + 1
    assert len(said) == transactions.RETRIES
    assert said[0].startswith("the test's work aborted by the database (aborted); running it "
                              "again in 0.00 s (retry 1 of 5)")  # fmt: skip
    assert "\n" not in "".join(said)


def test_another_error_is_raised_at_once(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    tries, work = _failing("23505")  # unique_violation: running again changes nothing
    with pytest.raises(DBAPIError):
        transactions.transaction(catalog.engine, work, "the test's work")
    assert tries == [1] and "running it again" not in caplog.text


@contextmanager
def _handling(signum: int, handler: Any) -> Iterator[None]:
    before = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, before)


def test_a_ctrl_c_within_an_uninterrupted_section_is_raised_as_it_ends() -> None:
    done = []
    with _handling(signal.SIGINT, signal.default_int_handler):
        with pytest.raises(KeyboardInterrupt), transactions.uninterrupted():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the rest of the section")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert done == ["the rest of the section"]


def test_a_second_signal_ends_the_section_at_once() -> None:
    seen: list[int] = []

    def noted(signum: int, _frame: FrameType | None) -> None:  # as a harvest's handler
        seen.append(signum)

    done = []
    with (
        _handling(signal.SIGINT, signal.default_int_handler), _handling(signal.SIGTERM, noted),
        pytest.raises(KeyboardInterrupt), transactions.uninterrupted(),
    ):
        os.kill(os.getpid(), signal.SIGTERM)
        done.append("after the first")
        assert seen == []
        os.kill(os.getpid(), signal.SIGINT)
        done.append("after the second")
    assert done == ["after the first"] and seen == [signal.SIGTERM]


def test_a_signal_an_event_loop_handles_reaches_it_once() -> None:
    """As a write in koprik serve's main thread would see it: its loop is told once, as
    without the section (twice, and serve would take it as a second signal: stop at once)."""
    seen: list[int] = []

    async def section_in_the_loop() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, seen.append, signal.SIGTERM)
        try:
            with transactions.uninterrupted():
                os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.2)  # the loop reads its wake-up pipe
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    asyncio.run(section_in_the_loop())
    assert seen == [signal.SIGTERM]


def test_a_signal_at_a_commit_is_raised_once_the_commit_is_followed_through(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ^C as the COMMIT of Catalog.write returns: raised once what follows the commit (a
    count kept in memory, CatalogWriter.after_commit) is done, on each engine."""
    committed = DefaultDialect.do_commit
    counted: list[Outcome] = []

    def commit(dialect: DefaultDialect, connection: Any) -> None:
        committed(dialect, connection)
        monkeypatch.setattr(DefaultDialect, "do_commit", committed)  # the first one only
        os.kill(os.getpid(), signal.SIGINT)

    def work(writer: CatalogWriter) -> None:
        outcome = writer.put(book("1", "Kimyo"))
        writer.after_commit(lambda: counted.append(outcome))

    monkeypatch.setattr(DefaultDialect, "do_commit", commit)
    with _handling(signal.SIGINT, signal.default_int_handler), pytest.raises(KeyboardInterrupt):
        catalog.write(work)
    assert counted == [Outcome.ADDED]
    assert catalog.get_entry("1") is not None


def test_a_ctrl_c_as_a_transaction_commits_waits_for_what_follows_the_commit(
    tmp_path: Path,
) -> None:
    """transaction_then: a ^C as the COMMIT ends is raised once ``then`` (a batch's restamp,
    :mod:`catalog.restamp`) has run whole; it cut it short, leaving rows at a datestamp a
    harvest had paged past (``koprik db renditions``, ``koprik db sets``)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    done: list[object] = []

    def then(result: int) -> None:
        signalled(signal.SIGINT)
        done.append(result)

    try:
        with _handling(signal.SIGINT, signal.default_int_handler), pytest.raises(
            KeyboardInterrupt
        ):
            transactions.transaction_then(
                engine, lambda connection: connection.exec_driver_sql("SELECT 7").scalar(),
                then, "a test")  # fmt: skip
    finally:
        engine.dispose()
    assert done == [7]
