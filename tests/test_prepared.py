"""catalog.prepared: statements run on the DBAPI cursor give Connection.execute's rows, in its
transaction, with its errors, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from pymarc import Field, Record
from sqlalchemy import String, TypeDecorator, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from catalog import models
from catalog.prepared import Prepared

records = models.records


@pytest.fixture
def filled(catalog):  # type: ignore[no-untyped-def]
    with catalog.writer() as writer:
        for n in range(1, 8):
            record = Record(force_utf8=True)
            record.add_field(Field(tag="001", data=f"p{n:03d}"))
            writer.put(record)
    return catalog


def test_rows_are_those_of_connection_execute(filled) -> None:  # type: ignore[no-untyped-def]
    # A bound limit, and on SQLite an OFFSET SQLAlchemy adds with a default of its own.
    statement = (
        select(records.c.id, records.c.local_id, records.c.marc)
        .where(records.c.local_id > bindparam("after"))
        .order_by(records.c.id)
        .limit(bindparam("n"))
    )
    values = {"after": "p002", "n": 3}
    with filled.engine.connect() as connection:
        expected = [tuple(row) for row in connection.execute(statement, values)]
        assert Prepared(statement).rows(connection, values) == expected
        assert [row[1] for row in expected] == ["p003", "p004", "p005"]
        count = Prepared(select(func.count()).select_from(records))  # no parameter
        assert count.rows(connection, {}) == [(7,)]
        one = Prepared(select(records.c.local_id).where(records.c.local_id == bindparam("id")))
        assert one.rows(connection, {"id": "p006"}) == [("p006",)]


class Upper(TypeDecorator[str]):
    """A type that changes its value on the way in: such statements go through SQLAlchemy."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return value.upper()


def test_a_statement_whose_values_need_processing_gets_them_processed(filled) -> None:  # type: ignore[no-untyped-def]
    statement = select(records.c.local_id).where(
        func.upper(records.c.local_id) == bindparam("wanted", type_=Upper())
    )
    with filled.engine.connect() as connection:
        assert Prepared(statement).rows(connection, {"wanted": "p004"}) == [("p004",)]


def test_the_rows_are_read_in_the_connection_s_transaction(filled) -> None:  # type: ignore[no-untyped-def]
    count = Prepared(select(func.count()).select_from(records))
    with filled.engine.connect() as connection:
        assert not connection.in_transaction()
        count.rows(connection, {})
        assert connection.in_transaction()  # so that a rollback ends it
        connection.rollback()
        assert not connection.in_transaction()
        dbapi = connection.connection.dbapi_connection
        if filled.engine.dialect.name == "postgresql":  # no snapshot is left open
            assert dbapi.info.transaction_status == 0  # type: ignore[union-attr]  # IDLE
        else:
            assert not dbapi.in_transaction  # type: ignore[union-attr]


def test_a_database_error_is_sqlalchemy_s(filled) -> None:  # type: ignore[no-untyped-def]
    broken = Prepared(select(text("no_such_column")).select_from(records))
    with filled.engine.connect() as connection:
        with pytest.raises(DBAPIError) as raised:
            broken.rows(connection, {})
        assert isinstance(raised.value, SQLAlchemyError)
        assert "no_such_column" in str(raised.value)
