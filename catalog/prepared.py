"""Statements compiled once per database dialect and run straight on the DBAPI cursor.

A search and its first page are three small SELECTs; through ``Connection.execute`` each costs
25-65 µs of SQLAlchemy's own work (cache key, parameter processing, execution context, result)
beside 5-100 µs in the database, so SQLAlchemy was most of the cost of an ISBN search. A
:class:`Prepared` statement keeps SQLAlchemy for building and compiling the SQL (once per
dialect) and for the transaction, its errors and its connection pool, and runs the compiled
string on the connection's DBAPI cursor with the parameters in the dialect's own style.

Only statements whose parameters need no conversion on the way in qualify (plain strings and
integers: no bind processors, no escaped names), and the rows come back as the DBAPI gives
them; a statement that does not qualify is run through ``Connection.execute`` instead, with the
same raw rows. A DBAPI error is raised as SQLAlchemy's exception for it (``OperationalError``...),
as ``Connection.execute`` would, and one that says the SQLite file is damaged is remembered as
``Connection.execute``'s are (:func:`catalog.file_damage.noticed`).

>>> COUNT = Prepared(select(func.count()).where(terms.c.term == bindparam("term")))
>>> COUNT.rows(connection, {"term": "navoiy"})
[(12,)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from catalog.file_damage import noticed


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled for one dialect: its SQL, every parameter's default, and what
    picks the positional parameters in order from them (None when the dialect takes them by
    name)."""

    sql: str
    defaults: dict[str, Any]
    positions: Callable[[dict[str, Any]], tuple[Any, ...]] | None


class Prepared:
    """One statement, compiled on first use with each dialect (see the module docs)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: WeakKeyDictionary[Dialect, _Compiled | None] = WeakKeyDictionary()

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of the statement run with ``values`` in ``connection``'s transaction."""
        dialect = connection.dialect
        try:
            compiled = self._compiled[dialect]
        except KeyError:
            compiled = self._compiled[dialect] = _compile(self.statement, dialect)
        if compiled is None:
            with connection.execute(self.statement, dict(values)) as result:
                return list(result.cursor.fetchall())
        parameters: Any = {**compiled.defaults, **values}
        if compiled.positions is not None:
            parameters = compiled.positions(parameters)
        if not connection.in_transaction():
            connection.begin()  # so that the job's rollback ends what the cursor begins
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
            return cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            noticed(connection.engine, error)
            raise DBAPIError.instance(
                compiled.sql, parameters, error, dialect.loaded_dbapi.Error, dialect=dialect
            ) from error
        finally:
            cursor.close()


def _compile(statement: Executable, dialect: Dialect) -> _Compiled | None:
    """``statement`` compiled for ``dialect``; None when its parameters need processing."""
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if (
        compiled.escaped_bind_names
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or any(bind.type.dialect_impl(dialect).bind_processor(dialect)
               for bind in compiled.bind_names)
    ):  # fmt: skip
        return None
    defaults = {name: bind.effective_value for bind, name in compiled.bind_names.items()}
    positions = None
    if compiled.positional:
        names = tuple(compiled.positiontup)
        positions = _picker(names)
    return _Compiled(compiled.string, defaults, positions)


def _picker(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function giving the values of ``names`` in order as a tuple (``itemgetter`` gives a
    bare value for one name and fails for none)."""
    if len(names) > 1:
        return itemgetter(*names)
    if names:
        name = names[0]
        return lambda values: (values[name],)
    return lambda values: ()
