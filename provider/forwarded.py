"""The client and scheme of a request through a trusted proxy (``server.trusted_proxies``).

Behind nginx every request comes from the proxy's address, over plain HTTP. A request whose TCP
peer is one of ``trusted_proxies`` is handed on as ``request.clone(remote=..., scheme=...)``:

- its client is the rightmost address of ``X-Forwarded-For`` that is not itself a trusted proxy.
  Each proxy appends the address it was reached from, so what stands left of that entry is the
  client's own word: ``X-Forwarded-For: 198.51.100.1`` sent by 203.0.113.7 through nginx arrives
  as ``198.51.100.1, 203.0.113.7``, and the client is 203.0.113.7. When every entry is a trusted
  proxy, the leftmost is the client. A header that is absent, longer than
  :data:`MAX_FORWARDED_FOR`, or holds something other than an IP address where it is read
  leaves the peer as the client;
- its scheme is ``X-Forwarded-Proto`` when that is ``http`` or ``https`` (one value), so that
  ``request.secure`` holds behind an HTTPS proxy and the dashboard's cookies are marked Secure.

From any other peer both headers are ignored, never refused: OAI harvesters behind their own
organisations' proxies send ``X-Forwarded-For``. ``X-Forwarded-Host`` is not read: Identify
announces ``repository.base_url``. The connection limits of :mod:`provider.http_server` count
the TCP peer, the proxy, when a connection is accepted, before any header has arrived.

Not aiohttp-remotes (aio-libs): its ``XForwardedStrict`` answers 400 to a request whose peer
is not a trusted proxy or whose ``X-Forwarded-For`` does not have exactly one entry per
configured proxy (none at all from a direct client, or a client's own entry passed on);
``XForwardedRelaxed`` believes the headers of any peer, and ``XForwardedFiltered`` believes
``X-Forwarded-For`` whatever the peer and answers 400 to an entry that is not an address. All of
them take ``X-Forwarded-Host`` for the request's host.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING

from aiohttp import hdrs, web

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler, Middleware

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

MAX_FORWARDED_FOR = 1024
"""The longest ``X-Forwarded-For`` read, in characters (20 IPv6 hops and more); a longer one is
ignored whole."""
SCHEMES = ("http", "https")
CLIENT = web.RequestKey("koprik_client", str) if hasattr(web, "RequestKey") else "koprik_client"
"""The client named by a trusted proxy, kept on the request aiohttp made: its access logger
(:mod:`provider.access_log`) is given that request, not the clone the handlers see. Absent
when no proxy named one, or none is trusted (:func:`provider.app.init_app` then installs no
middleware): the client is ``request.remote``."""


def forwarded(trusted_proxies: Iterable[str]) -> Middleware:
    """The middleware taking the client and scheme of requests from ``trusted_proxies`` (IP
    addresses and networks, as checked by the settings) from their ``X-Forwarded-*`` headers;
    put it first, so that every other middleware and handler sees them. With no proxy trusted
    it changes no request: leave it out then."""
    proxies = networks(trusted_proxies)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote
        if peer is None or not _trusted(peer, proxies):
            return await handler(request)
        headers = request.headers
        client = forwarded_client(headers.getall(hdrs.X_FORWARDED_FOR, []), proxies)
        if client is not None:
            request[CLIENT] = client
        scheme = forwarded_scheme(headers.getall(hdrs.X_FORWARDED_PROTO, []))
        return await handler(request.clone(remote=client or peer,
                                           scheme=scheme or request.scheme))

    return middleware


def networks(trusted_proxies: Iterable[str]) -> tuple[Network, ...]:
    """``server.trusted_proxies`` (addresses and networks, as checked by the settings) read."""
    return tuple(ip_network(entry) for entry in trusted_proxies)


def client_behind(peer: str, lines: Sequence[str], proxies: Sequence[Network]) -> str | None:
    """The client a request from TCP ``peer`` with ``X-Forwarded-For`` ``lines`` comes from,
    when ``peer`` is one of ``proxies`` and the header names one; else None (the peer is the
    client). For the HTTP requests the middleware does not see: SRU on the Z39.50 port."""
    if not proxies or not _trusted(peer, proxies):
        return None
    return forwarded_client(lines, proxies)


def proxied(peer: str, trusted_proxies: Iterable[str]) -> bool:
    """Whether TCP ``peer`` is one of ``trusted_proxies``: its requests' Host header is the one
    the proxy was sent (nginx's ``proxy_set_header Host $host`` has no port)."""
    return _trusted(peer, networks(trusted_proxies))


def forwarded_client(lines: Sequence[str], proxies: Sequence[Network]) -> str | None:
    """The client an ``X-Forwarded-For`` names (its ``lines`` in order are one list, as RFC 9110
    joins repeated fields): the rightmost entry that is not in ``proxies``, else the leftmost;
    None when there is none, the header is too long, or an entry read is not an address."""
    chain = ",".join(lines)
    if not chain or len(chain) > MAX_FORWARDED_FOR:
        return None
    address: Address | None = None
    for entry in reversed(chain.split(",")):
        address = _address(entry)
        if address is None or not _within(address, proxies):
            break
    return None if address is None else str(address)


def forwarded_scheme(lines: Sequence[str]) -> str | None:
    """``http`` or ``https`` from an ``X-Forwarded-Proto`` of one value; None otherwise."""
    if len(lines) != 1:
        return None
    scheme = lines[0].strip().lower()
    return scheme if scheme in SCHEMES else None


def _address(text: str) -> Address | None:
    """``text`` as an IP address, None if it is none. An IPv4-mapped IPv6 address (how a
    dual-stack socket names an IPv4 peer) is its IPv4 address, so that ``127.0.0.1`` in
    ``trusted_proxies`` covers ``::ffff:127.0.0.1`` and a client is one key of the sign-in
    limit whichever way it is written."""
    try:
        address = ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def _trusted(peer: str, proxies: Sequence[Network]) -> bool:
    address = _address(peer)
    return address is not None and _within(address, proxies)
