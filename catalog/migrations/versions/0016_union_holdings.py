"""Every union record made again: every holding of its members, a base in one script.

A union record held one 852 per institution, from its member's first 852; it now holds one for
each 852 of each member (each branch, location or copy), else for each Koha item (952)
(:func:`catalog.union.holdings`), and its base is the most complete member in the script of
the oldest member's title (:func:`catalog.union.base`), not in any script. A union record is
made when its group changes, so those written before would stay as they are until then: the
live members of every group are queued for deduplication, which finds each still fitting its
group and writes its union record again (the next ``koprik dedup``, import or harvest). No
table changes.

Revision 0016, after 0015.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    from catalog.store import Catalog, CatalogWriter
    from config import Settings

    connection = op.get_bind()
    attributes = op.get_context().config.attributes
    settings = attributes.get("settings") or Settings()
    report = attributes.get("progress") or (lambda _done, _total: None)
    records = sa.table("records", sa.column("id", sa.Integer), sa.column("deleted", sa.Boolean),
                       sa.column("union_id", sa.Integer))  # fmt: skip
    ids = list(connection.execute(
        sa.select(records.c.id).where(records.c.union_id.is_not(None), ~records.c.deleted)
        .order_by(records.c.id)
    ).scalars())  # fmt: skip
    writer = CatalogWriter(Catalog(connection.engine, settings.sets, settings=settings),
                           connection, "upgrade")  # fmt: skip
    for start in range(0, len(ids), BATCH):
        writer.queue_dedup(ids[start : start + BATCH])
        report(min(start + BATCH, len(ids)), len(ids))

