"""Benchmark: how fast ``koprik demo`` fills a new catalogue.

    python bench/load.py                              # 10,000 and 100,000 records, SQLite
    python bench/load.py --sizes 10000 --postgres     # also on a throw-away PostgreSQL server

Runs ``koprik demo --records N`` as an operator would, into a new catalogue for each size and
engine, and prints records per second of wall time and CPU milliseconds per record of the whole
process tree (the command, its fork server and its worker processes, sampled from /proc every
0.2 s; not the PostgreSQL server's), which depends less than wall time on what else the machine
is doing. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.postgres
from tests.postgres import postgres_cluster

KOPRIK = Path(sys.executable).parent / "koprik"
SAMPLE_SECONDS = 0.2


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _tree_cpu(root: int, seen: dict[int, float]) -> None:
    """Record in ``seen`` the CPU seconds so far of ``root`` and every descendant of it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    tick = os.sysconf("SC_CLK_TCK")
    for pid in parents:
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root and (fields := _stat(pid)) is not None:
            seen[pid] = (int(fields[11]) + int(fields[12])) / tick


def run_demo(config: Path, records: int) -> tuple[float, float]:
    """Wall seconds and CPU seconds (process tree) of ``koprik demo --records N``."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(KOPRIK), "--config", str(config), "demo", "--records", str(records)],
        stdout=subprocess.DEVNULL,
    )
    seen: dict[int, float] = {}
    while process.poll() is None:
        _tree_cpu(process.pid, seen)
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"koprik demo exited with {process.returncode}")
    return wall, sum(seen.values())


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster with the server's default durability (tests turn fsync
    off; a benchmark must not); yields ``postgresql+psycopg://...:port``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with postgres_cluster(port, durable=True) as url:
        yield url


def _new_postgres_database(server: str, name: str) -> str:
    engine = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return f"{server}/{name}"


def measure(engine: str, url: str, records: int, folder: Path) -> list[str]:
    config = folder / f"{engine}-{records}.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    wall, cpu = run_demo(config, records)
    return [
        engine,
        f"{records:,}",
        f"{wall:,.0f}",
        f"{records / wall:,.0f}",
        f"{cpu * 1000 / records:.2f}",
    ]


def print_table(rows: list[list[str]]) -> None:
    head = ["engine", "records", "seconds", "records/s", "CPU ms/record"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    args = parser.parse_args()
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="koprik-bench-load-") as name:
        folder = Path(name)
        for size in args.sizes:
            url = f"sqlite:///{folder / f'demo-{size}.sqlite3'}"
            rows.append(measure("sqlite", url, size, folder))
            print(f"  measured sqlite at {size:,}", file=sys.stderr, flush=True)
        if args.postgres:
            with postgres_server() as server:
                for size in args.sizes:
                    url = _new_postgres_database(server, f"demo{size}")
                    rows.append(measure("postgresql", url, size, folder))
                    print(f"  measured postgresql at {size:,}", file=sys.stderr, flush=True)
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
