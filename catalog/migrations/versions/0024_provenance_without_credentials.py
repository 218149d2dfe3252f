"""The provenance of harvested records without the credentials of its source's address.

A source added as ``http://user:password@host/oai`` had its records' provenance keep that
address whole, and OAI-PMH serves provenance to anyone (``<about>``'s ``baseURL``), so the
password was published with every record. Records harvested since keep the address without its
user part (:func:`harvester.http_fetch.public_url`); this revision takes it out of the
provenance stored before, one distinct address at a time (a source has one, or a few).

Revision 0024, after 0023.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    provenance = sa.table("provenance", sa.column("base_url", sa.String))
    connection = op.get_bind()
    with_user = connection.execute(
        sa.select(provenance.c.base_url).where(provenance.c.base_url.contains("@")).distinct()
    ).scalars().all()
    for address in with_user:
        parts = urlsplit(address)
        if "@" not in parts.netloc:  # an @ in its path or query: no user part
            continue
        public = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        connection.execute(sa.update(provenance).where(provenance.c.base_url == address)
                           .values(base_url=public))
