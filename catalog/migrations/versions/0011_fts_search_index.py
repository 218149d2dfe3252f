"""SQLite: the search index becomes an FTS5 table, one document a record (PostgreSQL: no change).

Each record's rows of ``terms`` become one row of ``search_docs`` (its field numbers a byte each,
its terms joined by line feeds) and one document of the contentless FTS5 table ``search_fts``
(with its vocabulary ``search_vocab``), whose tokens are the field number in two hex digits, then
the term's UTF-8 in hex (``token`` of ``catalog.search_index``, here in SQL); ``terms`` and
``ix_terms_record`` go. The terms are copied as they are, not made again. Measured on SQLite: 4.1 s
for 19,794 records (955,132 terms), the command's start included; the file keeps its size until
VACUUM.

Revision 0011, after 0010.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_FTS = (
    "CREATE VIRTUAL TABLE search_fts USING fts5(tokens, content='', tokenize='ascii', "
    "detail='none', columnsize=0)",
    "CREATE VIRTUAL TABLE search_vocab USING fts5vocab(search_fts, 'row')",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        "search_docs",
        sa.Column("record_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fields", sa.LargeBinary(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("record_id"),
    )
    for statement in _FTS:
        op.execute(statement)
    # Both aggregates of a group read its rows in one order: the nth field goes with the nth term.
    op.execute(
        "INSERT INTO search_docs (record_id, fields, terms) "
        "SELECT record_id, CAST(group_concat(char(field), '') AS BLOB), "
        "group_concat(term, char(10)) FROM terms GROUP BY record_id"
    )
    op.execute(
        "INSERT INTO search_fts (rowid, tokens) "
        "SELECT record_id, group_concat(printf('%02x', field) || lower(hex(term)), ' ') "
        "FROM terms GROUP BY record_id"
    )
    op.drop_index("ix_terms_record", table_name="terms")
    op.drop_table("terms")
