"""``set_rules``: the ``[[sets]]`` rules the records' set memberships were placed by, so that
``koprik serve`` refuses a catalogue placed by other rules and ``koprik db sets`` places every
record again (:mod:`catalog.set_rules`).

Revision 0017, after 0016. The table is left empty: the first command that opens the catalogue
records its rules as those the records were placed by (they were, unless ``[[sets]]`` changed
before this release, which the README's upgrade note asks to follow with ``koprik db sets``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "set_rules",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
