"""``GET /health``: is this node fit to serve? For a load balancer, a proxy or monitoring.

    {"status": "ok", "version": "0.1.0",
     "catalogue": {"reachable": true, "records": 3000}}

HTTP 200 when the catalogue answers, 503 with ``"status": "error"`` and the reason in
``catalogue.error`` when it does not (within :data:`TIMEOUT` seconds). ``records`` is
:meth:`catalog.Catalog.approximate_size`, one index lookup, so a monitor may ask often.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from config import koprik_version
from provider.keys import CATALOG

TIMEOUT = 5.0
"""Seconds the catalogue gets to answer before the node is reported unhealthy."""


def setup_health(app: web.Application) -> None:
    app.router.add_get("/health", health)


async def health(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    catalogue: dict[str, object] = {"reachable": True}
    try:
        catalogue["records"] = await asyncio.wait_for(
            asyncio.to_thread(catalog.approximate_size), TIMEOUT
        )
    except Exception as error:  # any failure to reach the database makes the node unhealthy
        reason = " ".join(str(getattr(error, "orig", None) or error).split())
        catalogue = {"reachable": False, "error": reason or type(error).__name__}
    ok = bool(catalogue["reachable"])
    body = {"status": "ok" if ok else "error", "version": koprik_version(), "catalogue": catalogue}
    return web.json_response(body, status=200 if ok else 503)
