"""Tables of the harvester: sources, runs, per-source resumption state, and rejects.

They live on the catalogue's shared :data:`catalog.models.metadata`, so a harvested page, its
resumption token and the run's counts commit in one transaction with the records themselves.

- ``harvest_sources``: sources added from the command line (those from ``koprik.toml`` are not
  stored; the file stays their only definition).
- ``harvest_runs``: one row per run: status, counts (:class:`harvester.ingest.Counts`), request
  count, errors, time span.
- ``harvest_state``: one row per source: the watermark of the last successful run and what it
  covers (``watermark_endpoint``, the protocol, address and format its lists were asked in, and
  ``watermark_sets``, the sets harvested, space-separated, empty for the whole repository; both
  NULL for a watermark moved before revision 0010, which recorded neither), where the run
  in progress stands (an OAI-PMH list's token, as ``cursor`` the entries the list delivered
  up to it when known, its set, date window and count of windows
  failed for good, with no token once that list was finished; an SRU or Z39.50 result set's
  query, its hits and, as ``cursor``, the next record position), what the position is a
  position in (``endpoint``: the protocol, address and format it was asked in), and the lock
  that keeps two runs of one source from overlapping.
- ``harvest_rejects``: what could not be ingested, with its bytes and the reason.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from catalog.models import metadata

RUNNING, SUCCEEDED, PARTIAL, FAILED, INTERRUPTED = (
    "running",
    "succeeded",
    "partial",
    "failed",
    "interrupted",
)
"""The statuses of a ``harvest_runs`` row (:mod:`harvester.runs` writes them; a run's lock,
:mod:`harvester.locks`, names the run recorded running)."""
LARGEST_INTEGER = 2**31 - 1
"""The largest number an ``Integer`` column holds on every engine (PostgreSQL's ``integer``):
a partner's cursor or hit count beyond it cannot be saved, and is no real one anyway."""

harvest_sources = Table(
    "harvest_sources",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("url", String(1000), nullable=False),
    Column("protocol", String(20), nullable=False),
    Column("prefix", String(50), nullable=False),
    Column("sets", Text, nullable=False, default=""),
    Column("query", Text, nullable=False, default=""),
    Column("charset", String(50), nullable=False, default=""),
    Column("every", String(50), nullable=False, default=""),
    Column("cron", String(100), nullable=False, default=""),
    Column("crosswalk", String(20), nullable=False, default="", server_default=""),
    Column("delay", Float, nullable=False),
    Column("timeout", Float, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("institution_code", String(100), nullable=False, default=""),
    Column("institution_name", String(500), nullable=False, default=""),
    Column("holdings", String(20), nullable=False, default="source", server_default="source"),
    Column("tolerated_shortfall", Integer, nullable=False, default=0, server_default="0"),
)

harvest_runs = Table(
    "harvest_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("started", BigInteger, nullable=False),
    Column("finished", BigInteger, nullable=True),
    Column("full", Boolean, nullable=False, default=False),
    Column("from_", String(32), nullable=True),
    Column("until", String(32), nullable=True),
    Column("added", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("gone", Integer, nullable=False, default=0, server_default="0"),
    Column("rejected", Integer, nullable=False, default=0),
    Column("requests", Integer, nullable=False, default=0),
    Column("pages", Integer, nullable=False, default=0),
    Column("errors", Text, nullable=False, default=""),
    Index("ix_harvest_runs_source", "source", "id"),
)

harvest_state = Table(
    "harvest_state",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("watermark", String(32), nullable=True),
    Column("watermark_endpoint", Text, nullable=True),
    Column("watermark_sets", Text, nullable=True),
    Column("run_id", Integer, nullable=True),
    Column("first_response_date", String(32), nullable=True),
    Column("run_from", String(32), nullable=True),
    Column("run_until", String(32), nullable=True),
    Column("set_spec", String(255), nullable=True),
    Column("done_sets", Text, nullable=True),
    Column("window_from", String(32), nullable=True),
    Column("window_until", String(32), nullable=True),
    Column("token", Text, nullable=True),
    Column("cursor", Integer, nullable=True),
    Column("failed_windows", Integer, nullable=False, default=0),
    Column("query", Text, nullable=True),
    Column("hits", Integer, nullable=True),
    Column("endpoint", Text, nullable=True),
    Column("lock_owner", String(200), nullable=True),
    Column("lock_expires", BigInteger, nullable=True),
)

harvest_rejects = Table(
    "harvest_rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("run_id", Integer, ForeignKey("harvest_runs.id", ondelete="CASCADE"), nullable=True),
    Column("identifier", String(1000), nullable=True),
    Column("reason", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Index("ix_harvest_rejects_source", "source", "id"),
)
