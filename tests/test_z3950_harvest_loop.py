"""harvester.z3950_harvest against a target that goes round: it counts 2^63-1 hits and sends
the same record on every Present. The run wrote a reject a Present without end; it now ends
after ``loop_pages`` Presents in a row of records already seen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from catalog.demo import demo_records
from config import HarvestSource
from harvester.faults import ListLoop
from harvester.z3950_harvest import Z3950HarvestResult, harvest_z3950
from protocols.z3950 import oids
from protocols.z3950.codec import OPTION_BITS, bit_string, decode_pdu, encode_pdu, make_external
from protocols.z3950.framing import read_pdu
from tests.fault_provider import sqlite_catalog

RECORD = next(iter(demo_records(1))).as_marc()


async def _looping_target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    presents = 0
    try:
        while True:
            name, _value = decode_pdu(await read_pdu(reader, 1 << 24))
            if name == "initRequest":
                writer.write(encode_pdu("initResponse", {
                    "protocolVersion": bit_string({0, 1, 2}),
                    "options": bit_string(OPTION_BITS.values()),
                    "preferredMessageSize": 1 << 20, "exceptionalRecordSize": 1 << 20,
                    "result": True, "implementationName": "looping"}))  # fmt: skip
            elif name == "searchRequest":
                writer.write(encode_pdu("searchResponse", {
                    "resultCount": 2**63 - 1, "numberOfRecordsReturned": 0,
                    "nextResultSetPosition": 1, "searchStatus": True}))  # fmt: skip
            elif name == "presentRequest":
                presents += 1
                assert presents < 100, "the harvest did not stop"
                record = {"record": ("retrievalRecord", make_external(oids.USMARC, RECORD))}
                writer.write(encode_pdu("presentResponse", {
                    "numberOfRecordsReturned": 1, "nextResultSetPosition": 2,
                    "presentStatus": 0, "records": ("responseRecords", [record])}))  # fmt: skip
            else:
                break
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def test_presents_of_records_already_seen_end_the_run_as_a_loop(tmp_path: Path) -> None:
    catalog = sqlite_catalog(tmp_path, "loop")
    result = Z3950HarvestResult()

    async def run() -> None:
        server = await asyncio.start_server(_looping_target, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        source = HarvestSource(name="looping", url=f"z3950://127.0.0.1:{port}/Default",
                               protocol="z3950", query="@attr 1=4 x", timeout=5.0)
        async with server:
            await harvest_z3950(source, catalog, batch=1, loop_pages=3, result=result)

    with pytest.raises(ListLoop, match="3 pages in a row held only records already seen"):
        asyncio.run(run())
    assert (result.counts.added, result.counts.rejected) == (1, 2)  # the third repeat is not stored
    catalog.close()
