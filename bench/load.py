"""Benchmark: how fast ``koprik demo`` and ``koprik import`` fill a new catalogue.

    python bench/load.py                              # 10,000 and 100,000 records, SQLite
    python bench/load.py --sizes 10000 --postgres     # also on a throw-away PostgreSQL server

Runs ``koprik demo --records N`` as an operator would, into a new catalogue for each size and
engine; then exports those records as one ISO 2709 file (``koprik export``) and loads it with
``koprik import`` into another new catalogue; beside them, the peer: Index Data's ``zebraidx``
indexing the same file (``tests/data/zebra``'s configuration, the index ``bench/z3950.py``
searches). Prints records per second of wall time, the same
without the deduplication that ends an import (the seconds it reports), and CPU milliseconds
per record of the whole process tree (the command, its fork server and its worker processes,
sampled from /proc every 0.2 s; not the PostgreSQL server's), which depends less than wall time
on what else the machine is doing. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
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
ZEBRA = Path(__file__).resolve().parents[1] / "tests" / "data" / "zebra"
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


def run_koprik(config: Path, *arguments: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (process tree) and output of ``koprik ARGUMENTS``."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(KOPRIK), "--config", str(config), *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    seen: dict[int, float] = {}
    while process.poll() is None:
        _tree_cpu(process.pid, seen)
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - start
    output = process.stdout.read() if process.stdout is not None else ""
    if process.returncode != 0:
        raise RuntimeError(f"koprik {arguments[0]} exited with {process.returncode}")
    return wall, sum(seen.values()), output


_DEDUP_SECONDS = re.compile(r"^dedup: .*\(([\d.]+) s\)$", re.MULTILINE)
_IMPORTED = re.compile(r"(\d+) (?:added|updated|unchanged|rejected)")


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


def measure(engine: str, urls: tuple[str, str], records: int, folder: Path) -> list[list[str]]:
    """``koprik demo`` into the first catalogue, then ``koprik import`` of its records into
    the second; a row for each."""
    demo, imported = folder / f"{engine}-{records}.toml", folder / f"{engine}-{records}-i.toml"
    demo.write_text(f'[database]\nurl = "{urls[0]}"\n')
    imported.write_text(f'[database]\nurl = "{urls[1]}"\n')
    wall, cpu, _ = run_koprik(demo, "demo", "--records", str(records))
    rows = [_row(engine, "demo", records, wall, cpu, None)]
    marc = folder / f"{engine}-{records}.mrc"
    run_koprik(demo, "export", "--format", "marc21", "-o", str(marc))
    wall, cpu, output = run_koprik(imported, "import", "--rejects", str(folder / "rejects"),
                                   "--report", str(folder / "report"), str(marc))
    found = _DEDUP_SECONDS.search(output)
    read = sum(int(n) for n in _IMPORTED.findall(output))  # the live records exported
    rows.append(_row(engine, "import", read, wall, cpu, float(found[1]) if found else None))
    if shutil.which("zebraidx"):
        wall, cpu = zebra_index(marc, folder / f"zebra-{engine}-{records}")
        rows.append(_row("zebra", "zebraidx", read, wall, cpu, None))
    return rows


def zebra_index(marc: Path, work: Path) -> tuple[float, float]:
    """Wall and CPU seconds of Zebra indexing ``marc`` into a new register (init, update,
    commit, as ``tests/data/zebra/start-zebra`` does)."""
    for folder in ("reg", "shadow", "lock", "tmp"):
        (work / "db" / folder).mkdir(parents=True, exist_ok=True)
    for name in ("zebra.cfg", "marc21.abs"):
        shutil.copy(ZEBRA / name, work / name)
    base = ["zebraidx", "-c", "zebra.cfg", "-t", "grs.marcxml.marc21", "-l", "zebraidx.log"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for command in (["init"], ["update", str(marc)], ["commit"]):
        subprocess.run([*base, *command], cwd=work, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _row(engine: str, command: str, records: int, wall: float, cpu: float,
         dedup: float | None) -> list[str]:
    stored = f"{records / (wall - dedup):,.0f}" if dedup is not None else "-"
    return [engine, command, f"{records:,}", f"{wall:,.0f}", f"{records / wall:,.0f}", stored,
            f"{dedup:,.1f}" if dedup is not None else "-", f"{cpu * 1000 / records:.2f}"]


def print_table(rows: list[list[str]]) -> None:
    head = ["engine", "command", "records", "seconds", "records/s", "without dedup",
            "dedup s", "CPU ms/record"]
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
            urls = (f"sqlite:///{folder / f'demo-{size}.sqlite3'}",
                    f"sqlite:///{folder / f'import-{size}.sqlite3'}")
            rows += measure("sqlite", urls, size, folder)
            print(f"  measured sqlite at {size:,}", file=sys.stderr, flush=True)
        if args.postgres:
            with postgres_server() as server:
                for size in args.sizes:
                    urls = (_new_postgres_database(server, f"demo{size}"),
                            _new_postgres_database(server, f"import{size}"))
                    rows += measure("postgresql", urls, size, folder)
                    print(f"  measured postgresql at {size:,}", file=sys.stderr, flush=True)
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
