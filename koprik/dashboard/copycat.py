"""Copy cataloguing: one search (ISBN, title, author) sent to every configured foreign target
at once, each within ``dashboard.copy_timeout`` seconds; the results merged and marked by
target, each previewed as ``.mrk``; one action imports a record into the catalogue.

The protocols (Z39.50, SRU) are :mod:`koprik.dashboard.copy_targets`'. An import asks the
target again for the record at its position (nothing of the preview is kept between requests);
an import that fails shows why above its search, sent to the targets again.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from aiohttp import web

from config.settings import CopyTarget
from harvester.faults import HarvestError
from harvester.z3950_origin import Z3950Error
from koprik.dashboard.access import checked_form, operator_only
from koprik.dashboard.copy_targets import (
    FIELDS,
    CopyError,
    TargetResult,
    fetch_one,
    search_target,
    store,
    terms_of,
)
from koprik.dashboard.render import render
from protocols.z3950.pqf import PqfError
from provider.keys import CATALOG, SETTINGS


@operator_only
async def copy_page(request: web.Request) -> web.Response:
    terms = terms_of(dict(request.query))
    return await render(request, "copy.html", terms=terms,
                        targets=request.app[SETTINGS].dashboard.targets,
                        results=await _search(request, terms))


async def _search(request: web.Request, terms: dict[str, str]) -> list[TargetResult]:
    """Every target's answer to ``terms`` (none when no term is given)."""
    dashboard = request.app[SETTINGS].dashboard
    if not any(terms.values()):
        return []
    return list(await asyncio.gather(
        *(search_target(t, terms, dashboard.copy_timeout) for t in dashboard.targets)
    ))


def _target_named(request: web.Request, name: str) -> CopyTarget:
    for target in request.app[SETTINGS].dashboard.targets:
        if target.name == name:
            return target
    raise web.HTTPBadRequest(text=f"no copy target named {name!r}")


@operator_only
async def copy_import(request: web.Request) -> web.Response:
    form = await checked_form(request)
    target = _target_named(request, str(form.get("target", "")))
    query = str(form.get("query", ""))
    try:
        position = int(str(form.get("position", "")))
    except ValueError:
        raise web.HTTPBadRequest(text="the import form is incomplete; search again") from None
    settings = request.app[SETTINGS]
    timeout = settings.dashboard.copy_timeout
    try:
        fetched = await fetch_one(target, query, position, timeout)
        local_id = await asyncio.to_thread(
            store, request.app[CATALOG], fetched, settings.limits.max_record_bytes
        )
    except TimeoutError:
        problem = f"no answer within {timeout:g} s"
    except (OSError, Z3950Error, HarvestError, CopyError, PqfError, ValueError) as error:
        problem = str(error) or type(error).__name__
    else:
        raise web.HTTPSeeOther(f"/record?{urlencode({'id': local_id})}")
    terms = terms_of({name: str(form.get(name, "")) for name in FIELDS})
    return await render(request, "copy.html", status=502, terms=terms,
                        results=await _search(request, terms),
                        targets=settings.dashboard.targets, error=f"{target.name}: {problem}")
