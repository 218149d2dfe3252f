"""One access line per HTTP request, for every route (OAI-PMH, SRU, health), on ``koprik.access``.

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

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from provider.forwarded import CLIENT

LOGGER = logging.getLogger("koprik.access")


class AccessLogger(AbstractAccessLogger):
    """Pass as ``web.AppRunner(app, access_log_class=AccessLogger, access_log=LOGGER)``."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        forwarded = request.headers.get("X-Forwarded-For", "")
        agent = request.headers.get("User-Agent", "")
        fields = {
            "remote": request.get(CLIENT) or request.remote or "",
            "forwarded_for": forwarded,
            "method": request.method,
            "path": request.path_qs,
            "status": response.status,
            "bytes": response.body_length,
            "seconds": round(time, 6),
            "user_agent": agent,
        }
        via = f" (for {forwarded})" if forwarded else ""
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        self.logger.info(
            '%s%s "%s %s %s" %d %d %.3fs "%s"',
            fields["remote"], via, request.method, request.path_qs, version, response.status,
            response.body_length, time, agent, extra={"fields": fields},
        )  # fmt: skip
