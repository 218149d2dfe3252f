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


LOCKED = """
import fcntl, sys
with open(sys.argv[1], "r+b") as file:
    try:  # SQLite's shared-lock bytes (os_unix.c: SHARED_FIRST, SHARED_SIZE)
        fcntl.lockf(file, fcntl.LOCK_EX | fcntl.LOCK_NB, 510, 0x40000002)
    except OSError:
        print("held")
    else:
        print("free")
"""


def test_a_look_leaves_the_processes_sqlite_locks_held(tmp_path: Path):
    """Closing a descriptor of a file drops every POSIX lock the process holds on it: a look
    that opened and closed the file left this process's SQLite connection without its shared
    lock (another process closing its last connection then takes itself for the last, and
    removes the WAL in use)."""
    import subprocess
    import sys

    file = tmp_path / "catalog.sqlite3"
    with contextlib.closing(sqlite3.connect(file, isolation_level=None)) as reading:
        reading.execute("PRAGMA journal_mode=WAL")
        reading.execute("CREATE TABLE t (x)")
        reading.execute("BEGIN")
        reading.execute("SELECT * FROM t").fetchall()  # a read transaction: its shared lock

        def lock() -> str:
            return subprocess.run([sys.executable, "-c", LOCKED, str(file)], capture_output=True,
                                  text=True, check=True).stdout.strip()  # fmt: skip

        assert lock() == "held"
        engine = create_engine(f"sqlite:///{file}")
        try:
            check(engine)
            check(engine)
        finally:
            engine.dispose()
        assert lock() == "held"
        reading.execute("COMMIT")
