"""Encode and decode Z39.50 PDUs (BER), compiled by asn1tools from ``z3950.asn``.

A PDU is a pair: the name of its alternative in ``PDU`` (``"initRequest"``,
``"searchResponse"``...) and a dict in asn1tools' value notation (CHOICEs are
``(name, value)`` tuples, OIDs dotted strings, BIT STRINGs ``(bytes, bit_count)``)::

    data = encode_pdu("close", {"closeReason": 0})
    assert decode_pdu(data) == ("close", {"closeReason": 0})

EXTERNALs (records, charset negotiation) keep their single-ASN1-type content as the inner
TLV bytes; :func:`decode_external` decodes it in a second step according to the
direct-reference, and :func:`make_external` builds one for encoding.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

import asn1tools

from protocols.z3950 import direct, oids
from protocols.z3950.ber import BerError, TooManyValues, to_definite

#: ASN.1 type of the single-ASN1-type content of an EXTERNAL, by direct-reference.
SINGLE_TYPE_BY_OID: dict[str, str] = {
    oids.SUTRS: "SutrsRecord",
    oids.OPAC: "OPACRecord",
    oids.CHARSET_NEGOTIATION_3: "CharSetandLanguageNegotiation",
}

#: Bit numbers of the Init ``Options`` BIT STRING.
OPTION_BITS: dict[str, int] = {
    "search": 0, "present": 1, "delSet": 2, "resourceReport": 3, "triggerResourceCtrl": 4,
    "resourceCtrl": 5, "accessCtrl": 6, "scan": 7, "sort": 8, "extendedServices": 10,
    "level-1Segmentation": 11, "level-2Segmentation": 12, "concurrentOperations": 13,
    "namedResultSets": 14, "encapsulation": 15, "resultCount": 16, "negotiationModel": 17,
    "duplicateDetection": 18, "queryType104": 19, "pQESCorrection": 20, "stringSchema": 21,
}  # fmt: skip


class PduError(ValueError):
    """Bytes that are not a PDU Koprik knows, or a value that cannot be encoded as one."""


class PduTooComplex(PduError):
    """The PDU holds more BER values than the decoder was allowed to decode."""


def compile_codec() -> None:
    """Compile the codec now (some 1.5 s of CPU, once a process), not as the first PDU is
    encoded or decoded: a server does it before a client waits for it."""
    _compiled()


def _source() -> str:
    return resources.files("protocols.z3950").joinpath("z3950.asn").read_text("utf-8")


@cache
def _compiled() -> Any:
    return asn1tools.compile_string(_source(), "ber")


@cache
def _compiled_bytewise() -> Any:
    """``z3950.asn`` with its UTF-8 strings (InternationalString, version 2 addinfo) read as
    asn1tools reads GeneralString, one character a byte (latin-1), which never fails: each is
    then read again in the set its sender agreed to (:func:`_read_strings_in`)."""
    return asn1tools.compile_string(
        _source().replace("IMPLICIT UTF8String", "IMPLICIT GeneralString"), "ber")


def encode_pdu(name: str, value: dict[str, Any]) -> bytes:
    """Return the BER encoding of the PDU alternative ``name`` with ``value``.

    Raises :class:`PduError` if ``name`` is unknown or ``value`` does not fit the type. Search
    and Present responses are written by :mod:`protocols.z3950.direct` (the same bytes, several
    times faster), every other PDU by asn1tools.
    """
    encoded = direct.encode(name, value)
    if encoded is not None:
        return encoded
    return encode_value("PDU", (name, value))


def decode_pdu(
    data: bytes, max_values: int | None = None, strings: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Decode exactly one PDU (definite or indefinite lengths) into ``(name, value)``.

    ``strings`` is the encoding (a Python codec name, of a text encoding in which ASCII is
    ASCII) of the character set the sender agreed to send its InternationalStrings in, whose
    bytes not in it are read as U+FFFD (an origin's reading: a target's display term or
    addinfo in ISO 8859-1 failed the whole Scan or Search); None: UTF-8, and bytes not in it
    are a :class:`PduError` (a target's reading of its origins' requests).

    Raises :class:`PduError`, and no other exception, whatever the bytes:
    :class:`PduTooComplex` when it holds more than ``max_values`` BER values (checked in a walk
    over the bytes before anything is decoded: decoding time and memory go with the values).
    """
    definite = _definite(data, max_values)
    if strings is None or _is_utf8(strings):
        found = direct.decode(definite)  # Search and Present responses, several times faster
        if found is not None:  # (its strings were valid UTF-8)
            return found
    name, value = _decode_definite("PDU", definite, strings)
    return name, value


def encode_value(type_name: str, value: Any) -> bytes:
    """Encode ``value`` as the type ``type_name`` of ``z3950.asn``; raises :class:`PduError`."""
    try:
        return bytes(_compiled().encode(type_name, value))
    except asn1tools.Error as error:
        raise PduError(f"cannot encode {type_name}: {error}") from error
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
        raise PduError(f"cannot encode {type_name}: {error!r}") from error


def decode_value(
    type_name: str, data: bytes, max_values: int | None = None, strings: str | None = None
) -> Any:
    """Decode ``data`` as the type ``type_name`` of ``z3950.asn``, its strings read as
    :func:`decode_pdu` reads them in ``strings``; raises :class:`PduError`
    (:class:`PduTooComplex` for more than ``max_values`` BER values)."""
    return _decode_definite(type_name, _definite(data, max_values), strings)


def _definite(data: bytes, max_values: int | None) -> bytes:
    """``data`` checked and with definite lengths only (:func:`to_definite`)."""
    try:
        return to_definite(bytes(data), max_values)
    except TooManyValues as error:
        raise PduTooComplex(str(error)) from error
    except BerError as error:
        raise PduError(f"malformed BER: {error}") from error


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


def _decode_definite(type_name: str, definite: bytes, strings: str | None = None) -> Any:
    if strings is not None and _is_utf8(strings):
        try:  # as UTF-8 is almost always valid: no second compiling (0.4 s) for nothing
            return _decode_definite(type_name, definite)
        except PduError:
            pass  # bytes not in UTF-8, or not a value at all (said by the reading below)
    try:
        if strings is None:
            value = _compiled().decode(type_name, definite)
        else:
            value = _read_strings_in(_compiled_bytewise().decode(type_name, definite), strings)
    # Bytes from the wire are untrusted and asn1tools raises more than its own error types
    # (IndexError, UnicodeDecodeError, RecursionError...): any failure is a bad PDU.
    except Exception as error:
        raise PduError(_not_valid(type_name, error)) from error
    _check_integers(value, type_name)
    return value


def _read_strings_in(value: Any, encoding: str) -> Any:
    """``value`` decoded by :func:`_compiled_bytewise`, its strings read again in
    ``encoding``, bytes not in it as U+FFFD. Those in ASCII are left as they are: the names of
    CHOICE alternatives, OIDs, and text the same in ``encoding``, which must be a text encoding
    in which ASCII is ASCII (a target may select any set, UTF-16 too: the origin reads in one
    only if it is, :func:`harvester.z3950_origin.readable_encoding`)."""
    if isinstance(value, str):
        return value if value.isascii() else value.encode("latin-1").decode(encoding, "replace")
    if isinstance(value, dict):
        return {key: _read_strings_in(item, encoding) for key, item in value.items()}
    if isinstance(value, list):
        return [_read_strings_in(item, encoding) for item in value]
    if isinstance(value, tuple):
        return tuple(_read_strings_in(item, encoding) for item in value)
    return value


INTEGER_BITS = 64
"""INTEGERs decoded are within a signed 64-bit integer, as YAZ's (``Odr_int``): asn1tools
reads any length, and one of 2 KB has more digits than ``str()`` writes (4,300), so a
position or attribute value named in a diagnostic's addinfo failed the whole answer."""


def _check_integers(value: Any, type_name: str) -> None:
    """Raise :class:`PduError` if an INTEGER in ``value`` is outside
    :data:`INTEGER_BITS`; a walk over the decoded value, whose size the BER values bound."""
    low, high = -(2 ** (INTEGER_BITS - 1)), 2 ** (INTEGER_BITS - 1)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, int):
            if not low <= item < high:
                raise PduError(f"not a valid {type_name}: an INTEGER over {INTEGER_BITS} bits")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


ERROR_CHARS = 200
"""The most of a decoder's own message kept in a :class:`PduError` (it goes to logs and to
users; an exception's ``repr`` from asn1tools holds the whole PDU type, some 17 KB)."""


def _not_valid(type_name: str, error: Exception) -> str:
    """One line saying why bytes are not a valid ``type_name``: the decoder's message (which
    names the field and what was found there), cut to :data:`ERROR_CHARS`, without the
    exception's class name (the bytes are at fault, not the decoder)."""
    text = " ".join(str(error).split())
    if not text:
        return f"not a valid {type_name}"
    brief = text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS] + "..."
    return f"not a valid {type_name}: {brief}"


def decode_external(external: dict[str, Any], strings: str | None = None) -> Any:
    """Return the content of a decoded EXTERNAL.

    octet-aligned content is returned as bytes; single-ASN1-type content is decoded as the
    type its direct-reference names (:data:`SINGLE_TYPE_BY_OID`: SUTRS gives ``str``, OPAC and
    charset negotiation give their decoded values; their strings read as :func:`decode_pdu`
    reads them in ``strings``) and is returned as raw TLV bytes when the OID is not one Koprik
    knows. Raises :class:`PduError` on undecodable content.
    """
    kind, content = external["encoding"]
    if kind != "single-ASN1-type":
        return bytes(content) if kind == "octet-aligned" else content
    type_name = SINGLE_TYPE_BY_OID.get(external.get("direct-reference", ""))
    if type_name is None:
        return bytes(content)
    return decode_value(type_name, content, strings=strings)


def make_external(oid: str, content: Any) -> dict[str, Any]:
    """Build an EXTERNAL value for ``oid``: single-ASN1-type when the OID has a type in
    :data:`SINGLE_TYPE_BY_OID` (``content`` is then a value of that type), else octet-aligned
    (``content`` is bytes)."""
    type_name = SINGLE_TYPE_BY_OID.get(oid)
    if type_name is None:
        return {"direct-reference": oid, "encoding": ("octet-aligned", bytes(content))}
    return {
        "direct-reference": oid,
        "encoding": ("single-ASN1-type", encode_value(type_name, content)),
    }


def bit_string(bits: Iterable[int]) -> tuple[bytes, int]:
    """Return the asn1tools BIT STRING value with the given bit numbers set."""
    numbers = set(bits)
    count = max(numbers, default=-1) + 1
    data = bytearray((count + 7) // 8)
    for bit in numbers:
        data[bit // 8] |= 0x80 >> (bit % 8)
    return bytes(data), count


def set_bits(value: tuple[bytes, int]) -> set[int]:
    """Return the numbers of the bits set in an asn1tools BIT STRING value."""
    data, count = value
    return {bit for bit in range(count) if data[bit // 8] & (0x80 >> (bit % 8))}
