"""Z39.50 search+present and SRU searchRetrieve throughput and latency of Koprik beside Zebra.

    python bench/z3950.py [--records 100000] [--seconds 20] [--clients 1,16,60] [--workers 2]
                          [--no-sru] [--no-charset] [--workdir DIR]
    python bench/z3950.py --records 20000 --seconds 8 --clients 60 --no-sru   # while developing

Builds once per work dir (and reuses) a Koprik SQLite catalogue filled by ``koprik demo
--records N``, the same live records as ISO 2709 UTF-8, and Zebra's index of them
(``tests/data/zebra/start-zebra``, from a copy whose register areas may outgrow 100 MB);
starts ``koprik serve --workers N`` and Zebra on loopback, and drives
each in turn with the same client, :class:`harvester.z3950_origin.Z3950Client`: one association
per concurrent client, each doing search + present (first 10 hits, USMARC, element set F) pairs
over a fixed mix of title, author, subject, ISBN and date queries for ``--seconds`` per level
(sessions negotiate UTF-8; with ``--no-charset`` they propose no character set, as yaz-client
by default, and Koprik sends MARC-8 while Zebra sends its records as stored).
Prints pairs per second, p50/p95 pair latency and the CPU time per pair of the server (Zebra's
with its forked per-connection processes, Koprik's with all its workers) and of the client (on
the same cores: what it takes is not the servers') for each level,
the hit counts of every query on both targets (so the comparison can be judged fair), and the
catalogue's index size beside Zebra's registers. Then the same for SRU: searchRetrieve
requests (SRU 1.2, the first 10 hits as ``marcxml``, the same queries said in CQL) on each
server's Z39.50 port, which both answer HTTP on (``bench/_sru_load.py``; ``--no-sru`` skips
it). A measurement: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _sru_load
from bench._z3950_load import (
    PRESENT_COUNT,
    QUERIES,
    Level,
    hit_counts,
    percentile_ms,
    run_level,
)
from bench._z3950_targets import (
    HOST,
    Workspace,
    catalogue_size,
    koprik_target,
    live_records,
    process_cpu_seconds,
    zebra_register_bytes,
    zebra_target,
)

TARGETS = ("koprik", "zebra")
REAP_SECONDS = 1.0
"""Wait before reading a server's CPU time, so Zebra has reaped its ended per-session children."""


def measure(
    ports: dict[str, tuple[int, int]], levels: list[int], seconds: float, processes: int,
    charset: str | None = "UTF-8",
) -> list[tuple[str, Level, float]]:  # fmt: skip
    """Each level on each target in turn: (target, figures, server CPU seconds per pair)."""
    return _each_level(
        ports, levels, "", "pairs/s",
        warm=lambda port: asyncio.run(hit_counts(HOST, port, QUERIES)),
        run=lambda port, clients: run_level(
            HOST, port, clients=clients, seconds=seconds, processes=processes, charset=charset
        ),
    )  # fmt: skip


def measure_sru(
    ports: dict[str, tuple[int, int]], levels: list[int], seconds: float, processes: int
) -> list[tuple[str, Level, float]]:
    """:func:`measure` for SRU searchRetrieve requests on each target's Z39.50 port."""
    return _each_level(
        ports, levels, " SRU", "requests/s",
        warm=lambda port: asyncio.run(_sru_load.hit_counts(sru_url(port))),
        run=lambda port, clients: _sru_load.run_level(
            sru_url(port), clients=clients, seconds=seconds, processes=processes
        ),
    )  # fmt: skip


def _each_level(
    ports: dict[str, tuple[int, int]],
    levels: list[int],
    label: str,
    unit: str,
    *,
    warm: Callable[[int], object],
    run: Callable[[int, int], Level],
) -> list[tuple[str, Level, float]]:
    """``run(port, clients)`` at each level on each target in turn, after ``warm(port)`` has
    warmed its caches, with the server's CPU time over the level per pair or request."""
    rows = []
    for clients in levels:
        for name in TARGETS:
            port, pid = ports[name]
            warm(port)
            time.sleep(REAP_SECONDS)
            before = process_cpu_seconds(pid)
            level = run(port, clients)
            time.sleep(REAP_SECONDS)
            cpu = process_cpu_seconds(pid) - before
            rows.append((name, level, cpu / level.pairs if level.pairs else math.nan))
            print(f"{name}{label} x{clients}: {level.pairs_per_second:.1f} {unit}",
                  file=sys.stderr)  # fmt: skip
    return rows


def sru_url(port: int) -> str:
    return f"http://{HOST}:{port}/Default"


def print_table(rows: list[tuple[str, Level, float]], unit: str) -> None:
    """One line per target and level, then Koprik's figures over Zebra's per level."""
    print(f"\n{'target':8} {'clients':>7} {unit + 's':>8} {unit + 's/s':>10} {'p50 ms':>8} "
          f"{'p95 ms':>8} {'server CPU':>11} {'client CPU':>11} {'errors':>7}")  # fmt: skip
    print(f"{'':61} {'ms/' + unit:>11} {'ms/' + unit:>11}")
    for name, level, cpu in rows:
        client_cpu = level.client_cpu / level.pairs if level.pairs else math.nan
        print(f"{name:8} {level.clients:7d} {level.pairs:8d} {level.pairs_per_second:10.1f} "
              f"{level.p50_ms:8.2f} {level.p95_ms:8.2f} {cpu * 1000:11.2f} "
              f"{client_cpu * 1000:11.2f} {len(level.errors):7d}")  # fmt: skip
    for ours, theirs in zip(rows[::2], rows[1::2], strict=True):
        o, z = ours[1], theirs[1]
        print(f"{o.clients:3d} client(s): koprik/zebra throughput "
              f"{o.pairs_per_second / z.pairs_per_second:.2f}x (aim >= 0.5), p95 "
              f"{o.p95_ms / z.p95_ms:.2f}x (aim <= 2)")  # fmt: skip
    for name, level, _ in rows:
        for error in sorted(set(level.errors))[:3]:
            print(f"  {name} x{level.clients} error: {error}")


def print_report(
    space: Workspace,
    rows: list[tuple[str, Level, float]],
    hits: dict[str, list[int]],
    seconds: float,
    processes: int,
    load: float,
    workers: int,
    charset: str | None,
) -> None:
    said = "UTF-8 negotiated" if charset else "no charset negotiated (Koprik sends MARC-8)"
    print(f"\nZ39.50 search + present ({PRESENT_COUNT} records, USMARC F, {said}) over "
          f"{live_records(space):,} live demo records ({space.records:,} generated); "
          f"koprik serve --workers {workers}; "
          f"{seconds:g} s per level; client Z3950Client in {processes} process(es); "
          f"{os.cpu_count()} CPUs shared by clients and server; load average {load:.1f} "
          "before the run")  # fmt: skip
    print_table(rows, "pair")
    size = catalogue_size(space)
    terms_mb = f"{size.terms_bytes / 1e6:.1f} MB" if size.terms_bytes >= 0 else "n/a (no dbstat)"
    print("\nindex size")
    print(f"  koprik: catalogue file {size.file_bytes / 1e6:.1f} MB (records, renditions, terms); "
          f"search index {terms_mb}, {size.terms_rows:,} terms; "
          f"loaded by koprik demo in {space.build_seconds('koprik'):.0f} s")  # fmt: skip
    print(f"  zebra:  register files {zebra_register_bytes(space) / 1e6:.1f} MB; "
          f"indexed by start-zebra in {space.build_seconds('zebra'):.0f} s")  # fmt: skip
    first = {name: level for name, level, _ in rows if level.clients == rows[0][1].clients}
    print("\nper query: hits, and p50 ms of its pairs at "
          f"{rows[0][1].clients} client(s) (Koprik folds scripts and indexes 880, so its title, "
          "author and subject counts include both scripts; Zebra's do not)")  # fmt: skip
    print(f"  {'query':32} {'koprik':>8} {'zebra':>8} {'koprik ms':>10} {'zebra ms':>10}")
    for query, ours_hits, zebra_hits in zip(QUERIES, hits["koprik"], hits["zebra"], strict=True):
        ms = {
            name: percentile_ms(level.by_query.get(query, ()), 50) for name, level in first.items()
        }
        print(f"  {query:32} {ours_hits:8d} {zebra_hits:8d} {ms['koprik']:10.2f} "
              f"{ms['zebra']:10.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="demo records (100000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level and target (20)")
    parser.add_argument("--clients", default="1,16,60", help="concurrency levels (1,16,60)")
    parser.add_argument("--workers", type=int, default=2,
                        help="koprik serve --workers: its serving processes (2)")  # fmt: skip
    parser.add_argument("--no-sru", action="store_true", help="measure Z39.50 only")
    parser.add_argument(
        "--no-charset", action="store_true",
        help="Z39.50 clients negotiate no character set (as yaz-client by default)",
    )  # fmt: skip
    parser.add_argument(
        "--client-processes", type=int, default=os.cpu_count() or 1,
        help="worker processes the clients are spread over (CPU count)",
    )  # fmt: skip
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "koprik-bench-z3950",
        help="where the catalogue and Zebra's index are built and reused",
    )  # fmt: skip
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(",")]
    space = Workspace(args.workdir.resolve(), args.records)
    space.prepare()
    with zebra_target(space) as zebra, koprik_target(space, args.workers) as koprik:
        ports = {"koprik": koprik, "zebra": zebra}
        load = os.getloadavg()[0]
        hits = {name: asyncio.run(hit_counts(HOST, port, QUERIES)) for name, (port, _) in
                ports.items()}  # fmt: skip
        charset = None if args.no_charset else "UTF-8"
        rows = measure(ports, levels, args.seconds, args.client_processes, charset)
        if args.no_sru:
            sru_hits, sru_rows = {}, []
        else:
            sru_hits = {name: asyncio.run(_sru_load.hit_counts(sru_url(port))) for name, (port, _)
                        in ports.items()}  # fmt: skip
            sru_rows = measure_sru(ports, levels, args.seconds, args.client_processes)
    print_report(space, rows, hits, args.seconds, args.client_processes, load, args.workers,
                 charset)  # fmt: skip
    if args.no_sru:
        return
    print(f"\nSRU searchRetrieve (SRU 1.2, {PRESENT_COUNT} records, marcxml; on each server's "
          "Z39.50 port)")  # fmt: skip
    print_table(sru_rows, "request")
    print(f"\n  {'CQL query':32} {'koprik':>8} {'zebra':>8}")
    for query, ours, theirs in zip(_sru_load.CQL_QUERIES, sru_hits["koprik"], sru_hits["zebra"],
                                   strict=True):  # fmt: skip
        print(f"  {query:32} {ours:8d} {theirs:8d}")


if __name__ == "__main__":
    main()
