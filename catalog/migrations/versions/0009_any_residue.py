"""Index ``any`` keeps only what no other index has: its rows that repeat, for the same record,
a term another index of the same kind (word or phrase) has are deleted.

``any`` is answered from every field of its kind since this revision (``ANSWERING`` in
``catalog.search_index``), so those rows are redundant; they were a third of the index.
Field numbers are those of revision 0007 (any words 21, any phrases 22; the other indexes'
words odd below 21, phrases even below 22). Each row is checked by one seek of
``ix_terms_record``. Measured on SQLite: 3.7 s for 19,794 records (1,415,737 rows, 460,605 of
them deleted; the file keeps its size until VACUUM).

Revision 0009, after 0008.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ANY = {"w": 21, "p": 22}
"""The field of ``any``'s words and phrases; every other field below of the same parity is the
same kind's."""


def upgrade() -> None:
    terms = sa.table("terms", sa.column("field"), sa.column("term"), sa.column("record_id"))
    other = terms.alias("other")
    for field in ANY.values():
        copied = sa.exists().where(
            other.c.record_id == terms.c.record_id,
            other.c.field.in_(range(field - 20, field, 2)),
            other.c.term == terms.c.term,
        )
        op.execute(terms.delete().where(terms.c.field == field, copied))
