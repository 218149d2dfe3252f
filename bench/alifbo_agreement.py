"""Agreement of the Python package alifbo and of crosswalks.uzbek with the hand-written word table
tests/data/uzbek_words.tsv (1995 Latin alphabet).

alifbo targets the 2026 alphabet, so the 1995 forms go through its old-Latin converters. Prints,
for each converter and direction, how many table rows it gets exactly right. A comparison, not a
test: it asserts nothing. (Not named alifbo.py: the script's folder comes first on sys.path and
would shadow the package.)

    python bench/alifbo_agreement.py
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import alifbo

from crosswalks.uzbek import cyrillic_to_latin, latin_to_cyrillic

TABLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "uzbek_words.tsv"


def rows() -> list[dict[str, str]]:
    with TABLE.open(encoding="utf-8") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        return list(csv.DictReader(lines, delimiter="\t"))


def pairs(table: list[dict[str, str]], source: str, target: str, direction: str) -> list[
    tuple[str, str]
]:
    """``(source form, expected form)`` of the rows meant for ``direction`` (or both ways)."""
    return [(r[source], r[target]) for r in table if r["direction"] in ("both", direction)]


def agreement(pairs: list[tuple[str, str]], convert: Callable[[str], str]) -> int:
    """How many ``(source, expected)`` pairs ``convert`` turns into exactly the expected form."""
    return sum(convert(source) == expected for source, expected in pairs)


def main() -> None:
    table = rows()
    forward = pairs(table, "cyrillic", "latin_1995", "c2l")
    backward = pairs(table, "latin_1995", "cyrillic", "l2c")
    converters: dict[str, tuple[Callable[[str], str], Callable[[str], str]]] = {
        "alifbo": (
            lambda text: alifbo.to_old_latin(alifbo.from_cyrillic(text).text).text,
            lambda text: alifbo.to_cyrillic(alifbo.to_new_latin(text).text).text,
        ),
        "crosswalks.uzbek": (cyrillic_to_latin, latin_to_cyrillic),
    }
    heads = (f"Cyrillic->Latin /{len(forward)}", f"Latin->Cyrillic /{len(backward)}")
    print(f"{'converter':<20}{heads[0]:>24}{heads[1]:>24}")
    for name, (to_latin, to_cyrillic) in converters.items():
        right_forward = agreement(forward, to_latin)
        right_backward = agreement(backward, to_cyrillic)
        print(f"{name:<20}{right_forward:>24}{right_backward:>24}")


if __name__ == "__main__":
    main()
