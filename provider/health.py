"""``GET /health``: is this node fit to serve? For a load balancer, a proxy or monitoring.

    {"status": "ok", "version": "0.1.0",
     "catalogue": {"reachable": true, "records": 3000}}

HTTP 200 when the catalogue answers, 503 with ``"status": "error"`` and the reason in
``catalogue.error`` when it does not (within :data:`TIMEOUT` seconds): the reason a client may
be told (:func:`catalog.db.said_publicly`: anyone may ask, and PostgreSQL's reason names its
host and port), the full one logged when it changes (``health: catalogue unreachable: ...``,
not at every poll) and when the catalogue answers again. A failure that is no unavailability
(:func:`catalog.db.unavailable`) is a fault, 503 with :data:`FAULT` in ``error``, logged with
its traceback likewise when it changes. Also 503 when its SQLite file
is damaged (:func:`catalog.file_damage.check`: found so by a statement of this process, or seen
at once, truncated or not a database), which the lookup below may not read. ``records`` is
:meth:`catalog.Catalog.approximate_size`, one index lookup, so a monitor may ask often.

A node whose ``[[sets]]`` rules are no longer the catalogue's (another node ran ``koprik db
sets``) has its harvests and imports refused: ``catalogue.sets`` says so, in the line they fail
with (:func:`catalog.set_rules.refused`, one read of a one-row table). The node still serves
what the catalogue holds: HTTP stays 200, so that a load balancer keeps it while ``db sets``
runs, which no node on the new rules may serve yet. A node that runs scheduled harvests
(``koprik serve`` without ``--no-scheduler``) starts none then, and ``harvests`` says so
(:func:`catalog.set_rules.paused`, the line its scheduler logs). So too when the recorded rules
cannot be read (a damaged catalogue, or one edited by hand), which ``catalogue.sets`` says.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web

from catalog import Catalog
from catalog.db import DamagedFile, answered_within, said_publicly, unavailable
from catalog.file_damage import check as check_file
from catalog.set_rules import paused, refused
from config import koprik_version
from protocols.shown import one_line
from provider.keys import CATALOG

log = logging.getLogger(__name__)

TIMEOUT = 5.0
"""Seconds the catalogue gets to answer before the node is reported unhealthy."""
FAULT = ("looking at the catalogue failed, not for the database being unavailable (the reason "
         "is in this node's log)")
"""What ``/health`` says, 503, when looking at the catalogue failed other than by the database
being unavailable (:func:`catalog.db.unavailable`): a fault of Koprik's, or a statement the
database refused (a permission taken away), which another node or a moment later would fail
the same way. It is logged with its traceback when it is not the fault last logged (it was
said as the catalogue unreachable, the reason alone, as a warning)."""
SCHEDULES = web.AppKey("schedules", bool)
"""Whether this node runs scheduled harvests (in one of its processes: ``koprik serve``'s
first worker, while it leads on PostgreSQL, :mod:`harvester.leadership`)."""


@dataclass
class _Logged:
    """The reason ``/health`` last logged the catalogue unreachable for, or the fault it last
    logged (None: it answered)."""

    reason: str | None = None


LOGGED = web.AppKey("health_logged", _Logged)


def setup_health(app: web.Application) -> None:
    app[LOGGED] = _Logged()
    app.router.add_get("/health", health)


def _log_change(logged: _Logged, reason: str | None, fault: Exception | None = None) -> None:
    """Log ``reason`` (None: the catalogue answers; with ``fault``, the fault it names, with its
    traceback) when it is not the last one logged: anyone may poll ``/health``, and a lasting
    fault logged a traceback at each request."""
    if reason == logged.reason:
        return
    if fault is not None:
        log.error("health: the catalogue could not be looked at", exc_info=fault)
    elif reason is not None:
        log.warning("health: catalogue unreachable: %s", reason)
    else:
        log.warning("health: catalogue answers again")
    logged.reason = reason


async def health(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    catalogue: dict[str, object] = {"reachable": True}
    reason = None
    try:
        catalogue.update(await answered_within(TIMEOUT, asyncio.to_thread(_looked_at, catalog)))
    except Exception as error:  # any failure makes the node unhealthy
        if not isinstance(error, DamagedFile) and unavailable(error) is None:
            _log_change(request.app[LOGGED], f"{type(error).__name__}: {error}", error)
            body = {"status": "error", "version": koprik_version(), "error": FAULT}
            return web.json_response(body, status=503)
        reason = one_line(getattr(error, "orig", None) or error)
        catalogue = {"reachable": False, "error": said_publicly(error)}
    _log_change(request.app[LOGGED], reason)
    ok = bool(catalogue["reachable"])
    body = {"status": "ok" if ok else "error", "version": koprik_version(), "catalogue": catalogue}
    if "sets" in catalogue and request.app.get(SCHEDULES, False):
        body["harvests"] = paused(str(catalogue["sets"]))
    return web.json_response(body, status=200 if ok else 503)


def _looked_at(catalog: Catalog) -> dict[str, object]:
    """What ``/health`` says of a catalogue that answers."""
    check_file(catalog.engine)
    said: dict[str, object] = {"records": catalog.approximate_size()}
    if (line := refused(catalog.engine, catalog.rules, catalog.settings.file_name)) is not None:
        said["sets"] = line
    return said
