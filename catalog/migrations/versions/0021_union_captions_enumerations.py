"""The union records of groups with captions and patterns (853-855) or enumeration and
chronology (863-865) made again, each member's with the 852 of their location.

A union record kept its base's 853-855 and 863-865 as they were (unlinked, the 863-865 with
their nonpublic notes) and lost the other members'; it now carries every member's, linked by
$8 to the 852 they belong to as their 866-868 are (:func:`catalog.union.holdings`). The live
members of each group one of whose members has an 853-855 or 863-865 are queued for
deduplication, which writes its union record again
(:func:`catalog.union_requeue.queue_groups_holding`, as revision 0019 does for 866-868). No
table changes; it tells no progress: 0.84 s for the 20,917 records of the dedup corpus on
SQLite, one in ten given an 853 and two 863 (7,981 of its 20,089 members queued), and the
deduplication after it 3.2 s.

Revision 0021, after 0020.
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_CAPTIONS_AND_ENUMERATIONS = (b"853", b"854", b"855", b"863", b"864", b"865")


def upgrade() -> None:
    from catalog.union_requeue import queue_groups_holding
    from config import Settings

    settings = op.get_context().config.attributes.get("settings") or Settings()
    queue_groups_holding(op.get_bind(), settings, _CAPTIONS_AND_ENUMERATIONS)
