"""Typed application keys of the dashboard (beside provider.keys' settings and catalogue)."""

from __future__ import annotations

from aiohttp import web
from jinja2 import Environment

from koprik.dashboard.harvests import Harvests
from koprik.dashboard.limits import LoginLimiter
from koprik.dashboard.metrics import Metrics

TEMPLATES = web.AppKey("dashboard_templates", Environment)
LIMITER = web.AppKey("dashboard_login_limiter", LoginLimiter)
HARVESTS = web.AppKey("dashboard_harvests", Harvests)
METRICS = web.AppKey("dashboard_metrics", Metrics)
