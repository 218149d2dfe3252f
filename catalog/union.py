"""The union record of a group of members: one record per book, with every holding.

The base is the most complete member (:func:`completeness`; ties go to the oldest record) among
those in the script of the oldest member's title (:func:`base`); to it are added the identifiers
(020, 022, 010, 015, 016, 024, 035) and subject headings (6XX) of the other members that it lacks
(compared folded, so the same heading in two scripts is kept once; an ISBN with a wrong check
digit as 020 $z), the titles of the other members it does not say as 246 (compared folded:
:func:`_variant_titles`), one ``035 $a (CODE)IDENTIFIER`` per member naming its institution and
its identifier there, and every member's holdings (:func:`holdings`):
one ``852`` for each of its 852 (each branch, location or copy) with the institution's code as
``$a``, else for each Koha item (952), else one with the call number of its 090/099, each
followed by the member's holdings fields that belong to it: captions and patterns (853-855),
enumeration and chronology (863-865), textual holdings (866-868). The institution of a
member's holding is its source's, unless the source's records name the holding institution
of each copy (:attr:`Member.named`: a consortium's feed). The members themselves are never
changed.

>>> record = union_record("union:7", "UzNL", [Member(marc, "UzSaRL", "b123"), ...])
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from pymarc import Field, Record, Subfield
from stdnum.exceptions import ValidationError

from crosswalks.iso2709 import MAX_RECORD_BYTES, field_lengths
from crosswalks.mods import script_of
from crosswalks.standard_numbers import number_text, valid_isbn13
from crosswalks.uzbek import fold

log = logging.getLogger(__name__)

IDENTIFIER_TAGS = ("010", "015", "016", "020", "022", "024", "035")
_HEADING_TAGS = tuple(f"6{n:02d}" for n in range(100))
_KEY_TAGS = ("020", "100", "245", "250", "260", "264", "300", "490", "504", "520", "650")

UNION_SOURCE = "union"
"""The source part of a union record's local id (``union:7``), which no harvest or file source
may be named: its records' ids (``SOURCE:001``) would be the union records' own."""


@dataclass(frozen=True)
class Member:
    """A member (its canonical ISO 2709 bytes), its source's institution code and its
    identifier at the source."""

    marc: bytes
    institution: str
    identifier: str
    named: bool = False
    """Whether its holdings name their institutions (a regional centre's feed of the records of
    its libraries): each holding's is then the one its 852 $a, or Koha item's branch, names
    (:data:`institution` when it names none)."""

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


def base(members: Sequence[Member]) -> int:
    """The index of the base among ``members`` (oldest first): the most complete of those whose
    title is in the script of the oldest's (ties to the older). A more complete copy in the
    other script does not make the union record change script (a reader's and a harvester's
    record flipping from Cyrillic to Latin): its identifiers and headings are added all the
    same."""
    script = _script(members[0].record)
    return max((i for i, m in enumerate(members) if _script(m.record) == script),
               key=lambda i: (completeness(members[i].record), -i))


def _script(record: Record) -> str | None:
    """The script of a record's title (ISO 15924: Latn, Cyrl), None when it has none."""
    title = record.get("245")
    return script_of(" ".join(title.get_subfields("a", "b"))) if title is not None else None


def union_record(local_id: str, own_code: str, members: Sequence[Member]) -> Record:
    """The union record ``local_id`` of ``members`` (at least one, oldest first)."""
    best = base(members)
    record = Record(data=members[best].marc, force_utf8=True)  # a copy to build on
    for field in record.get_fields("001", "003", "005", "035", "852", "952", *LINKED_TAGS):
        record.remove_field(field)
    record.add_ordered_field(Field(tag="001", data=local_id))
    record.add_ordered_field(Field(tag="003", data=own_code))
    others = [m.record for i, m in enumerate(members) if i != best]
    _add_missing(record, others, IDENTIFIER_TAGS[:-1], _identifier_key, _as_added)
    _add_missing(record, [members[best].record, *others], ("035",), _identifier_key)
    _add_missing(record, others, _HEADING_TAGS, _heading_key)
    for variant in _variant_titles(record, others):
        record.add_ordered_field(variant)
    for member in members:
        record.add_ordered_field(Field(
            tag="035", indicators=[" ", " "],
            subfields=[Subfield("a", f"({member.institution}){member.identifier}")],
        ))
    for field in _linked(_fitting(local_id, record, holdings(members))):
        record.add_ordered_field(field)
    return record


@dataclass(frozen=True)
class Holding:
    """One holding of a union record: its 852 and the holdings fields of that location
    (853-855, 863-865, 866-868: :data:`LINKED_TAGS`), without their $8."""

    location: Field
    linked: tuple[Field, ...] = ()

    @property
    def bare(self) -> bool:
        """Whether it says no more than its institution's code."""
        return len(self.location.subfields) == 1 and not self.linked

    def key(self) -> tuple[str, ...]:
        """What it says, to keep it once."""
        return tuple(f"{field.tag}{sf.code}{sf.value}"
                     for field in (self.location, *self.linked) for sf in field.subfields)


def holdings(members: Sequence[Member]) -> list[Holding]:
    """Every member's holdings, each once, in member order: an institution's holding that names
    no location, call number or holdings fields only when it has no other."""
    made: dict[tuple[str, ...], Holding] = {}
    for member in members:
        for holding in _member_holdings(member):
            made.setdefault(holding.key(), holding)
    located = {holding.location["a"] for holding in made.values() if not holding.bare}
    return [holding for holding in made.values()
            if not holding.bare or holding.location["a"] not in located]


def _linked(made: Sequence[Holding]) -> list[Field]:
    """The fields of ``made``: each 852 that has holdings fields numbered in its $8 (1, 2...)
    and its 853-868 given that number as the link number of their $8, the first subfield of
    each; an 863-865 its sequence number after it, 1, 2... for each tag in the order of the
    member's $8 (:func:`_belonging`). MARC 21 Holdings links an 852 to its 853-868 only by the
    record they share (a bibliographic record embeds one such cluster, the others go in
    holdings records); a union record holds many, so the 852's $8 (its sequence number) and
    theirs carry the same number: the one an 853 names its 863 by (854 its 864, 855 its
    865), and an 866-868 its pattern by. A member that gave one location patterns under two
    link numbers for one tag (a change of captions) has both under its one number here, its
    enumerations in order after them."""
    fields: list[Field] = []
    link = 0
    for holding in made:
        if not holding.linked:
            fields.append(holding.location)
            continue
        link += 1
        sequences: dict[str, int] = {}
        for field in (holding.location, *holding.linked):
            number = str(link)
            if field.tag in _ENUMERATION_TAGS:
                sequences[field.tag] = sequences.get(field.tag, 0) + 1
                number = f"{link}.{sequences[field.tag]}"
            numbered = copy.deepcopy(field)
            numbered.subfields = [Subfield("8", number), *field.subfields]
            fields.append(numbered)
    return fields


def _fitting(local_id: str, record: Record, made: list[Holding]) -> list[Holding]:
    """The holdings of ``made`` that ``record`` can take and still be written as ISO 2709
    (:data:`~crosswalks.iso2709.MAX_RECORD_BYTES`), in their order: each institution's first,
    then the others while they fit, each with its holdings fields and their links
    (:func:`_linked`). Members of many copies each (an 852 a copy) would make a union record no
    ISO 2709 can hold, which would not be written at all; those left out are logged."""
    size = 24 + 1 + 1 + sum(12 + length for _tag, length in field_lengths(record))
    scratch = Record()
    scratch.fields = _linked(made)  # links numbered among all: those kept get no larger one
    lengths = iter(12 + length for _tag, length in field_lengths(scratch))
    sizes = [sum(next(lengths) for _ in range(1 + len(holding.linked))) for holding in made]
    firsts: dict[str, int] = {}
    for i, holding in enumerate(made):
        firsts.setdefault(holding.location["a"], i)
    first = set(firsts.values())
    kept: set[int] = set()
    for i in [*sorted(first), *(i for i in range(len(made)) if i not in first)]:
        if size + sizes[i] <= MAX_RECORD_BYTES:
            kept.add(i)
            size += sizes[i]
    if len(kept) < len(made):
        log.warning("union record %s: %d of its %d holdings left out, longer than ISO 2709 "
                    "allows a record", local_id, len(made) - len(kept), len(made))
    return [holding for i, holding in enumerate(made) if i in kept]


_DROPPED_852 = frozenset("a68x")
"""852 subfields a member's holding does not keep as they are: its location code ($a, the
institution's code instead: this $a for a member whose holdings are named), linkage ($6, $8:
to fields of the member the union record lacks) and the nonpublic note ($x)."""
_PATTERN_TAGS = ("853", "854", "855")
"""Captions and patterns: of the basic unit, its supplements, its indexes."""
_ENUMERATION_TAGS = ("863", "864", "865")
"""Enumeration and chronology: of the basic unit (its captions the 853 of their link number),
its supplements (854), its indexes (855)."""
_TEXTUAL_TAGS = ("866", "867", "868")
"""Textual holdings: of the basic unit, its supplements, its indexes."""
LINKED_TAGS = (*_PATTERN_TAGS, *_ENUMERATION_TAGS, *_TEXTUAL_TAGS)
"""The holdings fields that go with the 852 of their location, linked to it by $8."""
_DROPPED_LINKED = frozenset("68x")
"""863-868 subfields a member's holdings fields do not keep: linkage ($6; $8, numbered again
by :func:`_linked`) and the nonpublic note ($x)."""
_DROPPED_PATTERN = frozenset("68")
"""853-855 subfields they do not keep: linkage only (their $x is the calendar change)."""
_KOHA_ITEM = {"b": "a", "c": "c", "h": "o", "p": "p", "t": "t", "z": "z"}
"""852 subfield <- Koha 952 subfield, in 852 order: the home branch as sublocation, the
shelving location, the call number (itemcallnumber), the barcode as piece designation, the
copy number, the public note."""


def _member_holdings(member: Member) -> list[Holding]:
    """One holding for each of the member's 852, else for each Koha item (952), else one with
    the call number of its 090/099; each with the member's 853-868 that belong to it
    (:func:`_belonging`)."""
    record, code = member.record, member.institution
    locations: list[Field]
    if fields := record.get_fields("852"):
        locations = [_holding(_named(member, f, "a"),
                              [sf for sf in f.subfields if sf.code not in _DROPPED_852],
                              shelving=f.indicator1) for f in fields]
    elif items := record.get_fields("952"):
        # a branch that is the holding's institution is not repeated as its sublocation
        koha = {to: frm for to, frm in _KOHA_ITEM.items() if not (member.named and to == "b")}
        locations = [_holding(_named(member, item, "a", "b"),
                              [Subfield(to, value.strip()) for to, frm in koha.items()
                               for value in item.get_subfields(frm) if value.strip()])
                     for item in items]
    else:
        call_number = ""
        for field in record.get_fields("090", "099"):
            call_number = " ".join(field.get_subfields("a", "b")).strip()
            if call_number:
                break
        locations = [_holding(code, [Subfield("h", call_number)] if call_number else [])]
    linked = _belonging(record, fields)
    return [Holding(location, tuple(linked.get(i, ()))) for i, location in enumerate(locations)]


def _named(member: Member, field: Field, *codes: str) -> str:
    """The institution of the holding ``field`` of ``member``: the first of its subfields
    ``codes`` that names one when the member's holdings are :attr:`~Member.named` (852 $a, the
    location's institution; Koha's 952 $a home branch, else $b holding branch), else the
    member's institution."""
    if member.named:
        for value in field.get_subfields(*codes):
            if value.strip():
                return value.strip()
    return member.institution


def _belonging(record: Record, locations: list[Field]) -> dict[int, list[Field]]:
    """The member's 853-868 (without $6, $8 and the 863-868's $x; those left empty dropped)
    by the index of the 852 of ``locations`` each belongs to: the one whose $8 sequence number
    is its $8 link number (as a system embedding several holdings links them), else the first
    (a bibliographic record embeds one 852 with its 853-868, MARC 21 Holdings says; a record of
    952 items or of a call number has one holding they can go with). The 863-865 of each come
    in the order of their $8 (link number, then sequence number), the others in the member's."""
    numbers = [_link_number(field) for field in locations]
    found: dict[int, list[Field]] = {}
    for field in sorted(record.get_fields(*LINKED_TAGS), key=_order):
        dropped = _DROPPED_PATTERN if field.tag in _PATTERN_TAGS else _DROPPED_LINKED
        kept = [sf for sf in field.subfields if sf.code not in dropped]
        if not any(sf.value.strip() for sf in kept):
            continue
        link = _link_number(field)
        at = numbers.index(link) if link is not None and link in numbers else 0
        found.setdefault(at, []).append(
            Field(tag=field.tag, indicators=list(field.indicators), subfields=kept))
    return found


def _order(field: Field) -> tuple[str, float, float]:
    """Where a holdings field goes among a member's: by tag, an 863-865 by the link and then
    the sequence number of its $8 (one that is no number after those that are), the others
    as the member has them (a stable sort)."""
    if field.tag not in _ENUMERATION_TAGS:
        return (field.tag, 0, 0)
    link, _dot, sequence = (field.get("8") or "").partition(".")
    return (field.tag, _number(link), _number(sequence))


def _number(text: str) -> float:
    return float(text) if text.strip().isdecimal() else float("inf")


def _link_number(field: Field) -> str | None:
    """The link (or sequence) number of a holdings field's first $8: its whole-number part."""
    link = (field.get("8") or "").split(".")[0].strip()
    return link or None


def _holding(code: str, subfields: list[Subfield], shelving: str = " ") -> Field:
    """An 852 of the institution ``code``; ``shelving``: its first indicator, the shelving
    scheme of the call number."""
    return Field(tag="852", indicators=[shelving, " "],
                 subfields=[Subfield("a", code), *subfields])


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
        return valid_isbn13(number_text(value).split()[0])
    except (ValidationError, IndexError):
        return None


_TITLE_CODES = "abnp"
"""The title proper, remainder of title, number and name of part: what a 245 and a 246 share."""
_TRANSCRIBED_END = re.compile(r"\s*[/=;,.]+\s*$")


def _variant_titles(record: Record, others: Sequence[Record]) -> list[Field]:
    """The titles of ``others`` (245, and their 246) that ``record``'s 245 and 246 do not say
    (compared folded: the same title in the other script is said), as 246 (first indicator 3:
    an added entry, no note). The members of a union record are not searched: a word only
    another member's title had (its subtitle, another title proper) found nothing."""
    said = {_title_key(field) for field in record.get_fields("245", "246")}
    variants: list[Field] = []
    for other in others:
        for field in other.get_fields("245", "246"):
            key = _title_key(field)
            if not key or key in said:
                continue
            said.add(key)
            kept = [Subfield(sf.code, sf.value) for sf in field.subfields
                    if sf.code in _TITLE_CODES]
            kept[-1] = Subfield(kept[-1].code, _TRANSCRIBED_END.sub("", kept[-1].value))
            variants.append(Field(tag="246", indicators=["3", " "], subfields=kept))
    return variants


def _title_key(field: Field) -> str:
    return fold(" ".join(field.get_subfields(*_TITLE_CODES)))


def _heading_key(field: Field) -> str:
    text = " ".join(sf.value for sf in field.subfields if sf.code.isalpha())
    return field.tag + fold(text)
