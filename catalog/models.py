"""The catalogue's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

``records`` holds each record's canonical MARC21 (ISO 2709, UTF-8) and its OAI datestamp as
whole seconds since the epoch (UTC). ``(datestamp, id)`` is the order of every OAI-PMH list and
is indexed, so paging is a keyset seek. ``record_sets`` repeats the datestamp so that a list
restricted to one set is also a single index range.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("local_id", String(255), nullable=False, unique=True),
    Column("datestamp", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("marc", LargeBinary, nullable=True),
    Column("digest", String(64), nullable=False),
    Column("set_specs", Text, nullable=False, default=""),
    Column("source", String(100), nullable=True),
    Column("source_identifier", String(1000), nullable=True),
    UniqueConstraint("source", "source_identifier", name="uq_records_source_identifier"),
    Index("ix_records_datestamp_id", "datestamp", "id"),
)

renditions = Table(
    "renditions",
    metadata,
    Column("record_id", Integer, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True),
    Column("format", String(16), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

record_sets = Table(
    "record_sets",
    metadata,
    Column("set_spec", String(255), primary_key=True),
    Column("datestamp", BigInteger, primary_key=True),
    Column("record_id", Integer, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_record_sets_record", "record_id"),
)

sets = Table(
    "sets",
    metadata,
    Column("spec", String(255), primary_key=True),
    Column("name", String(500), nullable=False),
)

provenance = Table(
    "provenance",
    metadata,
    Column("record_id", Integer, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(100), nullable=False),
    Column("base_url", String(1000), nullable=False),
    Column("identifier", String(1000), nullable=False),
    Column("datestamp", String(32), nullable=False),
    Column("metadata_namespace", String(500), nullable=False),
    Column("payload", LargeBinary, nullable=True),
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)
"""Keys made once per catalogue and shared by every node on it (the OAI token key)."""

users = Table(
    "users",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("token_hash", String(64), nullable=True, unique=True),
    Column("created", BigInteger, nullable=False),
)
"""Dashboard operators: an Argon2id password hash (never the password) and the SHA-256 of
their API token, if one was made (``koprik users``)."""

user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user", String(100), ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("expires", BigInteger, nullable=False),
)
"""Signed-in dashboard sessions, by the SHA-256 of the cookie's value: any node can check one,
and signing out ends it everywhere."""
