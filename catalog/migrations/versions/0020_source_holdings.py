"""``harvest_sources.holdings``: a source added from the command line or the dashboard may say
that its records name the institution holding each copy (``named``: a regional centre's feed
of its libraries' records), as a source of ``koprik.toml`` may (:data:`config.settings.HOLDINGS`).

Revision 0020, after 0019. Sources added before it are their institution's: ``source``. No
union record changes until an operator switches a source (then ``koprik dedup --all --source
NAME``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_sources") as batch:
        batch.add_column(
            sa.Column("holdings", sa.String(20), nullable=False, server_default="source")
        )
