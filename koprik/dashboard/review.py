"""The union catalogue's review queue: candidate pairs side by side with the reason the
matcher gave; "the same book" puts them in one group at once, or says why it cannot
(:func:`catalog.dedup_operators.review_decide`, as ``koprik dedup review accept``), "different
books" keeps them apart (applied by a dedup run at once); both decisions are kept. A union
record's page offers the manual split (:func:`split_members`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from catalog import Catalog
from catalog.dedup import DedupError, run_dedup
from catalog.dedup_operators import review_decide, review_list, split
from koprik.dashboard.access import checked_form, operator_only
from koprik.dashboard.records import view_text
from koprik.dashboard.render import render, said
from provider.keys import CATALOG

SHOWN_PAIRS = 50


@dataclass(frozen=True)
class Candidate:
    first: str
    second: str
    score: float
    reason: str
    first_mrk: str
    second_mrk: str


def candidates(catalog: Catalog) -> tuple[list[Candidate], bool]:
    """The :data:`SHOWN_PAIRS` most likely pairs, and whether more are waiting behind them."""
    pairs = review_list(catalog, SHOWN_PAIRS + 1)
    return [
        Candidate(a, b, score, reason, view_text(catalog, a, "mrk") or "",
                  view_text(catalog, b, "mrk") or "")
        for a, b, score, reason in pairs[:SHOWN_PAIRS]
    ], len(pairs) > SHOWN_PAIRS


@operator_only
async def review_page(request: web.Request) -> web.Response:
    pairs, more = await asyncio.to_thread(candidates, request.app[CATALOG])
    return await render(request, "review.html", pairs=pairs, more=more)


def decide(catalog: Catalog, first: str, second: str, same: bool) -> str:
    """Apply an operator's answer on a pair now; returns what happened, for the page."""
    union = review_decide(catalog, first, second, same=same)  # "same": grouped now
    if union is not None:
        return f"merged into {union}"
    run_dedup(catalog)
    return "kept apart"


@operator_only
async def review_decision(request: web.Request) -> web.Response:
    form = await checked_form(request)
    first, second = str(form.get("first", "")), str(form.get("second", ""))
    decision = form.get("decision")
    if decision not in ("same", "different"):
        raise web.HTTPBadRequest(text="decision: same or different")
    try:
        done = await asyncio.to_thread(decide, request.app[CATALOG], first, second,
                                       decision == "same")
    except DedupError as error:
        done = str(error)
    raise web.HTTPSeeOther(await said(request, "/review", f"{first} and {second}: {done}"))


@operator_only
async def split_members(request: web.Request) -> web.Response:
    form = await checked_form(request)
    union = str(form.get("union", ""))
    members = [str(m) for m in form.getall("member", [])]
    try:
        new = await asyncio.to_thread(split, request.app[CATALOG], members)
    except DedupError as error:
        message = str(error)
    else:
        message = f"split off into {new}" if new else "split off"
    raise web.HTTPSeeOther(await said(request, f"/record?{urlencode({'id': union})}", message))
