"""Benchmark: Koprik's harvester end to end beside Sickle merely iterating ListRecords.

    python bench/harvest.py                    # 100,000 demo records
    python bench/harvest.py --records 20000

A provider runs in a process of its own over one demo catalogue (filled once into ``--folder``
by ``bench/oai_provider.py``'s loader, which also serves it): Koprik's own provider, then the
``oaipmh`` 4.0.0 server over the same catalogue. Against each, for ``marc21`` and ``oai_dc``:

- **sickle**: ``Sickle(url).ListRecords(...)`` iterated to the end (fetch and parse only);
- **koprik client**: our :class:`harvester.oai_client.OaiClient` iterating the same pages;
- **koprik harvest**: a full run into a new SQLite catalogue: fetch, parse, crosswalk to MARC21,
  store with renditions, sets and provenance, one transaction per page.

Prints records/s for each; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oai_provider import bench_settings, ensure_catalogue
from sickle import Sickle

from catalog import Catalog
from config import DatabaseSettings, HarvestSource, Settings
from harvester.oai_client import OaiClient, Politeness
from harvester.runs import harvest

PREFIXES = ("marc21", "oai_dc")
PROVIDER_SCRIPT = Path(__file__).resolve().parent / "oai_provider.py"


def sickle_rate(url: str, prefix: str) -> tuple[int, float]:
    start = time.perf_counter()
    count = 0
    for _record in Sickle(url, max_retries=0, timeout=600).ListRecords(
        metadataPrefix=prefix, ignore_deleted=False
    ):
        count += 1
    return count, time.perf_counter() - start


async def _client_iteration(url: str, prefix: str) -> int:
    count = 0
    async with OaiClient(url, Politeness(delay=0, timeout=600)) as client:
        async for page in client.list_pages("ListRecords", prefix=prefix):
            count += len(page.records)
    return count


def client_rate(url: str, prefix: str) -> tuple[int, float]:
    start = time.perf_counter()
    count = asyncio.run(_client_iteration(url, prefix))
    return count, time.perf_counter() - start


def harvest_rate(url: str, prefix: str, folder: Path) -> tuple[int, float]:
    database = folder / f"harvest-{prefix}-{time.monotonic_ns()}.sqlite3"
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=f"sqlite:///{database}")
    )
    catalog = Catalog.open(settings)
    try:
        source = HarvestSource(name="bench", url=url, prefix=prefix, delay=0, timeout=600)
        report = harvest(catalog, source)
    finally:
        catalog.close()
    if report.status != "succeeded":
        raise RuntimeError(f"harvest {report.status}: {report.errors[:3]}")
    return report.counts.total, report.seconds


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/koprik-oai-bench"))
    parser.add_argument("--port", type=int, default=18_490)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    ensure_catalogue(bench_settings(args.folder, args.records, args.page_size), args.records)
    rows = []
    with tempfile.TemporaryDirectory(prefix="koprik-harvest-bench-") as scratch:
        for kind in ("koprik", "oaipmh"):
            provider = start_provider(kind, args)
            url = f"http://127.0.0.1:{args.port}/oai"
            try:
                for prefix in PREFIXES:
                    for name, measure in (
                        ("sickle (iterate)", lambda u, p: sickle_rate(u, p)),
                        ("koprik client (iterate)", lambda u, p: client_rate(u, p)),
                        ("koprik harvest (store)", lambda u, p: harvest_rate(u, p, Path(scratch))),
                    ):
                        count, seconds = measure(url, prefix)
                        rows.append([kind, prefix, name, f"{count:,}", f"{seconds:.1f}",
                                     f"{count / seconds:,.0f}"])
                        print(f"  {kind} {prefix} {name}: {count / seconds:,.0f}/s",
                              file=sys.stderr, flush=True)
            finally:
                provider.terminate()
                provider.wait(timeout=30)
    head = ["provider", "format", "harvester", "records", "seconds", "records/s"]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
