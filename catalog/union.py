"""The union record of a group of members: one record per book, with every holding.

The base is the most complete member (:func:`completeness`; ties go to the oldest record); to
it are added the identifiers (020, 022, 010, 015, 016, 024, 035) and subject headings (6XX) of
the other members that it lacks (compared folded, so the same heading in two scripts is kept
once; an ISBN with a wrong check digit as 020 $z), one ``035 $a (CODE)IDENTIFIER`` per member
naming its institution and its identifier there, and one ``852`` per holding institution (``$a``
code, ``$b`` sublocation and ``$h`` call number where the member has them, from its 852, else
090/099 for the call number). The members themselves are never changed.

>>> record = union_record("union:7", "UzNL", [Member(marc, "UzSaRL", "b123"), ...])
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from pymarc import Field, Record, Subfield
from stdnum.exceptions import ValidationError

from crosswalks.standard_numbers import valid_isbn13
from crosswalks.uzbek import fold

IDENTIFIER_TAGS = ("010", "015", "016", "020", "022", "024", "035")
_KEY_TAGS = ("020", "100", "245", "250", "260", "264", "300", "490", "504", "520", "650")


@dataclass(frozen=True)
class Member:
    """A member (its canonical ISO 2709 bytes), its holding institution's code and its
    identifier at the source."""

    marc: bytes
    institution: str
    identifier: str

    @cached_property
    def record(self) -> Record:
        return Record(data=self.marc, force_utf8=True)


def completeness(record: Record) -> int:
    """How complete a record is: its subfields, and more for the fields a reader needs."""
    score = 0
    for field in record.get_fields():
        if field.is_control_field():
            score += 1
            continue
        score += len(field.subfields) + (5 if field.tag in _KEY_TAGS else 0)
    return score


def union_record(local_id: str, own_code: str, members: Sequence[Member]) -> Record:
    """The union record ``local_id`` of ``members`` (at least one, oldest first)."""
    best = max(range(len(members)), key=lambda i: (completeness(members[i].record), -i))
    record = Record(data=members[best].marc, force_utf8=True)  # a copy to build on
    for field in record.get_fields("001", "003", "005", "035", "852"):
        record.remove_field(field)
    record.add_ordered_field(Field(tag="001", data=local_id))
    record.add_ordered_field(Field(tag="003", data=own_code))
    others = [m.record for i, m in enumerate(members) if i != best]
    _add_missing(record, others, IDENTIFIER_TAGS[:-1], _identifier_key, _as_added)
    _add_missing(record, [members[best].record, *others], ("035",), _identifier_key)
    _add_missing(record, others, tuple(f"6{n:02d}" for n in range(100)), _heading_key)
    for member in members:
        record.add_ordered_field(Field(
            tag="035", indicators=[" ", " "],
            subfields=[Subfield("a", f"({member.institution}){member.identifier}")],
        ))
    for code, member in _holdings(members).items():
        subfields = [Subfield("a", code)]
        sublocation, call_number = _location(member.record)
        if sublocation:
            subfields.append(Subfield("b", sublocation))
        if call_number:
            subfields.append(Subfield("h", call_number))
        record.add_ordered_field(Field(tag="852", indicators=[" ", " "], subfields=subfields))
    return record


def _holdings(members: Sequence[Member]) -> dict[str, Member]:
    """The first member of each holding institution, in member order."""
    found: dict[str, Member] = {}
    for member in members:
        found.setdefault(member.institution, member)
    return found


def _location(record: Record) -> tuple[str, str]:
    """Sublocation and call number of a member: its 852 $b and $h, else 090/099 $a."""
    sublocation = call_number = ""
    for field in record.get_fields("852"):
        sublocation = sublocation or (field.get("b") or "")
        call_number = call_number or " ".join(field.get_subfields("h", "i"))
    if not call_number:
        for field in record.get_fields("090", "099"):
            call_number = " ".join(field.get_subfields("a", "b"))
            if call_number:
                break
    return sublocation.strip(), call_number.strip()


def _add_missing(record: Record, sources: Sequence[Record], tags: Sequence[str],
                 key: Callable[[Field], str],
                 shape: Callable[[Field], Field] = copy.deepcopy) -> None:
    """Add the ``tags`` fields of ``sources`` whose key ``record`` does not have yet, each as
    ``shape`` gives it (a copy)."""
    wanted = set(tags)
    present = {key(f) for f in record.get_fields() if f.tag in wanted}
    for source in sources:
        for field in source.get_fields():
            if field.tag not in wanted:
                continue
            found = key(field)
            if found and found not in present:
                present.add(found)
                record.add_ordered_field(shape(field))


def _identifier_key(field: Field) -> str:
    """What one identifier field says, to add it once: its $a (an ISBN as ISBN-13, one whose
    check digit is wrong as the $z it is added as), else its first $z (cancelled or invalid);
    empty for a field with neither."""
    value = field.get("a") or ""
    if field.tag == "020" and value:
        isbn = _isbn13(value)
        return "020" + isbn if isbn else "020z" + _compact(value.split()[0])
    if value:
        return field.tag + _compact(value)
    cancelled = (field.get("z") or "").split()
    return f"{field.tag}z{_compact(cancelled[0])}" if cancelled else ""


def _compact(value: str) -> str:
    return re.sub(r"[^0-9a-z()]", "", value.lower())


def _as_added(field: Field) -> Field:
    """A copy of another member's identifier field, its 020 $a that is no ISBN (a wrong check
    digit: a typo) made $z, invalid, as the member's own match keys keep it aside: served as
    $a it would be a number the book does not bear."""
    added = copy.deepcopy(field)
    if added.tag == "020":
        added.subfields = [Subfield("z", sf.value) if sf.code == "a" and _isbn13(sf.value) is None
                           else sf for sf in added.subfields]
    return added


def _isbn13(value: str) -> str | None:
    try:
        return valid_isbn13(value.split()[0])
    except (ValidationError, IndexError):
        return None


def _heading_key(field: Field) -> str:
    text = " ".join(sf.value for sf in field.subfields if sf.code.isalpha())
    return field.tag + fold(text)
