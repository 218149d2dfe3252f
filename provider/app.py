"""The HTTP application every HTTP part of Koprik hangs on.

>>> app = init_app(settings, Catalog.open(settings))
>>> web.run_app(app, host=settings.server.host, port=settings.server.http_port)

Each protocol module registers its own routes (OAI-PMH: :func:`provider.oai.setup_oai`); the
settings and the catalogue are shared under the typed keys in :mod:`provider.keys`. The
application owns the catalogue it is given and closes it when it shuts down. A request from
one of ``server.trusted_proxies`` is handled as from the client and with the scheme the proxy
names (:mod:`provider.forwarded`, installed only when that list is not empty). A request that
finds the catalogue database unreachable is answered 503 with Retry-After
(:func:`provider.http_server.database_unavailable`), whichever part of the application it asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from catalog import Catalog
from config import Settings
from provider.forwarded import forwarded
from provider.health import setup_health
from provider.http_server import close_when_last, database_unavailable, guard
from provider.keys import CATALOG, SERVICE, SETTINGS, SRU
from provider.oai import setup_oai
from provider.search import SearchService
from provider.sru.app import setup_sru
from provider.sru.front_end import SruFrontEnd


def init_app(settings: Settings, catalog: Catalog) -> web.Application:
    """The aiohttp application serving ``catalog``: OAI-PMH at ``/oai``, SRU at ``/sru``, health
    at ``/health``.

    ``app[SERVICE]`` is the search service SRU stands on; ``koprik serve`` hands the same one
    to the Z39.50 target, so both ports share its database threads and SRU result sets.
    """
    proxies = settings.server.trusted_proxies
    # Without a trusted proxy the middleware would only find every peer untrusted: left out,
    # request.remote and request.scheme are the connection's, which is what it would hand on.
    middlewares = [forwarded(proxies), guard] if proxies else [guard]
    # Innermost of these, outside the dashboard's: any handler that finds the database gone.
    middlewares.append(database_unavailable(settings.oai.retry_after))
    app = web.Application(middlewares=middlewares)
    app.on_response_prepare.append(close_when_last)
    app[SETTINGS] = settings
    app[CATALOG] = catalog
    app[SERVICE] = SearchService(catalog, settings.search)
    app[SRU] = SruFrontEnd(app[SERVICE], settings)
    app.cleanup_ctx.append(_close_catalog)
    setup_oai(app)
    setup_sru(app)
    setup_health(app)
    return app


async def _close_catalog(app: web.Application) -> AsyncIterator[None]:
    yield
    app[CATALOG].close()
