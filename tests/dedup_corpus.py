"""A generated corpus for deduplication with known truth: works held by up to five sources.

Each work is a book (an invented Uzbek title, often a subtitle, an author, a year, pages, an
ISBN); each source holding it has its own copy, catalogued its own way: in Cyrillic, Latin or
ALA-LC romanization, with other punctuation, apostrophes and capitals, with or without the
subtitle, the author's forename in full or as an initial (now and then no main entry at all),
the ISBN as ISBN-13, ISBN-10, missing or mistyped (wrong check digit), now and then a typo in
the title, another page count or unnumbered pages, no date in 008. Among the works are traps that
must stay apart from the work they resemble: another edition (other year and ISBN), the volumes
of a set (numbered in 245 $n, or in the title itself), a reprint (same ISBN, another year), the
same title by another author, the same book but for the author's forename (same surname, year
and extent, no ISBN), a translation into Russian, another book printed with the same ISBN, and
a companion book with the same title but another subtitle ("Matematika : darslik" and
"Matematika : masalalar toʻplami"; there every copy gives the subtitle, which elsewhere is now
and then abridged, or followed by a parallel one in Russian).

>>> corpus = make_corpus(works=7000, seed=1)
>>> corpus.items[0]          # (source, record, work id)
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

from pymarc import Record
from stdnum import isbn as stdnum_isbn

from crosswalks.uzbek import latin_to_cyrillic, romanize_alalc
from tests.books import book

SOURCES = ("nl", "sam", "bux", "xor", "fer")
"""The five sources; ``nl`` plays the repository itself (records with 003 UzNL)."""
_ONSETS = ["b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "q", "r", "s", "t", "v", "x",
           "y", "z", "sh", "ch", "gʻ"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "o", "i", "oʻ"]
_APOSTROPHES = ("ʻ", "‘", "'", "`")
_TRANSLATION_WORDS = ["история", "жизнь", "наука", "мир", "путь", "слово", "город", "земля",
                      "книга", "сказки"]


@dataclass
class Corpus:
    items: list[tuple[str, Record, int]] = field(default_factory=list)
    traps: Counter[str] = field(default_factory=Counter)

    def truth(self) -> dict[str, int]:
        """Local identifier (``SOURCE:001``, or the 001 for ``nl``) -> work id."""
        return {_local_id(source, record): work for source, record, work in self.items}


def _local_id(source: str, record: Record) -> str:
    control = record["001"].data
    return control if source == "nl" else f"{source}:{control}"


def make_corpus(works: int, seed: int = 1) -> Corpus:
    """About three records per work, from the five sources."""
    rng = random.Random(seed)
    corpus = Corpus()
    counters: Counter[str] = Counter()
    used_isbns: set[str] = set()
    work_id = 0

    def new_isbn() -> str:
        while True:
            body = "9789943" + "".join(rng.choice("0123456789") for _ in range(5))
            total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
            isbn = body + str((10 - total % 10) % 10)
            if isbn not in used_isbns:
                used_isbns.add(isbn)
                return isbn

    def emit(work: dict[str, object], holders: Iterable[str]) -> None:
        for source in holders:
            counters[source] += 1
            corpus.items.append((source, _copy(rng, work, source, counters[source]), work["id"]))

    def holders() -> list[str]:
        return rng.sample(SOURCES, rng.choice((1, 2, 3, 3, 4, 4, 5, 5)))

    while work_id < works:
        work_id += 1
        base: dict[str, object] = {
            "id": work_id,
            "title": _title(rng),
            "subtitle": _title(rng).lower() if rng.random() < 0.3 else None,
            "author": _author(rng) if rng.random() < 0.9 else None,
            "year": rng.randint(1960, 2024),
            "pages": rng.randint(48, 900),
            "isbn": new_isbn() if rng.random() < 0.85 else None,
            "language": "uzb",
        }
        trap = rng.random()
        companion = 0.25 <= trap < 0.28 and work_id + 1 < works
        if companion:  # every copy of the book and of its companion says its subtitle
            base.update(subtitle=base["subtitle"] or _title(rng).lower(), subtitle_always=True)
        emit(base, holders())
        if trap < 0.05 and work_id + 1 < works:
            work_id += 1
            corpus.traps["edition"] += 1
            emit({**base, "id": work_id, "edition": f"{rng.randint(2, 5)}-nashr",
                  "year": int(base["year"]) + rng.randint(2, 10) if int(base["year"]) < 2015
                  else int(base["year"]) - rng.randint(2, 10),
                  "isbn": new_isbn()}, holders())
        elif trap < 0.09 and work_id + 4 < works:
            corpus.traps["volumes"] += 1
            volumes = rng.randint(2, 4)
            in_title = rng.random() < 0.3  # "Asarlar. 2-jild": the volume in 245 $a, no $n
            for number in range(1, volumes + 1):
                work_id += 1
                named = ({"title": f"{base['title']}. {number}-jild"} if in_title
                         else {"volume": f"{number}-jild"})
                emit({**base, "id": work_id, **named,
                      "isbn": new_isbn() if base["isbn"] else None}, holders())
        elif trap < 0.12 and work_id + 1 < works:
            work_id += 1
            corpus.traps["reprint"] += 1
            emit({**base, "id": work_id, "year": int(base["year"]) + rng.randint(1, 6)},
                 holders())
        elif trap < 0.15 and work_id + 1 < works:
            work_id += 1
            corpus.traps["same title, other author"] += 1
            emit({**base, "id": work_id, "author": _author(rng), "isbn": new_isbn(),
                  "pages": rng.randint(48, 900)}, holders())
        elif trap < 0.18 and work_id + 1 < works:
            work_id += 1
            corpus.traps["translation"] += 1
            words = rng.sample(_TRANSLATION_WORDS, 2)
            emit({**base, "id": work_id, "title": " ".join(words).capitalize(),
                  "language": "rus", "isbn": new_isbn(), "script": "cyrillic"}, holders())
        elif trap < 0.21 and base["isbn"] and work_id + 1 < works:
            work_id += 1
            corpus.traps["ISBN reused for another book"] += 1
            emit({**base, "id": work_id, "title": _title(rng), "author": _author(rng),
                  "pages": rng.randint(48, 900)}, holders())
        elif 0.21 <= trap < 0.25 and base["author"] and work_id + 1 < works:
            work_id += 1  # the same book in all but the forename: two Karimovs' "Tarix"
            corpus.traps["same title, same surname, other forename"] += 1
            surname, forename = str(base["author"]).split(", ")
            other = rng.choice([o for o in "bdflmnprtz" if o != forename[0].lower()])
            emit({**base, "id": work_id, "author": f"{surname}, {other.upper()}{_word(rng)[1:]}",
                  "isbn": None}, holders())
        elif companion:
            work_id += 1  # "Matematika : darslik" and "Matematika : masalalar toʻplami"
            corpus.traps["same title, other subtitle"] += 1
            emit({**base, "id": work_id, "subtitle": _title(rng).lower(), "isbn": None},
                 holders())
    return corpus


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 3)))


def _title(rng: random.Random) -> str:
    return " ".join(_word(rng) for _ in range(rng.randint(2, 5))).capitalize()


def _author(rng: random.Random) -> str:
    return f"{_word(rng).capitalize()}ov, {_word(rng).capitalize()}"


def _copy(rng: random.Random, work: dict[str, object], source: str, number: int) -> Record:
    """One source's record of ``work``."""
    title, author = str(work["title"]), work["author"]
    if author and rng.random() < 0.2:
        surname, forename = str(author).split(", ")
        author = f"{surname}, {forename[0]}."
    if author and rng.random() < 0.03:
        author = None  # entered under its title by this cataloguer
    subtitle = work.get("subtitle") if rng.random() < 0.7 or work.get("subtitle_always") else None
    if subtitle and rng.random() < 0.05:
        *first, last = str(subtitle).split(" ")
        if len(last) > 5:
            subtitle = " ".join([*first, last[:4] + "."])  # abridged: "oʻquv qoʻll."
    if work.get("script") != "cyrillic" and rng.random() < 0.08 and len(title) > 8:
        at = rng.randrange(2, len(title) - 1)  # a typo: one letter replaced
        title = title[:at] + rng.choice("aeioubdkmst") + title[at + 1 :]
    apostrophe = rng.choice(_APOSTROPHES)
    title, author = title.replace("ʻ", apostrophe), (
        str(author).replace("ʻ", apostrophe) if author else None)
    script = work.get("script") or rng.choices(("latin", "cyrillic", "ala-lc"), (55, 35, 10))[0]
    if script != "latin":
        if work.get("script") != "cyrillic":
            title = latin_to_cyrillic(title)
            subtitle = latin_to_cyrillic(str(subtitle)) if subtitle else None
        author = latin_to_cyrillic(str(author)) if author else None
    if script == "ala-lc":
        title, author = romanize_alalc(title), romanize_alalc(author) if author else None
        subtitle = romanize_alalc(str(subtitle)) if subtitle else None
    if subtitle and rng.random() < 0.1:  # a parallel remainder of the title, in Russian
        subtitle = f"{subtitle} = {' '.join(rng.sample(_TRANSLATION_WORDS, 2))}"
    if rng.random() < 0.03:
        title = title.upper()
    title += rng.choice(("", "", ".", " /"))
    isbns: list[str] = []
    if work["isbn"]:
        roll = rng.random()
        isbn = str(work["isbn"])
        if roll < 0.35:
            isbns = [stdnum_isbn.format(isbn)]
        elif roll < 0.6:
            isbns = [stdnum_isbn.to_isbn10(isbn) + rng.choice(("", " (pbk.)"))]
        elif roll < 0.8:
            isbns = [isbn]
        elif roll < 0.85:
            isbns = [isbn[:-1] + str((int(isbn[-1]) + 1) % 10)]  # wrong check digit
    pages = int(work["pages"]) + (rng.choice((-1, 1, 2)) if rng.random() < 0.1 else 0)
    record = book(
        f"{source}{number:06d}", title, author=author, year=int(work["year"]),
        isbn=isbns, pages=pages, language=str(work["language"]), subtitle=subtitle,
        edition=work.get("edition"), volume=work.get("volume"),  # type: ignore[arg-type]
        organization="UzNL" if source == "nl" else None,
    )
    if rng.random() < 0.1:
        record["300"]["a"] = f"[{rng.randint(2, 8)}], {pages} b."
    if rng.random() < 0.05:  # no date in 008: the year is read from 260 $c
        fixed = record["008"].data
        record["008"].data = fixed[:7] + "    " + fixed[11:]
    return record


def pairwise_scores(truth: dict[str, int], groups: dict[str, str]) -> tuple[float, float]:
    """Pairwise precision and recall of ``groups`` (local id -> group) against ``truth``."""
    true_pairs = _pairs(truth)
    found_pairs = _pairs(groups)
    right = len(true_pairs & found_pairs)
    precision = right / len(found_pairs) if found_pairs else 1.0
    recall = right / len(true_pairs) if true_pairs else 1.0
    return precision, recall


def _pairs(assignment: dict[str, object]) -> set[tuple[str, str]]:
    by_group: dict[object, list[str]] = {}
    for local_id, group in assignment.items():
        by_group.setdefault(group, []).append(local_id)
    return {pair for members in by_group.values() for pair in combinations(sorted(members), 2)}
