"""``harvest_state.done_sets``: the sets an unfinished OAI-PMH run (and the runs it resumed)
finished, saved with each page, so that a resumed run asks for every other set of the source
and skips only those.

Revision 0013, after 0012. A position saved before it has none: the run that resumes it asks
again for the sets before the one it stood in (their records come back unchanged), rather
than guess which of them the stopped run had finished.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("harvest_state") as batch:
        batch.add_column(sa.Column("done_sets", sa.Text(), nullable=True))
