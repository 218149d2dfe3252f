"""Telling UNIMARC/RUSMARC from MARC21 in ISO 2709, by content.

Both are ISO 2709 with the same leader layout, so the bytes of the structure say nothing; the
tags do. The rule, applied to each of the first :data:`RECORDS` records found in a file's head
(a record cut short by the end of the head still counts, from its directory and the fields
present):

- a record is MARC21 when it has a 245 (title statement), or an 008 and no 200;
- a record is UNIMARC when it has a 200 (title and statement of responsibility) whose data,
  when present in the head, holds a ``$a``; no 245; and a 100 whose ``$a`` is the 36
  characters of general processing data, or an 801 (originating source);
- a record is a UNIMARC authority record (UNIMARC/Authorities; it counts as UNIMARC) when
  leader/06 is one of :data:`AUTHORITY_TYPES`, it has no 008, a heading of the 2XX block
  (:data:`AUTHORITY_HEADINGS`) whose data, when present in the head, holds a ``$a``, and a 100
  whose ``$a`` is the 24 characters of authority processing data beginning with the date
  entered, or an 801. This is looked at first: an authority 245 is a name/collective uniform
  title heading, not MARC21's title. MARC21 authority records (leader/06 'z') and holdings
  records ('x', 'y') always carry an 008, so they stay MARC21;
- the file is UNIMARC when at least one record is UNIMARC and none is MARC21; else MARC21.

The bibliographic UNIMARC crosswalk refuses authority records
(:func:`authority_refusal` gives the reason), whether detected or named with ``--from``.

>>> looks_unimarc(open("TEST1.ISO", "rb").read(65536))
True
"""

from __future__ import annotations

from crosswalks.framing import BOM

RECORDS = 5
"""How many records of the head are looked at."""
GENERAL_PROCESSING_LENGTH = 36
"""UNIMARC 100 $a: date entered, type of date, dates, audience, ... (36 characters)."""
AUTHORITY_PROCESSING_LENGTH = 24
"""UNIMARC/Authorities 100 $a: date entered on file (8 digits), status, language of
cataloguing, transliteration, character sets, script, direction (24 characters)."""
AUTHORITY_TYPES = {
    "x": "authority entry record",
    "y": "reference entry record",
    "z": "general explanatory entry record",
}
"""UNIMARC/Authorities record label, position 6 (type of record). UNIMARC bibliographic
records use other letters (a-g, i-m, r)."""
AUTHORITY_HEADINGS = frozenset(
    {"200", "210", "215", "216", "217", "220", "230", "235", "240", "245", "250", "260", "280"}
)
"""The 2XX heading block of UNIMARC/Authorities: personal, corporate, territorial, trademark,
printer/publisher device, family names, uniform and collective uniform titles, name/title,
name/collective title, topical subject, place access, form/genre."""
_FIELD_TERMINATOR = 0x1E
_SUBFIELD = b"\x1f"


def looks_unimarc(head: bytes) -> bool:
    """Whether ISO 2709 ``head`` (a file's first bytes) holds UNIMARC rather than MARC21
    records, by the rule of this module."""
    votes = [_flavour(record) for record in _records(head)]
    return "unimarc" in votes and "marc21" not in votes


def looks_marc21(head: bytes) -> bool:
    """Whether ISO 2709 ``head`` holds MARC21 records by the rule of this module (one at least,
    and no UNIMARC one): what ``koprik import --format unimarc`` and ``koprik crosswalk --from
    unimarc`` refuse (:func:`named_but_marc21`): converted, they are records without a title,
    which an import would store over the records it has."""
    votes = [_flavour(record) for record in _records(head)]
    return "marc21" in votes and "unimarc" not in votes


def named_but_marc21(option: str) -> str:
    """Why an input named UNIMARC with ``option`` (``--format unimarc``) and whose head
    :func:`looks_marc21` is refused."""
    return f"MARC21 records (a 245, or an 008 and no 200), not UNIMARC; drop {option}"


def detected(option: str) -> str:
    """What ``koprik crosswalk`` and ``koprik import`` say of an input :func:`looks_unimarc`
    took for UNIMARC/RUSMARC; ``option`` is theirs that names the format."""
    return (
        "UNIMARC/RUSMARC detected (a 200 or an authority heading, 100 or 801, no 245): "
        f"bibliographic records converted to MARC21 as with {option}, authority records "
        "rejected"
    )


def _records(head: bytes) -> list[bytes]:
    """Up to :data:`RECORDS` records of ``head``, split by the lengths their leaders give (the
    last possibly cut short); padding between them is skipped, and a byte-order mark before
    the first."""
    head = head.removeprefix(BOM)
    records: list[bytes] = []
    position = 0
    while len(records) < RECORDS:
        while position < len(head) and head[position] in b"\x00\r\n ":
            position += 1
        length_text = head[position : position + 5]
        if len(length_text) < 5 or not length_text.isdigit() or int(length_text) < 24:
            break
        length = int(length_text)
        records.append(head[position : position + length])
        position += length
    return records


def authority_refusal(leader: str) -> str | None:
    """Why the bibliographic UNIMARC crosswalk will not convert a record with ``leader``: it
    is a UNIMARC authority record (leader/06 in :data:`AUTHORITY_TYPES`); None when it is not.

    >>> authority_refusal("00235nx  a2200097   450 ")[:58]
    "UNIMARC authority record (leader/06 'x': authority entry r"
    """
    kind = AUTHORITY_TYPES.get(leader[6:7])
    if kind is None:
        return None
    return (
        f"UNIMARC authority record (leader/06 {leader[6]!r}: {kind}): the crosswalk converts "
        "bibliographic records only"
    )


def _flavour(record: bytes) -> str | None:
    """"marc21", "unimarc" or None (neither can be told) for one record."""
    fields = _fields(record)
    if fields is None:
        return None
    if _is_authority(record, fields):
        return "unimarc"
    if "245" in fields or ("008" in fields and "200" not in fields):
        return "marc21"
    if "200" not in fields:
        return None
    title = fields["200"]
    if title is not None and _subfield(title, b"a") is None:
        return None
    processing = fields.get("100")
    data = None if processing is None else _subfield(processing, b"a")
    coded = data is not None and len(data) == GENERAL_PROCESSING_LENGTH
    return "unimarc" if coded or "801" in fields else None


def _is_authority(record: bytes, fields: dict[str, bytes | None]) -> bool:
    """Whether one record is a UNIMARC authority record, by the rule of this module."""
    if record[6:7].decode("latin-1") not in AUTHORITY_TYPES or "008" in fields:
        return False
    headings = [fields[tag] for tag in AUTHORITY_HEADINGS if tag in fields]
    if not any(data is None or _subfield(data, b"a") is not None for data in headings):
        return False
    processing = fields.get("100")
    data = None if processing is None else _subfield(processing, b"a")
    coded = (
        data is not None and len(data) == AUTHORITY_PROCESSING_LENGTH and data[:8].isdigit()
    )
    return coded or "801" in fields


def _fields(record: bytes) -> dict[str, bytes | None] | None:
    """The first field of each tag in the directory: its data (None when cut off by the end of
    the head); None when the leader or the directory cannot be read."""
    base_text = record[12:17]
    if len(record) < 24 or not base_text.isdigit():
        return None
    base = int(base_text)
    fields: dict[str, bytes | None] = {}
    position = 24
    while position + 12 <= len(record) and record[position] != _FIELD_TERMINATOR:
        entry = record[position : position + 12]
        position += 12
        if not entry[3:].isdigit():
            return None
        tag = entry[:3].decode("latin-1")
        start = base + int(entry[7:12])
        end = start + int(entry[3:7])
        if tag not in fields:
            fields[tag] = record[start:end] if end <= len(record) else None
    return fields


def _subfield(data: bytes, code: bytes) -> bytes | None:
    """The first subfield ``code`` of a field's data, without its terminator; None if none."""
    for part in data.rstrip(bytes([_FIELD_TERMINATOR])).split(_SUBFIELD)[1:]:
        if part[:1] == code:
            return part[1:]
    return None
