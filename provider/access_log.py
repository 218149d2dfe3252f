"""One access line per HTTP request, for every route (OAI-PMH, SRU, health), on ``koprik.access``;
also for SRU on the Z39.50 port (:func:`log_request`).

It is aiohttp's access-logger hook rather than a middleware: aiohttp calls it once the response
has been sent, so the line has the status and the bytes actually sent, also for a streamed
list, for a request the router refused (404, 405) and for one a client broke off.

    127.0.0.1 "GET /oai?verb=Identify HTTP/1.1" 200 1834 0.004s "Sickle/0.7.0"

The JSON format has the same facts as fields: ``remote`` (the client: the TCP peer, or the
client a trusted proxy names, :mod:`provider.forwarded`), ``forwarded_for`` (the
``X-Forwarded-For`` header as it came, whoever sent it), ``method``, ``path`` (with the query),
``status``, ``bytes`` (sent, compressed as sent, with the response headers), ``seconds`` and
``user_agent``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse
from aiohttp.web_protocol import ERROR as UNREAD

from protocols.shown import escaped_controls
from provider.forwarded import CLIENT

LOGGER = logging.getLogger("koprik.access")


@dataclass
class Started:
    """A response a handler sent the head of itself (``await response.prepare(request)``),
    and the bytes of its body handed to the connection so far. When writing the
    rest fails (a client that stopped reading, cut at ``http_write_timeout``), aiohttp logs a
    500 it made up, of 0 bytes, for a response whose 200 and first megabytes were sent; the
    line says what was sent, as nginx's does."""

    response: StreamResponse
    sent: int = 0


STARTED = (web.RequestKey("koprik_started", Started) if hasattr(web, "RequestKey")
           else "koprik_started")  # fmt: skip


class AccessLogger(AbstractAccessLogger):
    """Pass as ``web.AppRunner(app, access_log_class=AccessLogger, access_log=LOGGER)``."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if request.headers is UNREAD.headers:
            # A request aiohttp could not read (400, 414, 431) is answered for one it made up
            # (its message UNREAD, told by its very headers: Request.message is deprecated),
            # "UNKNOWN / HTTP/1.0", which the line showed as what the client asked; it is
            # "- - -", as on the Z39.50 port (provider.sru.http_port).
            method = path = version = "-"
        else:
            method, path = request.method, request.path_qs
            version = f"HTTP/{request.version.major}.{request.version.minor}"
        status, sent = response.status, response.body_length
        if (started := request.get(STARTED)) is not None and response is not started.response:
            status, sent = started.response.status, started.sent  # (response: made up)
        log_request(
            request.get(CLIENT) or request.remote or "",
            request.headers.get("X-Forwarded-For", ""), method, path, version,
            status, sent, time,
            request.headers.get("User-Agent", ""), self.logger,
        )  # fmt: skip


def log_request(
    remote: str, forwarded: str, method: str, path: str, version: str, status: int,
    sent: int, seconds: float, agent: str, logger: logging.Logger = LOGGER,
) -> None:  # fmt: skip
    """One access line: for the HTTP port (:class:`AccessLogger`) and for SRU on the Z39.50
    port (:mod:`provider.sru.http_port`), which aiohttp does not serve."""
    fields = {
        "remote": remote,
        "forwarded_for": forwarded,
        "method": method,
        "path": path,
        "status": status,
        "bytes": sent,
        "seconds": round(seconds, 6),
        "user_agent": agent,
    }
    via = f" (for {_field(forwarded)})" if forwarded else ""
    logger.info(
        '%s%s "%s %s %s" %d %d %.3fs "%s"', remote, via, _field(method), _field(path), version,
        status, sent, seconds, _field(agent), extra={"fields": fields},
    )  # fmt: skip


def _field(text: str) -> str:
    """A client's text in the plain line as nginx writes it: a backslash and a double quote as
    ``\\x5c`` and ``\\x22``, control characters escaped (:func:`escaped_controls`). A
    User-Agent ``a" 500 9 "b`` wrote fields of its own into the line."""
    return escaped_controls(text.replace("\\", "\\x5c")).replace('"', "\\x22")
