"""``harvest_sources.crosswalk``: a source added from the command line may say that its MARC
records are UNIMARC (``unimarc`` or ``rusmarc``), converted to MARC21 as they are harvested.

Revision 0014, after 0013. Sources added before it had none (the setting was refused): empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_sources") as batch:
        batch.add_column(
            sa.Column("crosswalk", sa.String(20), nullable=False, server_default="")
        )
