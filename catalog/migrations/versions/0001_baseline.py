"""The baseline: the catalogue schema as Koprik made it before revisions were kept.

A catalogue made then (every table below, no ``alembic_version``) is recognised by
:func:`catalog.schema.upgrade`, stamped with this revision and upgraded from here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "harvest_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started", sa.BigInteger(), nullable=False),
        sa.Column("finished", sa.BigInteger(), nullable=True),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("from_", sa.String(length=32), nullable=True),
        sa.Column("until", sa.String(length=32), nullable=True),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_harvest_runs_source", "harvest_runs", ["source", "id"], unique=False)
    op.create_table(
        "harvest_sources",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("protocol", sa.String(length=20), nullable=False),
        sa.Column("prefix", sa.String(length=50), nullable=False),
        sa.Column("sets", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("charset", sa.String(length=50), nullable=False),
        sa.Column("every", sa.String(length=50), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("delay", sa.Float(), nullable=False),
        sa.Column("timeout", sa.Float(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "harvest_state",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("watermark", sa.String(length=32), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("first_response_date", sa.String(length=32), nullable=True),
        sa.Column("run_from", sa.String(length=32), nullable=True),
        sa.Column("run_until", sa.String(length=32), nullable=True),
        sa.Column("set_spec", sa.String(length=255), nullable=True),
        sa.Column("window_from", sa.String(length=32), nullable=True),
        sa.Column("window_until", sa.String(length=32), nullable=True),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("cursor", sa.Integer(), nullable=True),
        sa.Column("failed_windows", sa.Integer(), nullable=False),
        sa.Column("lock_owner", sa.String(length=200), nullable=True),
        sa.Column("lock_expires", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("local_id", sa.String(length=255), nullable=False),
        sa.Column("datestamp", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("marc", sa.LargeBinary(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("set_specs", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("source_identifier", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("local_id"),
        sa.UniqueConstraint("source", "source_identifier", name="uq_records_source_identifier"),
    )
    op.create_index("ix_records_datestamp_id", "records", ["datestamp", "id"], unique=False)
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "sets",
        sa.Column("spec", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("spec"),
    )
    op.create_table(
        "terms",
        sa.Column("index_name", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column(
            "term",
            sa.String(length=200).with_variant(sa.String(length=200, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("index_name", "kind", "term", "record_id"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_terms_record", "terms", ["record_id"], unique=False)
    op.create_table(
        "harvest_rejects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("identifier", sa.String(length=1000), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["harvest_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_harvest_rejects_source", "harvest_rejects", ["source", "id"], unique=False)
    op.create_table(
        "provenance",
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("base_url", sa.String(length=1000), nullable=False),
        sa.Column("identifier", sa.String(length=1000), nullable=False),
        sa.Column("datestamp", sa.String(length=32), nullable=False),
        sa.Column("metadata_namespace", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("record_id"),
    )
    op.create_table(
        "record_sets",
        sa.Column("set_spec", sa.String(length=255), nullable=False),
        sa.Column("datestamp", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("set_spec", "datestamp", "record_id"),
    )
    op.create_index("ix_record_sets_record", "record_sets", ["record_id"], unique=False)
    op.create_table(
        "renditions",
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("record_id", "format"),
    )
