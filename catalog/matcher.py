"""Whether two records describe the same book: veto first, then similarity.

:func:`compare` takes the two records' :class:`~catalog.match_keys.Profile` and the kinds of
match key they share, and answers a :class:`Verdict`: ``match``, ``review`` (an operator
decides) or ``different``, with its confidence and the reason in words. Every threshold is a
``[dedup]`` setting (:class:`config.settings.DedupSettings`).

Vetoes, in order (each when both records state the value): material type, year (more than
``year_tolerance`` apart), extent (pages further apart than ``extent_tolerance_pages`` and
``extent_tolerance_ratio``), edition, series numbering, volume/part (245 $n/$p, else a volume the
title names; also when only one names a volume: a volume is not its set), the part's name (245
$p, ``part_name_min`` alike unless one abridges the other), the remainder of the title (245
$b, ``subtitle_min`` alike in one of its languages unless one abridges the other: "Matematika :
darslik" is not "Matematika : masalalar toʻplami"), the numbers in the titles with their
subtitles (unless one title's are among the other's: "Matematika : 5-sinf uchun" is not
"Matematika : 6-sinf uchun"), ISSN (none shared), ISBN (none shared: another
edition or a translation), language, the main author's forename initial when the surnames are alike
(Karimov, Alisher is not Karimov, Botir). Then:

- with a shared ISBN or other identifier, the titles must be ``id_title_min`` alike and the
  main authors (when both have one; :func:`author_similarity`) ``author_min``, and when they
  cannot be compared, the titles proper too (a subtitle both share is no evidence); confidence
  0.9 + 0.1 x title similarity (one ISBN printed in two books by other authors does not make
  them one);
- otherwise (same title key) the titles must be ``title_min`` alike and the main authors'
  surnames (when both have one) ``author_min`` alike; with a year unknown, a pair for review;
  confidence is the mean of the title and author similarities. Without an author on either
  side, the title similarity times ``anonymous_weight`` when both extents are known (and
  agree), else at most ``review``; with an author on one side only, times
  ``one_author_weight`` when the extents agree, else different.

Confidence from ``accept`` up is a match; from ``review`` up, a pair for review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz.fuzz import ratio

from catalog.match_keys import Profile
from config.settings import DedupSettings

_NUMBER = re.compile(r"\d+")
IDENTIFIER_KINDS = frozenset({"isbn", "issn", "lccn", "nbn", "nba", "std", "ctl"})


class Decision(StrEnum):
    MATCH = "match"
    REVIEW = "review"
    DIFFERENT = "different"


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    score: float
    reason: str


def _different(reason: str) -> Verdict:
    return Verdict(Decision.DIFFERENT, 0.0, reason)


def similarity(a: str, b: str) -> float:
    """Indel similarity of two folded strings, 0 to 1."""
    if not a or not b:
        return 0.0
    return ratio(a, b) / 100.0


def veto(a: Profile, b: Profile, s: DedupSettings) -> str | None:
    """The first reason the two cannot be the same book, or None."""
    if a.material and b.material and a.material != b.material:
        return f"material: {a.material} / {b.material}"
    if a.year is not None and b.year is not None and abs(a.year - b.year) > s.year_tolerance:
        return f"year: {a.year} / {b.year}"
    if a.pages is not None and b.pages is not None:
        allowed = max(s.extent_tolerance_pages, s.extent_tolerance_ratio * max(a.pages, b.pages))
        if abs(a.pages - b.pages) > allowed:
            return f"extent: {a.pages} / {b.pages} pages"
    if a.edition and b.edition and a.edition != b.edition:
        return f"edition: {a.edition} / {b.edition}"
    if a.series_number and b.series_number and a.series_number != b.series_number:
        return f"series numbering: {a.series_number} / {b.series_number}"
    if a.volume != b.volume:
        return f"volume/part: {a.volume or 'none'} / {b.volume or 'none'}"
    if a.part and b.part and unlike(a.part, b.part, s.part_name_min):
        return f"part: {a.part} / {b.part}"
    if a.subtitles and b.subtitles and all(unlike(one, other, s.subtitle_min)
                                           for one in a.subtitles for other in b.subtitles):
        return f"subtitle: {a.subtitles[0]} / {b.subtitles[0]}"
    numbers_a, numbers_b = _numbers(a.title), _numbers(b.title)
    if numbers_a and numbers_b and not (numbers_a <= numbers_b or numbers_b <= numbers_a):
        return f"title numbering: {_listed(numbers_a)} / {_listed(numbers_b)}"
    if a.issns and b.issns and not set(a.issns) & set(b.issns):
        return f"ISSN: {' '.join(a.issns)} / {' '.join(b.issns)}"
    if a.isbns and b.isbns and not set(a.isbns) & set(b.isbns):
        return f"ISBN: none shared ({a.isbns[0]} / {b.isbns[0]})"
    if a.language and b.language and a.language != b.language:
        return f"language: {a.language} / {b.language}"
    if a.forename and b.forename and a.forename != b.forename and _alike(a.author, b.author, s):
        return f"author's forename: {a.forename}. / {b.forename}."
    return None


def unlike(a: str, b: str, least: float) -> bool:
    """Whether two folded names (of parts, or subtitles) clearly differ: less than ``least``
    alike, and neither abridges the other (each word of the one with fewer words begins a word
    of the other, in order: "oquv qoll" and "oquv qollanma", "darslik" and "5 sinf uchun
    darslik")."""
    if similarity(a, b) >= least:
        return False
    fewer, more = sorted((a.split(), b.split()), key=len)
    words = iter(more)
    return not all(any(word.startswith(short) for word in words) for short in fewer)


def _numbers(folded_title: str) -> set[int]:
    return {int(n) for n in _NUMBER.findall(folded_title)}


def _listed(numbers: set[int]) -> str:
    return " ".join(map(str, sorted(numbers)))


def _alike(a: str | None, b: str | None, s: DedupSettings) -> bool:
    """Whether two folded surnames are ``author_min`` alike."""
    return a is not None and b is not None and author_similarity(a, b) >= s.author_min


def author_similarity(a: str, b: str) -> float:
    """Similarity of two main authors' folded names, surnames as a rule; a name written whole
    in direct order, with no comma ("Alisher Navoiy", 100 first indicator 0), against a
    surname ("Navoiy, Alisher") is compared word by word, its closest word counting."""
    whole = similarity(a, b)
    words_a, words_b = a.split(), b.split()
    if len(words_a) > 1 and len(words_b) == 1:
        return max(whole, *(similarity(word, b) for word in words_a))
    if len(words_b) > 1 and len(words_a) == 1:
        return max(whole, *(similarity(a, word) for word in words_b))
    return whole


def compare(a: Profile, b: Profile, shared: frozenset[str], s: DedupSettings) -> Verdict:
    """The verdict on ``a`` and ``b`` given the kinds of match key they share."""
    reason = veto(a, b, s)
    if reason is not None:
        return _different(reason)
    title = max(similarity(a.title, b.title), similarity(a.title_proper, b.title_proper))
    identifiers = sorted(shared & IDENTIFIER_KINDS)
    if identifiers:
        if title < s.id_title_min:
            return _different(f"title: {title:.2f} < {s.id_title_min} despite shared "
                              f"{'/'.join(identifiers)}")
        if not (a.author and b.author) and (proper := _proper_similarity(a, b)) < s.id_title_min:
            return _different(f"title proper: {proper:.2f} < {s.id_title_min} despite shared "
                              f"{'/'.join(identifiers)}, no authors to compare")
        author = author_similarity(a.author, b.author) if a.author and b.author else 1.0
        if author < s.author_min:
            return _different(f"author: {a.author} / {b.author} ({author:.2f} < "
                              f"{s.author_min}) despite shared {'/'.join(identifiers)}")
        score = 0.9 + 0.1 * title
        return _verdict(score, s, f"shared {'/'.join(identifiers)}, title {title:.2f}")
    if title < s.title_min:
        return _different(f"title: {title:.2f} < {s.title_min}")
    author = author_similarity(a.author, b.author) if a.author and b.author else None
    if author is not None and author < s.author_min:
        # before the year: undated books of one title by other authors went to review
        return _different(f"author: {a.author} / {b.author} ({author:.2f} < {s.author_min})")
    if a.year is None or b.year is None:
        return _verdict(min(title, s.accept) - 0.01, s, f"title {title:.2f}, a year unknown")
    if author is not None:
        return _verdict((title + author) / 2, s, f"title {title:.2f}, author {author:.2f}")
    if a.author or b.author:
        if a.pages is not None and b.pages is not None:
            return _verdict(title * s.one_author_weight, s,
                            f"title {title:.2f}, extent agrees, author on one side only")
        return _different(f"author: {a.author or 'none'} / {b.author or 'none'}")
    if a.pages is not None and b.pages is not None:
        return _verdict(title * s.anonymous_weight, s,
                        f"title {title:.2f}, extent agrees, no author on either")
    return _verdict(min(title, s.accept) - 0.01, s, f"title {title:.2f}, no author on either")


def _proper_similarity(a: Profile, b: Profile) -> float:
    """How alike the titles proper are, or one's title proper and the other's title with its
    subtitle (a cataloguer who put the subtitle in $a): without authors to compare, a subtitle
    the two share (a series' or a set's phrase, kept in the copy of another book printed with
    the same ISBN) must not make their titles alike."""
    return max(similarity(a.title_proper, b.title_proper),
               similarity(a.title_proper, b.title), similarity(a.title, b.title_proper))


def _verdict(score: float, s: DedupSettings, reason: str) -> Verdict:
    score = round(max(0.0, min(1.0, score)), 3)
    if score >= s.accept:
        return Verdict(Decision.MATCH, score, reason)
    if score >= s.review:
        return Verdict(Decision.REVIEW, score, reason)
    return Verdict(Decision.DIFFERENT, score, f"confidence {score} < {s.review}: {reason}")
