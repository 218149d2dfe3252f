"""The crosswalk workbench: paste or upload records, choose the formats and a transliteration,
see the result with its warnings, download it.

The conversion is :mod:`crosswalks.registry`'s (the formats of ``koprik crosswalk``); the
upload is read with a budget of ``dashboard.max_upload_bytes`` (a larger body is refused with
413 before it is all read), and the conversion runs in a thread of :class:`Conversions`.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import web

from crosswalks import registry
from crosswalks.batch import SCRIPTS, convert
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
TEXT_FIELDS = 6
"""Form fields other than the file (csrf, text, from, to, script, action)."""
RETRY_SECONDS = 10
"""Retry-After of a conversion refused because as many as allowed are in progress."""
T = TypeVar("T")


class Conversions:
    """At most ``limit`` workbench conversions at once, in threads kept for them: a public upload
    of 5 MB of tiny records keeps a thread busy for a minute, and in asyncio's shared threads a
    few of them held up every OAI-PMH GetRecord and dashboard page for as long. One more
    conversion is refused (503 with Retry-After), not queued with its upload in memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.executor = ThreadPoolExecutor(limit, thread_name_prefix="koprik-workbench")
        self._active = 0
        self._lock = threading.Lock()

    async def run(self, job: Callable[[], T]) -> T:
        """``job()`` in a conversion thread; 503 when all are busy. A slot is given back when
        the job ends, even when the client has gone before (the thread works on)."""
        with self._lock:
            if self._active >= self.limit:
                raise web.HTTPServiceUnavailable(
                    headers={"Retry-After": str(RETRY_SECONDS)},
                    text=f"Too many conversions at once; retry in {RETRY_SECONDS} s",
                )
            self._active += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._counted, job)

    def _counted(self, job: Callable[[], T]) -> T:
        try:
            return job()
        finally:
            with self._lock:
                self._active -= 1


CONVERSIONS = web.AppKey("dashboard_conversions", Conversions)


async def conversion_threads(app: web.Application) -> AsyncIterator[None]:
    """``app[CONVERSIONS]`` for the application's life (a cleanup context)."""
    app[CONVERSIONS] = Conversions(app[SETTINGS].dashboard.conversions)
    yield
    app[CONVERSIONS].executor.shutdown(wait=False, cancel_futures=True)


async def read_upload(request: web.Request, limit: int) -> dict[str, bytes]:
    """The form's fields as bytes, at most ``limit`` bytes in all (413 beyond), all arrived
    within ``server.http_request_timeout`` (408 after)."""
    if not request.content_type.startswith("multipart/"):
        if (request.content_length or 0) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit,
                                                actual_size=request.content_length or 0)
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
    fields: dict[str, bytes] = {}
    budget = limit
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if len(fields) > TEXT_FIELDS or not hasattr(part, "read_chunk"):
            raise web.HTTPBadRequest(text="unexpected form fields")
        chunks = []
        while chunk := await part.read_chunk(64 * 1024):
            budget -= len(chunk)
            if budget < 0:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=limit - budget)
            chunks.append(chunk)
        fields[part.name or ""] = b"".join(chunks)
    return fields


def _formats() -> dict[str, object]:
    return {"inputs": registry.INPUTS, "outputs": registry.OUTPUTS, "scripts": SCRIPTS}


@readable("public_records")
async def workbench_page(request: web.Request) -> web.Response:
    return await render(request, "workbench.html", chosen={}, **_formats())


@readable("public_records")
async def workbench_convert(request: web.Request) -> web.StreamResponse:
    limit = request.app[SETTINGS].dashboard.max_upload_bytes
    fields = await read_upload(request, limit)
    check_csrf(request, await viewer(request), fields.get("csrf", b"").decode("ascii", "replace"))
    chosen = {name: fields.get(name, b"").decode("utf-8", "replace")[:100]
              for name in ("from", "to", "script")}
    data = fields.get("file") or fields.get("text", b"")
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
    result = await request.app[CONVERSIONS].run(functools.partial(
        convert, data, chosen["from"], chosen["to"], chosen["script"],
        request.app[SETTINGS].limits.max_record_bytes,
    ))
    if fields.get("action") == b"download" and result.converted:
        return web.Response(body=result.output, content_type="application/octet-stream",
                            headers={"Content-Disposition":
                                     f'attachment; filename="converted.{chosen["to"]}"'})
    text = result.output.decode("utf-8", "replace")
    return await render(request, "workbench.html", chosen=chosen, result=result,
                        shown=text[:SHOWN_CHARS], cut=len(text) > SHOWN_CHARS, **_formats())
