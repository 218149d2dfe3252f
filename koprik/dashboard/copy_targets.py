"""Searching one foreign target for copy cataloguing, by protocol: Z39.50 (our origin,
:mod:`harvester.z3950_origin`) or SRU (:mod:`harvester.sru_client`).

Each protocol turns the form's terms into its query text (PQF or CQL), searches, previews up to
:data:`MAX_RECORDS` records as ``.mrk``, and fetches one record again by its position for an
import; the import goes through the one ingest path into the source named after the target's
address (``z3950:HOST:PORT/DB`` as ``koprik z3950 --import`` names it, ``sru:HOST[:PORT]/PATH``).
A target whose ``crosswalk`` says its MARC records are UNIMARC is asked for record syntax
UNIMARC (Z39.50); its records are previewed converted to MARC21 by the function ingest converts
them with (:func:`harvester.ingest.unimarc_converted`), with what the conversion left out, and
imported converted by ingest.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree
from pymarc import Record
from sqlalchemy import select

from catalog import Catalog
from catalog.models import provenance, records
from config.settings import CopyTarget
from crosswalks.mrk import record_to_mrk
from harvester.faults import HarvestError
from harvester.harvested import Harvested, identifier_of
from harvester.http_fetch import Politeness
from harvester.ingest import (
    Counts,
    IngestError,
    IngestTarget,
    ingest,
    noted_marc,
    to_marc,
    unimarc_converted,
)
from harvester.sru_client import SruClient
from harvester.z3950_origin import RetrievedRecord, Z3950Client, Z3950Error
from harvester.z3950_records import (
    Z3950Address,
    charset_label,
    decode_usmarc,
    expected_charset,
    marc_syntax,
    parse_address,
)
from koprik.commands.sru import sru_source_name
from koprik.commands.z3950 import import_source_name
from protocols.z3950.pqf import Boolean, Query, Term, parse_pqf, to_pqf

MAX_RECORDS = 10
"""Records previewed per target."""
FIELDS = ("isbn", "title", "author")
MAX_TERM = 200
BIB1_USE = {"isbn": 7, "title": 4, "author": 1003}
CQL_INDEX = {"isbn": "bath.isbn", "title": "dc.title", "author": "dc.creator"}


class CopyError(Exception):
    """A target that could not be searched or read (the message says why, in one line)."""


@dataclass
class Found:
    target: str
    position: int
    title: str
    author: str
    mrk: str
    left_out: tuple[str, ...] = ()
    """What the target's record had with no place in MARC21 (a UNIMARC target's), one line a
    field or subfield, as ``koprik import --format unimarc`` reports it."""


@dataclass
class TargetResult:
    target: str
    query: str = ""
    """The query as the target's protocol writes it (sent back with an import)."""
    hits: int = 0
    error: str | None = None
    records: list[Found] = field(default_factory=list)


@dataclass
class Fetched:
    """One record fetched again for an import, as ingest takes it, and where it goes."""

    source: str
    base_url: str
    item: Harvested
    identifier: str
    unimarc: bool = False
    """The item's MARC record is UNIMARC, converted to MARC21 as it is ingested."""


def terms_of(form: dict[str, str]) -> dict[str, str]:
    return {name: form.get(name, "").strip()[:MAX_TERM] for name in FIELDS}


def pqf_query(terms: dict[str, str]) -> Query | None:
    """``@and`` of the given fields, each with its Bib-1 Use attribute (word list)."""
    query: Query | None = None
    for name in FIELDS:
        if terms.get(name):
            term = Term({1: BIB1_USE[name], 4: 1 if name == "isbn" else 6}, terms[name])
            query = term if query is None else Boolean("and", query, term)
    return query


def cql_query(terms: dict[str, str]) -> str | None:
    """``and`` of the given fields in CQL (``bath.isbn``, ``dc.title``, ``dc.creator``)."""
    parts = []
    for name in FIELDS:
        if terms.get(name):
            quoted = terms[name].replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'{CQL_INDEX[name]}="{quoted}"')
    return " and ".join(parts) or None


def _preview(
    target: str, position: int, record: Record, left_out: tuple[str, ...] = ()
) -> Found:
    return Found(target, position, record.title or "(no title)", record.author or "",
                 record_to_mrk(record), left_out)


def _problem(target: str, position: int, text: str) -> Found:
    return Found(target, position, f"({text})", "", "")


# -- Z39.50 -----------------------------------------------------------------------------------


async def _z3950_client(target: CopyTarget, timeout: float) -> tuple[Z3950Address, Z3950Client]:
    address = parse_address(target.url)
    client = await Z3950Client.connect(address.host, address.port, address.database,
                                       target.charset or "UTF-8", timeout)
    return address, client


def _expected(target: CopyTarget, client: Z3950Client) -> str | None:
    return expected_charset(client, charset_label(target.charset) if target.charset else None)


def _z3950_found(target: CopyTarget, retrieved: RetrievedRecord, expected: str | None) -> Found:
    if retrieved.problem is not None:
        return _problem(target.name, retrieved.position, retrieved.problem)
    try:
        record = decode_usmarc(retrieved.data, expected, bool(target.crosswalk))
    except ValueError as error:
        return _problem(target.name, retrieved.position, f"unreadable: {error}")
    if not target.crosswalk:
        return _preview(target.name, retrieved.position, record)
    try:
        converted, left_out = unimarc_converted(record)
    except IngestError as error:
        return _problem(target.name, retrieved.position, str(error))
    return _preview(target.name, retrieved.position, converted, left_out)


async def _search_z3950(target: CopyTarget, query: str, timeout: float, result: TargetResult
                        ) -> None:
    _address, client = await _z3950_client(target, timeout)
    try:
        result.hits = await client.search(parse_pqf(query))
        if result.hits:
            present = await client.present(1, min(result.hits, MAX_RECORDS),
                                           marc_syntax(bool(target.crosswalk)),
                                           "F")  # fmt: skip
            expected = _expected(target, client)
            result.records = [_z3950_found(target, r, expected) for r in present]
    finally:
        await client.close()


async def _fetch_z3950(target: CopyTarget, query: str, position: int, timeout: float) -> Fetched:
    address, client = await _z3950_client(target, timeout)
    try:
        hits = await client.search(parse_pqf(query))
        if not 1 <= position <= hits:
            raise CopyError(f"the target has {hits} records for this search now")
        (retrieved,) = await client.present(position, 1, marc_syntax(bool(target.crosswalk)), "F")
        expected = _expected(target, client)
    finally:
        await client.close()
    if retrieved.problem is not None or retrieved.syntax != marc_syntax(bool(target.crosswalk)):
        raise CopyError(f"the target sent no MARC record: {retrieved.problem or retrieved.syntax}")
    record = decode_usmarc(retrieved.data, expected, bool(target.crosswalk))
    identifier = identifier_of(record, retrieved.data)
    item = Harvested(identifier, retrieved.data, _now(), record=record, format=retrieved.syntax,
                     payload=retrieved.data)
    return Fetched(import_source_name(address), address.url, item, identifier,
                   bool(target.crosswalk))  # fmt: skip


# -- SRU --------------------------------------------------------------------------------------


def _politeness(timeout: float) -> Politeness:
    return Politeness(delay=0, timeout=timeout, retries=0)


async def _search_sru(target: CopyTarget, query: str, timeout: float, result: TargetResult
                      ) -> None:
    async with SruClient(target.url, _politeness(timeout)) as client:
        page = await client.search(query, "marcxml", start=1, maximum=MAX_RECORDS)
    result.hits = page.hits
    for index, found in enumerate(page.records, start=1):
        position = found.position or index
        if found.error or found.data is None:
            result.records.append(_problem(target.name, position, found.error or "no data"))
            continue
        try:
            record, left_out = noted_marc(found.data, bool(target.crosswalk))
            result.records.append(_preview(target.name, position, record, left_out))
        except IngestError as error:
            result.records.append(_problem(target.name, position, str(error)))


async def _fetch_sru(target: CopyTarget, query: str, position: int, timeout: float) -> Fetched:
    async with SruClient(target.url, _politeness(timeout)) as client:
        page = await client.search(query, "marcxml", start=position, maximum=1)
    if not page.records or page.records[0].data is None:
        raise CopyError(f"the target has no record at {position} for this search now")
    item = page.records[0].harvested()
    record = to_marc(page.records[0].data, bool(target.crosswalk))
    identifier = item.identifier or identifier_of(record, etree.tostring(page.records[0].data))
    return Fetched(sru_source_name(target.url), target.url, item, identifier,
                   bool(target.crosswalk))  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- for the page -----------------------------------------------------------------------------


def query_for(target: CopyTarget, terms: dict[str, str]) -> str | None:
    if target.protocol == "sru":
        return cql_query(terms)
    pqf = pqf_query(terms)
    return None if pqf is None else to_pqf(pqf)


async def search_target(target: CopyTarget, terms: dict[str, str], timeout: float
                        ) -> TargetResult:
    """Search one target within ``timeout`` seconds; a failure is the result's ``error``."""
    result = TargetResult(target.name, query_for(target, terms) or "")
    search = _search_sru if target.protocol == "sru" else _search_z3950
    try:
        async with asyncio.timeout(timeout):
            await search(target, result.query, timeout, result)
    except TimeoutError:
        result.error = f"no answer within {timeout:g} s"
    except (OSError, Z3950Error, HarvestError, CopyError, ValueError) as error:
        result.error = str(error) or type(error).__name__
    return result


async def fetch_one(target: CopyTarget, query: str, position: int, timeout: float) -> Fetched:
    """The record at ``position`` of ``query`` on ``target``, again. Raises TimeoutError,
    CopyError or the protocol's error."""
    fetch = _fetch_sru if target.protocol == "sru" else _fetch_z3950
    async with asyncio.timeout(timeout):
        return await fetch(target, query, position, timeout)


def store(catalog: Catalog, fetched: Fetched, max_record_bytes: int) -> str:
    """Ingest the fetched record; return its local identifier (CopyError when refused)."""
    reasons: list[str] = []
    target = IngestTarget(fetched.source, fetched.base_url, None, max_record_bytes,
                          fetched.unimarc)  # fmt: skip
    counts: Counts = catalog.write(lambda writer: ingest(writer, target, [fetched.item], reasons))
    if counts.rejected:
        raise CopyError("; ".join(reasons))
    with catalog.engine.connect() as connection:
        local_id = connection.execute(
            select(records.c.local_id)
            .join(provenance, provenance.c.record_id == records.c.id)
            .where(provenance.c.source == fetched.source,
                   provenance.c.identifier == fetched.identifier)
        ).scalar()
    if local_id is None:
        raise CopyError("the record was stored but cannot be found again")
    return local_id
