"""Sign in and sign out. A refused sign-in never says whether the name or the password was
wrong; failures are logged with the address and rate-limited (:mod:`koprik.dashboard.limits`)."""

from __future__ import annotations

import asyncio
import logging
import math
import re

from aiohttp import web

from koprik.dashboard import access
from koprik.dashboard.accounts import check_password, close_session, open_session
from koprik.dashboard.keys import LIMITER
from koprik.dashboard.render import render
from provider.keys import CATALOG, SETTINGS

log = logging.getLogger("koprik.dashboard.signin")
REFUSED = "Wrong user name or password."
LIMITED = "Too many failed sign-ins from here; wait a few minutes and try again."
MAX_NAME = 100
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
"""Characters no ``next`` of ours holds (it is a quoted path): browsers drop tabs and line breaks
from a URL and read a backslash as a slash, so ``/<TAB>/evil.example`` is ``//evil.example``."""


def _next(value: object) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if (isinstance(value, str) and value.startswith("/") and not value.startswith("//")
            and _UNSAFE.search(value) is None):
        return value
    return "/"


async def signin_page(request: web.Request) -> web.Response:
    return await render(request, "signin.html", next=_next(request.query.get("next")))


async def signin(request: web.Request) -> web.StreamResponse:
    form = await access.checked_form(request)
    name = str(form.get("name", ""))[:MAX_NAME].strip()
    password = str(form.get("password", ""))
    target = _next(form.get("next"))
    address = request.remote or "unknown"
    limiter = request.app[LIMITER]
    if not await asyncio.to_thread(limiter.allowed, address, name):
        log.warning("sign-in refused (rate limit) for %r from %s", name, address)
        page = await render(request, "signin.html", status=429, error=LIMITED, next=target,
                            name=name)  # fmt: skip
        # at the latest, the failures counted have left the window (RFC 6585: may say when)
        page.headers["Retry-After"] = str(math.ceil(limiter.window))
        return page
    engine = request.app[CATALOG].engine
    lifetime = request.app[SETTINGS].dashboard.session_lifetime
    user = await asyncio.to_thread(check_password, engine, name, password)
    opened = None
    if user is not None:  # a session only while the password verified is still the user's
        opened = await asyncio.to_thread(open_session, engine, user, lifetime)
    if opened is None:
        await asyncio.to_thread(limiter.failed, address, name)
        if user is not None:
            log.warning("failed sign-in for %r from %s: the password was changed or the user "
                        "removed as it was checked", name, address)  # fmt: skip
        else:
            log.warning("failed sign-in for %r from %s", name, address)
        return await render(request, "signin.html", status=401, error=REFUSED, next=target,
                            name=name)
    await asyncio.to_thread(limiter.succeeded, address, name)
    cookie, _session = opened
    log.info("%s signed in from %s", name, address)
    response = web.HTTPSeeOther(target)
    access.set_session_cookie(request, response, cookie, lifetime)
    raise response


async def signout(request: web.Request) -> web.StreamResponse:
    await access.checked_form(request)
    cookie = request.cookies.get(access.SESSION_COOKIE, "")
    if cookie:
        await asyncio.to_thread(close_session, request.app[CATALOG].engine, cookie)
    response = web.HTTPSeeOther("/")
    access.clear_session_cookie(request, response)
    raise response
