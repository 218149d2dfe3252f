"""Deleting the records a source's whole catalogue, imported again, no longer holds
(``koprik import --replace``).

Many regional centres send their whole catalogue each time rather than their changes: a book
they withdrew is simply not in the next export, and no deletion says so. A run that imports such
an export marks every record it meets (:class:`catalog.written_ids.WrittenIds`, added, updated,
unchanged or deleted alike); afterwards the source's live records it did not meet are deleted,
as a harvest applies a partner's deletions, and leave their union records at the deduplication
that follows.

Only records stored before the run began are deleted: one another run of the same source
stores meanwhile has a later datestamp, and is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sqlalchemy import select

from catalog import models
from catalog.store import Catalog, CatalogWriter
from catalog.written_ids import WrittenIds

CHUNK = 2000
"""Records looked at, and those of them deleted in one transaction, at a time."""


def delete_unmet(
    catalog: Catalog,
    source: str,
    met: WrittenIds,
    before: int,
    looked_at: Callable[[int], None] = lambda n: None,
) -> int:
    """Delete the live records of ``source`` with a datestamp before ``before`` that are not in
    ``met``, :data:`CHUNK` at a time in the order of their ids, calling ``looked_at`` with the
    number of records looked at after each chunk. Returns how many were deleted. Interrupted,
    the chunks done stay done, and a run again goes on (it meets the same records)."""
    r = models.records
    query = (
        select(r.c.id)
        .where(r.c.source == source, ~r.c.deleted, ~r.c.is_union, r.c.datestamp < before)
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
        if unmet:
            deleted += catalog.write(partial(CatalogWriter.delete_ids, record_ids=unmet), "import")
        looked_at(len(ids))
