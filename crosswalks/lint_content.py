"""Content rules a cataloger checks beyond the field definitions.

- ``isbd-punctuation``: leader/18 'i' or 'a' promises ISBD punctuation at the end of the
  subfields that precede others in 245, 250, 260, 264 and 300; 'c' promises none there.
- ``isbn``, ``issn``: check digits of 020 $a and 022 $a (python-stdnum).
- ``880-linkage``: each $6 "880-NN" has an 880 pointing back "TAG-NN", and each 880 has its
  field (occurrence 00 excepted: an 880 with no partner).
- ``041-language``: 008/35-37 is the first language in 041 $a.
- ``rda``: 040 $e rda goes with 264 (not 260) and the 336, 337 and 338 types.
- ``tag-order``: control fields first, in ascending tag order, then data fields in ascending
  order of their hundreds (1XX before 2XX...; within one, such as notes and subjects, the order
  is the cataloguer's); 880 and local fields excepted.
- ``subject-subdivision``: subdivisions of 6XX in $v $x $y $z, not "--" inside $a (spaced or
  not: "History -- Uzbekistan", "History--Uzbekistan").
- ``300-dimensions``: dimensions in 300 $c, not at the end of $a or $b.
"""

from __future__ import annotations

import re

from pymarc import Field, Record
from stdnum.exceptions import ValidationError

from crosswalks.lint_fields import Finding, Tagged, is_local
from crosswalks.standard_numbers import valid_isbn, valid_issn

# For each field: (code, codes that may follow, the ending ISBD puts before them).
ISBD_ENDINGS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "245": [("a", "b", (" :", " =", " ;")), ("a", "c", (" /",)), ("b", "c", (" /",)),
            ("n", "c", (" /",)), ("p", "c", (" /",)), ("a", "n", (".",)), ("b", "n", (".",))],
    "250": [("a", "b", (" /", " ,", " =")),],
    "260": [("a", "b", (" :",)), ("b", "c", (",",)), ("a", "c", (",",))],
    "264": [("a", "b", (" :",)), ("b", "c", (",",)), ("a", "c", (",",))],
    "300": [("a", "b", (" :",)), ("a", "c", (" ;",)), ("b", "c", (" ;",))],
}
_ISBD_PAIRS = {
    tag: {(before, after): [(endings, tuple(e.strip() for e in endings))
                            for b, a, endings in rules if (b, a) == (before, after)]
          for before, after, _endings in rules}
    for tag, rules in ISBD_ENDINGS.items()
}
"""ISBD_ENDINGS by field and pair of adjacent codes: each rule's endings, and them stripped."""
_DIMENSIONS = re.compile(r"\b\d+(?: x \d+)? ?cm\b|\bin\.$")


def content_findings(record: Record, fields: Tagged) -> list[Finding]:
    """Every breach of the content rules in ``record``, whose ``fields`` by tag are given."""
    findings: list[Finding] = []
    findings += _isbd(record, fields)
    findings += _standard_numbers(fields)
    findings += _linkage(record)
    findings += _language(fields)
    findings += _rda(fields)
    findings += _tag_order(record)
    findings += _subdivisions_and_dimensions(record, fields)
    return findings


def _isbd(record: Record, fields: Tagged) -> list[Finding]:
    code = str(record.leader)[18:19]
    if code not in ("a", "i", "c"):
        return []
    findings = []
    for tag, rules in _ISBD_PAIRS.items():
        for fld in fields.get(tag, ()):
            pairs = list(zip(fld.subfields, fld.subfields[1:], strict=False))
            for (this, value), (following, _next) in pairs:
                for endings, stripped in rules.get((this, following), ()):
                    ends = value.rstrip().endswith(stripped)
                    if code in "ai" and not ends:
                        findings.append(Finding(tag, f"${this}", "isbd-punctuation",
                                                f"leader/18 {code!r} says ISBD punctuation, but "
                                                f"${this} before ${following} does not end with "
                                                + " or ".join(repr(e) for e in endings)))
                    elif code == "c" and ends:
                        findings.append(Finding(tag, f"${this}", "isbd-punctuation",
                                                "leader/18 'c' says ISBD punctuation omitted, "
                                                f"but ${this} ends with it"))
    return findings


def _standard_numbers(fields: Tagged) -> list[Finding]:
    findings = []
    for tag, valid, name in (("020", valid_isbn, "ISBN"), ("022", valid_issn, "ISSN")):
        for fld in fields.get(tag, ()):
            for value in fld.get_subfields("a"):
                number = value.split(" ")[0].strip()
                try:
                    valid(number)
                except ValidationError as error:
                    findings.append(Finding(tag, "$a", name.lower(),
                                            f"{name} {number!r} is not valid: {error}"))
    return findings


def _linkage(record: Record) -> list[Finding]:
    findings = []
    forward: dict[tuple[str, str], Field] = {}
    back: dict[tuple[str, str], Field] = {}
    for fld in record.fields:
        if fld.control_field:
            continue
        for linkage in [value for code, value in fld.subfields if code == "6"]:
            target, _, occurrence = linkage[:6].partition("-")
            if fld.tag == "880":
                back[(target, occurrence)] = fld
            elif target == "880":
                forward[(fld.tag, occurrence)] = fld
            else:
                findings.append(Finding(fld.tag, "$6", "880-linkage",
                                        f"$6 {linkage!r} does not link to an 880"))
    for (tag, occurrence), _fld in forward.items():
        if (tag, occurrence) not in back:
            findings.append(Finding(tag, "$6", "880-linkage",
                                    f"$6 880-{occurrence} has no 880 with $6 {tag}-{occurrence}"))
    for (tag, occurrence), _fld in back.items():
        if occurrence != "00" and (tag, occurrence) not in forward:
            findings.append(Finding("880", "$6", "880-linkage",
                                    f"$6 {tag}-{occurrence} has no field {tag} with $6 "
                                    f"880-{occurrence}"))
    return findings


def _language(fields: Tagged) -> list[Finding]:
    fixed = fields["008"][0] if "008" in fields else None
    codes = [code for fld in fields.get("041", ()) for code in fld.get_subfields("a")]
    if fixed is None or not codes or len(fixed.data or "") != 40:
        return []
    language = (fixed.data or "")[35:38]
    if language != codes[0][:3]:
        return [Finding("008", "/35-37", "041-language",
                        f"008/35-37 {language!r} is not the first language of 041 $a "
                        f"{codes[0]!r}")]
    return []


def _rda(fields: Tagged) -> list[Finding]:
    rules = [v.lower() for fld in fields.get("040", ()) for v in fld.get_subfields("e")]
    if "rda" not in rules:
        return []
    findings = []
    if "260" in fields:
        findings.append(Finding("260", None, "rda",
                                "040 $e rda, but 260 in place of 264 for publication"))
    for tag in ("336", "337", "338"):
        if tag not in fields:
            findings.append(Finding(tag, None, "rda", f"040 $e rda, but no {tag}"))
    return findings


def _tag_order(record: Record) -> list[Finding]:
    """The order MARC 21 sets (Specifications for Record Structure, the directory): control
    fields (00X) first, in ascending tag order, then the data fields in ascending order of the
    first character of the tag. Within a hundreds group the order is the cataloguer's: notes
    (5XX) and subject access (6XX) go by importance, so 505 after 511 or 630 after 650 is right
    (MARC::Lint has no rule on it either)."""
    findings = []
    previous, highest = "", (0, "")
    for fld in record.fields:
        if fld.tag == "880" or is_local(fld.tag):
            continue
        key = (0, fld.tag) if fld.tag[:2] == "00" else (1, fld.tag[:1])
        if key < highest:
            if key[0] == 1:
                why = f"{fld.tag[:1]}XX fields come before {previous[:1]}XX fields"
            elif highest[0] == 1:
                why = "control fields come before data fields"
            else:
                why = "control fields go in ascending tag order"
            message = f"{fld.tag} after {previous}: {why}"
            findings.append(Finding(fld.tag, None, "tag-order", message))
        else:
            previous, highest = fld.tag, key
    return findings


_UNSPACED_DASHES = re.compile(r"[^\W\d_]\s*--\s*[^\W\d_]")
"""Two hyphens between letters, spaced or not (a span of years, 1941--1945, is not matched)."""


def _subdivisions_and_dimensions(record: Record, fields: Tagged) -> list[Finding]:
    findings = []
    for fld in record.fields:
        if fld.tag[:1] == "6" and not fld.control_field:
            for value in fld.get_subfields("a"):
                if " -- " in value or value.endswith("--") or _UNSPACED_DASHES.search(value):
                    findings.append(Finding(fld.tag, "$a", "subject-subdivision",
                                            f"$a {value!r}: subdivisions belong in $x $y $z $v"))
    for fld in fields.get("300", ()):
        for code, value in fld.subfields:
            if code in "ab" and _DIMENSIONS.search(value.split(";")[-1].strip()):
                findings.append(Finding("300", f"${code}", "300-dimensions",
                                        f"${code} {value!r}: dimensions belong in $c"))
    return findings
