"""Who is looking, and what they may do: sessions, CSRF tokens, and the guards of handlers.

- Pages that change something are wrapped in :func:`operator_only`: without a live session a
  GET is sent to the sign-in page, a POST refused the same way (303 to ``/signin``).
- Every form carries a CSRF token; :func:`checked_form` reads a POSTed form and refuses it with
  403 unless the token matches: the session's token for a signed-in operator, otherwise the
  token of the anonymous ``koprik_csrf`` cookie (the sign-in form and public forms).
- Reading pages use :func:`readable` with the setting that opens them to the public.
- The JSON API (:mod:`koprik.dashboard.api`) uses bearer tokens instead (no cookies, so no CSRF).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from koprik.dashboard.accounts import Session, find_session, same_secret
from provider.http_server import continue_within
from provider.keys import CATALOG, SETTINGS

SESSION_COOKIE = "koprik_session"
ANONYMOUS_COOKIE = "koprik_csrf"
_NONE = object()
_VIEWER = web.RequestKey("koprik_viewer", object) if hasattr(web, "RequestKey") else "koprik_viewer"
"""Where :func:`viewer` keeps its answer for the rest of the request (a typed key where this
aiohttp has them)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def viewer(request: web.Request) -> Session | None:
    """The signed-in operator's live session, or None (looked up once per request)."""
    cached = request.get(_VIEWER, _NONE)
    if cached is not _NONE:
        return cached  # type: ignore[return-value]
    cookie = request.cookies.get(SESSION_COOKIE, "")
    session = None
    if cookie:
        session = await asyncio.to_thread(find_session, request.app[CATALOG].engine, cookie)
    request[_VIEWER] = session
    return session


def forget_viewer(request: web.Request) -> None:
    request[_VIEWER] = None


def form_token(request: web.Request, session: Session | None) -> tuple[str, bool]:
    """The CSRF token to put in forms, and whether a new anonymous cookie must carry it."""
    if session is not None:
        return session.csrf, False
    existing = request.cookies.get(ANONYMOUS_COOKIE, "")
    if 20 <= len(existing) <= 100:
        return existing, False
    return secrets.token_urlsafe(32), True


def set_anonymous_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(ANONYMOUS_COOKIE, token, httponly=True, samesite="Strict",
                        secure=request.secure, path="/")


def set_session_cookie(
    request: web.Request, response: web.StreamResponse, cookie: str, lifetime: int
) -> None:
    response.set_cookie(SESSION_COOKIE, cookie, max_age=lifetime, httponly=True,
                        samesite="Lax", secure=request.secure, path="/")


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """The session cookie deleted with the attributes it was set with (a browser may keep a
    Secure cookie that a deletion without Secure does not replace)."""
    response.del_cookie(SESSION_COOKIE, httponly=True, samesite="Lax", secure=request.secure,
                        path="/")


@web.middleware
async def private_responses(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response is sent ``X-Content-Type-Options: nosniff`` (a reject's or a record's
    bytes are not taken for HTML), and one made for a signed-in operator (its handler looked
    up a live session: :func:`viewer`) ``Cache-Control: no-store``: after sign-out the back
    button showed the operator's pages from the browser's cache."""
    response = await handler(request)
    if not response.prepared:  # (a streamed response has sent its headers already)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.get(_VIEWER) is not None:
            response.headers["Cache-Control"] = "no-store"
    return response


def unreadable_form(error: Exception) -> web.HTTPBadRequest:
    """The answer to a form body that cannot be read (bytes that are not UTF-8, an unknown
    charset, a multipart body without its boundary): 400 and one line, not a 500."""
    return web.HTTPBadRequest(text=f"The form could not be read: {error}")


def late_body() -> web.HTTPRequestTimeout:
    """The answer to a body not all sent within ``server.http_request_timeout``: a client
    trickling one byte at a time held its connection (and its slot) for ever."""
    return web.HTTPRequestTimeout(text="The request body did not arrive in time")


FORM_POST = continue_within()
"""The ``expect_handler`` of a route whose handler reads a form with :func:`posted_form`."""


async def posted_form(request: web.Request) -> MultiDictProxy[str | bytes | web.FileField]:
    """The POSTed form, arrived within ``server.http_request_timeout`` (:func:`late_body`);
    400 when it cannot be read (:func:`unreadable_form`), or when a field holds a NUL, which
    none of ours may and PostgreSQL refuses in any text it is sent. A ``Content-Length`` over
    the request's ``client_max_size`` (what ``request.post()`` reads at most) is 413 unread,
    before the 100 (Continue) of a client that waits for one (:data:`FORM_POST`)."""
    if (request.content_length or 0) > request.client_max_size:
        raise web.HTTPRequestEntityTooLarge(max_size=request.client_max_size,
                                            actual_size=request.content_length or 0)
    try:
        form = await asyncio.wait_for(request.post(),
                                      request.app[SETTINGS].server.http_request_timeout)
    except TimeoutError:
        raise late_body() from None
    except (ValueError, LookupError) as error:  # UnicodeDecodeError is a ValueError
        raise unreadable_form(error) from None
    for name, value in form.items():
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            raise unreadable_form(ValueError("a field holds a NUL character"))
    return form


async def checked_form(request: web.Request) -> MultiDictProxy[str | bytes | web.FileField]:
    """The POSTed form, once its CSRF token is the expected one (403 otherwise)."""
    form = await posted_form(request)
    check_csrf(request, await viewer(request), form.get("csrf"))
    return form


def check_csrf(request: web.Request, session: Session | None, given: object) -> None:
    expected = session.csrf if session is not None else request.cookies.get(ANONYMOUS_COOKIE, "")
    if not expected or not isinstance(given, str) or not same_secret(given, expected):
        raise web.HTTPForbidden(
            text="This form has expired or did not come from this site; reload the page and "
            "send it again."
        )


def sign_in_url(request: web.Request) -> str:
    target = request.path_qs if request.method == "GET" else "/"
    return f"/signin?next={quote(target, safe='')}"


def operator_only(handler: Handler) -> Handler:
    """Only for a signed-in operator: others are sent to the sign-in page (303)."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        if await viewer(request) is None:
            raise web.HTTPSeeOther(sign_in_url(request))
        return await handler(request)

    return guarded


def readable(setting: str) -> Callable[[Handler], Handler]:
    """Open to anyone while ``dashboard.<setting>`` is true, else like :func:`operator_only`."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            public = getattr(request.app[SETTINGS].dashboard, setting)
            if not public and await viewer(request) is None:
                raise web.HTTPSeeOther(sign_in_url(request))
            return await handler(request)

        return guarded

    return decorate
