"""``harvest_runs.gone``: the deletions a run was sent of records the catalogue does not hold
(never harvested, or deleted already), which it counted as unchanged before.

Revision 0012, after 0011. Runs recorded before it keep their counts: their ``unchanged`` may
hold such deletions, which cannot be told apart afterwards, and their ``gone`` is 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_runs") as batch:
        batch.add_column(sa.Column("gone", sa.Integer(), nullable=False, server_default="0"))

