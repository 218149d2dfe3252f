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
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    or_,
)

metadata = MetaData()

ENGINES = "engines"
"""A table's ``info`` key naming the only database engines (dialect names) that have it; a
table without it is on every engine (:func:`catalog.db.all_tables`)."""

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
    Column("union_id", Integer, nullable=True),
    Column("is_union", Boolean, nullable=False, default=False),
    Column("match_profile", Text, nullable=True),
    UniqueConstraint("source", "source_identifier", name="uq_records_source_identifier"),
    Index("ix_records_datestamp_id", "datestamp", "id"),
    Index("ix_records_union_id", "union_id"),
)
"""``source`` is None for the repository's own records, else a harvest source, a file source
(``koprik import --source``) or ``003:CODE`` (a record another organization made). A member of
a union group has ``union_id``, the id of its union record (a row with ``is_union``); members
are not served by themselves (see :func:`hidden`). ``match_profile`` is the JSON
:class:`catalog.match_keys.Profile` the matcher compares."""


def hidden() -> ColumnElement[bool]:
    """True for a row served as deleted: deleted, or a member of a union record."""
    return or_(records.c.deleted, records.c.union_id.is_not(None))


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

set_rules = Table(
    "set_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("rules", Text, nullable=False),
)
"""One row (``id`` 1): the ``[[sets]]`` rules the records' set memberships were placed by, as
:func:`catalog.set_rules.described` says them (JSON; :mod:`catalog.set_rules`)."""

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

match_keys = Table(
    "match_keys",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("record_id", Integer, primary_key=True),
    Index("ix_match_keys_record", "record_id"),
    sqlite_with_rowid=False,
)
"""Each live record's match keys (:mod:`catalog.match_keys`), looked up by ``(kind, key)``."""

dedup_queue = Table(
    "dedup_queue",
    metadata,
    Column("record_id", Integer, primary_key=True, autoincrement=False),
    Column("queued_at", BigInteger, nullable=False),
)
"""Records written (added, changed, deleted) since deduplication last looked at them."""

dedup_decisions = Table(
    "dedup_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("record_id", Integer, nullable=False),
    Column("other_id", Integer, nullable=True),
    Column("decision", String(16), nullable=False),
    Column("score", Float, nullable=False, default=0.0),
    Column("reason", Text, nullable=False),
    Column("decided_at", BigInteger, nullable=False),
    Index("ix_dedup_decisions_record", "record_id"),
)
"""Why each record is where it is: the comparisons of its last deduplication (``other_id``
a candidate), and what operators did."""

dedup_pairs = Table(
    "dedup_pairs",
    metadata,
    Column("record_a", Integer, primary_key=True, autoincrement=False),
    Column("record_b", Integer, primary_key=True, autoincrement=False),
    Column("state", String(16), nullable=False),
    Column("score", Float, nullable=False, default=0.0),
    Column("reason", Text, nullable=False, default=""),
    Column("decided_at", BigInteger, nullable=False),
    Index("ix_dedup_pairs_state", "state"),
)
"""Pairs (``record_a < record_b``) awaiting review (state ``review``) or decided by an operator
(``same``, ``different``); later runs respect the decisions."""

union_ids = Table(
    "union_ids",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
)
"""The sequence of union record identifiers (``union:N``): a number is never given twice."""

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

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("address", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_login_failures_key", "address", "name", "at"),
    Index("ix_login_failures_at", "at"),
)
"""Recent failed dashboard sign-ins at wall-clock UTC seconds, by address and case-folded name
(``""`` for the address's own count), so the limit holds across workers and nodes; rows older
than ``[dashboard] login_window`` are deleted as failures come
(:mod:`koprik.dashboard.limits`)."""

record_changes = Table(
    "record_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("record_id", Integer, nullable=False),
    Column("datestamp", BigInteger, nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("source", String(100), nullable=True),
    Column("run_id", Integer, nullable=True),
    Column("previous_digest", String(64), nullable=True),
    Index("ix_record_changes_record", "record_id", "id"),
)
"""Each record's change history, appended in the transaction of the change: ``outcome``
(``added``, ``updated``, ``deleted``) at the record's commit datestamp, the ``origin`` of the
write (``harvest``, ``import``, ``union``, ...), the record's source and, for a harvest, its run
(a row of ``harvest_runs``), and the digest the record had before (no copy of its content).
Unchanged writes add nothing."""
