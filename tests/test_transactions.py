"""catalog.transactions: a unit of work the database aborts as a deadlock or a serialization
failure is run again, a bounded number of times; any other error is raised at once. The errors
are the database's own: PostgreSQL raising the SQLSTATE asked for, SQLite failing a statement."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from catalog import Catalog, transactions


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
