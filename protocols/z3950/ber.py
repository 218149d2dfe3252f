"""The BER tag-length-value layer under the asn1tools codec.

asn1tools decodes indefinite lengths in SEQUENCEs but not inside ``ANY`` (an EXTERNAL's
single-ASN1-type), where targets such as yaz-ztest send them (OPAC records). :func:`to_definite`
rewrites a whole PDU with definite lengths first, checking its structure and nesting depth on
the way, so asn1tools only ever sees well-formed definite-length BER.
"""

from __future__ import annotations

#: Deepest nesting of constructed values accepted: a Type-1 query of a chain of ~145 operators,
#: well past the 64 terms a search takes, so a longer query is answered (diagnostic 6), not
#: closed as malformed (at 100, 97 terms were). asn1tools decodes recursively, some five Python
#: frames a level: its recursion limit falls near 190 levels.
MAX_DEPTH = 150
#: Longest tag accepted, in bytes (tag numbers up to 2**28).
MAX_TAG_BYTES = 5
#: Longest length field accepted after its first byte (lengths up to 4 GiB).
MAX_LENGTH_BYTES = 4

CONSTRUCTED = 0x20
INDEFINITE = 0x80
END_OF_CONTENTS = b"\x00\x00"


class BerError(ValueError):
    """The bytes are not well-formed BER (or exceed the bounds above)."""


class BerIncomplete(BerError):
    """The bytes end before the value they start does."""


def tag_end(data: bytes, offset: int) -> int:
    """Return the offset just after the identifier octets starting at ``offset``."""
    if offset >= len(data):
        raise BerIncomplete("data ends before a tag")
    end = offset + 1
    if data[offset] & 0x1F == 0x1F:
        while True:
            if end >= len(data):
                raise BerIncomplete("data ends inside a tag")
            if end - offset > MAX_TAG_BYTES:
                raise BerError("tag number too large")
            octet = data[end]
            end += 1
            if not octet & 0x80:
                break
    return end


def read_length(data: bytes, offset: int) -> tuple[int | None, int]:
    """Decode the length octets at ``offset``: return (length or None if indefinite, offset of
    the contents)."""
    if offset >= len(data):
        raise BerIncomplete("data ends before a length")
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    if first == INDEFINITE:
        return None, offset + 1
    count = first & 0x7F
    if count > MAX_LENGTH_BYTES:
        raise BerError(f"length field of {count} octets")
    if offset + 1 + count > len(data):
        raise BerIncomplete("data ends inside a length")
    return int.from_bytes(data[offset + 1 : offset + 1 + count], "big"), offset + 1 + count


def encode_length(length: int) -> bytes:
    """Return the definite-length octets for ``length`` (short form below 128)."""
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


class TooManyValues(BerError):
    """The value holds more values than the reader allows (what decoding time goes with)."""


class _Budget:
    """Values still allowed in the value being read (None: no bound)."""

    def __init__(self, max_values: int | None) -> None:
        self.max_values = max_values
        self.left = max_values

    def take(self) -> None:
        if self.left is not None:
            if self.left <= 0:
                raise TooManyValues(f"more than {self.max_values} BER values")
            self.left -= 1


def to_definite(data: bytes, max_values: int | None = None) -> bytes:
    """Return ``data`` — exactly one BER value — re-encoded with definite lengths only (``data``
    itself when it has no indefinite length: checked in a walk that builds nothing).

    Raises :class:`BerIncomplete` if the value is cut short and :class:`BerError` if it is
    malformed, nested deeper than :data:`MAX_DEPTH` or followed by other bytes, and
    :class:`TooManyValues` if it holds more than ``max_values`` values in all.
    """
    end, indefinite = _check_value(data, 0, 0, _Budget(max_values))
    if end != len(data):
        raise BerError(f"{len(data) - end} bytes after the value")
    if not indefinite:  # the commonest case (YAZ, Koprik): nothing to rewrite
        return data
    return _definite_value(data, 0, 0, _Budget(None))[0]


def _check_value(data: bytes, offset: int, depth: int, budget: _Budget) -> tuple[int, bool]:
    """Check the value at ``offset`` as :func:`_definite_value` does, building nothing: (the
    offset after it, whether it or a value inside has an indefinite length)."""
    if depth > MAX_DEPTH:
        raise BerError(f"values nested deeper than {MAX_DEPTH}")
    budget.take()
    # One-octet tags and short lengths (nearly every value) without the general functions.
    if offset < len(data) and data[offset] & 0x1F != 0x1F:
        contents = offset + 1
    else:
        contents = tag_end(data, offset)
    if contents < len(data) and data[contents] < 0x80:
        length: int | None = data[contents]
        contents += 1
    else:
        length, contents = read_length(data, contents)
    if length is not None and contents + length > len(data):
        raise BerIncomplete("data ends inside a value")
    if not data[offset] & CONSTRUCTED:
        if length is None:
            raise BerError("indefinite length on a primitive value")
        return contents + length, False
    indefinite = length is None
    position = contents
    while True:
        if length is None:
            if data[position : position + 2] == END_OF_CONTENTS:
                return position + 2, True
        elif position >= contents + length:
            if position > contents + length:
                raise BerError("a value overruns its enclosing value")
            return position, indefinite
        position, inner = _check_value(data, position, depth + 1, budget)
        indefinite = indefinite or inner


def _definite_value(data: bytes, offset: int, depth: int, budget: _Budget) -> tuple[bytes, int]:
    if depth > MAX_DEPTH:
        raise BerError(f"values nested deeper than {MAX_DEPTH}")
    budget.take()
    contents = tag_end(data, offset)
    tag = data[offset:contents]
    length, contents = read_length(data, contents)
    constructed = bool(data[offset] & CONSTRUCTED)
    if length is not None and contents + length > len(data):
        raise BerIncomplete("data ends inside a value")
    if not constructed:
        if length is None:
            raise BerError("indefinite length on a primitive value")
        return data[offset : contents + length], contents + length
    children: list[bytes] = []
    position = contents
    while True:
        if length is None:
            if data[position : position + 2] == END_OF_CONTENTS:
                position += 2
                break
        elif position >= contents + length:
            if position > contents + length:
                raise BerError("a value overruns its enclosing value")
            break
        child, position = _definite_value(data, position, depth + 1, budget)
        children.append(child)
    body = b"".join(children)
    return tag + encode_length(len(body)) + body, position
