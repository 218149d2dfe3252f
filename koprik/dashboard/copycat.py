"""Copy cataloguing: one search (ISBN, title, author) sent to every configured foreign target
at once, each within ``dashboard.copy_timeout`` seconds; the results merged and marked by
target, each previewed as ``.mrk``; one action imports a record into the catalogue.

Z39.50 targets are searched with :class:`harvester.z3950_origin.Z3950Client`. An import asks
the target again for the record at its position (nothing of the preview is kept between
requests) and stores it like ``koprik z3950 --import`` does: in the source
``z3950:HOST:PORT/DATABASE``, keyed by the record's 001, with its provenance and bytes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from catalog import Catalog
from catalog.models import provenance, records
from config.settings import CopyTarget
from crosswalks.mrk import record_to_mrk
from harvester.harvested import identifier_of
from harvester.ingest import IngestTarget
from harvester.z3950_harvest import store_batch
from harvester.z3950_origin import RetrievedRecord, Z3950Client, Z3950Error
from harvester.z3950_records import Z3950Address, charset_label, decode_usmarc, parse_address
from koprik.commands.z3950 import import_source_name
from koprik.dashboard.access import checked_form, operator_only
from koprik.dashboard.render import render
from protocols.z3950.pqf import Boolean, PqfError, Query, Term, parse_pqf, to_pqf
from provider.keys import CATALOG, SETTINGS

MAX_RECORDS = 10
"""Records previewed per target."""
USE = {"isbn": 7, "title": 4, "author": 1003}
MAX_TERM = 200


@dataclass
class Found:
    target: str
    position: int
    title: str
    author: str
    mrk: str


@dataclass
class TargetResult:
    target: str
    hits: int = 0
    error: str | None = None
    records: list[Found] = field(default_factory=list)


def build_query(terms: dict[str, str]) -> Query | None:
    """``@and`` of the non-empty fields, each with its Bib-1 Use attribute (word list)."""
    query: Query | None = None
    for name, use in USE.items():
        text = terms.get(name, "").strip()[:MAX_TERM]
        if not text:
            continue
        term = Term({1: use, 4: 1 if name == "isbn" else 6}, text)
        query = term if query is None else Boolean("and", query, term)
    return query


async def _connect(target: CopyTarget, timeout: float) -> tuple[Z3950Address, Z3950Client]:
    address = parse_address(target.url)
    client = await Z3950Client.connect(address.host, address.port, address.database,
                                       target.charset or "UTF-8", timeout)
    return address, client


def _expected(target: CopyTarget, client: Z3950Client) -> str | None:
    agreed = client.charset
    if agreed is not None and agreed.charset and agreed.records is not False:
        return charset_label(agreed.charset)
    return charset_label(target.charset) if target.charset else None


async def search_target(target: CopyTarget, query: Query, timeout: float) -> TargetResult:
    result = TargetResult(target.name)
    try:
        async with asyncio.timeout(timeout):
            _address, client = await _connect(target, timeout)
            try:
                result.hits = await client.search(query)
                if result.hits:
                    present = await client.present(1, min(result.hits, MAX_RECORDS), "usmarc", "F")
                    expected = _expected(target, client)
                    result.records = [_found(target.name, r, expected) for r in present]
            finally:
                await client.close()
    except TimeoutError:
        result.error = f"no answer within {timeout:g} s"
    except (OSError, Z3950Error, ValueError) as error:
        result.error = str(error) or type(error).__name__
    return result


def _found(target: str, retrieved: RetrievedRecord, expected: str | None) -> Found:
    if retrieved.diagnostic is not None:
        return Found(target, retrieved.position, f"({retrieved.diagnostic})", "", "")
    try:
        record = decode_usmarc(retrieved.data, expected)
    except ValueError as error:
        return Found(target, retrieved.position, f"(unreadable: {error})", "", "")
    return Found(target, retrieved.position, record.title or "(no title)", record.author or "",
                 record_to_mrk(record))


@operator_only
async def copy_page(request: web.Request) -> web.Response:
    dashboard = request.app[SETTINGS].dashboard
    terms = {name: request.query.get(name, "") for name in USE}
    query = build_query(terms)
    results: list[TargetResult] = []
    if query is not None:
        results = list(await asyncio.gather(
            *(search_target(t, query, dashboard.copy_timeout) for t in dashboard.targets)
        ))
    return await render(request, "copy.html", terms=terms, targets=dashboard.targets,
                        results=results, pqf=to_pqf(query) if query else "")


def _target_named(request: web.Request, name: str) -> CopyTarget:
    for target in request.app[SETTINGS].dashboard.targets:
        if target.name == name:
            return target
    raise web.HTTPBadRequest(text=f"no copy target named {name!r}")


async def fetch_one(target: CopyTarget, query: Query, position: int, timeout: float):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        address, client = await _connect(target, timeout)
        try:
            hits = await client.search(query)
            if not 1 <= position <= hits:
                raise ValueError(f"the target has {hits} records for this search now")
            present = await client.present(position, 1, "usmarc", "F")
            return address, present, _expected(target, client)
        finally:
            await client.close()


def store_copy(
    catalog: Catalog, address: Z3950Address, present: list[RetrievedRecord],
    expected: str | None, max_record_bytes: int,
) -> str | None:
    """Store the record through the one ingest path; return its local identifier (a record
    that is refused raises ValueError with the reason)."""
    source = import_source_name(address)
    target = IngestTarget(source, address.url, None, max_record_bytes)
    counts, reasons = store_batch(catalog, target, present, expected)
    if counts.rejected:
        raise ValueError("; ".join(reasons))
    identifier = identifier_of(decode_usmarc(present[0].data, expected), present[0].data)
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(records.c.local_id)
            .join(provenance, provenance.c.record_id == records.c.id)
            .where(provenance.c.source == source, provenance.c.identifier == identifier)
        ).scalar()


@operator_only
async def copy_import(request: web.Request) -> web.Response:
    form = await checked_form(request)
    target = _target_named(request, str(form.get("target", "")))
    try:
        query = parse_pqf(str(form.get("pqf", "")))
        position = int(str(form.get("position", "")))
    except (PqfError, ValueError):
        raise web.HTTPBadRequest(text="the import form is incomplete; search again") from None
    timeout = request.app[SETTINGS].dashboard.copy_timeout
    try:
        address, present, expected = await fetch_one(target, query, position, timeout)
        local_id = await asyncio.to_thread(
            store_copy, request.app[CATALOG], address, present, expected,
            request.app[SETTINGS].limits.max_record_bytes,
        )
    except TimeoutError:
        return await render(request, "copy.html", status=502, terms={}, results=[],
                            targets=request.app[SETTINGS].dashboard.targets, pqf="",
                            error=f"{target.name}: no answer within {timeout:g} s")
    except (OSError, Z3950Error, ValueError) as error:
        return await render(request, "copy.html", status=502, terms={}, results=[],
                            targets=request.app[SETTINGS].dashboard.targets, pqf="",
                            error=f"{target.name}: {error}")
    raise web.HTTPSeeOther(f"/record?{urlencode({'id': local_id})}")
