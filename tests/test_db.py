"""Opening the catalogue: a new SQLite file (it holds the token key) is private to its owner."""

from __future__ import annotations

import stat
from pathlib import Path

from catalog import Catalog
from catalog.secrets import stored_secret
from config import DatabaseSettings, Settings


def test_a_new_sqlite_catalogue_and_its_wal_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "catalog.sqlite3"
    catalog = Catalog.open(Settings(database=DatabaseSettings(url=f"sqlite:///{path}")))
    try:
        stored_secret(catalog.engine, "oai-resumption-token")
        files = [path, path.with_name(path.name + "-wal")]
        assert all(file.exists() for file in files)
        assert [stat.S_IMODE(file.stat().st_mode) for file in files] == [0o600, 0o600]
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        catalog.close()
