"""Benchmark: OAI-PMH ListRecords throughput of ``koprik serve --workers N`` for N = 1 and 2.

    python bench/oai_workers.py                     # 20,000 demo records, 4 harvesters
    python bench/oai_workers.py --records 100000 --harvesters 8

Each harvester is a process of its own with one keep-alive connection (so the kernel's
SO_REUSEPORT spreads them over the workers), harvesting ListRecords in marc21 from start to end
without compression; all start together. The table gives the records of all harvesters per
second of wall time, and the servers' CPU seconds per 1,000 records (all worker processes). The
catalogue is the one ``bench/oai_provider.py`` fills (SQLite, ``--folder``). The peer for a
single process is in ``bench/oai_provider.py`` (the ``oaipmh`` 4.0.0 server); it has no
multi-process mode. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from oai_provider import Client, bench_settings, cpu_seconds, ensure_catalogue


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def harvest(port: int) -> tuple[int, float]:
    """One harvester (a process of its own, so the client side is not one interpreter): the
    records it harvested and the CPU seconds it used doing so."""
    cpu = time.process_time()
    records = Client(port).harvest("marc21").records
    return records, time.process_time() - cpu


def measure(
    config: Path, workers: int, harvesters: int, port: int
) -> tuple[int, float, float, float]:
    """(records harvested in all, wall seconds, server CPU seconds, client CPU seconds)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "koprik", "--config", str(config), "serve", "--no-scheduler",
         "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("koprik serve did not start") from None
                time.sleep(0.2)
        time.sleep(1)  # every worker up
        processes = [server.pid, *children(server.pid)]  # the parent and its workers
        cpu_before = sum(cpu_seconds(pid) for pid in processes)
        start = time.perf_counter()
        with ProcessPoolExecutor(harvesters) as pool:
            done = list(pool.map(harvest, [port] * harvesters))
        seconds = time.perf_counter() - start
        cpu = sum(cpu_seconds(pid) for pid in processes) - cpu_before
        return sum(n for n, _ in done), seconds, cpu, sum(c for _, c in done)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--harvesters", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/koprik-oai-bench"))
    parser.add_argument("--port", type=int, default=18_490)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    settings = bench_settings(args.folder, args.records, args.page_size)
    ensure_catalogue(settings, args.records)
    config = args.folder / f"workers-{args.records}.toml"
    config.write_text(
        f'[database]\nurl = "{settings.database.url}"\n'
        f"[server]\nhttp_port = {args.port}\nz3950_port = {args.port + 1}\n"
        f'[oai]\npage_size = {args.page_size}\nmax_concurrent_lists = {args.harvesters}\n'
        '[log]\nlevel = "warning"\n'
    )
    print(f"{args.records:,} records, {args.harvesters} harvesters, marc21, page "
          f"{args.page_size}, {os.cpu_count()} cores")  # fmt: skip
    print(f"{'workers':>7} {'records':>9} {'seconds':>8} {'records/s':>10} {'CPU s/1000':>10} "
          f"{'client CPU s/1000':>17} {'cores busy':>10}")  # fmt: skip
    for workers in (1, 2):
        records, seconds, cpu, client = measure(config, workers, args.harvesters, args.port)
        print(f"{workers:>7} {records:>9,} {seconds:>8.2f} {records / seconds:>10,.0f} "
              f"{1000 * cpu / records:>10.3f} {1000 * client / records:>17.3f} "
              f"{(cpu + client) / seconds:>10.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
