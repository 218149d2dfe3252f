"""Wiring: the dashboard's routes, state and middleware on Koprik's HTTP application."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from prometheus_client import generate_latest

from koprik.dashboard import (
    copycat,
    overview,
    records,
    review,
    runs,
    signin,
    sources,
    workbench,
)
from koprik.dashboard.access import FORM_POST, private_responses
from koprik.dashboard.api import setup_api
from koprik.dashboard.harvests import Harvests
from koprik.dashboard.keys import HARVESTS, LIMITER, METRICS, TEMPLATES
from koprik.dashboard.limits import LoginLimiter
from koprik.dashboard.metrics import Metrics, middleware
from koprik.dashboard.render import environment
from provider.http_server import continue_within
from provider.keys import CATALOG, SETTINGS

ASSETS = Path(__file__).with_name("static")


def setup_dashboard(app: web.Application) -> None:
    """Add the dashboard (pages at ``/``, the JSON API at ``/api``, ``/metrics``) to ``app``,
    which already holds the settings and the catalogue (:func:`provider.app.init_app`)."""
    settings, catalog = app[SETTINGS], app[CATALOG]
    app[TEMPLATES] = environment()
    app[LIMITER] = LoginLimiter(catalog.engine, settings.dashboard.login_attempts,
                                settings.dashboard.login_window)
    app[HARVESTS] = Harvests(catalog)
    app[overview.PUBLIC_SUMMARY] = overview.PublicSummary(overview.PUBLIC_SUMMARY_SECONDS)
    app[METRICS] = Metrics(catalog)
    app.middlewares.append(middleware(app[METRICS]))
    app.middlewares.append(private_responses)
    app.cleanup_ctx.append(_stop_harvests)  # cleaned up before the catalogue closes
    r = app.router
    form_post = functools.partial(r.add_post, expect_handler=FORM_POST)  # read by posted_form
    r.add_get("/", overview.overview)
    r.add_get("/partner", overview.partner)
    r.add_get("/signin", signin.signin_page)
    form_post("/signin", signin.signin)
    form_post("/signout", signin.signout)
    r.add_get("/sources", sources.list_sources)
    r.add_get("/sources/new", sources.new_source)
    form_post("/sources", sources.create_source)
    r.add_get("/sources/{name}", sources.show_source)
    form_post("/sources/{name}", sources.update_source)
    form_post("/sources/{name}/enabled", sources.toggle_source)
    form_post("/sources/{name}/remove", sources.delete_source)
    form_post("/sources/{name}/harvest", sources.harvest_now)
    r.add_get("/runs", runs.list_runs)
    r.add_get("/runs/{run}", runs.show_run)
    form_post("/runs/{run}/retry", runs.retry)
    r.add_get("/rejects/{reject}", runs.reject_raw)
    r.add_get("/records", records.search_page)
    r.add_get("/record", records.record_page)
    r.add_get("/record/original", records.record_original)
    r.add_get("/record/{view}", records.record_view)
    r.add_get("/workbench", workbench.workbench_page)
    r.add_post("/workbench", workbench.workbench_convert,
               expect_handler=continue_within(settings.dashboard.max_upload_bytes))
    r.add_get("/copy", copycat.copy_page)
    form_post("/copy/import", copycat.copy_import)
    r.add_get("/review", review.review_page)
    form_post("/review", review.review_decision)
    form_post("/union/split", review.split_members)
    r.add_get("/metrics", handle_metrics)
    r.add_static("/assets/", ASSETS)
    setup_api(app)
    app.cleanup_ctx.append(workbench.conversion_processes)


async def handle_metrics(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(generate_latest, request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


async def _stop_harvests(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[HARVESTS].stop()
