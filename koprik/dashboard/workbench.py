"""The crosswalk workbench: paste or upload records, choose the formats and a transliteration,
see the result with its warnings, download it.

The conversion is :mod:`crosswalks.registry`'s (the formats of ``koprik crosswalk``); the
upload is read with a budget of ``dashboard.max_upload_bytes`` (a larger body is refused with
413 before it is all read), and the conversion runs in a process of its own for at most
``dashboard.conversion_seconds``, in at most ``dashboard.conversion_memory_mb`` more than the
process starts with (:class:`Conversions`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiohttp import web

from catalog.workers import JobFailed, JobOutgrew, JobOverran, OneJob
from config.runtime import start_fork_server
from crosswalks import registry
from crosswalks.batch import SCRIPTS, Conversion, convert
from koprik.dashboard.access import (
    check_csrf,
    late_body,
    posted_form,
    readable,
    unreadable_form,
    viewer,
)
from koprik.dashboard.render import render
from provider.keys import SETTINGS

SHOWN_CHARS = 200_000
"""Characters of the result shown on the page (the download has all of it)."""
FORM_PARTS = 7
"""Parts of the workbench's form (csrf, text, from, to, script, action, file): more is not a
form of ours. Parts are counted, not their names: 90,000 empty parts all named ``text`` (4.8 MB)
were all read, keeping the server busy for 30 s."""
RETRY_SECONDS = 10
"""Retry-After of a conversion refused because as many as allowed are in progress."""
T = TypeVar("T")
log = logging.getLogger(__name__)


class Conversions:
    """At most ``limit`` workbench conversions at once, each in a process of its own for at most
    ``seconds`` and ``memory_mb`` more than the process starts with.

    A public upload of 5 MB of tiny records keeps a CPU busy for a minute. In a thread of the
    serving process it held a share of the GIL all that time, slowing every OAI-PMH, SRU and
    Z39.50 request the process answered, and a client could send it again and again. In a
    process of its own (started by the fork server, as the catalogue's workers are:
    :class:`catalog.workers.OneJob`) it takes nothing of the serving process but a thread
    that waits, and past ``seconds`` the process is killed (:class:`JobOverran`); what the
    conversion builds as it goes lives there and goes with it, and only the result comes back.
    That result is held whole until it is sent, and can be many times the upload (MARCXML of
    empty subfields: 17 times): past ``memory_mb`` the conversion fails (:class:`JobOutgrew`)
    instead of taking the machine's memory.
    One more conversion is refused (503 with Retry-After), not queued with its upload in
    memory.

    :meth:`close` kills every conversion in progress and waits for the processes to be gone.
    """

    def __init__(self, limit: int, seconds: float, memory_mb: int | None = None) -> None:
        self.limit = limit
        self.seconds = seconds
        self.memory_mb = memory_mb
        self.executor = ThreadPoolExecutor(limit, thread_name_prefix="koprik-workbench")
        self._active: set[OneJob] = set()
        self._closed = False
        self._lock = threading.Lock()

    async def run(self, job: Callable[..., T], *args: object) -> T:
        """``job(*args)`` in a process of its own (a thread here waits for it); 503 when all
        are busy. Raises :class:`JobOverran` past ``seconds``, :class:`JobOutgrew` past
        ``memory_mb``, :class:`JobFailed` when the job raised or its process died. A request
        abandoned meanwhile (the client gone, the server stopping) kills the process; a slot
        is given back when the process has ended."""
        one = OneJob(job, args, "koprik-conversion", self.memory_mb)
        with self._lock:
            if self._closed or len(self._active) >= self.limit:
                raise web.HTTPServiceUnavailable(
                    headers={"Retry-After": str(RETRY_SECONDS)},
                    text=f"Too many conversions at once; retry in {RETRY_SECONDS} s",
                )
            self._active.add(one)
        waiting = self.executor.submit(self._waited, one)
        try:
            result: T = await asyncio.wrap_future(waiting)
        except asyncio.CancelledError:
            one.stop()
            if waiting.cancel():  # never started: no thread gives the slot back
                self._release(one)
            raise
        return result

    def _waited(self, one: OneJob) -> Any:
        try:
            return one.result(self.seconds)
        finally:
            self._release(one)

    def _release(self, one: OneJob) -> None:
        with self._lock:
            self._active.discard(one)

    def close(self) -> None:
        """Refuse new conversions, kill those in progress, and wait until their processes have
        ended (a moment: they are killed)."""
        with self._lock:
            self._closed = True
            active = list(self._active)
        for one in active:
            one.stop()
        self.executor.shutdown(wait=True, cancel_futures=True)


CONVERSIONS = web.AppKey("dashboard_conversions", Conversions)


async def conversion_processes(app: web.Application) -> AsyncIterator[None]:
    """``app[CONVERSIONS]`` for the application's life (a cleanup context): none is left
    running after it.

    The fork server that starts their processes is started here, as the application starts:
    started by the first conversion, its preloading (1.3 s measured) was waited for by that
    conversion's user, outside ``conversion_seconds``. Starting it takes the application 10 ms
    (it preloads in a process of its own, on another core), and it then holds 65 MB (resident)
    for the server's life, in each process of ``koprik serve --workers``."""
    await asyncio.to_thread(start_fork_server)
    dashboard = app[SETTINGS].dashboard
    app[CONVERSIONS] = Conversions(dashboard.conversions, dashboard.conversion_seconds,
                                   dashboard.conversion_memory_mb)  # fmt: skip
    yield
    await asyncio.to_thread(app[CONVERSIONS].close)


async def read_upload(request: web.Request, limit: int) -> dict[str, bytes]:
    """The form's fields as bytes, at most ``limit`` bytes in all (413 beyond, at once for a
    ``Content-Length`` over it: :func:`provider.http_server.continue_within` sends no 100
    for it), all arrived within ``server.http_request_timeout`` (408 after)."""
    if (request.content_length or 0) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length or 0)
    if not request.content_type.startswith("multipart/"):
        form = await posted_form(request)  # pasted text only; also bounded by client_max_size
        return {name: value.encode() for name, value in form.items() if isinstance(value, str)}
    try:
        return await asyncio.wait_for(_read_parts(request, limit),
                                      request.app[SETTINGS].server.http_request_timeout)
    except TimeoutError:
        raise late_body() from None
    except (ValueError, LookupError) as error:
        raise unreadable_form(error) from None


async def _read_parts(request: web.Request, limit: int) -> dict[str, bytes]:
    """The parts of a multipart form, at most :data:`FORM_PARTS` (400 beyond, at once), in a
    body of at most ``limit`` bytes counted as they arrive, boundaries and part headers with
    the parts' bodies (413 beyond: a body without Content-Length is not refused up front)."""
    fields: dict[str, bytes] = {}
    reader = await request.multipart()
    parts = 0
    while (part := await reader.next()) is not None:
        parts += 1
        if parts > FORM_PARTS or not hasattr(part, "read_chunk"):
            raise web.HTTPBadRequest(text=f"unexpected form fields (more than {FORM_PARTS} "
                                          "parts, or a part that is itself multipart)")
        _within(request, limit)
        chunks = []
        while chunk := await part.read_chunk(64 * 1024):
            _within(request, limit)
            chunks.append(chunk)
        fields[part.name or ""] = b"".join(chunks)
    return fields


def _within(request: web.Request, limit: int) -> None:
    """413 once more than ``limit`` bytes of the body have arrived."""
    received = request.content.total_bytes
    if received > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=received)


def _formats() -> dict[str, object]:
    return {"inputs": registry.INPUTS, "outputs": registry.OUTPUTS, "scripts": SCRIPTS}


@readable("public_records")
async def workbench_page(request: web.Request) -> web.Response:
    return await render(request, "workbench.html", chosen={}, **_formats())


@readable("public_records")
async def workbench_convert(request: web.Request) -> web.StreamResponse:
    """Convert the records posted, in a process of its own (:class:`Conversions`).

    A conversion stopped at ``dashboard.conversion_seconds``, or for want of memory past
    ``dashboard.conversion_memory_mb``, is answered 413 (Content Too Large: the request is more
    than the server is willing to process), with no Retry-After: the same records would take
    as long (as much) again, and what the user must change is how many are
    sent at once; 503 would invite the retries this limit is there to stop. A conversion
    whose process died otherwise is the server's failure: 500, in one line, no traceback.
    """
    limit = request.app[SETTINGS].dashboard.max_upload_bytes
    fields = await read_upload(request, limit)
    check_csrf(request, await viewer(request), fields.get("csrf", b"").decode("ascii", "replace"))
    chosen = {name: fields.get(name, b"").decode("utf-8", "replace")[:100]
              for name in ("from", "to", "script")}
    data = fields.get("file") or fields.get("text", b"")
    chosen["text"] = fields.get("text", b"").decode("utf-8", "replace")  # shown again, to mend
    problem = None
    if chosen["from"]:  # a name or an alias, as the command line takes them (rusmarc)
        chosen["from"] = registry.input_name(chosen["from"]) or chosen["from"]
    if chosen["from"] and chosen["from"] not in registry.INPUTS:
        problem = "choose an input format from the list"
    elif chosen["to"] not in registry.OUTPUTS:
        problem = "choose an output format from the list"
    elif chosen["script"] not in SCRIPTS:
        problem = "choose a transliteration from the list"
    elif not data.strip():
        problem = "paste records or choose a file"
    if problem:
        return await render(request, "workbench.html", status=400, error=problem,
                            chosen=chosen, **_formats())
    try:
        result = await request.app[CONVERSIONS].run(
            convert, data, chosen["from"], chosen["to"], chosen["script"],
            request.app[SETTINGS].limits.max_record_bytes,
        )
    except (JobOverran, JobOutgrew) as error:
        return await render(request, "workbench.html", status=413, chosen=chosen, **_formats(),
                            error=f"the conversion {error}: convert fewer records at once, "
                                  "or use koprik crosswalk")  # fmt: skip
    except JobFailed as error:
        log.warning("a workbench conversion failed: %s", error)
        return await render(request, "workbench.html", status=500, chosen=chosen, **_formats(),
                            error=f"the conversion failed ({error}); nothing was converted")
    download = fields.get("action") == b"download"
    if download and result.converted:
        return _download(result, chosen["to"])
    text = result.output.decode("utf-8", "replace")
    error = "nothing was converted, so there is nothing to download" if download else None
    return await render(request, "workbench.html", chosen=chosen, result=result, error=error,
                        shown=text[:SHOWN_CHARS], cut=len(text) > SHOWN_CHARS, **_formats())


def _download(result: Conversion, to: str) -> web.Response:
    """The converted records as a file named with its format's extension; a download that
    left records out says how many in its name (``converted-2-rejected.mrc``), as its
    ``X-Records-Rejected`` header does: the records read that were not converted (their
    reasons are the warnings a conversion shown on the page lists)."""
    rejected = result.read - result.converted
    name = f"converted-{rejected}-rejected" if rejected else "converted"
    extension = registry.output_format(to).extension
    return web.Response(body=result.output, content_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{name}.{extension}"',
        "X-Records-Converted": str(result.converted),
        "X-Records-Rejected": str(rejected)})
