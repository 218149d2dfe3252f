"""Every live record's search terms and match keys made again by this release's rules.

The fold key now reads every y as i (``navoiy`` is ``navoii``, ``voyna`` and the ALA-LC ``voĭna``
typed without its breve are ``voina``) and the Turkish dotless ı as i: the terms and the folded
match keys (title, author) of a record holding such a letter were made by the earlier rules, so
that ``navoiy`` or ``война`` found nothing in a catalogue indexed before, and a new copy of such
a record was not matched with it. The match profiles gain the main author's forename initial
and the volume a title names, which the union catalogue's vetoes compare (a profile written
before has neither, and the veto waits for it). No table changes: the terms are made again
from each stored record (as ``koprik db reindex`` makes them), the match keys and profiles too
(by the ``[dedup]`` settings ``koprik db upgrade`` read), and every record rekeyed is queued
for deduplication, which the next ``koprik dedup``, import or harvest works through. Measured
on SQLite, 19,794 records: see README.md, Upgrading.

Revision 0015, after 0014.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    from catalog.search_index import rebuild_in
    from catalog.store import Catalog, CatalogWriter
    from config import Settings

    connection = op.get_bind()
    attributes = op.get_context().config.attributes
    settings = attributes.get("settings") or Settings()
    report = attributes.get("progress") or (lambda _done, _total: None)
    records = sa.table("records", sa.column("id", sa.Integer), sa.column("is_union", sa.Boolean),
                       sa.column("deleted", sa.Boolean), sa.column("union_id", sa.Integer),
                       sa.column("marc", sa.LargeBinary))  # fmt: skip
    indexed = connection.execute(
        sa.select(sa.func.count()).where(~records.c.deleted, records.c.union_id.is_(None),
                                         records.c.marc.is_not(None))
    ).scalar_one()  # fmt: skip
    ids = list(connection.execute(
        sa.select(records.c.id).where(~records.c.is_union).order_by(records.c.id)
    ).scalars())  # fmt: skip
    total = indexed + len(ids)
    rebuild_in(connection, batch=BATCH, progress=lambda done: report(done, total))
    writer = CatalogWriter(Catalog(connection.engine, settings.sets, settings=settings),
                           connection, "upgrade")  # fmt: skip
    for start in range(0, len(ids), BATCH):
        writer.rekey(ids[start : start + BATCH])
        report(indexed + min(start + BATCH, len(ids)), total)
