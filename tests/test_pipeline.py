"""harvester.pipeline.overlapped: the next page is fetched and prepared while one is stored;
pages are stored one at a time, in order; an error of the next page comes after the page before
is stored; a failed store stops the fetch in flight; a cancelled run finishes its store.

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

    async def store(self, n: int) -> None:
        self.events.append(f"store {n}")
        if n + 1 < self.pages:  # the next page is asked for before this store may end
            await asyncio.wait_for(self.asked[n + 1].wait(), PATIENCE)
        self.events.append(f"stored {n}")


async def test_the_next_page_is_fetched_while_one_is_stored_in_order() -> None:
    recorder = Recorder(4)
    await overlapped(recorder.source(), recorder.store)
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
        await overlapped(recorder.source(), recorder.store)
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

    async def store(n: int) -> None:
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

    async def store(n: int) -> None:
        storing.set()
        await release.wait()  # like a transaction being written in a thread
        stored.append(n)

    run = asyncio.ensure_future(overlapped(source(), store))
    await asyncio.wait_for(storing.wait(), PATIENCE)
    run.cancel()
    await asyncio.sleep(0)
    assert not run.done()  # it waits for the page in progress
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, PATIENCE)
    assert stored == [0]
