"""Reading one PDU at a time from a stream: back-to-back PDUs, definite and indefinite
lengths, chunked arrival, size bounds and early end of stream."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from protocols.z3950 import oids
from protocols.z3950.codec import (
    PduError,
    PduTooComplex,
    decode_pdu,
    encode_pdu,
    make_external,
)
from protocols.z3950.framing import YIELD_EVERY, IncompleteRead, PduTooLarge, read_pdu

CLOSE = encode_pdu("close", {"closeReason": 0, "diagnosticInformation": "Xayr"})
PRESENT = encode_pdu(
    "presentResponse",
    {
        "numberOfRecordsReturned": 1,
        "nextResultSetPosition": 2,
        "presentStatus": 0,
        "records": (
            "responseRecords",
            [{"record": ("retrievalRecord", make_external(oids.USMARC, b"x" * 70_000))}],
        ),
    },
)
# close [48] with indefinite length, containing closeReason 0, then end-of-contents
INDEFINITE_CLOSE = bytes.fromhex("bf30809f815301000000")


def stream_of(*chunks: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


async def test_back_to_back_pdus_are_split_exactly() -> None:
    reader = stream_of(CLOSE + PRESENT + INDEFINITE_CLOSE + CLOSE)
    assert await read_pdu(reader, 1 << 20) == CLOSE
    assert await read_pdu(reader, 1 << 20) == PRESENT
    assert await read_pdu(reader, 1 << 20) == INDEFINITE_CLOSE
    assert decode_pdu(INDEFINITE_CLOSE) == ("close", {"closeReason": 0})
    assert await read_pdu(reader, 1 << 20) == CLOSE
    with pytest.raises(IncompleteRead):
        await read_pdu(reader, 1 << 20)


async def test_pdu_arriving_byte_by_byte() -> None:
    reader = asyncio.StreamReader()
    task = asyncio.create_task(read_pdu(reader, 1 << 20))
    for byte in INDEFINITE_CLOSE + CLOSE:
        reader.feed_data(bytes([byte]))
        await asyncio.sleep(0)
    assert await task == INDEFINITE_CLOSE
    assert await read_pdu(reader, 1 << 20) == CLOSE


async def test_long_length_form_is_read() -> None:
    assert len(PRESENT) > 65_536
    assert await read_pdu(stream_of(PRESENT), len(PRESENT)) == PRESENT


async def test_pdu_over_the_bound_is_refused() -> None:
    with pytest.raises(PduTooLarge):
        await read_pdu(stream_of(PRESENT), len(PRESENT) - 1)


async def test_gigabyte_claim_fails_before_reading_or_allocating() -> None:
    header = bytes.fromhex("bf3084") + (3 << 30).to_bytes(4, "big")
    reader = stream_of(header + b"\x00" * 64, eof=False)
    tracemalloc.start()
    try:
        with pytest.raises(PduTooLarge):
            await read_pdu(reader, 1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # nothing near the 3 GiB claimed, nor the 1 MiB bound
    assert len(await reader.read(1000)) >= 64  # the contents were never read


async def test_indefinite_pdu_over_the_bound_is_refused() -> None:
    endless = bytes.fromhex("bf3080") + bytes.fromhex("9f81530100") * 1000
    with pytest.raises(PduTooLarge):
        await read_pdu(stream_of(endless, eof=False), 1000)


@pytest.mark.parametrize("cut", [1, 3, len(CLOSE) - 1])
async def test_end_of_stream_inside_a_pdu(cut: int) -> None:
    with pytest.raises(IncompleteRead):
        await read_pdu(stream_of(CLOSE[:cut]), 1 << 20)


async def test_end_of_stream_inside_indefinite_pdu() -> None:
    with pytest.raises(IncompleteRead):
        await read_pdu(stream_of(INDEFINITE_CLOSE[:-2]), 1 << 20)


async def test_indefinite_primitive_is_malformed() -> None:
    with pytest.raises(PduError):
        await read_pdu(stream_of(bytes.fromhex("048001020000")), 1 << 20)


async def test_five_octet_length_is_malformed() -> None:
    with pytest.raises(PduError):
        await read_pdu(stream_of(bytes.fromhex("bf30850000000001") + b"\x00"), 1 << 20)


# a searchRequest [22] of indefinite length holding NULL values: 2 bytes each, nothing to decode
def _flood(values: int) -> bytes:
    return b"\xb6\x80" + b"\x05\x00" * values + b"\x00\x00"


async def test_values_of_indefinite_length_are_refused_past_the_bound_as_they_are_read() -> None:
    """A megabyte of two-byte values in indefinite lengths was walked whole, value by value,
    before the decoder's bound refused it: seconds of the event loop (every other client
    waited) and tens of megabytes a PDU. The walk stops at the bound, the rest unread."""
    reader = stream_of(_flood(100_000))
    with pytest.raises(PduTooComplex, match="more than 1000 BER values"):
        await read_pdu(reader, 1 << 20, 1000)
    assert len(await reader.read()) > 190_000  # left in the stream
    assert await read_pdu(stream_of(_flood(998)), 1 << 20, 1000) == _flood(998)


async def test_a_long_walk_lets_other_tasks_run() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(ticker())
    try:
        assert await read_pdu(stream_of(_flood(20_000)), 1 << 20) == _flood(20_000)
    finally:
        running.cancel()
    assert ticks >= 20_000 // YIELD_EVERY
