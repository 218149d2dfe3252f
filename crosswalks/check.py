"""Validation of MARC21 records, for ``koprik crosswalk --check`` and warnings on import.

:func:`check_record` takes a raw ISO 2709 record (then the leader and directory are checked
against the bytes too) or a pymarc Record, and returns every problem found, each named like
MARC::Lint's warnings: the record, the field tag and the position in it (``ind1``, ``$a``,
``/35-37``), the rule, and the message. The rules:

- ``structure``: ISO 2709 (lengths, base address, directory, terminators, indicator count;
  for a record built from other text, a field or record longer than ISO 2709 can hold);
  ``charset``: the bytes cannot be read; ``syntax``: tags, indicators and subfield codes
  MARCXML can carry (:mod:`crosswalks.marc_syntax`);
- ``leader``: leader/06 is a MARC 21 type; ``required``: 008, and 245 in bibliographic
  records; ``008-length``: 40 characters (32 holdings, 14 classification);
- for bibliographic records: the field definitions (:mod:`crosswalks.lint_fields`:
  ``tag-undefined``, ``field-not-repeatable``, ``indicator``, ``subfield-undefined``,
  ``subfield-not-repeatable``, ``1xx-count``, ``880-linkage``), ``008-value`` by material
  (:mod:`crosswalks.lint_008`) and the content rules of :mod:`crosswalks.lint_content`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymarc import Record

from crosswalks import iso2709
from crosswalks.lint_008 import findings_008
from crosswalks.lint_content import content_findings
from crosswalks.lint_fields import Finding, by_tag, field_findings
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
    """One thing wrong with record ``index`` (0-based) in field ``tag`` (None: the record),
    at ``position`` in it, breaking ``rule``."""

    index: int
    tag: str | None
    message: str
    rule: str = "structure"
    position: str | None = None

    def __str__(self) -> str:
        where = f"record {self.index}" + (f", field {self.tag}" if self.tag else "")
        if self.position:
            where += self.position if self.position.startswith("/") else f" {self.position}"
        return f"{where}: {self.message} [{self.rule}]"


def check_record(
    record_or_raw: Record | bytes, index: int = 0, *, charset: str | None = None,
    read_from_iso2709: bool = False,
) -> list[Problem]:
    """Every problem of one record (an empty list when it is valid MARC21).

    A raw record is read in ``charset`` (None: decided from its bytes). A record
    ``read_from_iso2709`` (the catalogue's canonical MARC read again) has no field or whole
    longer than ISO 2709 can hold, so their lengths are not counted (7 µs of the 167 its
    check cost, compiled, for an imported record).
    """
    if isinstance(record_or_raw, bytes | bytearray):
        raw = bytes(record_or_raw)
        structure = iso2709.structure_problems(raw)
        found = [Problem(index, tag, message) for tag, message in structure]
        if not all(iso2709.is_repairable(message) for _tag, message in structure):
            return found
        try:
            record, _charset = iso2709.decode_record(raw, charset=charset)
        except iso2709.RecordError as error:
            return [*found, Problem(index, None, str(error), "charset")]
        problems = found
    elif read_from_iso2709:
        record, problems = record_or_raw, []
    else:
        record = record_or_raw
        problems = [  # ISO 2709 bytes cannot have them; a record built from other text can
            Problem(index, tag, message)
            for tag, message in iso2709.length_problems(iso2709.field_lengths(record))
        ]
    problems.extend(
        Problem(index, tag, message, "syntax") for tag, message in syntax_problems(record)
    )
    problems.extend(
        Problem(index, f.tag, f.message, f.rule, f.position) for f in _findings(record)
    )
    return problems


def _findings(record: Record) -> list[Finding]:
    findings: list[Finding] = []
    record_type = str(record.leader)[6:7]
    expected = FIELD_008_LENGTHS.get(record_type)
    fields = by_tag(record)
    fields_008 = fields.get("008", ())
    if not fields_008:
        findings.append(Finding("008", None, "required",
                                "missing (fixed-length data elements are required)"))
    elif expected is not None:
        for fld in fields_008:
            length = len(fld.data or "")
            if length != expected:
                findings.append(Finding("008", None, "008-length",
                                        f"{length} characters; type '{record_type}' needs "
                                        f"{expected}"))
    if expected is None and record_type != " ":  # a blank one is a syntax problem, said once
        findings.append(Finding(None, "leader/06", "leader",
                                f"type of record {record_type!r} is not MARC21"))
    if record_type not in BIBLIOGRAPHIC_TYPES:
        return findings
    if "245" not in fields:
        findings.append(Finding("245", None, "required",
                                "missing (a bibliographic record needs a title statement)"))
    findings += field_findings(record)
    findings += findings_008(record, fields)
    findings += content_findings(record, fields)
    return findings
