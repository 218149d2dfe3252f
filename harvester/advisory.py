"""PostgreSQL session advisory locks, each held on a connection of its own.

A session lock lives as long as the database session that took it: when the process holding it
dies, or its host vanishes, the server ends the session and the lock is free for another node,
whatever the catalogue's rows say. Koprik uses the two-integer form, ``(namespace, key)``, so
its locks never meet the one-bigint lock of schema upgrades (:mod:`catalog.schema`) or another
application's:

>>> held = try_lock(engine, SOURCES, key_of("partner"))   # None: another session holds it
>>> alive(held)                                            # False once the session is gone
>>> unlock(held)

Each lock has a database connection of its own, outside the catalogue engine's pool, so locks
held for hours (the scheduler's, a long harvest's) never starve the pool that serves requests
and commits pages. The connection asks the server to probe the client every few seconds (TCP
keepalives), so a node whose host disappears without closing its sockets loses its locks in
well under a minute.
"""

from __future__ import annotations

import hashlib
import threading
import weakref

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from catalog.db import postgres_connect_args

SCHEDULER = 0x6B707363
"""Namespace ("kpsc") of the lock of the node that runs the harvest schedules."""
SOURCES = 0x6B707372
"""Namespace ("kpsr") of the run locks of harvest sources, keyed by :func:`key_of`."""
CATALOG = 0x6B70636B
"""Namespace ("kpck") of work on the whole catalogue that one node at a time does, keyed by
:func:`key_of` its name (``sets``: ``koprik db sets``)."""

_unpooled_engines: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_unpooled_lock = threading.Lock()

_KEEPALIVES = (
    "SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
)


def supported(engine: Engine) -> bool:
    """Whether ``engine`` has session advisory locks (PostgreSQL does, SQLite does not)."""
    return engine.dialect.name == "postgresql"


def key_of(name: str) -> int:
    """A signed 32-bit key for ``name``, the same in every process and on every host (unlike
    ``hash()``). Two names sharing a key (one chance in 2**32) only take turns."""
    digest = hashlib.blake2b(name.encode(), digest_size=4, person=b"koprik").digest()
    return int.from_bytes(digest, "big", signed=True)


def _unpooled(engine: Engine) -> Engine:
    """An engine on the same database as ``engine`` whose connections close when released."""
    with _unpooled_lock:
        found = _unpooled_engines.get(engine)
        if found is None:
            found = _unpooled_engines[engine] = create_engine(
                engine.url, poolclass=NullPool, connect_args=postgres_connect_args(engine.url)
            )
        return found


def try_lock(engine: Engine, namespace: int, key: int) -> Connection | None:
    """Take lock ``(namespace, key)`` on a new connection to ``engine``'s database and return
    it, or None if another session holds the lock (the connection is then closed)."""
    connection = _unpooled(engine).connect()
    try:
        for statement in _KEEPALIVES:
            connection.execute(text(statement))
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:namespace, :key)"),
            {"namespace": namespace, "key": key},
        ).scalar_one()
        connection.commit()  # a session lock outlives the transaction: do not sit in one
    except BaseException:
        connection.invalidate()
        connection.close()
        raise
    if not taken:
        connection.close()
        return None
    return connection


def alive(connection: Connection) -> bool:
    """Whether the session holding a lock still answers (if it does, it still holds it)."""
    try:
        connection.execute(text("SELECT 1")).scalar_one()
        connection.commit()
    except DBAPIError:
        connection.invalidate()  # its session is gone: never give it back to the pool
        return False
    return True


def unlock(connection: Connection) -> None:
    """Free the lock, then close its connection.

    The lock is freed by a statement, so it is free when this returns: closing the connection
    alone ends the session, but the server frees a session's locks only as its process exits,
    a moment later, and a run started in that moment found its source busy. If the session is
    gone already (the connection invalidated, or the statement failing), so is its lock."""
    try:
        if not connection.invalidated:
            connection.execute(text("SELECT pg_advisory_unlock_all()"))
            connection.commit()
    except SQLAlchemyError:
        connection.invalidate()
    finally:
        connection.close()
