"""harvester.pipeline.overlapped: the next pages are fetched and prepared while pages are stored;
pages are stored in order, those ready together, never more than ``ahead`` fetched ahead; an
error of the next page comes after the pages before are stored; a failed store stops the fetch
in flight; a cancelled run finishes its store.

Every wait here is on an event the other side sets, bounded by a generous timeout, so a loop
that did not overlap fails by timing out rather than by being slow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from harvester.pipeline import overlapped

PATIENCE = 30.0
"""Seconds any one wait may take before the test fails (a loaded machine is slow, not stuck)."""


class Recorder:
    """A page source and a store that write what happens, in order, to ``events``."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages = pages
        self.fail_at = fail_at
        self.events: list[str] = []
        self.asked: dict[int, asyncio.Event] = {n: asyncio.Event() for n in range(pages + 1)}
        self.closed = False

    async def source(self) -> AsyncGenerator[int, None]:
        try:
            for n in range(self.pages):
                self.events.append(f"fetch {n}")
                self.asked[n].set()
                if n == self.fail_at:
                    raise RuntimeError(f"page {n} is broken")
                yield n
        finally:
            self.closed = True

    async def store(self, items: list[int]) -> None:
        (n,) = items
        self.events.append(f"store {n}")
        if n + 1 < self.pages:  # the next page is asked for before this store may end
            await asyncio.wait_for(self.asked[n + 1].wait(), PATIENCE)
        self.events.append(f"stored {n}")


async def test_the_next_page_is_fetched_while_one_is_stored_in_order() -> None:
    recorder = Recorder(4)
    await overlapped(recorder.source(), recorder.store, ahead=1)
    assert recorder.events == [
        "fetch 0",
        "fetch 1", "store 0", "stored 0",
        "fetch 2", "store 1", "stored 1",
        "fetch 3", "store 2", "stored 2",
        "store 3", "stored 3",
    ]  # fmt: skip
    assert recorder.closed


async def test_an_error_of_the_next_page_comes_once_the_page_before_is_stored() -> None:
    recorder = Recorder(4, fail_at=2)
    with pytest.raises(RuntimeError, match="page 2 is broken"):
        await overlapped(recorder.source(), recorder.store, ahead=1)
    assert recorder.events == [
        "fetch 0", "fetch 1", "store 0", "stored 0", "fetch 2", "store 1", "stored 1"
    ]  # fmt: skip
    assert recorder.closed


async def test_a_failed_store_cancels_the_fetch_in_flight_and_closes_the_pages() -> None:
    fetching = asyncio.Event()
    never = asyncio.Event()
    cancelled: list[int] = []

    async def source() -> AsyncGenerator[int, None]:
        yield 0
        fetching.set()
        try:
            await never.wait()  # page 1 never arrives
        except asyncio.CancelledError:
            cancelled.append(1)
            raise
        yield 1

    async def store(items: list[int]) -> None:
        await asyncio.wait_for(fetching.wait(), PATIENCE)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await overlapped(source(), store)
    assert cancelled == [1]


async def test_a_cancelled_run_finishes_the_store_in_progress() -> None:
    storing = asyncio.Event()
    release = asyncio.Event()
    stored: list[int] = []

    async def source() -> AsyncGenerator[int, None]:
        for n in range(3):
            yield n

    async def store(items: list[int]) -> None:
        storing.set()
        await release.wait()  # like a transaction being written in a thread
        stored.extend(items)

    run = asyncio.ensure_future(overlapped(source(), store, ahead=1))
    await asyncio.wait_for(storing.wait(), PATIENCE)
    run.cancel()
    await asyncio.sleep(0)
    assert not run.done()  # it waits for the page in progress
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, PATIENCE)
    assert stored == [0]


class Gate:
    """A page source that fetches a page only when the test allows it (counting the pages asked
    for), and a store that is held until the test lets it go: the test sees how far the loop
    reads ahead of a slow writer and what it stores together."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages = pages
        self.fail_at = fail_at
        self.asked = 0
        self.yielded = 0
        self.groups: list[list[int]] = []
        self.permits = asyncio.Semaphore(0)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.fetched = asyncio.Condition()

    async def source(self) -> AsyncGenerator[int, None]:
        for n in range(self.pages):
            async with self.fetched:
                self.asked += 1
                self.fetched.notify_all()
            await self.permits.acquire()
            if n == self.fail_at:
                raise RuntimeError(f"page {n} is broken")
            async with self.fetched:
                self.yielded += 1
                self.fetched.notify_all()
            yield n

    def allow(self, pages: int) -> None:
        for _ in range(pages):
            self.permits.release()

    async def store(self, items: list[int]) -> None:
        self.groups.append(items)
        self.entered.set()
        await self.release.wait()
        self.release.clear()

    async def asked_for(self, n: int) -> None:
        async with self.fetched:
            await asyncio.wait_for(self.fetched.wait_for(lambda: self.asked >= n), PATIENCE)

    async def ready(self, n: int) -> None:
        """Wait until ``n`` pages have been handed to the loop."""
        async with self.fetched:
            await asyncio.wait_for(self.fetched.wait_for(lambda: self.yielded >= n), PATIENCE)

    async def storing(self) -> None:
        await asyncio.wait_for(self.entered.wait(), PATIENCE)
        self.entered.clear()

    async def let_the_store_go(self) -> None:
        self.release.set()
        await asyncio.sleep(0)


async def test_pages_ready_while_the_writer_is_busy_are_stored_together() -> None:
    gate = Gate(5)
    run = asyncio.ensure_future(overlapped(gate.source(), gate.store, ahead=2))
    gate.allow(1)
    await gate.storing()  # page 0 alone: nothing else was ready
    gate.allow(2)
    await gate.ready(3)  # pages 1 and 2 fetched while 0 is stored
    await gate.let_the_store_go()
    await gate.storing()
    gate.allow(2)
    await gate.ready(5)
    await gate.let_the_store_go()
    await gate.storing()
    await gate.let_the_store_go()
    await asyncio.wait_for(run, PATIENCE)
    assert gate.groups == [[0], [1, 2], [3, 4]]


async def test_no_more_pages_are_fetched_ahead_than_asked() -> None:
    gate = Gate(10)
    run = asyncio.ensure_future(overlapped(gate.source(), gate.store, ahead=2))
    gate.allow(10)
    await gate.storing()
    stored = len(gate.groups[0])
    await gate.asked_for(stored + 2)
    for _ in range(20):
        await asyncio.sleep(0)
    assert gate.asked == stored + 2  # two pages ahead of the writer, however long it takes
    run.cancel()
    await gate.let_the_store_go()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, PATIENCE)
    assert len(gate.groups) == 1 and 1 <= stored <= 2


async def test_pages_ready_before_an_error_are_stored_then_it_is_raised() -> None:
    gate = Gate(5, fail_at=3)
    run = asyncio.ensure_future(overlapped(gate.source(), gate.store, ahead=2))
    gate.allow(1)
    await gate.storing()
    gate.allow(3)  # pages 1 and 2 ready while 0 is stored; page 3 fails while they are
    await gate.ready(3)
    await gate.let_the_store_go()
    await gate.storing()
    await gate.let_the_store_go()
    with pytest.raises(RuntimeError, match="page 3 is broken"):
        await asyncio.wait_for(run, PATIENCE)
    assert gate.groups == [[0], [1, 2]]
