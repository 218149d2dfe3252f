"""Records: search (through the search service that Z39.50 and SRU stand on, so the same
index and script folding: ``navoiy`` finds ``Навоий``), and one record as MARC (``.mrk``),
MARCXML, Dublin Core and MODS side by side with its provenance; each view also on its own."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import Connection, select

from catalog import Catalog
from catalog.dedup_operators import explain
from catalog.models import provenance, records, renditions
from catalog.query import Match
from catalog.search_index import INDEXES
from catalog.store import Change
from catalog.union import LINKED_TAGS
from crosswalks.iso2709 import decode_record
from crosswalks.mrk import record_to_mrk
from crosswalks.uzbek import fold
from koprik.dashboard.access import readable
from koprik.dashboard.render import render
from provider.keys import CATALOG, SERVICE
from provider.search import SEARCH_CLIENT, SearchError, SearchService

PAGE_SIZE = 20
MAX_QUERY = 500
RAW_HEADERS = {"Content-Security-Policy": "default-src 'none'"}
"""Sent with a record's bytes as they are: a browser shows them and runs nothing in them (and,
as with every response, takes them for nothing else:
:func:`koprik.dashboard.access.private_responses`)."""
VIEWS = {
    # view name -> (rendition prefix or None for .mrk, content type, file extension)
    "mrk": (None, "text/plain; charset=utf-8", "mrk"),
    "marcxml": ("marc21", "application/xml", "xml"),
    "dc": ("oai_dc", "application/xml", "dc.xml"),
    "mods": ("mods", "application/xml", "mods.xml"),
}


@dataclass(frozen=True)
class Hit:
    local_id: str
    title: str
    author: str
    year: str


def parse_query(text: str, index: str) -> Match:
    """The query of the search form: the words of ``text`` in ``index`` (a trailing ``*``
    truncates the last word)."""
    text = text.strip()[:MAX_QUERY]
    truncation = text.endswith("*")
    return Match(index, text.rstrip("*").strip(), truncation=truncation)


def _hit(local_id: str, marc: bytes | None) -> Hit:
    if marc is None:
        return Hit(local_id, "(deleted)", "", "")
    record, _charset = decode_record(marc)
    year = ""
    for tag in ("264", "260"):
        field = record.get(tag)
        if field is not None and field.get("c"):
            year = field.get("c", "")
            break
    return Hit(local_id, record.title or "(no title)", record.author or "", year.strip(" ."))


def run_search(
    service: SearchService, connection: Connection, query: Match, page: int
) -> tuple[int, list[Hit]]:
    """The count of ``query``'s records and the hits of page ``page`` (one job of the
    service's threads)."""
    results = service.search(connection, query)
    start = (page - 1) * PAGE_SIZE + 1
    if start > min(results.count, results.limit):
        return results.count, []
    presented = service.present(connection, results, start, PAGE_SIZE)
    return results.count, [_hit(s.local_id, s.marc) for _id, s in presented if s is not None]


@readable("public_records")
async def search_page(request: web.Request) -> web.Response:
    text = request.query.get("q", "")
    index = request.query.get("index", "any")
    if index not in INDEXES:
        index = "any"
    limit = request.app[SERVICE].limits.max_result_set
    last = max(1, -(-limit // PAGE_SIZE))
    page = _page(request.query.get("page", "1"), last)
    count, hits, error, searched = 0, [], None, False
    query = parse_query(text, index)
    if page is None:
        error = f"there is no such page: pages are numbered from 1 to {last:,}"
    elif text.strip() and not fold(query.term):
        error = "nothing to search for: the query has no letter or digit"
    elif text.strip():
        service = request.app[SERVICE]
        SEARCH_CLIENT.set(request.remote or "")  # (behind a trusted proxy, the client it names)
        try:
            count, hits = await service.threads.run(
                lambda connection: run_search(service, connection, query, page)
            )
            searched = True
        except SearchError as problem:
            error = f"{problem.message}: {problem.detail}" if problem.detail else problem.message
    pages = -(-min(count, limit) // PAGE_SIZE)
    return await render(request, "records.html", status=400 if page is None else 200, q=text,
                        index=index, indexes=INDEXES, hits=hits, count=count, page=page or 1,
                        pages=pages, error=error, searched=searched)


def _page(text: str, last: int) -> int | None:
    """The page number ``text`` asks for, None when it is not one from 1 to ``last`` (the
    pages of the largest result set a search gives)."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(last))):
        return None
    page = int(text)
    return page if 1 <= page <= last else None


@dataclass(frozen=True)
class UnionView:
    """Where a record stands in the union catalogue (:func:`catalog.dedup_operators.explain`)."""

    members: list[str]
    """For a union record: the records it groups."""
    holdings: list[str]
    """For a union record: its 852 fields, one per holding (branch, location, copy), each with
    the holdings fields (853-855, 863-865, 866-868) its $8 links to it."""
    union: str | None
    """For a member: its union record."""
    decisions: list[tuple[str | None, str, float, str]]
    """The matcher's and operators' decisions about the record, with their reasons."""


@dataclass(frozen=True)
class RecordViews:
    local_id: str
    datestamp: int
    deleted: bool
    set_specs: tuple[str, ...]
    views: dict[str, str]
    provenance: dict[str, str] | None
    has_payload: bool
    union: UnionView
    history: list[Change]
    """The record's changes, oldest first (:meth:`catalog.store.Catalog.record_history`)."""


def _row(connection: Connection, local_id: str):  # type: ignore[no-untyped-def]
    r = records.c
    return connection.execute(
        select(r.id, r.marc, r.deleted).where(r.local_id == local_id)
    ).first()


def view_text(catalog: Catalog, local_id: str, view: str) -> str | None:
    """One view of a record that is not deleted (a member of a union record too, which
    protocols no longer serve by itself), or None when there is no such record or view."""
    prefix = VIEWS[view][0]
    with catalog.engine.connect() as connection:
        row = _row(connection, local_id)
        if row is None or row.deleted or row.marc is None:
            return None
        if prefix is None:
            return record_to_mrk(decode_record(row.marc)[0])
        data = connection.execute(
            select(renditions.c.data).where(
                renditions.c.record_id == row.id, renditions.c.format == prefix)
        ).scalar()
    return None if data is None else data.decode("utf-8", "replace")


def _union_view(catalog: Catalog, local_id: str, marc: bytes | None) -> UnionView:
    why = explain(catalog, local_id)
    holdings = []
    if why.members and marc is not None:
        record = decode_record(marc)[0]
        linked = record.get_fields(*LINKED_TAGS)
        for field in record.get_fields("852"):
            link = field.get("8")
            holdings.append(" — ".join([
                " ".join(f"${s.code} {s.value}" for s in field.subfields if s.code != "8"),
                *(f"{t.tag} " + " ".join(f"${s.code} {s.value}" for s in t.subfields
                                         if s.code != "8")
                  for t in linked
                  if link is not None and (t.get("8") or "").split(".")[0] == link)]))
    return UnionView(why.members, holdings, why.union, why.decisions)


def record_views(catalog: Catalog, local_id: str) -> RecordViews | None:
    entry = catalog.get_entry(local_id)
    if entry is None:
        return None
    with catalog.engine.connect() as connection:
        row = _row(connection, local_id)
        has_payload = connection.execute(
            select(provenance.c.payload.is_not(None)).where(provenance.c.record_id == row.id)
        ).scalar() or False
    views = {}
    if not row.deleted:
        for view in VIEWS:
            text = view_text(catalog, local_id, view)
            if text is not None:
                views[view] = text
    origin = None
    if entry.provenance is not None:
        p = entry.provenance
        origin = {"source": p.source, "address": p.base_url, "identifier": p.identifier,
                  "datestamp at the source": p.datestamp, "format": p.metadata_namespace}
    return RecordViews(entry.local_id, entry.datestamp, bool(row.deleted), entry.set_specs,
                       views, origin, bool(has_payload),
                       _union_view(catalog, local_id, None if row.deleted else row.marc),
                       catalog.record_history(row.id))


def requested_id(request: web.Request) -> str:
    """The ``id`` of the URL's query: a record's local identifier, 404 when it holds a NUL,
    which no identifier does (and PostgreSQL refuses in any text it is sent)."""
    local_id = request.query.get("id", "")
    if "\x00" in local_id:
        raise web.HTTPNotFound(text="no such record")
    return local_id


@readable("public_records")
async def record_page(request: web.Request) -> web.Response:
    local_id = requested_id(request)
    found = await asyncio.to_thread(record_views, request.app[CATALOG], local_id)
    if found is None:
        raise web.HTTPNotFound(text=f"no record {local_id!r}")
    return await render(request, "record.html", record=found)


@readable("public_records")
async def record_view(request: web.Request) -> web.Response:
    local_id, view = requested_id(request), request.match_info["view"]
    if view not in VIEWS:
        raise web.HTTPNotFound()
    text = await asyncio.to_thread(view_text, request.app[CATALOG], local_id, view)
    if text is None:
        raise web.HTTPNotFound(text=f"no {view} view of {local_id!r}")
    _prefix, content_type, _extension = VIEWS[view]
    return web.Response(body=text.encode(), headers={
        "Content-Type": content_type, **RAW_HEADERS})


def original_payload(catalog: Catalog, local_id: str) -> bytes | None:
    entry = catalog.get_entry(local_id)
    if entry is None:
        return None
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(provenance.c.payload).where(provenance.c.record_id == entry.id)
        ).scalar()


@readable("public_records")
async def record_original(request: web.Request) -> web.Response:
    local_id = requested_id(request)
    payload = await asyncio.to_thread(original_payload, request.app[CATALOG], local_id)
    if payload is None:
        raise web.HTTPNotFound()
    return web.Response(body=payload, content_type="application/octet-stream", headers={
        "Content-Disposition": 'attachment; filename="original.bin"', **RAW_HEADERS})
