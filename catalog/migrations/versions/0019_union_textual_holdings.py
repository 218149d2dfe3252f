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

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_TEXTUAL = (b"866", b"867", b"868")


def upgrade() -> None:
    from catalog.union_requeue import queue_groups_holding
    from config import Settings

    settings = op.get_context().config.attributes.get("settings") or Settings()
    queue_groups_holding(op.get_bind(), settings, _TEXTUAL)
