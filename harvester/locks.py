"""A lock per source in the catalogue database, so two runs of one source never overlap.

The lock is the ``lock_owner`` / ``lock_expires`` pair of the source's ``harvest_state`` row,
taken with a compare-and-set UPDATE, so it holds across threads, processes and Koprik nodes
sharing one database. A run renews its lease with every page it commits, and every
:data:`BEAT_SECONDS` whatever its pages (its heartbeat, :meth:`harvester.runs.HarvestRun._beating`):
a run waiting out a long politeness delay, or retrying a silent partner, keeps its source.

On SQLite (one host) a lock whose owner process is gone (same host, pid no longer alive) or
whose lease expired is taken over. On PostgreSQL the run also holds a session advisory lock
for the source (:mod:`harvester.advisory`) for its whole length, and that lock decides: its
holder takes the row over whoever is named there, so a half-done harvest of a node that died
is resumed by another node at once, not after the lease of an hour; without it the source is
busy. The row then only says who runs the source.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from contextlib import suppress
from functools import partial

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from catalog.harvest_state import RUNNING, harvest_runs, harvest_state
from catalog.transactions import executed, transaction
from harvester import advisory

LEASE_SECONDS = 3600
"""How long a lock holds without renewal (a run renews it at every page and every
:data:`BEAT_SECONDS`)."""
BEAT_SECONDS = 300
"""How often a running run renews its lease whatever its pages (a twelfth of the lease): a
source's ``delay`` and ``timeout`` may each be up to a day, and the lease lapsed while the run,
alive, waited, and the next run of the source took it over."""


_held: dict[str, Connection] = {}
"""owner -> the connection holding its source's advisory lock (PostgreSQL)."""
_held_lock = threading.Lock()


class SourceBusy(RuntimeError):
    """Another run of the source holds the lock: this one is not started."""


class TakenOver(RuntimeError):
    """Another run took the source's lock over from a run holding it (its lease lapsed, or on
    PostgreSQL its advisory lock's session ended), found as the run renews it with a page
    (:func:`renew`, or a write of the source's harvest state): the run stops there, that page
    not committed, those before it kept."""


def new_owner() -> str:
    """An owner name: host, pid and a nonce (two runs in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def unheld(connection: Connection, sources: set[str]) -> set[str]:
    """The sources among ``sources`` that no live run holds, by their rows (``lock_owner``,
    ``lock_expires``): a run recorded running of such a source ended unseen (its process
    killed, its node gone), as its source's next run will record. On another host a run holds
    its source until its lease lapses (on PostgreSQL its advisory lock would say sooner)."""
    if not sources:
        return set()
    state = harvest_state.c
    now = int(time.time())
    rows = connection.execute(select(state.source, state.lock_owner, state.lock_expires)
                              .where(state.source.in_(sources)))
    live = {row.source for row in rows if not _stale(row.lock_owner, row.lock_expires, now)}
    return sources - live


def _stale(owner: str | None, expires: int | None, now: int) -> bool:
    if owner is None or expires is None or expires < now:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(engine: Engine, source: str, owner: str) -> None:
    """Take the lock of ``source`` for ``owner``; raises :class:`SourceBusy` if it is held.
    Every acquire is followed by a :func:`release` with the same owner."""
    if not advisory.supported(engine):
        _take_row(engine, source, owner, lead=False)
        return
    connection = advisory.try_lock(engine, advisory.SOURCES, advisory.key_of(source))
    if connection is None:
        raise SourceBusy(f"source {source!r} is being harvested by {_holder(engine, source)}")
    try:
        _take_row(engine, source, owner, lead=True)
    except BaseException:
        advisory.unlock(connection)
        raise
    with _held_lock:
        _held[owner] = connection


def _holder(engine: Engine, source: str) -> str:
    """:func:`_holder_on` of the source's lock as its row names it."""
    with engine.connect() as connection:
        owner = connection.execute(
            select(harvest_state.c.lock_owner).where(harvest_state.c.source == source)
        ).scalar()
        return _holder_on(connection, source, owner)


def _holder_on(connection: Connection, source: str, owner: str | None) -> str:
    """Who holds the lock of ``source``, as the line refusing another run names it: the run
    recorded running (opening a run ends any other so), by number and start, for the operator
    to find among the runs; else the process ``owner`` names (a removal holds the lock too, and
    a run does before its row is written), or another node. The line named ``owner`` alone,
    ``host:pid:nonce``, which no page shows."""
    runs = harvest_runs.c
    run = connection.execute(
        select(runs.id, runs.started).where(runs.source == source, runs.status == RUNNING)
        .order_by(runs.id.desc()).limit(1)
    ).first()
    if run is not None:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(run.started))
        return f"run #{run.id} (started {started} UTC)"
    if owner is None:
        return "another node"
    host, _, rest = owner.partition(":")
    return f"the process {rest.partition(':')[0]} on {host}"


def _take_row(engine: Engine, source: str, owner: str, *, lead: bool) -> None:
    """Name ``owner`` in the source's row: if the row's owner is stale or, with ``lead`` (the
    caller holds the advisory lock), whoever it is."""
    with suppress(IntegrityError):  # created by a concurrent run just now: the row is there
        transaction(engine, partial(_add_row, source), f"adding the lock of source {source!r}")
    taken = transaction(engine, partial(_take, source, owner, lead=lead),
                        f"taking the lock of source {source!r}")  # fmt: skip
    if taken != 1:
        raise SourceBusy(f"source {source!r} was locked by another run just now")


def _add_row(source: str, connection: Connection) -> None:
    present = connection.execute(
        select(harvest_state.c.source).where(harvest_state.c.source == source)
    ).first()
    if present is None:
        connection.execute(insert(harvest_state).values(source=source))


def _take(source: str, owner: str, connection: Connection, *, lead: bool) -> int:
    """:func:`_take_row`'s compare-and-set on ``connection``: how many rows it took (0 or 1)."""
    now = int(time.time())
    row = connection.execute(
        select(harvest_state.c.lock_owner, harvest_state.c.lock_expires).where(
            harvest_state.c.source == source
        )
    ).one()
    if not lead and not _stale(row.lock_owner, row.lock_expires, now):
        raise SourceBusy(f"source {source!r} is being harvested by "
                         f"{_holder_on(connection, source, row.lock_owner)}")
    condition = (
        harvest_state.c.lock_owner.is_(None)
        if row.lock_owner is None
        else harvest_state.c.lock_owner == row.lock_owner
    )
    return int(connection.execute(
        update(harvest_state)
        .where(harvest_state.c.source == source, condition)
        .values(lock_owner=owner, lock_expires=now + LEASE_SECONDS)
    ).rowcount)  # fmt: skip


def renew(connection: Connection, source: str, owner: str) -> None:
    """Extend the lease (on the caller's transaction); raises :class:`TakenOver` if it was
    lost (a page's commit, a run's heartbeat)."""
    renewed = connection.execute(
        update(harvest_state)
        .where(harvest_state.c.source == source, harvest_state.c.lock_owner == owner)
        .values(lock_expires=int(time.time()) + LEASE_SECONDS)
    ).rowcount
    if renewed != 1:
        raise TakenOver(f"another run took source {source!r} over")


def release(engine: Engine, source: str, owner: str) -> None:
    with _held_lock:
        held = _held.pop(owner, None)
    freed = (update(harvest_state)
             .where(harvest_state.c.source == source, harvest_state.c.lock_owner == owner)
             .values(lock_owner=None, lock_expires=None))  # fmt: skip
    try:
        executed(engine, freed, f"releasing the lock of source {source!r}")
    finally:
        if held is not None:
            advisory.unlock(held)
