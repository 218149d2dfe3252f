"""``harvest_sources.tolerated_shortfall``: how many records an OAI-PMH list of a source added
from the command line or the dashboard may end short of its completeListSize and still be taken
as whole, as a source of ``koprik.toml`` may say (``[[sources]] tolerated_shortfall``). It was
one ``[harvest]`` setting for every source, so that one partner's tolerance hid another's
lost records.

Revision 0022, after 0021. Sources added before it tolerate none (0), as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_sources") as batch:
        batch.add_column(
            sa.Column("tolerated_shortfall", sa.Integer, nullable=False, server_default="0")
        )
