"""The JSON API under ``/api`` for scripts: what the sources and runs pages offer.

Every request needs ``Authorization: Bearer TOKEN`` (``koprik users token NAME``); without a
valid one the answer is 401. No cookies are read here, so there is nothing to forge across
sites and no CSRF token. Errors are ``{"error": "..."}`` with 400, 404, 405 or 409.

    GET    /api/sources                    POST /api/sources          (a source as JSON)
    GET    /api/sources/NAME               PATCH /api/sources/NAME    (fields to change)
    DELETE /api/sources/NAME               POST /api/sources/NAME/harvest
    GET    /api/runs[?source=NAME]         GET  /api/runs/ID          POST /api/runs/ID/retry
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from typing import Any

from aiohttp import web

from config import HarvestSource
from config.settings import ConfigError, checked_values
from harvester.ingest import Unmapped
from harvester.retry import Cut, retry_rejects
from harvester.sources import (
    SourceError,
    SourceInUse,
    UnknownSource,
    add_source,
    edit_source,
    find_source,
    remove_source,
    shown,
)
from koprik.dashboard import reads
from koprik.dashboard.access import Handler, late_body
from koprik.dashboard.accounts import user_of_token
from koprik.dashboard.harvests import API, StartRefused
from koprik.dashboard.keys import HARVESTS
from koprik.dashboard.runs import next_page
from provider.http_server import continue_within
from provider.keys import CATALOG, SETTINGS

MAX_BODY = 64 * 1024
_FIELDS = {f.name for f in dataclasses.fields(HarvestSource)}
_REQUIRED = [f.name for f in dataclasses.fields(HarvestSource)
             if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def token_required(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        user = None
        if scheme.lower() == "bearer" and token:
            user = await asyncio.to_thread(user_of_token, request.app[CATALOG].engine,
                                           token.strip())
        if user is None:
            raise web.HTTPUnauthorized(
                text='{"error": "a valid API token is needed (Authorization: Bearer TOKEN)"}',
                content_type="application/json", headers={"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    return guarded


async def _body(request: web.Request) -> tuple[dict[str, Any], bool]:
    """The source fields of the JSON object sent (within ``server.http_request_timeout``),
    each of its type and within its bounds as in koprik.toml
    (:func:`config.settings.checked_values`) and without a NUL, and its ``check`` (default
    true)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(
            MAX_BODY, request.content_length, content_type="application/json",
            text=json.dumps({"error": f"at most {MAX_BODY} bytes"}))
    try:
        data = await asyncio.wait_for(request.json(),
                                      request.app[SETTINGS].server.http_request_timeout)
    except TimeoutError:
        raise late_body() from None
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can read
        raise _error(web.HTTPBadRequest, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise _error(web.HTTPBadRequest, "expected a JSON object")
    check = data.pop("check", True)
    if not isinstance(check, bool):
        raise _error(web.HTTPBadRequest, f"check: expected true or false, got {check!r}")
    unknown = set(data) - _FIELDS
    if unknown:
        raise _error(web.HTTPBadRequest, f"unknown fields: {', '.join(sorted(unknown))}")
    try:
        values = checked_values(HarvestSource, data)  # a NUL too, which PostgreSQL refuses
    except ConfigError as error:
        raise _error(web.HTTPBadRequest, str(error)) from None
    return values, check


@token_required
async def get_sources(request: web.Request) -> web.Response:
    views = await asyncio.to_thread(reads.sources, request.app[SETTINGS], request.app[CATALOG])
    return web.json_response([view.as_json() for view in views])


@token_required
async def get_source(request: web.Request) -> web.Response:
    settings, catalog = request.app[SETTINGS], request.app[CATALOG]
    try:
        entry = await asyncio.to_thread(find_source, settings, catalog, request.match_info["name"])
    except UnknownSource as error:
        raise _error(web.HTTPNotFound, str(error)) from None
    view = await asyncio.to_thread(reads.source, settings, catalog, entry)
    return web.json_response(view.as_json())


@token_required
async def post_source(request: web.Request) -> web.Response:
    data, check = await _body(request)
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise _error(web.HTTPBadRequest, f"missing field{'s' * (len(missing) > 1)} "
                                         f"{', '.join(map(repr, missing))}")
    try:
        stored, _found = await asyncio.to_thread(
            add_source, request.app[SETTINGS], request.app[CATALOG], HarvestSource(**data),
            check=check,
        )
    except SourceError as error:
        raise _error(web.HTTPBadRequest, str(error)) from None
    return web.json_response(dataclasses.asdict(shown(stored)), status=201)


@token_required
async def patch_source(request: web.Request) -> web.Response:
    data, check = await _body(request)
    name = request.match_info["name"]
    try:
        changed = await asyncio.to_thread(
            edit_source, request.app[SETTINGS], request.app[CATALOG], name, check=check, **data
        )
    except UnknownSource as error:
        raise _error(web.HTTPNotFound, str(error)) from None
    except SourceError as error:
        raise _error(web.HTTPBadRequest, str(error)) from None
    return web.json_response(dataclasses.asdict(shown(changed)))


@token_required
async def delete_source(request: web.Request) -> web.Response:
    try:
        await asyncio.to_thread(remove_source, request.app[SETTINGS], request.app[CATALOG],
                                request.match_info["name"])
    except UnknownSource as error:
        raise _error(web.HTTPNotFound, str(error)) from None
    except SourceInUse as error:
        raise _error(web.HTTPConflict, str(error)) from None
    except SourceError as error:
        raise _error(web.HTTPBadRequest, str(error)) from None
    return web.json_response({"removed": request.match_info["name"]})


@token_required
async def post_harvest(request: web.Request) -> web.Response:
    try:
        entry = await asyncio.to_thread(find_source, request.app[SETTINGS], request.app[CATALOG],
                                        request.match_info["name"])
        run_id = await request.app[HARVESTS].start(entry, API)
    except SourceError as error:
        raise _error(web.HTTPNotFound, str(error)) from None
    except StartRefused as error:
        raise _error(web.HTTPConflict, str(error)) from None
    return web.json_response({"run": run_id}, status=202)


@token_required
async def get_runs(request: web.Request) -> web.Response:
    source = request.query.get("source") or None
    try:
        before = reads.runs_before(request.query.get("before"))
    except ValueError as error:
        raise _error(web.HTTPBadRequest, str(error)) from None
    runs, following = await asyncio.to_thread(reads.runs_page, request.app[CATALOG].engine,
                                              source, before)  # fmt: skip
    response = web.json_response([run.as_json() for run in runs])
    if (older := next_page(request, following, source)) is not None:
        response.headers["Link"] = f'<{older}>; rel="next"'  # RFC 8288
    return response


def _run_id(request: web.Request) -> int:
    try:
        return int(request.match_info["run"])
    except ValueError:
        raise _error(web.HTTPNotFound, "no such run") from None


@token_required
async def get_run(request: web.Request) -> web.Response:
    run = await asyncio.to_thread(reads.run, request.app[CATALOG].engine, _run_id(request))
    if run is None:
        raise _error(web.HTTPNotFound, "no such run")
    rejects, more = await asyncio.to_thread(reads.rejects_shown, request.app[CATALOG].engine,
                                            run.id)  # fmt: skip
    return web.json_response({
        **run.as_json(),
        "rejects": [{"id": r.id, "identifier": r.identifier, "reason": r.reason,
                     "bytes": r.size} for r in rejects],
        "more_rejects": more,
    })


@token_required
async def post_retry(request: web.Request) -> web.Response:
    run = await asyncio.to_thread(reads.run, request.app[CATALOG].engine, _run_id(request))
    if run is None:
        raise _error(web.HTTPNotFound, "no such run")
    try:
        entry = await asyncio.to_thread(find_source, request.app[SETTINGS], request.app[CATALOG],
                                        run.source)
    except SourceError as error:
        raise _error(web.HTTPNotFound, str(error)) from None
    unmapped, cut = Unmapped(), Cut()
    counts = await asyncio.to_thread(retry_rejects, request.app[CATALOG], entry.source,
                                     run.id, request.app[SETTINGS].limits.max_record_bytes,
                                     unmapped, cut)  # fmt: skip
    return web.json_response({**counts.as_dict(), "unmapped": unmapped.line(),
                              "cut": cut.rejects, "cut_line": cut.line()})


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An error under ``/api`` that aiohttp answers in text (a path the API does not have,
    404; a method a path does not take, 405, with its ``Allow`` header) in JSON, as the API's
    own are: a script reads every error the same way."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json" or not (
            request.path == "/api" or request.path.startswith("/api/")
        ):
            raise
        said = {web.HTTPNotFound.status_code: "no such path in the API",
                web.HTTPMethodNotAllowed.status_code:
                    f"{request.method[:20]} is not taken here (it takes "
                    f"{error.headers.get('Allow', 'no method')})"}  # fmt: skip
        message = said.get(error.status) or (error.text or error.reason).strip()
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return web.json_response({"error": message}, status=error.status, headers=headers)


def setup_api(app: web.Application) -> None:
    app.middlewares.append(json_errors)
    r = app.router
    r.add_get("/api/sources", get_sources)
    within = continue_within(MAX_BODY)
    r.add_post("/api/sources", post_source, expect_handler=within)
    r.add_get("/api/sources/{name}", get_source)
    r.add_patch("/api/sources/{name}", patch_source, expect_handler=within)
    r.add_delete("/api/sources/{name}", delete_source)
    r.add_post("/api/sources/{name}/harvest", post_harvest)
    r.add_get("/api/runs", get_runs)
    r.add_get("/api/runs/{run}", get_run)
    r.add_post("/api/runs/{run}/retry", post_retry)
