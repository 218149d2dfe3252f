"""The overview page: its figures count the whole catalogue, so the public reads them shared."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import insert

from catalog.harvest_state import harvest_runs
from koprik.dashboard import reads
from provider.keys import CATALOG
from tests.dashboard_fixtures import client, sign_in  # noqa: F401


async def test_the_public_overview_reads_the_catalogue_once_for_many(
    client: Any, monkeypatch: Any  # noqa: F811
) -> None:
    """Forty anonymous overviews at once each counted the catalogue (a scan: 0.17 s at 50,000
    records) in the threads OAI-PMH shares, and held up Identify for seconds."""
    readings = []
    read = reads.overview

    def counted(engine: Any) -> reads.Overview:
        readings.append(engine)
        return read(engine)

    monkeypatch.setattr(reads, "overview", counted)
    pages = await asyncio.gather(*(client.get("/") for _ in range(10)))
    assert [page.status for page in pages] == [200] * 10
    assert len(readings) == 1
    await sign_in(client)
    assert (await client.get("/")).status == 200
    assert len(readings) == 2  # an operator sees the figures fresh


async def test_a_problem_of_a_removed_source_says_it_was_removed(client: Any) -> None:  # noqa: F811
    """A run of the last day whose source was since removed says so: its "the next run resumes
    there" will never come true."""
    with client.app[CATALOG].engine.begin() as connection:
        connection.execute(insert(harvest_runs).values(
            source="gone", status="interrupted", started=int(time.time()), pages=3,
            errors="stopped by the operator after page 3; the next run resumes there"))
    page = await (await client.get("/")).text()
    assert "of <b>gone</b> <small>(source since removed)</small> at" in page
