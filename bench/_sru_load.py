"""The SRU load of ``bench/z3950.py``: sessions sending searchRetrieve requests (10 records,
``marcxml``, SRU 1.2 over HTTP/1.1 keep-alive), and their figures as a :class:`Level`.

The queries are :data:`bench._z3950_load.QUERIES` said in CQL (the same indexes through the
``dc`` and ``bath`` context sets, which both Koprik and Zebra's ``pqf.properties`` map onto
Bib-1 1=4, 1003 and 21, and 7), less the two date queries: YAZ's ``pqf.properties`` maps
``dc.date`` to 1=30, which the Zebra set-up does not index (it answers diagnostic 16). A
request counts as one "pair" of the Level (a search with its first page of records, which SRU
does in one round trip).

>>> level = run_level("http://127.0.0.1:2100/Default", clients=16, seconds=20, processes=2)
"""

from __future__ import annotations

import re
from functools import partial

import aiohttp

from bench._z3950_load import (
    PRESENT_COUNT,
    QUERIES,
    Level,
    Samples,
    run_sessions,
    timed_loop,
)

_INDEXES = {"4": "dc.title", "1003": "dc.creator", "21": "dc.subject", "7": "bath.isbn"}
CQL_QUERIES = tuple(
    f"{_INDEXES[m[1]]}={m[2]}" for m in (re.fullmatch(r"@attr 1=(\d+) (\S+)", q) for q in QUERIES)
    if m is not None and m[1] in _INDEXES
)  # fmt: skip
_HITS = re.compile(rb"<(?:\w+:)?numberOfRecords>(\d+)<")
_RECORD = re.compile(rb"<(?:\w+:)?recordData>")


def params(query: str) -> dict[str, str]:
    return {"version": "1.2", "operation": "searchRetrieve", "query": query,
            "maximumRecords": str(PRESENT_COUNT), "recordSchema": "marcxml"}  # fmt: skip


async def _request(session: aiohttp.ClientSession, url: str, query: str) -> tuple[int, int]:
    """One searchRetrieve: (hits, records received); raises on a diagnostic or HTTP error."""
    async with session.get(url, params=params(query)) as response:
        body = await response.read()
    if response.status != 200 or b"diagnostic" in body:
        raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
    found = _HITS.search(body)
    return (int(found[1]) if found else -1), len(_RECORD.findall(body))


async def hit_counts(url: str) -> list[int]:
    """The hits of each CQL query (to judge the comparison fair)."""
    async with aiohttp.ClientSession() as session:
        return [(await _request(session, url, query))[0] for query in CQL_QUERIES]


async def _session(
    url: str, offset: int, start_at: float, end_at: float
) -> tuple[Samples, list[str]]:
    """One client sending searchRetrieve requests from ``start_at`` until ``end_at``."""
    connector = aiohttp.TCPConnector(limit=1)  # one keep-alive connection per session
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return await timed_loop(CQL_QUERIES, offset, start_at, end_at,
                                partial(_request, session, url))  # fmt: skip


def run_level(url: str, *, clients: int, seconds: float, processes: int) -> Level:
    """``clients`` concurrent SRU sessions for ``seconds``, spread over ``processes`` workers."""
    return run_sessions(_session, url, clients=clients, seconds=seconds, processes=processes)
