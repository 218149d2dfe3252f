"""Pages from Jinja2 templates, with what every page needs (the operator, the CSRF token, the
message a redirect carries)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from harvester.sources import asked_format
from koprik.dashboard import access
from koprik.dashboard.accounts import Session
from koprik.dashboard.keys import TEMPLATES
from protocols.sealed import Forged, Malformed, Seal
from provider.keys import SETTINGS

TEMPLATE_DIR = Path(__file__).with_name("templates")
MAX_MESSAGE = 500
FIXED_MESSAGES = frozenset({"saved"})
"""Messages shown unsigned (a link may make a page say them: they say nothing of substance)."""


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


async def said(request: web.Request, path: str, text: str) -> str:
    """``path`` with ``text`` for its page to show, signed for the signed-in operator.
    :func:`render` shows a message so signed for the session looking, or one of
    :data:`FIXED_MESSAGES`, and no other: a link from elsewhere cannot make a page of ours
    say what it likes."""
    text = text[:MAX_MESSAGE]
    query = {"message": text}
    session = await access.viewer(request)
    if text not in FIXED_MESSAGES and session is not None:
        query["signed"] = _seal(session).close(text)
    return f"{path}{'&' if '?' in path else '?'}{urlencode(query)}"


def _seal(session: Session) -> Seal:
    """A seal keyed by the session's CSRF token (a secret of that session)."""
    return Seal(session.csrf.encode())


def _message(request: web.Request, session: Session | None) -> str | None:
    """The URL's message when :func:`said` gave it to this session (or it is a fixed one)."""
    text = request.query.get("message")
    if text is None or text in FIXED_MESSAGES:
        return text
    if session is None:
        return None
    try:
        sealed = _seal(session).open(request.query.get("signed", ""))
    except (Forged, Malformed):
        return None
    return text if sealed == text else None


async def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """The page ``template`` with ``context``, the signed-in operator, a CSRF token and the
    message of the redirect that led here (:func:`said`)."""
    session = await access.viewer(request)
    token, new_cookie = access.form_token(request, session)
    context.setdefault("message", _message(request, session))
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
