"""Opening the catalogue database: SQLite (WAL) by default, PostgreSQL for a national node."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from catalog.models import metadata


def open_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; for a SQLite file its folder is created and WAL switched on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, echo=echo, pool_pre_ping=True)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet (all modules' tables share one MetaData)."""
    import catalog.harvest_state
    import catalog.search_index  # noqa: F401
    metadata.create_all(engine)
