"""Alembic's entry point: run the revisions on the connection :mod:`catalog.schema` passes.

Alembic is configured in code, never from an ``alembic.ini``: the connection arrives in
``config.attributes["connection"]`` (already inside a transaction where the engine has one).
"""

from __future__ import annotations

from alembic import context

from catalog.db import all_tables

connection = context.config.attributes["connection"]
metadata = all_tables(connection.dialect.name)


def _ours(name: str | None, type_: str, _parents: object) -> bool:
    """Autogenerate compares only the catalogue's own tables (not APScheduler's job store, nor
    SQLite's FTS5 tables of the search index)."""
    return type_ != "table" or name in metadata.tables


context.configure(
    connection=connection,
    target_metadata=metadata,
    include_name=_ours,
    render_as_batch=True,  # SQLite changes a column by copying its table; Alembic writes that
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
