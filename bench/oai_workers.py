"""Benchmark: OAI-PMH ListRecords throughput of ``koprik serve --workers N`` for N = 1 and 2.

    python bench/oai_workers.py                     # 20,000 demo records, 4 harvesters
    python bench/oai_workers.py --records 100000 --harvesters 8

Each harvester is a process of its own with one keep-alive connection (so the kernel's
SO_REUSEPORT spreads them over the workers; with several, each connection is closed after
``server.http_keepalive_requests`` pages and placed again as the harvester reconnects),
harvesting ListRecords in marc21 from start to end without compression; all start together,
``--repeats`` times against each server (a row each: the machine is shared, so runs differ).
The table gives the records of all harvesters per
second of wall time; the servers' CPU seconds per 1,000 records (all serving processes) and the
harvesters' own (they share the cores: each counts records with a bytes scan, as cheap as
fetching allows); how the server CPU fell to each process (how evenly SO_REUSEPORT spread the
connections); and the cores busy during the run, ours (servers and harvesters) and the rest of
the machine's (other work on a shared machine, which the workers cannot use). The
catalogue is the one ``bench/oai_provider.py`` fills (SQLite, ``--folder``). The peer for a
single process is in ``bench/oai_provider.py`` (the ``oaipmh`` 4.0.0 server); it has no
multi-process mode. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
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


def machine_busy_seconds() -> float:
    """CPU seconds all cores of the machine have been busy (anyone's processes) since boot."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def harvest(port: int) -> tuple[int, float]:
    """One harvester (a process of its own, so the client side is not one interpreter): the
    records it harvested and the CPU seconds it used doing so."""
    cpu = time.process_time()
    records = Client(port).harvest("marc21").records
    return records, time.process_time() - cpu


@dataclasses.dataclass
class Run:
    records: int
    seconds: float
    worker_cpu: list[float]
    """CPU seconds of each serving process (the parent of ``--workers N`` included)."""
    client_cpu: float
    machine_busy: float
    """CPU seconds the whole machine was busy during the run, whoever's processes."""

    @property
    def server_cpu(self) -> float:
        return sum(self.worker_cpu)

    def row(self, workers: int) -> str:
        ours = self.server_cpu + self.client_cpu
        split = "/".join(f"{cpu:.2f}" for cpu in self.worker_cpu if cpu >= 0.01) or "0"
        return (
            f"{workers:>7} {self.records:>9,} {self.seconds:>7.2f} "
            f"{self.records / self.seconds:>9,.0f} {1000 * self.server_cpu / self.records:>10.3f} "
            f"{1000 * self.client_cpu / self.records:>10.3f} {split:>16} "
            f"{ours / self.seconds:>9.2f} {(self.machine_busy - ours) / self.seconds:>11.2f}"
        )


HEAD = (
    f"{'workers':>7} {'records':>9} {'seconds':>7} {'records/s':>9} {'server CPU':>10} "
    f"{'client CPU':>10} {'CPU s by worker':>16} {'our cores':>9} {'other cores':>11}\n"
    f"{'':>7} {'':>9} {'':>7} {'':>9} {'s/1000 rec':>10} {'s/1000 rec':>10} {'':>16} "
    f"{'busy':>9} {'busy':>11}"
)


def measure(config: Path, workers: int, harvesters: int, port: int, repeats: int) -> list[Run]:
    """``repeats`` runs of ``harvesters`` full harvests at once against one server."""
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
        runs = []
        with ProcessPoolExecutor(harvesters) as pool:
            for _ in range(repeats):
                cpu_before = [cpu_seconds(pid) for pid in processes]
                busy_before = machine_busy_seconds()
                start = time.perf_counter()
                done = list(pool.map(harvest, [port] * harvesters))
                seconds = time.perf_counter() - start
                busy = machine_busy_seconds() - busy_before
                cpu = [cpu_seconds(pid) - before
                       for pid, before in zip(processes, cpu_before, strict=True)]  # fmt: skip
                runs.append(Run(sum(n for n, _ in done), seconds, cpu,
                                sum(c for _, c in done), busy))  # fmt: skip
        return runs
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
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs against each server (a row each)")  # fmt: skip
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    settings = bench_settings(args.folder, args.records, args.page_size)
    ensure_catalogue(settings, args.records)
    config = args.folder / f"workers-{args.records}.toml"
    config.write_text(
        f'[database]\nurl = "{settings.database.url}"\n'
        f"[server]\nhttp_port = {args.port}\nz3950_port = {args.port + 1}\n"
        f"[oai]\npage_size = {args.page_size}\nmax_concurrent_lists = {args.harvesters}\n"
        '[log]\nlevel = "warning"\n'
    )
    print(f"{args.records:,} records, {args.harvesters} harvesters, marc21, page "
          f"{args.page_size}, {os.cpu_count()} cores")  # fmt: skip
    print(HEAD)
    for workers in (1, 2):
        for run in measure(config, workers, args.harvesters, args.port, args.repeats):
            print(run.row(workers), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
