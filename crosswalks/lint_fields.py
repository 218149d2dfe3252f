"""MARC 21 bibliographic field definitions: tags, indicators, subfields, repeatability.

The definitions are data (``tables/marc21_bibliographic.tsv``); the messages are MARC::Lint's,
so a cataloger who knows that tool reads them alike. Local fields (9XX and X9X) are not
judged; an 880 is judged by the field its $6 names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from operator import itemgetter
from typing import NamedTuple

from pymarc import Field, Record


class Finding(NamedTuple):
    """One problem: the field (None for the record), where in it, the rule, the message."""

    tag: str | None
    position: str | None
    rule: str
    message: str


@dataclass
class FieldRule:
    repeatable: bool
    indicators: tuple[str, str]
    subfields: dict[str, bool] = field(default_factory=dict)  # code -> repeatable


@cache
def definitions() -> dict[str, FieldRule]:
    """``{tag: FieldRule}`` of every defined bibliographic field."""
    rules: dict[str, FieldRule] = {}
    text = resources.files("crosswalks.tables").joinpath("marc21_bibliographic.tsv")
    for line in text.read_text("utf-8").splitlines():
        if line.startswith("#"):
            continue
        kind, tag, *rest = line.split("\t")
        if kind == "field":
            repeatable, ind1, ind2, _name = rest
            indicators = (ind1.replace("#", " "), ind2.replace("#", " "))
            if indicators == ("Same", "Same"):  # 880: judged as the field it links to
                indicators = ("", "")
            rules[tag] = FieldRule(repeatable == "R", indicators)
        else:
            code, repeatable, _name = rest
            rules[tag].subfields[code] = repeatable == "R"
    return rules


Tagged = dict[str, list[Field]]
"""A record's fields by tag, in record order."""


def by_tag(record: Record) -> Tagged:
    """The fields of ``record`` by tag, made once where they are looked up by tag a dozen
    times (the rules of a check, match keys): ``Record.get_fields`` scans every field each
    time."""
    tagged: Tagged = {}
    for fld in record.fields:
        tagged.setdefault(fld.tag, []).append(fld)
    return tagged


def is_local(tag: str) -> bool:
    """9XX and X9X fields are defined by each library, not by MARC 21, except 490 (Series
    Statement), which MARC 21 defines."""
    return tag[:1] == "9" or (tag[1:2] == "9" and tag != "490")


def field_findings(record: Record) -> list[Finding]:
    """Every breach of the field definitions in ``record``."""
    rules = definitions()
    findings: list[Finding] = []
    main_entries = [f.tag for f in record.fields if f.tag[:1] == "1"]
    if len(main_entries) > 1:
        findings.append(Finding("1XX", None, "1xx-count",
                                f"Only one 1XX tag is allowed, but I found {len(main_entries)} "
                                "of them."))
    seen: set[str] = set()
    for fld in record.fields:
        tag = fld.tag
        if tag == "880":
            linkage = (fld.get_subfields("6") or [""])[0]
            if not linkage:
                findings.append(Finding("880", "$6", "880-linkage", "No subfield 6."))
                continue
            tag = linkage[:3]
            key = "880." + tag
        else:
            key = tag
        if is_local(tag):
            continue
        rule = rules.get(tag)
        if rule is None:
            findings.append(Finding(fld.tag, None, "tag-undefined",
                                    f"Tag {tag} is not defined for bibliographic records."))
            continue
        if key in seen and not rule.repeatable:
            findings.append(Finding(tag, None, "field-not-repeatable", "Field is not repeatable."))
        seen.add(key)
        if fld.control_field:
            continue
        indicators = tuple(fld.indicators or ("", ""))
        if "".join(map(_VALUE, fld.subfields)).isprintable():  # no control character
            codes = tuple(map(_CODE, fld.subfields))
            findings.extend(_shape_findings(fld.tag, tag, indicators, codes))
        else:
            findings.extend(_indicator_findings(fld.tag, indicators, rule))
            findings.extend(_subfield_findings(fld.tag, fld.subfields, rule))
    return findings


_CODE = itemgetter(0)
_VALUE = itemgetter(1)


@lru_cache(maxsize=4096)
def _shape_findings(
    shown: str, tag: str, indicators: tuple[str, ...], codes: tuple[str, ...]
) -> tuple[Finding, ...]:
    """The findings of a field shown as ``shown`` and judged as ``tag`` whose values have no
    control character: they depend on its shape alone, which recurs from record to record."""
    rule = definitions()[tag]
    return (*_indicator_findings(shown, indicators, rule),
            *_subfield_findings(shown, [(code, "") for code in codes], rule))


def _indicator_findings(shown: str, indicators: Sequence[str], rule: FieldRule) -> list[Finding]:
    findings: list[Finding] = []
    pairs = zip(indicators, rule.indicators, strict=False)
    for number, (value, allowed) in enumerate(pairs, start=1):
        if allowed and value not in allowed:
            findings.append(Finding(shown, f"ind{number}", "indicator",
                                    f"Indicator {number} must be {_nice(allowed)} but it's "
                                    f'"{value}"'))
    return findings


def _subfield_findings(
    shown: str, subfields: Sequence[tuple[str, str]], rule: FieldRule
) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[str] = set()
    for code, value in subfields:
        repeatable = rule.subfields.get(code)
        if repeatable is None:
            findings.append(Finding(shown, f"${code}", "subfield-undefined",
                                    f"Subfield _{code} is not allowed."))
        elif code in seen and not repeatable:
            findings.append(Finding(shown, f"${code}", "subfield-not-repeatable",
                                    f"Subfield _{code} is not repeatable."))
        if not value.isprintable() and _CONTROL_CHARACTER.search(value) is not None:
            findings.append(Finding(shown, f"${code}", "control-character",
                                    f"Subfield _{code} has an invalid control character"))
        seen.add(code)
    return findings


_CONTROL_CHARACTER = re.compile("[\t\r\n]")
"""None of them is printable: a printable value (most are) is not searched."""


def _nice(allowed: str) -> str:
    """MARC::Lint's wording of a list of indicator values: blank, 0 or 1."""
    names = ["blank" if char == " " else char for char in allowed]
    if allowed == " ":
        return "blank"
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
