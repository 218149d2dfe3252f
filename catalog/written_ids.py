"""The records one run has stored, by id, so that a run can tell a record it meets twice.

An import keys its records by 001 (or SOURCE:001): a file with two books under one 001 had the
second silently replace the first, and every import of it again wrote both, one over the other,
each time with a new datestamp. The run marks each record it stores (added, updated or found
unchanged); a record whose key is that of one marked is refused instead
(:meth:`catalog.store.CatalogWriter.put_prepared`).

Record ids are dense integers, so the marks are a bitmap: a run over ten million records holds
1.25 MB of them, whatever its files' size.
"""

from __future__ import annotations

from collections.abc import Iterable


class WrittenIds:
    """Record ids marked as stored by one run: a bit each."""

    def __init__(self) -> None:
        self._bits = bytearray()

    def __contains__(self, record_id: int) -> bool:
        byte = record_id >> 3
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << (record_id & 7)))

    def add_all(self, record_ids: Iterable[int]) -> None:
        bits = self._bits
        for record_id in record_ids:
            byte = record_id >> 3
            if byte >= len(bits):
                bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))  # doubling
            bits[byte] |= 1 << (record_id & 7)
