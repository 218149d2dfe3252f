"""Every union record made again (every holding, a base in one script); the match keys and
profiles of the records whose main entry is romanized from the Arabic script made again.

A union record held one 852 per institution, from its member's first 852; it now holds one for
each 852 of each member (each branch, location or copy), else for each Koha item (952)
(:func:`catalog.union.holdings`), and its base is the most complete member in the script of
the oldest member's title (:func:`catalog.union.base`), not in any script. A union record is
made when its group changes, so those written before would stay as they are until then: the
live members of every group are queued for deduplication, which finds each still fitting its
group and writes its union record again (the next ``koprik dedup``, import or harvest).

The main author of a match profile (and the ``ay`` key) is now folded from the name as Uzbek
writes it (:func:`catalog.match_keys.uzbek_form`: Nawāʼī is Navoiy): the records whose main
entry that changes are rekeyed (and so queued too). Only records whose bytes hold an ā, ī, w
or combining macron are read as MARC. No table changes; it tells no progress (the progress
lines of ``koprik db upgrade`` are revisions 0015 and 0016's): 0.9 s for the 20,917 records of
the dedup corpus on SQLite, and the deduplication after it 15.0 s for their 20,089 members.

Revision 0018, after 0017.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BATCH = 1000
_MAYBE = (b"\xc4\x81", b"\xc4\x80", b"\xc4\xab", b"\xc4\xaa", b"\xcc\x84", b"w", b"W")
"""UTF-8 bytes without which no name changes: ā Ā ī Ī, a combining macron, w W."""


def upgrade() -> None:
    from catalog.store import Catalog, CatalogWriter
    from config import Settings

    connection = op.get_bind()
    attributes = op.get_context().config.attributes
    settings = attributes.get("settings") or Settings()
    records = sa.table("records", sa.column("id", sa.Integer), sa.column("deleted", sa.Boolean),
                       sa.column("is_union", sa.Boolean), sa.column("union_id", sa.Integer),
                       sa.column("marc", sa.LargeBinary))  # fmt: skip
    live = (~records.c.deleted, ~records.c.is_union, records.c.marc.is_not(None))
    writer = CatalogWriter(Catalog(connection.engine, settings.sets, settings=settings),
                           connection, "upgrade")  # fmt: skip
    last = 0
    while rows := connection.execute(
        sa.select(records.c.id, records.c.marc).where(*live, records.c.id > last)
        .order_by(records.c.id).limit(BATCH)
    ).all():  # fmt: skip
        writer.rekey([row.id for row in rows if _name_changes(row.marc)])
        last = rows[-1].id
    members = list(connection.execute(
        sa.select(records.c.id).where(records.c.union_id.is_not(None), ~records.c.deleted)
        .order_by(records.c.id)
    ).scalars())  # fmt: skip
    for start in range(0, len(members), BATCH):
        writer.queue_dedup(members[start : start + BATCH])


def _name_changes(marc: bytes) -> bool:
    """Whether the main entry of a record is another name as Uzbek writes it."""
    if not any(part in marc for part in _MAYBE):
        return False
    from pymarc import Record

    from catalog.match_keys import uzbek_form

    record = Record(data=marc, force_utf8=True)
    for main in record.get_fields("100", "110", "111"):
        name = unicodedata.normalize("NFC", main.get("a") or "")
        if uzbek_form(name) != name:
            return True
    return False
