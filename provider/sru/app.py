"""The SRU endpoint ``/sru`` over HTTP (GET, and POST of a urlencoded form).

Every answer is an HTTP 200 SRU document, refusals included (a POST body over
``search.sru_max_request_bytes`` is diagnostic 12, a POST that is not a form diagnostic 6),
except for a POST body that does not arrive within ``server.http_request_timeout`` (408).
A POST whose ``Content-Length`` is over the limit is answered 12 without its body being read;
with ``Expect: 100-continue`` it gets that answer instead of a 100 (Continue), so the client
never sends the body (:func:`provider.http_server.continue_within`). The diagnostic can come
before the 100 since it needs nothing from the body: it is in SRU's default version.
"""

from __future__ import annotations

from aiohttp import web

from provider.connections import peer_address
from provider.forwarded import proxied
from provider.http_server import continue_within, read_body
from provider.keys import SETTINGS, SRU
from provider.search import SEARCH_CLIENT, Condition
from provider.sru.request import FORM, answered_as, checked_pairs
from provider.sru.responses import CONTENT_TYPE
from provider.sru.soap import FAULTS

PATH = "/sru"
OPERATION = (web.RequestKey("koprik_sru_operation", str) if hasattr(web, "RequestKey")
             else "koprik_sru_operation")
"""What a request was answered as (explain, searchRetrieve or scan; for /metrics)."""


def setup_sru(app: web.Application) -> None:
    """Route ``/sru`` to the application's SRU front end (``app[SRU]``)."""
    limit = app[SETTINGS].search.sru_max_request_bytes
    app.router.add_get(PATH, handle_sru)
    app.router.add_post(PATH, handle_sru, expect_handler=continue_within(limit))


async def handle_sru(request: web.Request) -> web.StreamResponse:
    front = request.app[SRU]
    limit = request.app[SETTINGS].search.sru_max_request_bytes
    refusal: tuple[Condition, str] | None = None
    if request.method == "POST":
        declared = request.content_length or 0
        timeout = request.app[SETTINGS].server.http_request_timeout
        body = b"" if declared > limit else await read_body(request, limit + 1, timeout)
        if max(declared, len(body)) > limit:
            refusal = (Condition.QUERY_TOO_LONG, str(limit))
        elif (fault := FAULTS.get(request.content_type)) is not None:
            return web.Response(status=fault.status, body=fault.body,
                                headers={"Content-Type": fault.content_type})  # fmt: skip
        elif request.content_type != FORM:
            kind = request.content_type
            refusal = (Condition.UNSUPPORTED_PARAMETER_VALUE, f"Content-Type {kind}")
        form: bytes | str = body
    else:
        form = request.rel_url.raw_query_string
    pairs, not_utf8 = checked_pairs(form)
    refusal = refusal or not_utf8
    request[OPERATION] = answered_as(pairs)
    host, port = _address(request)
    SEARCH_CLIENT.set(request.remote or "")  # (behind a trusted proxy, the client it names)
    payload = await front.answer(pairs, host=host, port=port, refusal=refusal)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE})


def _address(request: web.Request) -> tuple[str, int]:
    """The host and port of the request's Host header, as explain names them. A header without
    a port (``Host: 127.0.0.1``, or none from an HTTP/1.0 client: aiohttp takes the socket's
    address) names the port the request arrived on, which the client reached; through a trusted
    proxy, which reached that port itself, the default port of the request's scheme (443 for
    ``X-Forwarded-Proto: https``, else 80)."""
    host, _, port = request.host.rpartition(":")
    if host and port.isascii() and port.isdigit() and int(port) <= 65535:
        return host, int(port)
    default = 443 if request.scheme == "https" else 80
    transport = request.transport
    if transport is None:  # the client has gone
        return request.host, default
    peer = peer_address(transport.get_extra_info("peername"))
    local = transport.get_extra_info("sockname")
    if not isinstance(local, tuple) or proxied(peer, request.app[SETTINGS].server.trusted_proxies):
        return request.host, default
    return request.host, int(local[1])
