"""``koprik demo``: fill the catalogue with deterministic demo records."""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ThreadPoolExecutor

from catalog import Catalog, Outcome
from catalog.demo import DemoPlan, demo_records
from catalog.store import Incoming
from config import load_settings
from koprik.logs import configure_logging
from koprik.progress import Progress

BATCH = 1000
"""The most demo records one command loads."""


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    # as serve, which `make serve` runs after it
    configure_logging(settings.log, args.verbose, args.config, settings.database.url)
    catalog = Catalog.open(settings)
    try:
        if args.if_empty and not catalog.is_empty():
            print("demo: the catalogue already has records; nothing loaded")
            return 0
        plan = DemoPlan(records=args.records, seed=args.seed)
        counts = load_demo(catalog, plan)
    finally:
        catalog.close()
    print("demo: " + ", ".join(f"{count} {outcome}" for outcome, count in counts.items()))
    return 0


def load_demo(catalog: Catalog, plan: DemoPlan) -> dict[str, int]:
    """Write ``plan``'s records in batches, then its deletions; return counts by outcome.

    The next batch is generated in a thread while the current one is written (the writer mostly
    waits for its worker processes then, with the interpreter free).
    """
    counts = {outcome.value: 0 for outcome in Outcome}
    records = demo_records(plan.records, plan.seed)

    def next_batch() -> list[Incoming]:
        return [Incoming(record) for record in itertools.islice(records, BATCH)]

    with Progress("demo", total=plan.records) as progress, ThreadPoolExecutor(1) as ahead:
        coming = ahead.submit(next_batch)
        while batch := coming.result():
            coming = ahead.submit(next_batch)
            stored = catalog.write(lambda writer: writer.put_many(batch), "demo")
            for outcome in stored:
                counts[str(outcome) if isinstance(outcome, Outcome) else "rejected"] += 1
            progress.advance(len(batch))
    deleted = catalog.write(
        lambda writer: [writer.delete(local_id) for local_id in plan.deleted_ids()], "demo")
    for outcome in deleted:
        counts[outcome.value] += 1
    return {k: v for k, v in counts.items() if v}
