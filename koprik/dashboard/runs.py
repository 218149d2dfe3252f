"""Runs: the history (all sources or one), a run's page (it reloads itself every
:data:`REFRESH_SECONDS` while the run is going), its rejects with reason and raw bytes, and
"retry rejects"."""

from __future__ import annotations

import asyncio

from aiohttp import web

from catalog import Catalog
from config import Settings
from harvester.ingest import Unmapped
from harvester.retry import Cut, retry_rejects
from harvester.sources import SourceError, find_source
from koprik.dashboard import reads
from koprik.dashboard.access import checked_form, operator_only
from koprik.dashboard.render import render, said
from provider.keys import CATALOG, SETTINGS

REFRESH_SECONDS = 2


@operator_only
async def list_runs(request: web.Request) -> web.Response:
    source = request.query.get("source") or None
    try:
        before = reads.runs_before(request.query.get("before"))
    except ValueError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    runs, following = await asyncio.to_thread(reads.runs_page, request.app[CATALOG].engine,
                                              source, before)  # fmt: skip
    return await render(request, "runs.html", runs=runs, source=source, before=before,
                        older=next_page(request, following, source))


def next_page(request: web.Request, following: int | None, source: str | None) -> str | None:
    """The address of the page of runs before run ``following`` (of ``source``), if any."""
    if following is None:
        return None
    query = {"before": str(following)} | ({"source": source} if source is not None else {})
    return str(request.rel_url.with_query(query))


def _number(request: web.Request, name: str) -> int:
    """The number in the URL's ``name`` part; a page that does not exist otherwise."""
    try:
        return int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound() from None


async def _run(request: web.Request) -> reads.Run:
    run_id = _number(request, "run")
    run = await asyncio.to_thread(reads.run, request.app[CATALOG].engine, run_id)
    if run is None:
        raise web.HTTPNotFound(text=f"no run #{run_id}")
    return run


@operator_only
async def show_run(request: web.Request) -> web.Response:
    run = await _run(request)
    rejects, more = await asyncio.to_thread(reads.rejects_shown, request.app[CATALOG].engine,
                                            run.id)  # fmt: skip
    return await render(
        request, "run.html", run=run, rejects=rejects, more_rejects=more,
        source_kept=await asyncio.to_thread(
            _source_kept, request.app[SETTINGS], request.app[CATALOG], run.source),
        refresh=REFRESH_SECONDS if run.status == "running" else None,
    )


def _source_kept(settings: Settings, catalog: Catalog, name: str) -> bool:
    """Whether a run's source is still defined (a removed one has no page)."""
    try:
        find_source(settings, catalog, name)
    except SourceError:
        return False
    return True


@operator_only
async def reject_raw(request: web.Request) -> web.Response:
    reject_id = _number(request, "reject")
    found = await asyncio.to_thread(reads.reject, request.app[CATALOG].engine, reject_id)
    if found is None:
        raise web.HTTPNotFound()
    return web.Response(
        body=found.raw, content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="reject-{found.id}.bin"'},
    )


@operator_only
async def retry(request: web.Request) -> web.Response:
    await checked_form(request)
    run = await _run(request)
    settings, catalog = request.app[SETTINGS], request.app[CATALOG]
    try:
        entry = await asyncio.to_thread(find_source, settings, catalog, run.source)
        unmapped, cut = Unmapped(), Cut()
        counts = await asyncio.to_thread(retry_rejects, catalog, entry.source, run.id,
                                         settings.limits.max_record_bytes, unmapped, cut)
    except SourceError as error:
        raise web.HTTPSeeOther(await said(request, f"/runs/{run.id}", str(error))) from None
    summary = (f"retried: {counts.added} added, {counts.updated} updated, "
               f"{counts.unchanged} unchanged, {counts.rejected} still rejected")
    if (line := unmapped.line()) is not None:  # as the run's record says it
        summary += f"; {line}"
    if (line := cut.line()) is not None:
        summary += f"; {line}"
    raise web.HTTPSeeOther(await said(request, f"/runs/{run.id}", summary))
