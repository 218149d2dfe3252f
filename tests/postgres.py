"""A throw-away PostgreSQL cluster on loopback, for the test run and for bench/load.py.

PostgreSQL refuses to run as root, so as root the cluster is created and run as the ``postgres``
user, in a folder outside pytest's private temporary tree (which that user could not enter).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def run_as_postgres(args: list[str]) -> None:
    """Run a PostgreSQL program (``initdb``, ``pg_ctl``), as the ``postgres`` user when root."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    subprocess.run(args, check=True, capture_output=True, text=True)


@contextmanager
def postgres_cluster(port: int, *, durable: bool) -> Iterator[str]:
    """A new cluster on 127.0.0.1:``port``; yields ``postgresql+psycopg://koprik@...:port``.

    ``durable=False`` (tests) turns fsync off and stops the server at once; ``durable=True``
    (benchmarks) keeps the server's default durability, so figures are those of a real node.
    """
    base = Path(tempfile.mkdtemp(prefix="koprik-pg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    run_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "koprik"])
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    if not durable:
        options += " -c fsync=off"
    run_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options,
                  "-l", str(data / "log"), "-w", "start"])  # fmt: skip
    try:
        yield f"postgresql+psycopg://koprik@127.0.0.1:{port}"
    finally:
        mode = "fast" if durable else "immediate"
        run_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", mode, "stop"])
        remove_unwaited(base)


def remove_unwaited(folder: Path) -> None:
    """Remove ``folder`` in a process left to finish on its own (``rm -rf``: half of
    ``shutil.rmtree``'s time). A test run's cluster holds hundreds of databases (gigabytes);
    waiting for its removal was the pause at the suite's end (20 to 90 s on CI, counted in the
    teardown of each pytest process's last test), and nothing needs the folder gone by then."""
    subprocess.run(["sh", "-c", 'rm -rf -- "$1" &', "remove_unwaited", str(folder)],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   start_new_session=True, check=False)  # fmt: skip


def until_waiting_for_a_lock(engine: Any, waiters: int, held_by: int | None = None) -> None:
    """Return once ``waiters`` sessions of ``engine``'s database wait for a lock (held by the
    session of backend pid ``held_by``, when given; 60 s at most). Each look is a transaction
    of its own: PostgreSQL shows a transaction one view of ``pg_stat_activity``, taken at its
    first look, so looks within one never saw a wait that began after it (a test waited its
    60 s for a lock wait that had come)."""
    from sqlalchemy import text

    deadline = time.monotonic() + 60
    by = "" if held_by is None else f" AND {held_by} = ANY(pg_blocking_pids(pid))"
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()" + by)).scalar() >= waiters:  # fmt: skip
                return
        time.sleep(0.02)
    with engine.connect() as connection:
        seen = connection.execute(text(
            "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity "
            "WHERE datname = current_database()")).all()  # fmt: skip
    raise AssertionError(f"fewer than {waiters} sessions wait for a lock: {seen}")
