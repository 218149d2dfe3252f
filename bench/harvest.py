"""Benchmark: Koprik's harvester end to end beside Sickle merely iterating ListRecords.

    python bench/harvest.py                    # 100,000 demo records
    python bench/harvest.py --records 20000

A provider runs in a process of its own over one demo catalogue (filled once into ``--folder``
by ``bench/oai_provider.py``'s loader, which also serves it): Koprik's own provider, then the
``oaipmh`` 4.0.0 server over the same catalogue. Against each, for ``marc21`` and ``oai_dc``:

- **sickle**: ``Sickle(url).ListRecords(...)`` iterated to the end (fetch and parse only);
- **koprik client**: our :class:`harvester.oai_client.OaiClient` iterating the same pages;
- **koprik harvest**: a full run into a new SQLite catalogue: fetch, parse, crosswalk to MARC21,
  store with renditions, sets and provenance, each page committed with its resumption token
  (pages ready together in one transaction, :mod:`harvester.pipeline`). It runs in a Python
  process of its own, as ``koprik harvest`` does (:func:`harvest_rate`).

Koprik's provider also answers SRU: **koprik sru client (iterate)** pages through
``cql.allRecords`` there by ``startRecord``, as through Zebra below.

Then a Zebra (``tests/data/zebra/start-zebra``) over ``--zebra-records`` demo records, harvested
by SRU (``marcxml``, the version Zebra's explain answers in) and by Z39.50 (USMARC):

- **koprik sru client (iterate)**: :class:`harvester.sru_client.SruClient` paging the results;
- **koprik harvest (store)**: a full run of an SRU source, and of a Z39.50 source, into a new
  SQLite catalogue.

Prints records/s and the CPU time of the benchmark's process tree (its own process and its
worker processes, not the provider's) for each; asserts nothing. This process runs as the
``koprik`` command does, its garbage collector tuned (:mod:`config.runtime`): with Python's
defaults the harvest's own process spent about 60 µs more a record collecting garbage than
``koprik harvest`` does.
``--skip-oai`` runs the Zebra rows alone.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oai_provider import bench_settings, ensure_catalogue
from sickle import Sickle

from catalog import Catalog
from catalog.demo import demo_records
from config import DatabaseSettings, HarvestSource, Settings
from config.runtime import tune_collector
from crosswalks.marc_io import record_to_iso2709
from harvester.oai_client import OaiClient, Politeness
from harvester.runs import harvest
from harvester.sru_client import SruClient
from harvester.sru_harvest import DEFAULT_PAGE

PREFIXES = ("marc21", "oai_dc")
PROVIDER_SCRIPT = Path(__file__).resolve().parent / "oai_provider.py"
START_ZEBRA = Path(__file__).resolve().parents[1] / "tests" / "data" / "zebra" / "start-zebra"
EVERYTHING_CQL = "cql.allRecords=1"
EVERYTHING_PQF = '@attr 1=1016 @attr 2=103 ""'


def sickle_rate(url: str, prefix: str) -> tuple[int, float, float]:
    cpu, start = tree_cpu_seconds(), time.perf_counter()
    count = 0
    for _record in Sickle(url, max_retries=0, timeout=600).ListRecords(
        metadataPrefix=prefix, ignore_deleted=False
    ):
        count += 1
    return count, time.perf_counter() - start, tree_cpu_seconds() - cpu


async def _client_iteration(url: str, prefix: str) -> int:
    count = 0
    async with OaiClient(url, Politeness(delay=0, timeout=600)) as client:
        async for page in client.list_pages("ListRecords", prefix=prefix):
            count += len(page.records)
    return count


def client_rate(url: str, prefix: str) -> tuple[int, float, float]:
    cpu, start = tree_cpu_seconds(), time.perf_counter()
    count = asyncio.run(_client_iteration(url, prefix))
    return count, time.perf_counter() - start, tree_cpu_seconds() - cpu


async def _sru_iteration(url: str) -> int:
    count, start = 0, 1
    async with SruClient(url, Politeness(delay=0, timeout=600)) as client:
        await client.explain()
        while True:
            page = await client.search(EVERYTHING_CQL, "marcxml", start=start,
                                       maximum=DEFAULT_PAGE)
            count += len(page.records)
            start = page.next_position or start + len(page.records)
            if not page.records or start > page.hits:
                return count


def sru_client_rate(url: str) -> tuple[int, float, float]:
    cpu, start = tree_cpu_seconds(), time.perf_counter()
    count = asyncio.run(_sru_iteration(url))
    return count, time.perf_counter() - start, tree_cpu_seconds() - cpu


def tree_cpu_seconds() -> float:
    """CPU seconds (user and system) of this process and its living descendants (the
    catalogue's worker processes and their fork server), read from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    tree, grown = {os.getpid()}, True
    while grown:
        more = {pid for pid, (parent, _) in stats.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    return sum(stats[pid][1] for pid in tree if pid in stats)


HARVEST_ELSEWHERE = """
import json, sys
from config.runtime import tune_collector
tune_collector()
from harvest import harvest_here
print(json.dumps(harvest_here(*json.loads(sys.argv[1]))))
"""


def harvest_rate(
    url: str, prefix: str, folder: Path, protocol: str = "oai-pmh", query: str = ""
) -> tuple[int, float, float]:
    """:func:`harvest_here` in a Python process of its own, started with ``-c`` as the
    ``koprik`` command is started from its small entry script: the catalogue's worker processes
    then start as ``koprik harvest``'s do. Started from this script, each would first run this
    script's top level again (CPython 3.11's fork server does not preload ``__main__``),
    importing Sickle, the ``oaipmh`` server and aiohttp: 0.4 s of CPU a worker, about 5 % of the
    CPU of a harvest of 20,000 records."""
    done = subprocess.run(
        [sys.executable, "-c", HARVEST_ELSEWHERE,
         json.dumps([url, prefix, str(folder), protocol, query])],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)},
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the harvest failed: {done.stderr.strip()[-2000:]}")
    count, seconds, cpu = json.loads(done.stdout.splitlines()[-1])
    return count, seconds, cpu


def harvest_here(
    url: str, prefix: str, folder: str, protocol: str = "oai-pmh", query: str = ""
) -> tuple[int, float, float]:
    """Records harvested, seconds and CPU seconds of this process's tree (sampled before the
    catalogue closes, while its worker processes live) for a run into a new catalogue in
    ``folder``."""
    database = Path(folder) / f"harvest-{prefix}-{time.monotonic_ns()}.sqlite3"
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=f"sqlite:///{database}")
    )
    cpu = tree_cpu_seconds()
    catalog = Catalog.open(settings)
    try:
        source = HarvestSource(name="bench", url=url, prefix=prefix, delay=0, timeout=600,
                               protocol=protocol, query=query)
        report = harvest(catalog, source)
        cpu = tree_cpu_seconds() - cpu
    finally:
        catalog.close()
    if report.status != "succeeded":
        raise RuntimeError(f"harvest {report.status}: {report.errors[:3]}")
    return report.counts.total, report.seconds, cpu


def start_provider(kind: str, args: argparse.Namespace) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(PROVIDER_SCRIPT), "--serve", kind, "--records", str(args.records),
         "--page-size", str(args.page_size), "--port", str(args.port), "--folder",
         str(args.folder)],
        stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the {kind} provider did not start")
    return process


def zebra_rows(records: int, folder: Path, port: int) -> list[list[str]]:
    """SRU and Z39.50 harvests of a Zebra over ``records`` demo records."""
    work = folder / "zebra"
    (work / "records").mkdir(parents=True, exist_ok=True)
    (work / "records" / "demo.mrc").write_bytes(
        b"".join(record_to_iso2709(record) for record in demo_records(records))
    )
    subprocess.run([str(START_ZEBRA), str(work / "records"), str(port), str(work / "run")],
                   check=True, capture_output=True)
    rows = []
    try:
        time.sleep(0.5)
        sru = f"http://127.0.0.1:{port}/Default"
        for name, measure in (
            ("koprik sru client (iterate)", lambda: sru_client_rate(sru)),
            ("koprik harvest (store)",
             lambda: harvest_rate(sru, "marcxml", folder, "sru", EVERYTHING_CQL)),
        ):
            rows.append(["zebra", "marcxml (SRU)", name, *_figures(*measure())])
        z3950 = f"z3950://127.0.0.1:{port}/Default"
        rows.append(["zebra", "usmarc (Z39.50)", "koprik harvest (store)",
                     *_figures(*harvest_rate(z3950, "", folder, "z3950", EVERYTHING_PQF))])
    finally:
        subprocess.run([str(START_ZEBRA), "stop", str(work / "run")], check=False)
    return rows


def _figures(count: int, seconds: float, cpu: float) -> list[str]:
    return [f"{count:,}", f"{seconds:.1f}", f"{count / seconds:,.0f}", f"{cpu:.1f}",
            f"{cpu / count * 1e6:,.0f}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/koprik-oai-bench"))
    parser.add_argument("--port", type=int, default=18_490)
    parser.add_argument("--zebra-records", type=int, default=10_000,
                        help="0: no Zebra rows")
    parser.add_argument("--skip-oai", action="store_true", help="run the Zebra rows alone")
    args = parser.parse_args()
    tune_collector()
    args.folder.mkdir(parents=True, exist_ok=True)
    if not args.skip_oai:
        ensure_catalogue(bench_settings(args.folder, args.records, args.page_size), args.records)
    rows = []
    with tempfile.TemporaryDirectory(prefix="koprik-harvest-bench-") as scratch:
        for kind in () if args.skip_oai else ("koprik", "oaipmh"):
            provider = start_provider(kind, args)
            url = f"http://127.0.0.1:{args.port}/oai"
            try:
                for prefix in PREFIXES:
                    for name, measure in (
                        ("sickle (iterate)", lambda u, p: sickle_rate(u, p)),
                        ("koprik client (iterate)", lambda u, p: client_rate(u, p)),
                        ("koprik harvest (store)", lambda u, p: harvest_rate(u, p, Path(scratch))),
                    ):
                        count, seconds, cpu = measure(url, prefix)
                        rows.append([kind, prefix, name, *_figures(count, seconds, cpu)])
                        print(f"  {kind} {prefix} {name}: {count / seconds:,.0f}/s",
                              file=sys.stderr, flush=True)
                if kind == "koprik":  # its SRU, paged by startRecord as SRU harvesters do
                    count, seconds, cpu = sru_client_rate(f"http://127.0.0.1:{args.port}/sru")
                    rows.append([kind, "marcxml (SRU)", "koprik sru client (iterate)",
                                 *_figures(count, seconds, cpu)])
            finally:
                provider.terminate()
                provider.wait(timeout=30)
        if args.zebra_records:
            rows += zebra_rows(args.zebra_records, Path(scratch), args.port + 1)
    head = ["provider", "format", "harvester", "records", "seconds", "records/s", "cpu s",
            "cpu µs/record"]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
