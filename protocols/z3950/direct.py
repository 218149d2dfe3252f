"""BER of the PDUs a target sends most, written directly: Search and Present responses.

asn1tools walks its compiled type tree for every value (about 35 Python calls per record of a
Present response: 85 µs for ten records, more than the search itself). The responses a target
sends for each search and present have one fixed shape, so :func:`encode` writes them straight
from the value, byte for byte what ``asn1tools`` gives (definite minimal lengths, minimal
integers, tags as ``z3950.asn`` declares them; ``tests/test_z3950_direct.py`` compares the two).
Anything outside that shape — another PDU, a field or alternative it does not know, a value of
an unexpected type — is not guessed at: :func:`encode` returns None and the codec uses
asn1tools, which encodes it or raises its error as before.

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

_PDUS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "searchResponse": _sequence(b"\xb7", (  # [23] IMPLICIT SearchResponse
        _REFERENCE_ID,
        ("resultCount", b"\x97", _integer, False),
        ("numberOfRecordsReturned", b"\x98", _integer, False),
        ("nextResultSetPosition", b"\x99", _integer, False),
        ("searchStatus", b"\x96", _boolean, False),
        ("resultSetStatus", b"\x9a", _integer, True),
        ("presentStatus", b"\x9b", _integer, True),
        _RECORDS,
    )),
    "presentResponse": _sequence(b"\xb9", (  # [25] IMPLICIT PresentResponse
        _REFERENCE_ID,
        ("numberOfRecordsReturned", b"\x98", _integer, False),
        ("nextResultSetPosition", b"\x99", _integer, False),
        ("presentStatus", b"\x9b", _integer, False),
        _RECORDS,
    )),
}  # fmt: skip
