"""What a revision does when the fold key reads some letters otherwise: the search terms and
match keys of the records holding them made again, the others left as they are (revisions 0016
and 0025).

Every record is read, a batch at a time, and only its stored bytes compared (none is parsed);
those holding one of the letters are indexed and keyed again (the match keys by the ``[dedup]``
settings ``koprik db upgrade`` read), and each one rekeyed is queued for deduplication.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BATCH = 1000


def remake_records_holding(letters: tuple[bytes, ...]) -> None:
    """Index and key again the records whose stored MARC (UTF-8) holds any of ``letters``."""
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
        holding += [row.id for row in rows if any(letter in row.marc for letter in letters)]
        done, after = done + len(rows), rows[-1].id
        report(done, total)
    writer = CatalogWriter(Catalog(connection.engine, settings.sets, settings=settings),
                           connection, "upgrade")  # fmt: skip
    for start in range(0, len(holding), BATCH):
        rebuild_records(connection, holding[start : start + BATCH])
        writer.rekey(holding[start : start + BATCH])
