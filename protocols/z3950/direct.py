"""BER of the PDUs a target sends most, written and read directly: Search and Present responses.

asn1tools walks its compiled type tree for every value (about 35 Python calls per record of a
Present response: 85 µs for ten records to write, more than the search itself, and more to
read). The responses a target sends for each search and present have one fixed shape, so
:func:`encode` writes them straight from the value, byte for byte what ``asn1tools`` gives
(definite minimal lengths, minimal integers, tags as ``z3950.asn`` declares them), and
:func:`decode` reads such bytes (from Koprik, YAZ or Zebra) into the very value asn1tools gives
(``tests/test_z3950_direct.py`` compares both with asn1tools). Anything outside that shape —
another PDU, a field or alternative it does not know, a value of an unexpected type, an
encoding other than the plain one — is not guessed at: they return None and the codec uses
asn1tools, which handles it or raises its error as before.

>>> encode("presentResponse", {"numberOfRecordsReturned": 0, "nextResultSetPosition": 1,
...                            "presentStatus": 0})
b'\\xb9\\t\\x98\\x01\\x00\\x99\\x01\\x01\\x9b\\x01\\x00'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

_OID = re.compile(r"[0-9]+(?:\.[0-9]+)+")


class _Unsupported(Exception):
    """The value is not of the shape written here (asn1tools will encode it, or say why not)."""


def encode(name: str, value: Any) -> bytes | None:
    """The BER of PDU alternative ``name`` with ``value``, or None when this module does not
    write it (see the module docs)."""
    writer = _PDUS.get(name)
    if writer is None or type(value) is not dict:
        return None
    try:
        return writer(value)
    except (_Unsupported, KeyError):  # KeyError: a mandatory member missing
        return None


# -- TLV --------------------------------------------------------------------------------------


def _length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def _tlv(tag: bytes, content: bytes) -> bytes:
    return tag + _length(len(content)) + content


def _integer(value: Any) -> bytes:
    if type(value) is not int:
        raise _Unsupported
    return value.to_bytes((8 + (value + (value < 0)).bit_length()) // 8, "big", signed=True)


def _octets(value: Any) -> bytes:
    if type(value) is not bytes and type(value) is not bytearray:
        raise _Unsupported
    return bytes(value)


def _utf8(value: Any) -> bytes:
    if type(value) is not str:
        raise _Unsupported
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: asn1tools' error, not ours
        raise _Unsupported from None


@lru_cache(maxsize=256)
def _oid(dotted: str) -> bytes:
    """The OBJECT IDENTIFIER TLV of ``dotted`` (a handful of record syntax and diagnostic set
    OIDs in practice, so cached)."""
    if not _OID.fullmatch(dotted):
        raise _Unsupported
    arcs = [int(arc) for arc in dotted.split(".")]
    content = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        digits = [arc & 0x7F]
        arc >>= 7
        while arc:
            digits.append(0x80 | (arc & 0x7F))
            arc >>= 7
        content += bytes(reversed(digits))
    return _tlv(b"\x06", bytes(content))


def _choice(value: Any) -> tuple[str, Any]:
    if type(value) is not tuple or len(value) != 2:
        raise _Unsupported
    return value


def _fields(value: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if type(value) is not dict or not allowed.issuperset(value):
        raise _Unsupported
    return value


# -- Records --------------------------------------------------------------------------------

_EXTERNAL = frozenset({"direct-reference", "encoding"})
_DIAGNOSTIC = frozenset({"diagnosticSetId", "condition", "addinfo"})
_NAME_PLUS_RECORD = frozenset({"name", "record"})
_ADDINFO = {"v2Addinfo": b"\x1a", "v3Addinfo": b"\x1b"}  # [UNIVERSAL 26] and InternationalString


def _external(value: Any) -> bytes:
    """External ::= [UNIVERSAL 8] IMPLICIT SEQUENCE (a direct-reference and an encoding)."""
    fields = _fields(value, _EXTERNAL)
    kind, content = _choice(fields["encoding"])
    if kind == "octet-aligned":  # [1] IMPLICIT OCTET STRING
        encoding = _tlv(b"\x81", _octets(content))
    elif kind == "single-ASN1-type":  # [0] ANY, explicitly tagged: the inner TLV as it is
        encoding = _tlv(b"\xa0", _octets(content))
    else:
        raise _Unsupported
    reference = fields.get("direct-reference")
    if reference is None:
        return _tlv(b"\x28", encoding)
    if type(reference) is not str:
        raise _Unsupported
    return _tlv(b"\x28", _oid(reference) + encoding)


def _default_diag_format(value: Any) -> bytes:
    """The contents of DefaultDiagFormat (its SEQUENCE tag is the caller's)."""
    fields = _fields(value, _DIAGNOSTIC)
    set_id = fields["diagnosticSetId"]
    if type(set_id) is not str:
        raise _Unsupported
    kind, addinfo = _choice(fields["addinfo"])
    tag = _ADDINFO.get(kind)
    if tag is None:
        raise _Unsupported
    return (
        _oid(set_id)
        + _tlv(b"\x02", _integer(fields["condition"]))
        + _tlv(tag, _utf8(addinfo))
    )  # fmt: skip


def _name_plus_record(value: Any) -> bytes:
    fields = _fields(value, _NAME_PLUS_RECORD)
    kind, record = _choice(fields["record"])
    if kind == "retrievalRecord":  # [1] External, explicit
        inner = _tlv(b"\xa1", _external(record))
    elif kind == "surrogateDiagnostic":  # [2] DiagRec, explicit; DiagRec's defaultFormat
        diag_kind, diag = _choice(record)
        if diag_kind != "defaultFormat":
            raise _Unsupported
        inner = _tlv(b"\xa2", _tlv(b"\x30", _default_diag_format(diag)))
    else:
        raise _Unsupported
    name = fields.get("name")
    content = _tlv(b"\xa1", inner)  # record [1] CHOICE, explicit
    if name is not None:
        content = _tlv(b"\x80", _utf8(name)) + content  # [0] IMPLICIT DatabaseName
    return _tlv(b"\x30", content)


def _records(value: Any) -> bytes:
    kind, records = _choice(value)
    if kind == "responseRecords":  # [28] IMPLICIT SEQUENCE OF NamePlusRecord
        if type(records) is not list:
            raise _Unsupported
        return _tlv(b"\xbc", b"".join(_name_plus_record(record) for record in records))
    if kind == "nonSurrogateDiagnostic":  # [130] IMPLICIT DefaultDiagFormat
        return _tlv(b"\xbf\x81\x02", _default_diag_format(records))
    raise _Unsupported


# -- PDUs -------------------------------------------------------------------------------------

Field = tuple[str, bytes, Callable[[Any], bytes], bool]
"""A SEQUENCE member: its name, its (implicit) tag, the writer of its contents, and whether it
is OPTIONAL. ``records``, an untagged CHOICE, has no tag: its writer gives the whole TLV."""


def _boolean(value: Any) -> bytes:
    if type(value) is not bool:
        raise _Unsupported
    return b"\xff" if value else b"\x00"


def _sequence(tag: bytes, members: tuple[Field, ...]) -> Callable[[dict[str, Any]], bytes]:
    """The writer of a SEQUENCE with implicit tag ``tag`` and ``members``, in their order."""
    allowed = frozenset(name for name, _, _, _ in members)

    def write(value: dict[str, Any]) -> bytes:
        if not allowed.issuperset(value):
            raise _Unsupported
        parts = []
        for name, member_tag, content, optional in members:
            item = value.get(name)
            if item is None:
                if optional and name not in value:
                    continue
                raise _Unsupported  # missing, or None where asn1tools wants a value
            parts.append(content(item) if name == "records" else _tlv(member_tag, content(item)))
        return _tlv(tag, b"".join(parts))

    return write


_REFERENCE_ID: Field = ("referenceId", b"\x82", _octets, True)
_RECORDS: Field = ("records", b"", _records, True)

_SEARCH_RESPONSE: tuple[Field, ...] = (  # [23] IMPLICIT SearchResponse
    _REFERENCE_ID,
    ("resultCount", b"\x97", _integer, False),
    ("numberOfRecordsReturned", b"\x98", _integer, False),
    ("nextResultSetPosition", b"\x99", _integer, False),
    ("searchStatus", b"\x96", _boolean, False),
    ("resultSetStatus", b"\x9a", _integer, True),
    ("presentStatus", b"\x9b", _integer, True),
    _RECORDS,
)
_PRESENT_RESPONSE: tuple[Field, ...] = (  # [25] IMPLICIT PresentResponse
    _REFERENCE_ID,
    ("numberOfRecordsReturned", b"\x98", _integer, False),
    ("nextResultSetPosition", b"\x99", _integer, False),
    ("presentStatus", b"\x9b", _integer, False),
    _RECORDS,
)
_PDUS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "searchResponse": _sequence(b"\xb7", _SEARCH_RESPONSE),
    "presentResponse": _sequence(b"\xb9", _PRESENT_RESPONSE),
}


# -- Reading ----------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, dict[str, Any]] | None:
    """The PDU ``(name, value)`` in ``data`` (definite lengths only, as the codec's BER check
    leaves it), or None when it is not a Search or Present response of the plain shape."""
    reader = _READERS.get(data[:1])
    if reader is None:
        return None
    try:
        start, end = _contents(data, 0, len(data), data[:1])
        if end != len(data):
            return None
        return reader(data, start, end)
    except Exception:  # _Unsupported, or bytes past an end: whatever it is, asn1tools decides
        return None


def _contents(data: bytes, offset: int, end: int, tag: bytes) -> tuple[int, int]:
    """(start, end) of the contents of the value at ``offset`` whose tag must be ``tag``."""
    position = offset + len(tag)
    if data[offset:position] != tag or position >= end:
        raise _Unsupported
    first = data[position]
    if first < 0x80:
        start, length = position + 1, first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4:
            raise _Unsupported
        start = position + 1 + count
        length = int.from_bytes(data[position + 1 : start], "big")
    if start + length > end:
        raise _Unsupported
    return start, start + length


def _read_integer(data: bytes, start: int, end: int) -> int:
    if start == end:
        raise _Unsupported
    return int.from_bytes(data[start:end], "big", signed=True)


def _read_text(data: bytes, start: int, end: int) -> str:
    try:
        return data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise _Unsupported from None


def _read_oid(data: bytes, start: int, end: int) -> str:
    return _oid_text(data[start:end])


@lru_cache(maxsize=256)
def _oid_text(content: bytes) -> str:
    """As asn1tools reads an OID: the first subidentifier split as 40 * X + Y whatever X (the
    same few record syntax and diagnostic set OIDs come again and again, so cached)."""
    arcs: list[int] = []
    value = 0
    for octet in content:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    if not arcs or content[-1] & 0x80:
        raise _Unsupported
    first = arcs[0]
    return ".".join(str(arc) for arc in [first // 40, first % 40, *arcs[1:]])


def _members(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The values inside contents ``start``..``end``: (tag, contents start, contents end); tags
    of one octet, or of a few in the high-tag-number form."""
    found = []
    position = start
    while position < end:
        tag_end = position + 1
        if data[position] & 0x1F == 0x1F:
            while data[tag_end] & 0x80:
                tag_end += 1
            tag_end += 1
        tag = data[position:tag_end]
        contents, position = _contents(data, position, end, tag)
        found.append((tag, contents, position))
    return found


def _read_external(data: bytes, start: int, end: int) -> dict[str, Any]:
    members = _members(data, start, end)
    value: dict[str, Any] = {}
    if members and members[0][0] == b"\x06":
        value["direct-reference"] = _read_oid(data, members[0][1], members[0][2])
        members = members[1:]
    if len(members) != 1:
        raise _Unsupported
    tag, inner, inner_end = members[0]
    if tag == b"\x81":  # octet-aligned
        value["encoding"] = ("octet-aligned", data[inner:inner_end])
    elif tag == b"\xa0":  # single-ASN1-type: the one inner TLV, as a bytearray as asn1tools
        if len(_members(data, inner, inner_end)) != 1:
            raise _Unsupported
        value["encoding"] = ("single-ASN1-type", bytearray(data[inner:inner_end]))
    else:
        raise _Unsupported
    return value


_ADDINFO_KINDS = {b"\x1a": "v2Addinfo", b"\x1b": "v3Addinfo"}


def _read_diagnostic(data: bytes, start: int, end: int) -> dict[str, Any]:
    """The contents of a DefaultDiagFormat."""
    members = _members(data, start, end)
    if [tag for tag, _, _ in members[:2]] != [b"\x06", b"\x02"] or len(members) != 3:
        raise _Unsupported
    (_, oid, oid_end), (_, code, code_end), (tag, text, text_end) = members
    kind = _ADDINFO_KINDS.get(tag)
    if kind is None:
        raise _Unsupported
    return {"diagnosticSetId": _read_oid(data, oid, oid_end),
            "condition": _read_integer(data, code, code_end),
            "addinfo": (kind, _read_text(data, text, text_end))}  # fmt: skip


def _only(data: bytes, start: int, end: int, tag: bytes) -> tuple[int, int]:
    """The contents of the one value, tagged ``tag``, filling ``start``..``end``."""
    inner, inner_end = _contents(data, start, end, tag)
    if inner_end != end:
        raise _Unsupported
    return inner, inner_end


def _read_name_plus_record(data: bytes, start: int, end: int) -> dict[str, Any]:
    members = _members(data, start, end)
    value: dict[str, Any] = {}
    if members and members[0][0] == b"\x80":
        value["name"] = _read_text(data, members[0][1], members[0][2])
        members = members[1:]
    if len(members) != 1 or members[0][0] != b"\xa1":
        raise _Unsupported
    _, inner, inner_end = members[0]
    if data[inner : inner + 1] == b"\xa1":  # retrievalRecord [1] External
        external = _only(data, *_only(data, inner, inner_end, b"\xa1"), b"\x28")
        value["record"] = ("retrievalRecord", _read_external(data, *external))
    elif data[inner : inner + 1] == b"\xa2":  # surrogateDiagnostic [2] DiagRec: defaultFormat
        diagnostic = _only(data, *_only(data, inner, inner_end, b"\xa2"), b"\x30")
        value["record"] = ("surrogateDiagnostic",
                           ("defaultFormat", _read_diagnostic(data, *diagnostic)))  # fmt: skip
    else:
        raise _Unsupported
    return value


def _read_records(data: bytes, tag: bytes, start: int, end: int) -> tuple[str, Any]:
    if tag == b"\xbc":
        records = []
        for member, inner, inner_end in _members(data, start, end):
            if member != b"\x30":
                raise _Unsupported
            records.append(_read_name_plus_record(data, inner, inner_end))
        return "responseRecords", records
    if tag == b"\xbf\x81\x02":
        return "nonSurrogateDiagnostic", _read_diagnostic(data, start, end)
    raise _Unsupported


def _read_boolean(data: bytes, start: int, end: int) -> bool:
    if end - start != 1:
        raise _Unsupported
    return bool(data[start])


Reader = Callable[[bytes, int, int], Any]
_READ_BY_KIND: dict[Callable[[Any], bytes], Reader] = {
    _integer: _read_integer, _boolean: _read_boolean, _octets: lambda d, s, e: d[s:e],
}  # fmt: skip


def _reader(name: str, members: tuple[Field, ...]) -> Callable[[bytes, int, int], Any]:
    """The reader of the SEQUENCE whose writer :func:`_sequence` makes from ``members``: each
    member in order, optional ones left out, nothing else."""
    tagged = [(tag, member, _READ_BY_KIND.get(content), optional)
              for member, tag, content, optional in members if member != "records"]  # fmt: skip

    def read(data: bytes, start: int, end: int) -> tuple[str, dict[str, Any]]:
        found = _members(data, start, end)
        value: dict[str, Any] = {}
        index = 0
        for tag, member, read_one, optional in tagged:
            if index < len(found) and found[index][0] == tag and read_one is not None:
                value[member] = read_one(data, found[index][1], found[index][2])
                index += 1
            elif not optional:
                raise _Unsupported
        if index < len(found):  # the records, last
            tag, inner, inner_end = found[index]
            value["records"] = _read_records(data, tag, inner, inner_end)
            index += 1
        if index != len(found):
            raise _Unsupported
        return name, value

    return read


_READERS: dict[bytes, Callable[[bytes, int, int], tuple[str, dict[str, Any]]]] = {
    b"\xb7": _reader("searchResponse", _SEARCH_RESPONSE),
    b"\xb9": _reader("presentResponse", _PRESENT_RESPONSE),
}
