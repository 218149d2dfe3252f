"""Validation of MARC21 records, for ``koprik crosswalk --check`` and for ingest reports.

:func:`check_record` takes a raw ISO 2709 record (then the leader and directory are checked
against the bytes too) or a pymarc Record, and returns every problem found, each with the
record index and the field tag it concerns. Checked: ISO 2709 structure (lengths, base
address, directory, terminators, indicator count), charset decoding, tag, indicator and
subfield-code syntax (the MARCXML schema's patterns), the leader, the length of 008 for the
record type, and the presence of 245 in bibliographic records.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymarc import Record

from crosswalks import iso2709
from crosswalks.marc_syntax import syntax_problems

BIBLIOGRAPHIC_TYPES = frozenset("acdefgijkmoprt")
"""Leader/06 values of bibliographic records (the others: z authority, u v x y holdings,
w classification, q community information)."""
FIELD_008_LENGTHS = {
    **dict.fromkeys(BIBLIOGRAPHIC_TYPES, 40),
    "z": 40,
    "q": 40,
    **dict.fromkeys("uvxy", 32),
    "w": 14,
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with record ``index`` (0-based), in field ``tag`` or the record as such."""

    index: int
    tag: str | None
    message: str

    def __str__(self) -> str:
        where = f"record {self.index}" + (f", field {self.tag}" if self.tag else "")
        return f"{where}: {self.message}"


def check_record(record_or_raw: Record | bytes, index: int = 0) -> list[Problem]:
    """Every problem of one record (an empty list when it is valid MARC21)."""
    if isinstance(record_or_raw, bytes | bytearray):
        raw = bytes(record_or_raw)
        structure = iso2709.structure_problems(raw)
        if not all(iso2709.is_repairable(message) for _tag, message in structure):
            return [Problem(index, tag, message) for tag, message in structure]
        try:
            record, _charset = iso2709.decode_record(raw)
        except iso2709.RecordError as error:
            return [Problem(index, tag, m) for tag, m in structure] + [
                Problem(index, None, str(error))
            ]
        problems = [Problem(index, tag, message) for tag, message in structure]
    else:
        record = record_or_raw
        problems = []
    problems.extend(Problem(index, tag, message) for tag, message in syntax_problems(record))
    problems.extend(Problem(index, tag, message) for tag, message in _content_problems(record))
    return problems


def _content_problems(record: Record) -> list[tuple[str | None, str]]:
    problems: list[tuple[str | None, str]] = []
    record_type = str(record.leader)[6:7]
    expected = FIELD_008_LENGTHS.get(record_type)
    fields_008 = record.get_fields("008")
    if not fields_008:
        problems.append(("008", "missing (fixed-length data elements are required)"))
    elif expected is not None:
        for field in fields_008:
            length = len(field.data or "")
            if length != expected:
                problems.append(
                    ("008", f"{length} characters; type '{record_type}' needs {expected}")
                )
    if expected is None:
        problems.append((None, f"leader/06 type of record {record_type!r} is not MARC21"))
    if record_type in BIBLIOGRAPHIC_TYPES and not record.get_fields("245"):
        problems.append(("245", "missing (a bibliographic record needs a title statement)"))
    return problems
