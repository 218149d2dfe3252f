"""Union records made again after a schema revision: a revision that changes how members'
fields reach union records queues the groups one of whose members holds such a field.

A union record is made when its group changes, so one written before the change would stay as
it was; the live members of each group concerned are queued for deduplication, which finds
each still fitting its group and writes its union record again (the next ``koprik dedup``,
import or harvest). The other groups' union records are as the new rules make them already.
Only the directory of each member's stored bytes is read.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy import Connection

from config import Settings

BATCH = 1000


def queue_groups_holding(connection: Connection, settings: Settings,
                         tags: Collection[bytes]) -> None:
    """Queue for deduplication the live members of each group one of whose live members'
    directory names one of ``tags`` (three ASCII bytes each)."""
    from catalog.store import Catalog, CatalogWriter

    records = sa.table("records", sa.column("id", sa.Integer), sa.column("deleted", sa.Boolean),
                       sa.column("union_id", sa.Integer), sa.column("marc", sa.LargeBinary))
    members = (records.c.union_id.is_not(None), ~records.c.deleted)
    groups: set[int] = set()
    last = 0
    while rows := connection.execute(
        sa.select(records.c.id, records.c.union_id, records.c.marc)
        .where(*members, records.c.id > last).order_by(records.c.id).limit(BATCH)
    ).all():  # fmt: skip
        groups.update(row.union_id for row in rows if row.marc and _names(row.marc, tags))
        last = rows[-1].id
    writer = CatalogWriter(Catalog(connection.engine, settings.sets, settings=settings),
                           connection, "upgrade")  # fmt: skip
    ordered = sorted(groups)
    for start in range(0, len(ordered), BATCH):
        writer.queue_dedup(list(connection.execute(
            sa.select(records.c.id)
            .where(*members, records.c.union_id.in_(ordered[start : start + BATCH]))
            .order_by(records.c.id)
        ).scalars()))  # fmt: skip


def _names(marc: bytes, tags: Collection[bytes]) -> bool:
    """Whether the ISO 2709 directory of ``marc`` has an entry for one of ``tags``."""
    if not any(tag in marc for tag in tags):
        return False
    try:
        base = int(marc[12:17])
    except ValueError:
        return False
    return any(marc[at : at + 3] in tags for at in range(24, base - 12, 12))
