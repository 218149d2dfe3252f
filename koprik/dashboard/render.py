"""Pages from Jinja2 templates, with what every page needs (the operator, the CSRF token)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from harvester.sources import asked_format
from koprik.dashboard import access
from koprik.dashboard.keys import TEMPLATES
from provider.keys import SETTINGS

TEMPLATE_DIR = Path(__file__).with_name("templates")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = _utc
    env.filters["duration"] = _duration
    env.filters["asked_format"] = asked_format
    return env


def _utc(epoch: int | float | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def _duration(seconds: int | float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds // 60 % 60} min"


async def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """The page ``template`` with ``context``, the signed-in operator and a CSRF token."""
    session = await access.viewer(request)
    token, new_cookie = access.form_token(request, session)
    page = request.app[TEMPLATES].get_template(template).render(
        operator=session.user if session else None,
        csrf=token,
        path=request.path,
        settings=request.app[SETTINGS],
        **context,
    )
    response = web.Response(text=page, status=status, content_type="text/html")
    if new_cookie:
        access.set_anonymous_cookie(request, response, token)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'"
    )
    return response


def new_secret() -> str:
    return secrets.token_urlsafe(32)
