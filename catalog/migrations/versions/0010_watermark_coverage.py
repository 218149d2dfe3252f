"""What a source's watermark covers: ``harvest_state.watermark_endpoint`` (the protocol, address
and format its lists were asked in) and ``harvest_state.watermark_sets`` (the sets harvested,
space-separated; empty: the whole repository).

Revision 0010, after 0009. Both start empty: a watermark moved before this revision records
neither, and is taken as covering the source's sets and endpoint as they are (the upgrade
starts no full harvest).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_state") as batch:
        batch.add_column(sa.Column("watermark_endpoint", sa.Text(), nullable=True))
        batch.add_column(sa.Column("watermark_sets", sa.Text(), nullable=True))
