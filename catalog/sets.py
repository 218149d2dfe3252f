"""OAI sets computed from each record by the configured rules.

A rule yields values; a record with value ``uzb`` under the rule whose spec is ``lang`` is in
``lang:uzb`` and, since OAI sets are hierarchical, in ``lang`` too. Set specs may only hold
URI-unreserved characters, so values are reduced to those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from pymarc import Record

from config import SetRule
from crosswalks.dublin_core import marc_languages

_UNRESERVED = re.compile(r"[^A-Za-z0-9\-_.!~*'()]+")

LANGUAGE_NAMES = {
    "uzb": "Uzbek",
    "rus": "Russian",
    "eng": "English",
    "kaa": "Karakalpak",
    "tgk": "Tajik",
    "kaz": "Kazakh",
    "kir": "Kyrgyz",
    "tuk": "Turkmen",
    "tur": "Turkish",
    "per": "Persian",
    "ara": "Arabic",
    "chg": "Chagatai",
    "ger": "German",
    "fre": "French",
    "chi": "Chinese",
    "jpn": "Japanese",
    "kor": "Korean",
    "arm": "Armenian",
    "hin": "Hindi",
    "spa": "Spanish",
    "ita": "Italian",
    "lat": "Latin",
    "mul": "Multiple languages",
    "und": "Undetermined",
    "zxx": "No linguistic content",
}

MATERIAL_NAMES = {
    "book": "Books",
    "serial": "Continuing resources",
    "map": "Maps",
    "score": "Music scores",
    "recording": "Sound recordings",
    "music": "Music recordings",
    "visual": "Visual materials",
    "computer": "Computer files",
    "manuscript": "Manuscripts",
    "mixed": "Mixed materials",
    "kit": "Kits",
    "object": "Three-dimensional objects",
}

_TYPE_OF_RECORD = {
    "a": "book",
    "t": "manuscript",
    "e": "map",
    "f": "map",
    "c": "score",
    "d": "score",
    "i": "recording",
    "j": "music",
    "g": "visual",
    "k": "visual",
    "m": "computer",
    "o": "kit",
    "p": "mixed",
    "r": "object",
}


def material_type(record: Record) -> str | None:
    """Material type from leader/06-07 (a book with bibliographic level s or i is a serial)."""
    leader = str(record.leader)
    material = _TYPE_OF_RECORD.get(leader[6:7])
    if material == "book" and leader[7:8] in ("s", "i"):
        return "serial"
    return material


def institutions(record: Record) -> list[str]:
    """Contributing institutions: 040 $a (original cataloguing agency) and 852 $a."""
    codes = [c for f in record.get_fields("040") for c in f.get_subfields("a")]
    codes += [c for f in record.get_fields("852") for c in f.get_subfields("a")]
    return _unique(codes)


def _unique(values: Iterator[str] | list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        cleaned = _UNRESERVED.sub("", value.strip())
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


def set_specs(
    record: Record, rules: Iterable[SetRule], source: str | None = None, *,
    language_codes: Sequence[str] | None = None,
) -> list[str]:
    """Every set spec the record belongs to, parents included, sorted. ``language_codes``:
    the record's :func:`~crosswalks.dublin_core.marc_languages`, when the caller has them
    already (None: worked out here)."""
    specs: set[str] = set()
    values: Sequence[str]
    for rule in rules:
        if rule.rule == "collection":
            if source is not None and source in rule.sources:
                specs.add(rule.spec)
            continue
        if rule.rule == "language":
            values = marc_languages(record) if language_codes is None else language_codes
        elif rule.rule == "material":
            material = material_type(record)
            values = [material] if material else []
        else:
            values = institutions(record)
        for value in values:
            specs.add(rule.spec)
            specs.add(f"{rule.spec}:{value}")
    return sorted(specs)


def set_name(spec: str, rules: list[SetRule]) -> str:
    """A human name for ``spec``, from the rule's name and the value tables."""
    parent, _, value = spec.partition(":")
    rule = next((r for r in rules if r.spec == parent), None)
    if rule is None:
        return spec
    if not value:
        return rule.name
    if rule.rule == "language":
        return f"{rule.name}: {LANGUAGE_NAMES.get(value, value)}"
    if rule.rule == "material":
        return f"{rule.name}: {MATERIAL_NAMES.get(value, value)}"
    return f"{rule.name}: {value}"
