"""The load of ``bench/z3950.py``: Z39.50 sessions doing search + present pairs, and their figures.

One session is one :class:`harvester.z3950_origin.Z3950Client` association. A *pair* is a
search for the next query of :data:`QUERIES` (each session starts at its own offset in the mix)
followed by a Present of the first ``PRESENT_COUNT`` hits in USMARC, element set F; its latency
is the time from sending the search to having decoded the last record. Sessions propose UTF-8
in their Init (character set negotiation), or with ``charset=None`` propose nothing, as
yaz-client does unless told to (Koprik then sends MARC-8). Sessions are spread over
worker processes so that the client's own BER work is not serialized behind one GIL.

>>> hits = asyncio.run(hit_counts("127.0.0.1", 2100, QUERIES))
>>> level = run_level("127.0.0.1", 2100, clients=16, seconds=20, processes=2)
>>> level.pairs_per_second, level.p50_ms, level.p95_ms
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from catalog.demo import isbn13
from harvester.z3950_origin import Z3950Client

DATABASE = "Default"
PRESENT_COUNT = 10
START_DELAY = 1.0
"""Seconds between dispatching the sessions and the common start of the measured window."""

# Bib-1 Use 4 title, 1003 author, 21 subject, 7 ISBN, 31 date: indexes both targets have. The
# ISBNs are those of demo records 123 and 1007 (books); the others match hundreds to thousands.
QUERIES = (
    "@attr 1=4 tarixi",
    "@attr 1=1003 navoiy",
    "@attr 1=21 folklor",
    f"@attr 1=7 {isbn13('978994300123')}",
    "@attr 1=31 1995",
    "@attr 1=4 heritage",
    "@attr 1=1003 навоий",
    "@attr 1=21 history",
    "@attr 1=4 война",
    f"@attr 1=7 {isbn13('978994301007')}",
    "@attr 1=1003 frye",
    "@attr 1=31 2013",
)


@dataclass(frozen=True)
class Level:
    """Figures of one concurrency level: pairs completed over the measured window, the latency
    of each (seconds, also by query) and the CPU seconds the client processes used."""

    clients: int
    seconds: float
    by_query: dict[str, tuple[float, ...]]
    errors: tuple[str, ...]
    client_cpu: float

    @property
    def latencies(self) -> list[float]:
        return [x for values in self.by_query.values() for x in values]

    @property
    def pairs(self) -> int:
        return sum(len(values) for values in self.by_query.values())

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return percentile_ms(self.latencies, 50)

    @property
    def p95_ms(self) -> float:
        return percentile_ms(self.latencies, 95)


def percentile_ms(seconds: list[float] | tuple[float, ...], percent: int) -> float:
    """The ``percent``-th percentile of ``seconds``, in milliseconds (NaN when empty)."""
    if not seconds:
        return float("nan")
    if len(seconds) == 1:
        return seconds[0] * 1000
    return statistics.quantiles(seconds, n=100, method="inclusive")[percent - 1] * 1000


async def hit_counts(host: str, port: int, queries: tuple[str, ...]) -> list[int]:
    """The number of hits of each query, in one session (so both targets can be compared)."""
    async with await Z3950Client.connect(host, port, DATABASE) as client:
        return [await client.search(query) for query in queries]


async def _pair(client: Z3950Client, query: str) -> int:
    """One search + present; the number of records received."""
    hits = await client.search(query)
    if not hits:
        return 0
    records = await client.present(1, min(hits, PRESENT_COUNT), syntax="usmarc", element_set="F")
    return len(records)


Samples = dict[str, list[float]]


async def _session(
    target: tuple[str, int, str | None], offset: int, start_at: float, end_at: float
) -> tuple[Samples, list[str]]:
    """One association doing pairs from ``start_at`` until ``end_at`` (``time.time()`` clock)."""
    host, port, charset = target
    async with await Z3950Client.connect(
        host, port, DATABASE, charset=charset, timeout=120
    ) as client:
        return await timed_loop(QUERIES, offset, start_at, end_at, partial(_pair, client))


async def timed_loop(
    queries: tuple[str, ...],
    offset: int,
    start_at: float,
    end_at: float,
    one: Callable[[str], Awaitable[object]],
) -> tuple[Samples, list[str]]:
    """``one(query)`` for query after query of ``queries`` (from ``offset`` on), from
    ``start_at`` until ``end_at`` (``time.time()`` clock): latencies by query, and errors (a
    failed one is counted and reported, not timed)."""
    latencies: Samples = defaultdict(list)
    errors: list[str] = []
    await asyncio.sleep(max(0.0, start_at - time.time()))
    n = offset
    while time.time() < end_at:
        query = queries[n % len(queries)]
        n += 1
        started = time.perf_counter()
        try:
            await one(query)
        except Exception as error:
            errors.append(f"{query}: {error}")
            continue
        latencies[query].append(time.perf_counter() - started)
    return latencies, errors


Session = Callable[[Any, int, float, float], Coroutine[Any, Any, tuple[Samples, list[str]]]]
"""``session(target, offset, start_at, end_at)``: one client's (latencies by query, errors)."""


def _worker(
    session: Session, target: Any, offsets: list[int], start_at: float, end_at: float
) -> tuple[Samples, list[str], float, float]:
    """A worker process: its sessions at once; (latencies by query, errors, finishing time,
    CPU seconds of the worker)."""

    async def sessions() -> list[tuple[Samples, list[str]]]:
        return await asyncio.gather(
            *(session(target, offset, start_at, end_at) for offset in offsets)
        )

    cpu = _cpu_seconds()
    results = asyncio.run(sessions())
    latencies: Samples = defaultdict(list)
    for samples, _ in results:
        for query, values in samples.items():
            latencies[query].extend(values)
    errors = [e for _, errs in results for e in errs]
    return dict(latencies), errors, time.time(), _cpu_seconds() - cpu


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_level(
    host: str, port: int, *, clients: int, seconds: float, processes: int,
    charset: str | None = "UTF-8",
) -> Level:  # fmt: skip
    """``clients`` concurrent Z39.50 sessions for ``seconds``, spread over ``processes``, each
    proposing ``charset`` (None: no negotiation)."""
    return run_sessions(_session, (host, port, charset), clients=clients, seconds=seconds,
                        processes=processes)  # fmt: skip


def run_sessions(
    session: Session, target: Any, *, clients: int, seconds: float, processes: int
) -> Level:
    """``clients`` concurrent ``session``s against ``target`` for ``seconds``, spread over
    ``processes`` workers (``session`` must be a module-level function: it is pickled).

    Throughput counts every pair completed, over the time from the common start to the last
    session's end (a pair begun before the deadline is finished, so the window can overrun).
    """
    processes = max(1, min(processes, clients))
    groups = [[i * 5 for i in range(clients) if i % processes == p] for p in range(processes)]
    start_at = time.time() + START_DELAY + 0.2 * processes
    end_at = start_at + seconds
    with ProcessPoolExecutor(max_workers=processes) as pool:
        futures = [
            pool.submit(_worker, session, target, group, start_at, end_at) for group in groups
        ]
        results = [future.result() for future in futures]
    by_query: Samples = defaultdict(list)
    for samples, _, _, _ in results:
        for query, values in samples.items():
            by_query[query].extend(values)
    errors = tuple(e for _, errs, _, _ in results for e in errs)
    finished = max(done for _, _, done, _ in results)
    client_cpu = sum(cpu for _, _, _, cpu in results)
    return Level(
        clients,
        finished - start_at,
        {query: tuple(values) for query, values in by_query.items()},
        errors,
        client_cpu,
    )
