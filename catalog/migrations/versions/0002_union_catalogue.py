"""The union catalogue: match keys, the dedup queue, decisions and pairs, union records.

Revision 0002, after 0001. ``records`` gains ``union_id`` (the union record a member belongs
to), ``is_union`` and ``match_profile``; harvest sources added from the command line gain their
institution's code and name. Records stored before this revision have no match keys yet: run
``koprik dedup --all`` once after the upgrade to compute them and build the union records.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dedup_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dedup_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_dedup_decisions_record", ["record_id"], unique=False)

    op.create_table(
        "dedup_pairs",
        sa.Column("record_a", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("record_b", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("record_a", "record_b"),
    )
    with op.batch_alter_table("dedup_pairs", schema=None) as batch_op:
        batch_op.create_index("ix_dedup_pairs_state", ["state"], unique=False)

    op.create_table(
        "dedup_queue",
        sa.Column("record_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("queued_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_table(
        "match_keys",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", "record_id"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("match_keys", schema=None) as batch_op:
        batch_op.create_index("ix_match_keys_record", ["record_id"], unique=False)

    op.create_table(
        "union_ids",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("harvest_sources", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("institution_code", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("institution_name", sa.String(length=500), nullable=False, server_default="")
        )

    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("union_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("is_union", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("match_profile", sa.Text(), nullable=True))
        batch_op.create_index("ix_records_union_id", ["union_id"], unique=False)
