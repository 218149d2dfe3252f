"""CPU per record of each step an ingest worker runs, on generated and on real records.

    python bench/derive.py [--records 2000] [--repeat 3]

For ``--records`` demo records (:func:`catalog.demo.demo_records`, as ISO 2709) and for every
readable ISO 2709 record of ``tests/data/marc21``, prints one row per step: reading ISO 2709
(:func:`crosswalks.iso2709.read_record`), the import validator
(:func:`crosswalks.check.check_record`), the canonical bytes (``canonical_marc``), the three
renditions, the search terms and the match data (keys and the profile as JSON, as stored), then
their sum. Figures are CPU time of this process, the best of ``--repeat`` runs, so that other
work on a shared machine disturbs them less; each run starts with empty caches. Demo records
repeat names and subjects more than a real catalogue does, so the real records' figures are the
ones to trust. Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pymarc import Record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog.demo import demo_records  # noqa: E402
from catalog.match_keys import match_data  # noqa: E402
from catalog.search_index import entries_of  # noqa: E402
from catalog.store import canonical_marc  # noqa: E402
from crosswalks import iso2709  # noqa: E402
from crosswalks.check import check_record  # noqa: E402
from crosswalks.dublin_core import marc_to_dc  # noqa: E402
from crosswalks.marc_io import record_to_iso2709  # noqa: E402
from crosswalks.marcxml import record_to_marcxml  # noqa: E402
from crosswalks.mods import marc_to_mods  # noqa: E402
from crosswalks.uzbek import _remembered_fold  # noqa: E402

MARC21 = ROOT / "tests" / "data" / "marc21"
PREFIXES = ("(OCoLC)",)
TITLE_CHARS = 30


def real_chunks() -> list[bytes]:
    """Every ISO 2709 record of the test data that reads as MARC21 (broken ones left out)."""
    chunks = []
    for path in sorted(MARC21.rglob("*")):
        if path.suffix not in (".dat", ".mrc", ".marc") or "broken" in path.parts:
            continue
        with path.open("rb") as stream:
            for chunk, problem in iso2709.iter_chunks(stream):
                if problem is not None:
                    continue
                try:
                    iso2709.read_record(chunk)
                except iso2709.RecordError:
                    continue
                chunks.append(chunk)
    return chunks


def cpu_per_record(chunks: list[bytes], step: Callable[[bytes, Record], object],
                   repeat: int) -> float:
    """Microseconds of CPU per record for ``step(chunk, record)``, the best of ``repeat`` runs.

    Each run starts with an empty fold cache, as a fresh ingest worker does."""
    records = [iso2709.read_record(chunk)[0] for chunk in chunks]
    pairs = list(zip(chunks, records, strict=True))
    best = float("inf")
    for _ in range(repeat):
        _remembered_fold.cache_clear()
        started = time.process_time()
        for chunk, record in pairs:
            step(chunk, record)
        best = min(best, time.process_time() - started)
    return best / len(pairs) * 1e6


STEPS: dict[str, Callable[[bytes, Record], object]] = {
    "read ISO 2709": lambda chunk, _record: iso2709.read_record(chunk),
    "check_record": lambda _chunk, record: check_record(record),
    "canonical_marc": lambda _chunk, record: canonical_marc(record),
    "MARCXML": lambda _chunk, record: record_to_marcxml(record),
    "oai_dc": lambda _chunk, record: marc_to_dc(record),
    "MODS": lambda _chunk, record: marc_to_mods(record),
    "entries_of": lambda _chunk, record: entries_of(record),
    "match_data": lambda _chunk, record: match_data(record, PREFIXES, TITLE_CHARS)[1].to_json(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    samples = {
        f"{args.records} demo": [record_to_iso2709(r) for r in demo_records(args.records)],
        "real": real_chunks(),
    }
    figures = {name: {step: cpu_per_record(chunks, run, args.repeat)
                      for step, run in STEPS.items()}
               for name, chunks in samples.items()}
    names = list(samples)
    header = f"{'step':<16}" + "".join(
        f"{name + ' µs/rec':>20}{'rec/s':>10}" for name in names
    )
    print(f"CPU per record, best of {args.repeat}; real = {len(samples['real'])} records "
          "of tests/data/marc21")
    print(header)
    print("-" * len(header))
    for step in [*STEPS, "total"]:
        row = f"{step:<16}"
        for name in names:
            micros = (sum(figures[name].values()) if step == "total"
                      else figures[name][step])
            row += f"{micros:>20.1f}{1e6 / micros:>10.0f}"
        print(row)


if __name__ == "__main__":
    main()
