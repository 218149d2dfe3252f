"""What the commands a service manager keeps running (``koprik serve``, ``koprik scheduler``)
share: how they open the catalogue, telling a database that may answer later from settings at
fault by their exit status."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from catalog import Catalog
from catalog.db import unavailable
from config import Settings
from koprik.cli import database_line
from koprik.errors import NotNow

_REFUSED_FOR_GOOD = frozenset({"28000", "28P01", "3D000"})
"""PostgreSQL's SQLSTATEs of a login refused and of a database that does not exist: the
settings are at fault, and asking again brings the same."""


def open_catalog(settings: Settings) -> Catalog:
    """The catalogue; a PostgreSQL server that does not answer (starting after Koprik, its
    network gone for a moment, starting up) may answer later: a :class:`NotNow`, exit status 1,
    which a service manager starts again, where status 2 (any other command's, and a corrupt
    SQLite file's, a refused login's) it does not."""
    try:
        return Catalog.open(settings)
    except DBAPIError as error:
        url = make_url(settings.database.url)
        sqlstate = getattr(error.orig, "sqlstate", None)
        if (url.get_backend_name() != "postgresql" or unavailable(error) is None
                or sqlstate in _REFUSED_FOR_GOOD):  # fmt: skip
            raise
        raise NotNow(database_line(error, url.render_as_string(hide_password=True))) from None
