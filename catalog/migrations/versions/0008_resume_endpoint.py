"""What a saved harvest position is a position in: ``harvest_state.endpoint`` (the protocol,
address and format the source was asked in when the position was saved).

Revision 0008, after 0007. It starts empty: a position saved before it names no address and is
resumed as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_state") as batch:
        batch.add_column(sa.Column("endpoint", sa.Text(), nullable=True))
