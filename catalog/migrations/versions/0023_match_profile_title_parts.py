"""The match profiles of the records they no longer fit made again: those whose title has a
remainder (245 $b) or a part's name (245 $p), or whose edition statement names its number in
words.

A profile now holds the remainders of the title and the part's name, which the matcher compares
("Matematika : darslik" is not "Matematika : masalalar toʻplami", "2-jild, Sheʼrlar" not
"2-jild, Dostonlar"), and reads an ordinal word of an edition as its number ("oltinchi nashr"
is "6-nashr"). A profile stored before lacks them, so that a group formed by the earlier rules
would stay as it is: every live record is read (a batch at a time, parsed) and those whose
profile is now another are rekeyed (their match keys and profile made again by the ``[dedup]``
settings ``koprik db upgrade`` read), and so queued for deduplication, which takes a member out
of a group it no longer fits and lets the copies of an edition named in words meet. No table
changes.

Revision 0023, after 0022.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    from pymarc import Record

    from catalog.match_keys import match_data
    from catalog.store import Catalog, CatalogWriter
    from config import Settings

    connection = op.get_bind()
    attributes = op.get_context().config.attributes
    settings = attributes.get("settings") or Settings()
    report = attributes.get("progress") or (lambda _done, _total: None)
    dedup = settings.dedup
    records = sa.table("records", sa.column("id", sa.Integer), sa.column("deleted", sa.Boolean),
                       sa.column("is_union", sa.Boolean), sa.column("marc", sa.LargeBinary),
                       sa.column("match_profile", sa.Text))  # fmt: skip
    live = (~records.c.deleted, ~records.c.is_union, records.c.marc.is_not(None))
    total = connection.execute(sa.select(sa.func.count()).where(*live)).scalar_one()
    changed: list[int] = []
    done, after = 0, 0
    while rows := connection.execute(
        sa.select(records.c.id, records.c.marc, records.c.match_profile)
        .where(*live, records.c.id > after).order_by(records.c.id).limit(BATCH)
    ).all():  # fmt: skip
        for row in rows:
            _, profile = match_data(Record(data=row.marc, force_utf8=True),
                                    dedup.control_prefixes, dedup.title_key_chars)
            if profile.to_json() != row.match_profile:
                changed.append(row.id)
        done, after = done + len(rows), rows[-1].id
        report(done, total)
    writer = CatalogWriter(Catalog(connection.engine, settings.sets, settings=settings),
                           connection, "upgrade")  # fmt: skip
    for start in range(0, len(changed), BATCH):
        writer.rekey(changed[start : start + BATCH])
