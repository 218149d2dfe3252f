"""008 of bibliographic records, position by position for the record's material.

The positions and their values are data (``tables/marc21_008.toml``). A record's material
configuration comes from leader/06 (and leader/07 for continuing resources).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from functools import cache
from importlib import resources

from pymarc import Record

from crosswalks.lint_fields import Finding, Tagged

_CONTINUING = frozenset("bis")


@cache
def _table() -> dict[str, dict[str, object]]:
    text = resources.files("crosswalks.tables").joinpath("marc21_008.toml").read_text("utf-8")
    return tomllib.loads(text)


def material(leader: str) -> str | None:
    """BK, CR, MP, MU, VM, CF or MX for a bibliographic leader; None for another record type."""
    kind = _table()["material"].get(leader[6:7])
    if kind == "BK" and leader[6:7] == "a" and leader[7:8] in _CONTINUING:
        return "CR"
    return kind  # type: ignore[return-value]


def findings_008(record: Record, fields: Tagged) -> list[Finding]:
    """Each position of each 008 whose value is not defined for the record's material."""
    kind = material(str(record.leader))
    if kind is None:
        return []
    findings: list[Finding] = []
    for fld in fields.get("008", ()):
        data = fld.data or ""
        if len(data) != 40:
            continue  # the length is its own finding
        for key, start, end, allowed in _positions(kind):
            value = data[start:end]
            if not allowed(value):
                findings.append(Finding("008", f"/{key}", "008-value",
                                        f"{kind} 008/{key} {value!r} is not a defined value"))
    return findings


Position = tuple[str, int, int, Callable[[str], bool]]
"""A key of the table, the slice of 008 it names, and the test of a value there."""


@cache
def _positions(kind: str) -> list[Position]:
    """The positions a ``kind`` record's 008 is checked at (all materials' first), parsed
    once: the checks run on every imported record."""
    positions: list[Position] = []
    for section in ("all", kind):
        for key, allowed in _table()[section].items():
            first, _, last = key.partition("-")
            positions.append((key, int(first), int(last or first) + 1, _test(allowed)))
    return positions


def _test(allowed: object) -> Callable[[str], bool]:
    """A pattern's full match, or: every character is one of those listed."""
    if isinstance(allowed, dict):
        pattern = re.compile(allowed["re"])
        return lambda value: pattern.fullmatch(value) is not None
    return frozenset(str(allowed)).issuperset
