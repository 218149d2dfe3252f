"""Speed of the search fold key (crosswalks.uzbek.fold), which indexing runs on every term.

Prints terms/s for single words in the three forms of the test table and for six-word
phrases, folding each term afresh (the function behind ``fold``'s cache, which would otherwise
answer every repeat). A measurement, not a test: it asserts nothing.

    python bench/fold.py [--repeat N]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from crosswalks.uzbek import _fold  # fold without its cache, which would answer repeats

TABLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "uzbek_words.tsv"


def words() -> list[str]:
    with TABLE.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader((line for line in handle if not line.startswith("#")),
                                   delimiter="\t"))
    return [row[column] for row in rows for column in ("cyrillic", "latin_1995", "alalc")]


def rate(terms: list[str]) -> float:
    started = time.perf_counter()
    for term in terms:
        _fold(term)
    return len(terms) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=500)
    args = parser.parse_args()
    single = words() * args.repeat
    phrases = [" ".join(single[i : i + 6]) for i in range(0, len(single), 6)]
    print(f"{'input':<20}{'terms':>10}{'terms/s':>14}")
    print(f"{'words':<20}{len(single):>10}{rate(single):>14,.0f}")
    print(f"{'six-word phrases':<20}{len(phrases):>10}{rate(phrases):>14,.0f}")


if __name__ == "__main__":
    main()
