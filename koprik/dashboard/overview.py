"""The overview (collection, formats, sources' last runs, the last day's problems) and the
partner page (how foreign libraries reach us, with examples to copy)."""

from __future__ import annotations

import asyncio
import math
import time
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import Engine

from koprik.dashboard import reads
from koprik.dashboard.access import readable, viewer
from koprik.dashboard.render import render
from provider.keys import CATALOG, SETTINGS

BIB1_PROFILE = (
    ("4", "title"), ("1003", "author"), ("21", "subject"), ("7", "ISBN"), ("8", "ISSN"),
    ("31", "date of publication"), ("1018", "publisher"), ("54", "language code"),
    ("12", "local number"), ("1007", "standard identifier"), ("1016", "any"),
)


PUBLIC_SUMMARY_SECONDS = 30.0
"""How old the overview's figures may be for a visitor who is not signed in. They count the
whole catalogue (0.17 s at 50,000 records, seconds at millions): read per request, forty
anonymous requests at once held up OAI-PMH Identify for seconds. Operators see them fresh."""


class PublicSummary:
    """The overview's figures, read at most once per ``seconds`` however many ask at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._summary: reads.Overview | None = None
        self._read_at = -math.inf
        self._lock = asyncio.Lock()

    async def get(self, engine: Engine) -> reads.Overview:
        async with self._lock:  # one reading at a time; who waited for it takes it
            if self._summary is None or time.monotonic() - self._read_at >= self.seconds:
                self._summary = await asyncio.to_thread(reads.overview, engine)
                self._read_at = time.monotonic()
            return self._summary


PUBLIC_SUMMARY = web.AppKey("dashboard_public_summary", PublicSummary)


@readable("public_partner")
async def overview(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    settings = request.app[SETTINGS]
    if await viewer(request) is None:
        summary = await request.app[PUBLIC_SUMMARY].get(catalog.engine)
    else:
        summary = await asyncio.to_thread(reads.overview, catalog.engine)
    sources = await asyncio.to_thread(reads.sources, settings, catalog)
    names = dict(await asyncio.to_thread(catalog.list_sets))
    return await render(request, "overview.html", summary=summary, sources=sources,
                        set_names=names)


def endpoints(request: web.Request) -> dict[str, str | None]:
    """The addresses partners use, as this server announces them."""
    settings = request.app[SETTINGS]
    oai = settings.repository.base_url
    parts = urlsplit(oai)
    host = parts.hostname or settings.server.host
    has_sru = any(r.canonical == "/sru" for r in request.app.router.resources())
    return {
        "oai": oai,
        "z3950_host": host,
        "z3950_port": str(settings.server.z3950_port),
        "z3950_database": settings.server.z3950_database,
        "sru": f"{parts.scheme}://{parts.netloc}/sru" if has_sru else None,
    }


@readable("public_partner")
async def partner(request: web.Request) -> web.Response:
    return await render(request, "partner.html", endpoints=endpoints(request),
                        bib1=BIB1_PROFILE)
