"""Typed application keys shared by the HTTP parts of Koprik (today: OAI-PMH)."""

from __future__ import annotations

from aiohttp import web

from catalog import Catalog
from config import Settings

SETTINGS = web.AppKey("settings", Settings)
CATALOG = web.AppKey("catalog", Catalog)
