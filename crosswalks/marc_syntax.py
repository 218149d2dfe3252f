"""Syntax rules a MARC21 record must meet to be written as valid MARCXML.

The patterns are those of the MARC21 slim schema (``MARC21slim.xsd``): a record that passes
:func:`syntax_problems` serializes to MARCXML that validates. Readers reject a record that fails
them rather than repair it; :mod:`crosswalks.check` reports them with everything else.
"""

from __future__ import annotations

import re
from functools import cache
from operator import itemgetter

from pymarc import Record

from crosswalks.xmltext import XML_FORBIDDEN_CHARACTERS, has_forbidden

# ASCII digits only (re.ASCII): the MARCXML schema's \d admits every Unicode digit, but ISO 2709
# carries each indicator and subfield code in one byte, so a record with another digit there
# could be stored and never read back.
LEADER_PATTERN = re.compile(
    r"[\d ]{5}[\dA-Za-z ][\dA-Za-z][\dA-Za-z ]{3}[2 ][2 ][\d ]{5}[\dA-Za-z ]{3}(4500|    )\Z",
    re.ASCII,
)
CONTROL_TAG_PATTERN = re.compile(r"00[1-9A-Za-z]\Z")
DATA_TAG_PATTERN = re.compile(
    r"(0[1-9A-Z][0-9A-Z]|0[1-9a-z][0-9a-z]|[1-9A-Z][0-9A-Z]{2}|[1-9a-z][0-9a-z]{2})\Z"
)
INDICATOR_PATTERN = re.compile(r"[\da-z ]\Z", re.ASCII)
SUBFIELD_CODE_PATTERN = re.compile(r"[\dA-Za-z!\"#$%&'()*+,\-./:;<=>?{}_^`~\[\]\\]\Z", re.ASCII)
REPLACEMENT_CHARACTER = "\ufffd"


_LEADER_POSITIONS = (
    (0, 5, r"[\d ]", "record length must be digits"),
    (5, 6, r"[\dA-Za-z ]", "record status must be a letter, digit or blank"),
    (6, 7, r"[\dA-Za-z]", "type of record must be a letter or digit"),
    (7, 10, r"[\dA-Za-z ]", "positions 07-09 must be letters, digits or blanks"),
    (10, 12, r"[2 ]", "indicator and subfield code counts must be 2"),
    (12, 17, r"[\d ]", "base address must be digits"),
    (17, 20, r"[\dA-Za-z ]", "positions 17-19 must be letters, digits or blanks"),
)


BLANK_TYPE_OF_RECORD = (
    "leader/06 (type of record) is blank: set it, e.g. 'a' for language material"
)
"""Said of a record whose leader/06 is blank. It is not guessed, not even by ``--repair``:
the type of record decides how 008 and every field are read (a map, a score, a book)."""


def _leader_fault(leader: str) -> str:
    if len(leader) != 24:
        return f"{len(leader)} characters, not 24"
    for start, end, allowed, message in _LEADER_POSITIONS:
        if not re.fullmatch(f"{allowed}{{{end - start}}}", leader[start:end], re.ASCII):
            if start == 6 and leader[6] == " ":
                return BLANK_TYPE_OF_RECORD
            return f"leader/{start:02d}: {message}"
    return "leader/20-23 must be '4500'"


def syntax_problems(record: Record) -> list[tuple[str | None, str]]:
    """``(tag or None, message)`` for each place where ``record`` breaks the MARCXML syntax.

    Also reports text XML cannot carry (control characters such as a subfield delimiter inside
    a control field), which MARCXML would lose, and U+FFFD in the data: it means an earlier
    charset conversion already lost text (no reader here produces it), so the record is
    damaged, not merely unusual.
    """
    return [] if _plainly_valid(record) else _syntax_problems_in_full(record)


def _syntax_problems_in_full(record: Record) -> list[tuple[str | None, str]]:
    """:func:`syntax_problems` found field by field, without its shortcut (the tests hold the
    shortcut to this)."""
    problems: list[tuple[str | None, str]] = []
    leader = str(record.leader)
    if LEADER_PATTERN.match(leader) is None:
        problems.append((None, f"leader {leader!r}: {_leader_fault(leader)}"))
    for field in record.fields:
        tag = field.tag
        if field.control_field:
            if not _matches(CONTROL_TAG_PATTERN, tag):
                problems.append((tag, f"control field tag {tag!r} is not 00X"))
            problems.extend((tag, message) for message in _text_problems(field.data or "", ""))
            continue
        if not _matches(DATA_TAG_PATTERN, tag):
            problems.append((tag, f"tag {tag!r} is not three letters or digits"))
        for position, indicator in enumerate(field.indicators or ("", ""), start=1):
            if not _matches(INDICATOR_PATTERN, indicator):
                problems.append(
                    (tag, f"indicator {position} {indicator!r} is not a digit, a-z or blank")
                )
        if not field.subfields:
            problems.append((tag, "data field without subfields"))
        for code, value in field.subfields:
            if not _matches(SUBFIELD_CODE_PATTERN, code):
                problems.append((tag, f"subfield code {code!r} is not allowed"))
            if _DAMAGED.search(value) is not None:
                problems.extend((tag, message) for message in _text_problems(value, f"${code} "))
    return problems


_ASCII_INDICATORS = frozenset(c for c in map(chr, range(128)) if INDICATOR_PATTERN.match(c))
_ASCII_CODES = frozenset(c for c in map(chr, range(128)) if SUBFIELD_CODE_PATTERN.match(c))
"""The values of INDICATOR_PATTERN and SUBFIELD_CODE_PATTERN, as sets."""
_CODE = itemgetter(0)
_VALUE = itemgetter(1)


def _plainly_valid(record: Record) -> bool:
    """True only when :func:`syntax_problems` finds nothing, checked with a few C-level
    passes over the whole record instead of a test per subfield; False whenever unsure."""
    if LEADER_PATTERN.match(str(record.leader)) is None:
        return False
    texts = []
    subfields: list[tuple[str, str]] = []
    for field in record.fields:
        if field.control_field:
            if not _matches(CONTROL_TAG_PATTERN, field.tag):
                return False
            texts.append(field.data or "")
            continue
        indicators = field.indicators
        if (
            not field.subfields
            or not _matches(DATA_TAG_PATTERN, field.tag)
            or indicators is None
            or indicators[0] not in _ASCII_INDICATORS
            or indicators[1] not in _ASCII_INDICATORS
        ):
            return False
        subfields.extend(field.subfields)
    texts.extend(map(_VALUE, subfields))
    return _ASCII_CODES.issuperset(map(_CODE, subfields)) and (
        _DAMAGED.search("".join(texts)) is None
    )


@cache
def _matches(pattern: re.Pattern[str], value: str) -> bool:
    """Cached: tags, indicators and codes come from a small set of values."""
    return pattern.match(value) is not None


_DAMAGED = re.compile(f"[\ufffd{XML_FORBIDDEN_CHARACTERS}]")
"""A character lost by an earlier conversion (U+FFFD), or one XML 1.0 forbids."""


def _text_problems(text: str, where: str) -> list[str]:
    problems = []
    if REPLACEMENT_CHARACTER in text:
        problems.append(f"{where}holds U+FFFD: text lost by an earlier conversion")
    if has_forbidden(text):
        bad = next(char for char in text if has_forbidden(char))
        problems.append(f"{where}holds U+{ord(bad):04X}, which XML cannot carry")
    return problems
