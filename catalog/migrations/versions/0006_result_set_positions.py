"""Where an SRU or Z39.50 harvest stands: ``harvest_state.query`` and ``harvest_state.hits``
(the next record position goes in ``cursor``, beside an OAI-PMH list's).

Revision 0006, after 0005. Both columns start empty: no run is in progress over a result set.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_state") as batch:
        batch.add_column(sa.Column("query", sa.Text(), nullable=True))
        batch.add_column(sa.Column("hits", sa.Integer(), nullable=True))
