"""catalog/file_damage.py: the O(1) look at a SQLite file says nothing of a healthy one."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import create_engine

from catalog.file_damage import check


def test_a_file_growing_through_checkpoints_is_never_taken_for_cut_short(tmp_path: Path):
    """A checkpoint writes the first page (its header counting the pages) before the pages
    that lengthen the file: those are still in the WAL meanwhile, which the look counts."""
    file = tmp_path / "catalog.sqlite3"
    engine = create_engine(f"sqlite:///{file}")
    done = threading.Event()

    def grow() -> None:
        with contextlib.closing(sqlite3.connect(file, isolation_level=None)) as writing:
            writing.execute("PRAGMA journal_mode=WAL")
            writing.execute("PRAGMA wal_autocheckpoint=50")
            writing.execute("CREATE TABLE t (data BLOB)")
            for _ in range(3000):
                writing.execute("INSERT INTO t VALUES (randomblob(4000))")
        done.set()

    writer = threading.Thread(target=grow)
    writer.start()
    looks = 0
    try:
        while not done.is_set() or looks == 0:
            if file.exists():
                check(engine)
                looks += 1
    finally:
        writer.join()
        engine.dispose()
    assert file.stat().st_size > 3000 * 4000 and looks > 100
