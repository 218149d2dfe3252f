"""Sources: list, add, edit, enable/disable, remove, harvest now.

Every change goes through :mod:`harvester.sources` (the same validation and the same check of
the address as ``koprik sources``); its :class:`SourceError` is shown on the form.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from config import HarvestSource
from config.settings import HARVEST_PROTOCOLS, HOLDINGS
from harvester.sources import (
    SourceChanged,
    SourceEntry,
    SourceError,
    add_source,
    edit_source,
    find_source,
    remove_source,
)
from koprik.dashboard import reads
from koprik.dashboard.access import checked_form, operator_only
from koprik.dashboard.harvests import DASHBOARD, StartRefused
from koprik.dashboard.keys import HARVESTS
from koprik.dashboard.render import render, said
from provider.keys import CATALOG, SETTINGS

TEXT_FIELDS = ("url", "prefix", "query", "charset", "crosswalk", "every", "cron",
               "institution_code", "institution_name")
NUMBER_FIELDS = {"delay": float, "timeout": float, "retries": int, "tolerated_shortfall": int}
LATER_FIELDS = frozenset({"institution_code", "institution_name"})
"""Fields the form gained after it was first served: a form of before them (open in a browser
across an upgrade) keeps what the source says rather than clear it."""


def source_from_form(form: Mapping[str, Any], base: HarvestSource | None = None) -> HarvestSource:
    """A source from the form's fields (over ``base`` when editing); SourceError for a number
    that is not one. Validation proper is :func:`harvester.sources.validate`'s."""
    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in form or name not in LATER_FIELDS:
            values[name] = str(form.get(name, "")).strip()
    values["sets"] = str(form.get("sets", "")).split()
    for name, kind in NUMBER_FIELDS.items():
        text = str(form.get(name, "")).strip()
        if text:
            try:
                values[name] = kind(text)
            except ValueError:
                raise SourceError(f"{name} {text!r}: expected a number") from None
    values["enabled"] = form.get("enabled") == "on"
    if "holdings" in form:  # as LATER_FIELDS
        values["holdings"] = str(form["holdings"]).strip()
    if base is None:
        return HarvestSource(name=str(form.get("name", "")).strip(),
                             protocol=str(form.get("protocol", HARVEST_PROTOCOLS[0])), **values)
    return dataclasses.replace(base, **values)


@operator_only
async def list_sources(request: web.Request) -> web.Response:
    views = await asyncio.to_thread(
        reads.sources, request.app[SETTINGS], request.app[CATALOG]
    )
    return await render(request, "sources.html", sources=views)


@operator_only
async def new_source(request: web.Request) -> web.Response:
    return await render(request, "source_form.html", source=None, protocols=HARVEST_PROTOCOLS,
                        holdings=HOLDINGS, editable=True)


@operator_only
async def create_source(request: web.Request) -> web.Response:
    form = await checked_form(request)
    settings, catalog = request.app[SETTINGS], request.app[CATALOG]
    try:
        source = source_from_form(form)
        check = form.get("check") == "on"  # an unticked box is not sent
        stored, _found = await asyncio.to_thread(
            add_source, settings, catalog, source, check=check
        )
    except SourceError as error:
        return await render(request, "source_form.html", status=400, source=None, form=form,
                            protocols=HARVEST_PROTOCOLS, holdings=HOLDINGS, error=str(error),
                            editable=True)
    raise web.HTTPSeeOther(f"/sources/{stored.name}")


async def _entry(request: web.Request) -> SourceEntry:
    name = request.match_info["name"]
    try:
        return await asyncio.to_thread(
            find_source, request.app[SETTINGS], request.app[CATALOG], name
        )
    except SourceError:
        raise web.HTTPNotFound(text=f"no source named {name!r}") from None


@operator_only
async def show_source(request: web.Request) -> web.Response:
    return await _source_page(request, await _entry(request))


async def _source_page(
    request: web.Request, entry: SourceEntry, *, status: int = 200, **context: Any
) -> web.Response:
    """The page of ``entry``'s source; ``form`` and ``error`` in ``context`` show a refused
    edit with what the operator typed."""
    runs = await asyncio.to_thread(reads.runs, request.app[CATALOG].engine, entry.source.name)
    view = await asyncio.to_thread(reads.source, request.app[SETTINGS],
                                  request.app[CATALOG], entry)
    return await render(request, "source.html", status=status, view=view, runs=runs,
                        editable=entry.added, protocols=HARVEST_PROTOCOLS,
                        holdings=HOLDINGS, **context)


@operator_only
async def update_source(request: web.Request) -> web.Response:
    form = await checked_form(request)
    entry = await _entry(request)
    name = entry.source.name
    shown = form.get("version")
    # A form shown before another operator's change would undo it with its unchanged fields.
    stale = SourceChanged(name)
    if shown is not None and shown != reads.version_of(entry.source):
        return await _source_page(request, entry, status=409, error=str(stale))
    try:
        changed = source_from_form(form, entry.source)
        changes = {f.name: getattr(changed, f.name) for f in dataclasses.fields(changed)
                   if getattr(changed, f.name) != getattr(entry.source, f.name)}
        check = form.get("check") == "on"  # an unticked box is not sent
        await asyncio.to_thread(
            edit_source, request.app[SETTINGS], request.app[CATALOG], name, check=check,
            as_read=entry.source if shown is not None else None, **changes,
        )
    except SourceChanged:  # meanwhile (the check of the version above was before it)
        entry = await _entry(request)
        return await _source_page(request, entry, status=409, error=str(stale))
    except SourceError as error:  # shown on the form again, with every value as typed
        return await _source_page(request, entry, status=400, form=form, error=str(error))
    raise web.HTTPSeeOther(await said(request, f"/sources/{name}", "saved"))


@operator_only
async def toggle_source(request: web.Request) -> web.Response:
    form = await checked_form(request)
    entry = await _entry(request)
    enabled = form.get("enabled") == "yes"
    try:
        await asyncio.to_thread(
            edit_source, request.app[SETTINGS], request.app[CATALOG], entry.source.name,
            check=False, enabled=enabled,
        )
    except SourceError as error:
        raise web.HTTPSeeOther(await said(request, "/sources", str(error))) from None
    done = "enabled" if enabled else "disabled"
    raise web.HTTPSeeOther(await said(request, "/sources", f"{done} {entry.source.name}"))


@operator_only
async def delete_source(request: web.Request) -> web.Response:
    """Remove a source once the operator has confirmed it: the source page's Remove asks (the
    page again, saying what goes and what stays), its "Yes, remove" removes."""
    form = await checked_form(request)
    entry = await _entry(request)
    if form.get("confirm") != "yes":
        return await _source_page(request, entry, confirm_remove=True)
    try:
        await asyncio.to_thread(
            remove_source, request.app[SETTINGS], request.app[CATALOG], entry.source.name
        )
    except SourceError as error:
        raise web.HTTPSeeOther(await said(request, "/sources", str(error))) from None
    raise web.HTTPSeeOther(await said(request, "/sources", f"removed {entry.source.name}"))


@operator_only
async def harvest_now(request: web.Request) -> web.Response:
    await checked_form(request)
    entry = await _entry(request)
    try:
        run_id = await request.app[HARVESTS].start(entry, DASHBOARD)
    except StartRefused as error:
        raise web.HTTPSeeOther(
            await said(request, f"/sources/{entry.source.name}", str(error))
        ) from None
    raise web.HTTPSeeOther(f"/runs/{run_id}")

