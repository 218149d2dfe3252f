"""Reading one BER-encoded PDU at a time from a Z39.50 byte stream.

Z39.50 over TCP has no framing of its own: PDUs follow each other back to back, and the end
of one is known only from its BER lengths (definite or indefinite). :func:`read_pdu` reads
exactly one, never more than ``max_bytes`` of it, and never allocates for a length it has not
checked against that bound.

A definite length is read in one piece; an indefinite one is followed value by value, which
costs the event loop a few microseconds a value: a megabyte of two-byte values in indefinite
lengths held up every other client for seconds. So such a walk counts its values against
``max_values`` (the bound the decoder holds a PDU to: one with more is refused as soon as it is
known, not once read whole) and lets other tasks run every :data:`YIELD_EVERY` values.
"""

from __future__ import annotations

import asyncio

from protocols.z3950.ber import (
    CONSTRUCTED,
    END_OF_CONTENTS,
    MAX_DEPTH,
    MAX_LENGTH_BYTES,
    MAX_TAG_BYTES,
)
from protocols.z3950.codec import PduError, PduTooComplex

YIELD_EVERY = 256
"""Values an indefinite-length walk reads before it lets the event loop run other tasks."""


class PduTooLarge(PduError):
    """The PDU is (or claims to be) larger than the bound the reader was given."""


class IncompleteRead(PduError):
    """The stream ended in the middle of a PDU."""


class _Budget:
    """Bytes still allowed for the PDU being read, and values read one by one."""

    def __init__(self, max_bytes: int, max_values: int | None) -> None:
        self.max_bytes = max_bytes
        self.left = max_bytes
        self.max_values = max_values
        self.values = 0

    def take(self, count: int) -> None:
        if count > self.left:
            raise PduTooLarge(f"PDU larger than {self.max_bytes} bytes")
        self.left -= count

    async def count_value(self) -> None:
        """Count a value read by itself; refuse one too many, and let others run now and
        then."""
        self.values += 1
        if self.max_values is not None and self.values > self.max_values:
            raise PduTooComplex(f"more than {self.max_values} BER values")
        if self.values % YIELD_EVERY == 0:
            await asyncio.sleep(0)


async def read_pdu(
    reader: asyncio.StreamReader, max_bytes: int, max_values: int | None = None
) -> bytes:
    """Read and return the bytes of exactly one BER value from ``reader``.

    Raises :class:`PduTooLarge` once the value is known to exceed ``max_bytes`` (before reading
    or allocating its contents), :class:`~protocols.z3950.codec.PduTooComplex` once values of
    indefinite length are found to hold more than ``max_values`` values, :class:`IncompleteRead`
    if the stream ends inside it (or before it starts: a closed connection), and
    :class:`PduError` if the bytes are not BER.
    """
    return await _read_value(reader, _Budget(max_bytes, max_values), 0)


async def _read_value(reader: asyncio.StreamReader, budget: _Budget, depth: int) -> bytes:
    if depth > MAX_DEPTH:
        raise PduError(f"values nested deeper than {MAX_DEPTH}")
    await budget.count_value()
    header = bytearray(await _read(reader, 1, budget))
    if header[0] & 0x1F == 0x1F:
        while True:
            octet = await _read(reader, 1, budget)
            header += octet
            if not octet[0] & 0x80:
                break
            if len(header) > MAX_TAG_BYTES:
                raise PduError("tag number too large")
    first = (await _read(reader, 1, budget))[0]
    header.append(first)
    if first < 0x80:
        return bytes(header) + await _read(reader, first, budget)
    if first == 0x80:
        if not header[0] & CONSTRUCTED:
            raise PduError("indefinite length on a primitive value")
        parts = [bytes(header)]
        while True:
            child = await _read_value(reader, budget, depth + 1)
            parts.append(child)
            if child == END_OF_CONTENTS:
                return b"".join(parts)
    count = first & 0x7F
    if count > MAX_LENGTH_BYTES:
        raise PduError(f"length field of {count} octets")
    length_octets = await _read(reader, count, budget)
    header += length_octets
    return bytes(header) + await _read(reader, int.from_bytes(length_octets, "big"), budget)


async def _read(reader: asyncio.StreamReader, count: int, budget: _Budget) -> bytes:
    budget.take(count)
    try:
        return await reader.readexactly(count)
    except asyncio.IncompleteReadError as error:
        raise IncompleteRead(
            f"stream ended after {len(error.partial)} of {count} expected bytes"
        ) from error
