"""Benchmark: deduplication into union records, full and incremental (SQLite).

    python bench/dedup.py                     # 30,000 works (about 100,000 records)
    python bench/dedup.py --works 300000      # about 1,000,000 records (takes hours here)

The generated corpus of tests/dedup_corpus.py (five sources, known truth) is loaded with the
records of four sources, deduplicated in full (records/s grouped), then the fifth source's
records are loaded as a harvest would store them and the incremental dedup that follows is
timed (wall clock, and the CPU time of this process: the figure to compare on a shared
machine). Pairwise precision and recall are printed beside. There is no peer to run beside it here
(RecordManager is PHP over MongoDB); the aim named by the issue is a full dedup of 1,000,000
records within 15 minutes on two cores and an incremental one of 10,000 within 30 seconds.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.dedup_corpus
from catalog import Catalog, models
from catalog.dedup import run_dedup
from catalog.store import Incoming
from config import DatabaseSettings, Settings
from config.settings import FileSource
from tests.dedup_corpus import SOURCES, make_corpus, pairwise_scores

LATE = "fer"
"""The source whose records arrive last, as a harvest."""


def load(catalog: Catalog, items: list[Incoming]) -> tuple[float, float]:
    """Store ``items`` as an import would; returns (wall seconds, CPU seconds)."""
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(items), 2000):
        with catalog.writer() as writer:
            writer.put_many(items[start : start + 2000])
    return time.perf_counter() - started, time.process_time() - cpu


def dedup(catalog: Catalog) -> tuple[int, float, float]:
    """Deduplicate what is queued; returns (records looked at, wall seconds, CPU seconds)."""
    cpu = time.process_time()
    report = run_dedup(catalog)
    return report.processed, report.seconds, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--works", type=int, default=30_000)
    args = parser.parse_args()
    corpus = make_corpus(args.works, seed=11)
    folder = Path(tempfile.mkdtemp(prefix="koprik-bench-dedup-"))
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=f"sqlite:///{folder / 'c.sqlite3'}"),
        file_sources=[FileSource(name, f"Uz{name.title()}") for name in SOURCES[1:]])
    catalog = Catalog.open(settings)
    items = [(source, Incoming(record, source=None if source == "nl" else source))
             for source, record, _ in corpus.items]
    early = [item for source, item in items if source != LATE]
    late = [item for source, item in items if source == LATE]
    rows = []
    rows.append(("load (renditions, terms, match keys)", len(early), *load(catalog, early)))
    rows.append(("full dedup", *dedup(catalog)))
    rows.append((f"load of one more source ({LATE})", len(late), *load(catalog, late)))
    rows.append(("incremental dedup after it", *dedup(catalog)))
    r = models.records
    with catalog.engine.connect() as connection:
        found = connection.execute(
            select(r.c.local_id, r.c.union_id, r.c.id).where(~r.c.is_union)).all()
    catalog.close()
    precision, recall = pairwise_scores(
        corpus.truth(), {row.local_id: row.union_id or -row.id for row in found})
    print(f"\n{len(corpus.items):,} records of {args.works:,} works, SQLite, "
          f"{folder / 'c.sqlite3'}")
    print(f"{'step':<40} {'records':>10} {'seconds':>9} {'records/s':>10} {'CPU s':>7} "
          f"{'ms CPU/record':>14}")
    for name, count, spent, cpu in rows:
        print(f"{name:<40} {count:>10,} {spent:>9.1f} {count / spent:>10,.0f} {cpu:>7.1f} "
              f"{1000 * cpu / max(count, 1):>14.3f}")
    print(f"pairwise precision {precision:.4f}, recall {recall:.4f}")


if __name__ == "__main__":
    main()
