"""The search terms and match keys of the records holding a look-alike of the apostrophe made
again.

The fold key now reads the look-alikes of the Uzbek apostrophe that fonts, converters and other
keyboards give, ‛ (U+201B), ＇ (U+FF07), ʽ (U+02BD) and ˈ (U+02C8), as it reads ' ’ ‘ ` ʻ ʼ
(``o‛zbekiston`` is ``ozbekiston``): before, ‛ and ＇ split a word in two (``o zbekiston``) and
ʽ and ˈ stayed in the key, so that such a record was found by neither oʻzbekiston nor
ўзбекистон, nor matched with another copy. Only the records whose stored MARC holds one of the
four letters change: every record is read (a batch at a time, the records' bytes compared, none
parsed) and those are indexed and keyed again, as revision 0016 does for the acute accent (the
match keys by the ``[dedup]`` settings ``koprik db upgrade`` read; each record rekeyed is
queued for deduplication). No table changes.

Revision 0025, after 0024.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

BATCH = 1000
LOOK_ALIKES = tuple(letter.encode() for letter in "\u201b\uff07\u02bd\u02c8")
"""The letters this release folds otherwise, as the stored MARC (UTF-8) holds them."""


def upgrade() -> None:
    from catalog.search_index import rebuild_records
    from catalog.store import Catalog, CatalogWriter
    from config import Settings

    connection = op.get_bind()
    attributes = op.get_context().config.attributes
    settings = attributes.get("settings") or Settings()
    report = attributes.get("progress") or (lambda _done, _total: None)
    records = sa.table("records", sa.column("id", sa.Integer), sa.column("marc", sa.LargeBinary))
    stored = records.c.marc.is_not(None)
    total = connection.execute(sa.select(sa.func.count()).where(stored)).scalar_one()
    holding: list[int] = []
    done, after = 0, 0
    while rows := connection.execute(
        sa.select(records.c.id, records.c.marc)
        .where(stored, records.c.id > after).order_by(records.c.id).limit(BATCH)
    ).all():  # fmt: skip
        holding += [row.id for row in rows if any(letter in row.marc for letter in LOOK_ALIKES)]
        done, after = done + len(rows), rows[-1].id
        report(done, total)
    writer = CatalogWriter(Catalog(connection.engine, settings.sets, settings=settings),
                           connection, "upgrade")  # fmt: skip
    for start in range(0, len(holding), BATCH):
        rebuild_records(connection, holding[start : start + BATCH])
        writer.rekey(holding[start : start + BATCH])
