"""Deleting the records a source's whole catalogue, imported again, no longer holds
(``koprik import --replace``).

Many regional centres send their whole catalogue each time rather than their changes: a book
they withdrew is simply not in the next export, and no deletion says so. A run that imports such
an export marks every record it meets (:class:`catalog.written_ids.WrittenIds`, added, updated,
unchanged or deleted alike); afterwards the source's live records it did not meet are deleted,
as a harvest applies a partner's deletions, and leave their union records at the deduplication
that follows.

A record added or changed after the run began (a row of its change history newer than
:func:`latest_change` then: another run of the same source, a cataloguer) is left alone; one
whose formats alone were made again meanwhile (``koprik db renditions``: its MARC is as it was)
is not. The history, not the datestamp, tells it: a datestamp moves too when the deduplication
of another source's records puts a record in a group, and it counts whole seconds, so a record
stored in the second the run began would look like the run's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from sqlalchemy import func, select

from catalog import models
from catalog.db import execute_in
from catalog.renditions_again import ORIGIN as RENDITIONS
from catalog.store import Catalog, CatalogWriter
from catalog.written_ids import WrittenIds

CHUNK = 2000
"""Records looked at, and those of them deleted in one transaction, at a time."""


def latest_change(catalog: Catalog) -> int:
    """The id of the newest row of the records' change history, 0 when it is empty; every
    change written after this call has a greater one (rows are appended, never removed)."""
    with catalog.engine.connect() as connection:
        return connection.execute(select(func.max(models.record_changes.c.id))).scalar() or 0


def delete_unmet(
    catalog: Catalog,
    source: str,
    met: WrittenIds,
    after_change: int,
    progress: Callable[[int, int], None] = lambda looked_at, deleted: None,
) -> int:
    """Delete the live records of ``source`` that are not in ``met`` and have not changed since
    the change ``after_change`` (:func:`latest_change` when the run began), :data:`CHUNK` at a
    time in the order of their ids, calling ``progress`` with the records looked at and those
    deleted after each chunk. Returns how many were deleted. Interrupted, the chunks done stay
    done, and a run again goes on (it meets the same records)."""
    r = models.records
    query = (
        select(r.c.id)
        .where(r.c.source == source, ~r.c.deleted, ~r.c.is_union)
        .order_by(r.c.id)
        .limit(CHUNK)
    )
    deleted = 0
    last = 0
    while True:
        with catalog.engine.connect() as connection:
            ids = connection.execute(query.where(r.c.id > last)).scalars().all()
        if not ids:
            return deleted
        last = ids[-1]
        unmet = [record_id for record_id in ids if record_id not in met]
        done = catalog.write(partial(_delete_unchanged, record_ids=unmet,
                                     after_change=after_change), "import") if unmet else 0
        deleted += done
        progress(len(ids), done)


def _delete_unchanged(writer: CatalogWriter, record_ids: Sequence[int], after_change: int) -> int:
    """Delete those of ``record_ids`` with no change after ``after_change``, in the writer's
    transaction (so a change committed meanwhile is seen); how many were deleted."""
    changed = {row[0] for row in execute_in(
        writer.connection,
        "SELECT DISTINCT record_id FROM record_changes WHERE id > {p} AND origin <> {p} AND "
        "record_id IN ({values})", record_ids, (after_change, RENDITIONS),
    )}
    return writer.delete_ids([record_id for record_id in record_ids if record_id not in changed])
