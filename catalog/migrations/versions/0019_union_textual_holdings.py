"""The union records of groups with textual holdings made again, each member's 866-868 with
the 852 of their location.

A union record kept its base's 866-868 as they were (unlinked, with their nonpublic notes) and
lost the other members'; it now carries every member's, linked by $8 to the 852 they belong to
(:func:`catalog.union.holdings`). A union record is made when its group changes, so as revision
0018 does, the live members of each group one of whose members has an 866, 867 or 868 are
queued for deduplication, which writes its union record again (the next ``koprik dedup``,
import or harvest); the other groups' union records are as the new rules make them already.
Only the directory of each member's bytes is read. No table changes; it tells no progress:
0.66 s for the 20,917 records of the dedup corpus on SQLite, one in ten given an 866 (7,981 of
its 20,089 members queued), and the deduplication after it 6.2 s.

The RUSMARC members' 899 (now their 852, :mod:`crosswalks.unimarc`) cannot be recovered here:
the crosswalk left it out of the MARC21 record stored; they come with the next harvest or
import of their source.

Revision 0019, after 0018.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BATCH = 1000
_TEXTUAL = (b"866", b"867", b"868")


def upgrade() -> None:
    from catalog.store import Catalog, CatalogWriter
    from config import Settings

    connection = op.get_bind()
    attributes = op.get_context().config.attributes
    settings = attributes.get("settings") or Settings()
    records = sa.table("records", sa.column("id", sa.Integer), sa.column("deleted", sa.Boolean),
                       sa.column("union_id", sa.Integer), sa.column("marc", sa.LargeBinary))
    members = (records.c.union_id.is_not(None), ~records.c.deleted)
    groups: set[int] = set()
    last = 0
    while rows := connection.execute(
        sa.select(records.c.id, records.c.union_id, records.c.marc)
        .where(*members, records.c.id > last).order_by(records.c.id).limit(BATCH)
    ).all():  # fmt: skip
        groups.update(row.union_id for row in rows if row.marc and _has_textual(row.marc))
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


def _has_textual(marc: bytes) -> bool:
    """Whether the ISO 2709 directory of ``marc`` names an 866, 867 or 868."""
    if not any(tag in marc for tag in _TEXTUAL):
        return False
    try:
        base = int(marc[12:17])
    except ValueError:
        return False
    return any(marc[at : at + 3] in _TEXTUAL for at in range(24, base - 12, 12))
