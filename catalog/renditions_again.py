"""Making every stored record's served formats again, once Koprik's crosswalks have changed.

A record's renditions (:mod:`catalog.renditions`: oai_dc, marc21, mods) are made once, when it
is written, and served as stored. A crosswalk improved later (a MODS note's ``xlink:href``, an
abstract's ``displayLabel``) reaches the records written after it only. ``koprik db
renditions`` (:func:`make_again`) makes those of every live record again from its canonical
MARC and writes the ones that come out otherwise.

Datestamps. A record whose served metadata changes gets a new datestamp, as the protocol asks
(OAI-PMH 2.0, 2.7.1), and so do its set memberships: an incremental harvester takes it again.
A member of a union record is served as deleted (its union record is served instead), which
its new formats do not change: they are written and it keeps its datestamp, so that harvesters
are not sent the deletion of every member again.
A record whose formats come out as stored keeps its datestamp and its history: a run after an
upgrade that changed no crosswalk writes nothing, and a run stopped midway (a crash, a ^C)
and started again finds its batches done unchanged. Each record changed gets an ``updated``
change of origin ``renditions`` in its history, at its new datestamp.

Each batch is a transaction that is the catalogue's one writer (:func:`hold_writes`): a
harvest or an import writing one of its records waits, and then writes that record's
renditions of its own, from the MARC it brings. A second run at once, on another node, finds
the batches the first wrote unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

from sqlalchemy import Connection, Engine, Row, select

from catalog import models
from catalog.db import execute_in, insert_rows
from catalog.renditions import make_renditions
from catalog.restamp import restamp_after_commit
from catalog.search_index import read_canonical
from catalog.store import Outcome
from catalog.transactions import hold_writes, transaction_then

log = logging.getLogger(__name__)

BATCH = 500
"""Records made again in each transaction of :func:`make_again`."""

ORIGIN = "renditions"
"""The origin of the changes :func:`make_again` adds to records' histories."""

WHAT = "making the records' formats again"


class Remade(NamedTuple):
    """What :func:`make_again` did."""

    looked: int
    """The live records whose formats were made again."""
    changed: int
    """Those whose formats came out otherwise than stored (each with a new datestamp, but
    for a union record's member)..."""
    members: int
    """... of which members of a union record, which keep their datestamps."""
    unreadable: int
    """Those whose stored MARC could not be read, or made no marc21: left as they were."""


def make_again(
    engine: Engine, *, batch: int = BATCH,
    progress: Callable[[Remade], None] | None = None,
) -> Remade:
    """Make the renditions of every live record again, ``batch`` records a transaction
    (harvests and searches go on meanwhile), writing those that changed (module docstring).
    ``progress`` is told the counts so far after each batch."""
    after, done = 0, Remade(0, 0, 0, 0)
    while True:
        step = transaction_then(engine, partial(_make_batch, after=after, batch=batch),
                                partial(_restamped, engine), WHAT)  # fmt: skip
        if step is None:
            return done
        done = Remade(done.looked + step.looked, done.changed + len(step.changed),
                      done.members + step.members, done.unreadable + step.unreadable)  # fmt: skip
        after = step.last
        if progress is not None:
            progress(done)


def _restamped(engine: Engine, step: _Step | None) -> None:
    """A batch's records given a new datestamp moved to the second its COMMIT ended in."""
    if step is not None and step.served:
        restamp_after_commit(engine, step.served, step.stamped)


class _Step(NamedTuple):
    """What one batch of :func:`make_again` did."""

    last: int
    """The id of the batch's last record."""
    looked: int
    unreadable: int
    changed: list[int]
    """The ids of the records whose renditions were written, ..."""
    served: list[int]
    """... those of them not members of a union record, ..."""
    stamped: int
    """... and the new datestamp of these."""

    @property
    def members(self) -> int:
        """How many records changed are members of a union record (their datestamps kept)."""
        return len(self.changed) - len(self.served)


def _make_batch(connection: Connection, after: int, batch: int) -> _Step | None:
    """Make the renditions of the next ``batch`` live records after id ``after`` again, and
    write those that changed; None when no record is left."""
    hold_writes(connection)
    r = models.records
    rows = connection.execute(
        select(r.c.id, r.c.local_id, r.c.marc, r.c.digest, r.c.source, r.c.union_id)
        .where(r.c.id > after, ~r.c.deleted, r.c.marc.is_not(None))
        .order_by(r.c.id).limit(batch)
    ).all()  # fmt: skip
    if not rows:
        return None
    stored: dict[int, dict[str, bytes]] = {}
    for rendition in execute_in(connection, "SELECT record_id, format, data FROM renditions "
                                "WHERE record_id IN ({values})", [row.id for row in rows]):
        stored.setdefault(rendition.record_id, {})[rendition.format] = bytes(rendition.data)
    changed: list[tuple[Row, dict[str, bytes]]] = []  # type: ignore[type-arg]
    unreadable = 0
    for row in rows:
        made = _made(row.id, row.local_id, row.marc)
        if made is None:
            unreadable += 1
        elif made != stored.get(row.id, {}):
            changed.append((row, made))
    served = [row.id for row, _ in changed if row.union_id is None]
    now = _write(connection, changed, served)
    return _Step(rows[-1].id, len(rows), unreadable, [row.id for row, _ in changed], served, now)


def _made(record_id: int, local_id: str, marc: bytes) -> dict[str, bytes] | None:
    """The renditions of the stored MARC ``marc``; None (said in the log) when it cannot be
    read or makes no marc21, the format every record is served in: its renditions are left."""
    try:
        record = read_canonical(marc)
    except Exception:  # pymarc raises many kinds on a record it cannot read
        log.warning("record %s: its stored MARC cannot be read; its formats are left", record_id)
        return None
    made = make_renditions(record, local_id)
    if "marc21" not in made:
        log.warning("record %s: no marc21 made of its stored MARC; its formats are left",
                    record_id)
        return None
    return made


def _write(
    connection: Connection,
    changed: Sequence[tuple[Row, dict[str, bytes]]],  # type: ignore[type-arg]
    served: Sequence[int],
) -> int:
    """Replace the renditions of the records ``changed`` (each row with what was made of it),
    give those ``served`` (no union's members) and their set memberships a new datestamp, and
    add the change to every one's history; returns the datestamp."""
    if not changed:
        return 0
    ids = [row.id for row, _ in changed]
    execute_in(connection, "DELETE FROM renditions WHERE record_id IN ({values})", ids)
    insert_rows(connection, models.renditions, ("record_id", "format", "data"),
                [(row.id, prefix, data) for row, made in changed for prefix, data in made.items()])
    now = int(time.time())  # as late as can be: a harvest running meanwhile must not page past it
    execute_in(connection, "UPDATE records SET datestamp = {p} WHERE id IN ({values})", served,
               (now,))  # fmt: skip
    execute_in(connection, "UPDATE record_sets SET datestamp = {p} WHERE record_id IN ({values})",
               served, (now,))  # fmt: skip
    insert_rows(connection, models.record_changes,
                ("record_id", "datestamp", "outcome", "origin", "source", "run_id",
                 "previous_digest"),
                [(row.id, now, str(Outcome.UPDATED), ORIGIN, row.source, None, row.digest)
                 for row, _ in changed])  # fmt: skip
    return now
