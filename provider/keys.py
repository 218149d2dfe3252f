"""Typed application keys shared by the HTTP parts of Koprik (OAI-PMH, SRU)."""

from __future__ import annotations

from aiohttp import web

from catalog import Catalog
from config import Settings
from provider.search import SearchService
from provider.sru.front_end import SruFrontEnd

SETTINGS = web.AppKey("settings", Settings)
CATALOG = web.AppKey("catalog", Catalog)
SERVICE = web.AppKey("service", SearchService)
SRU = web.AppKey("sru", SruFrontEnd)
