"""``koprik sru``: search an SRU server and show or save the records it returns.

    koprik sru http://127.0.0.1:2100/Default 'bath.isbn=9780140449136' --max 5
    koprik sru http://127.0.0.1:2100/Default 'dc.title=navoiy' --version 1.1 -o navoiy.mrc

The twin of ``koprik z3950`` for SRU, with the harvester's client
(:class:`harvester.sru_client.SruClient`: explain first, then searchRetrieve page by page, each
response read within ``[harvest] max_response_bytes`` and ``max_decompressed_bytes``). Records,
asked for as MARCXML or Dublin Core (``--schema``) and read as MARC21 the way a harvest reads
them, are printed as MarcEdit ``.mrk`` text or, with ``-o``, written to the file as ISO 2709
(UTF-8). ``--version`` pins the SRU version; without it the one the server's explain answers in
is used. ``--crosswalk unimarc`` (or ``rusmarc``) says that the MARCXML records are UNIMARC:
they are converted to MARC21 as a source's ``crosswalk`` has them converted
(:mod:`harvester.ingest`); it needs ``--schema marcxml``.

With ``--import`` the records are put into the catalogue instead, as a one-off SRU harvest
(:func:`harvester.sru_harvest.harvest_sru`) of a source named ``sru:HOST[:PORT]/PATH`` (or
``--source``): each record keyed by its recordIdentifier or 001, with its provenance and the
bytes as sent; the command ends with the counts added, updated, unchanged and rejected.

    koprik sru http://127.0.0.1:2100/Default 'dc.creator=navoiy' --max 500 --import
    koprik sru http://koha.example.ru/sru 'dc.title=навои' --crosswalk rusmarc --import
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import urlsplit

from pymarc import Record

from config import HarvestSource, Settings, load_settings
from crosswalks.marc_io import record_to_iso2709
from crosswalks.mrk import record_to_mrk
from harvester.faults import HarvestError, MalformedResponse
from harvester.http_fetch import Politeness, shown_url
from harvester.ingest import IngestError, size_problem, to_marc
from harvester.sources import SourceError, check_name, sru_crosswalk_problem
from harvester.sru_client import SruClient
from harvester.sru_harvest import SruHarvestResult, harvest_sru, record_schema
from harvester.sru_pages import SruRecord
from koprik.errors import UserError
from koprik.one_off import SOURCE_NAME_LENGTH, harvest_once, reported
from koprik.output_files import refuse_own_files, refuse_unwritable, written_whole
from protocols.http_urls import http_url_problem

PAGE = 50


def sru_source_name(url: str) -> str:
    """``sru:HOST[:PORT]/PATH``: the source records imported from an SRU server are kept under
    (a user and password in the URL are not part of it)."""
    parts = urlsplit(url)
    return f"sru:{parts.netloc.rpartition('@')[2]}{parts.path}"[:SOURCE_NAME_LENGTH]


def address_of(url: str, version: str | None) -> str:
    """The server's address with ``version`` pinned (see :mod:`harvester.sru_client`);
    raises :class:`UserError` for what is not an HTTP URL."""
    problem = http_url_problem(url)
    if problem is not None:
        raise UserError(f"{url!r} is not an SRU base URL (http://HOST[:PORT]/PATH): {problem}")
    parts = urlsplit(url)
    if version is None:
        return url
    return f"{url}{'&' if parts.query else '?'}version={version}"


def politeness_of(settings: Settings, timeout: float) -> Politeness:
    """One attempt per request within ``timeout``, bodies within the harvester's bounds."""
    bounds = settings.harvest
    return Politeness(
        delay=0, timeout=timeout, retries=0, max_bytes=bounds.max_response_bytes,
        max_decompressed_bytes=bounds.max_decompressed_bytes,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    url = address_of(args.url, args.version)
    if args.max < 0:
        raise UserError("--max cannot be negative")
    if args.source is not None and not args.import_:
        raise UserError("--source goes with --import")
    if args.output is not None:
        refuse_unwritable(args.output)
    problem = sru_crosswalk_problem(args.crosswalk or "", args.schema)
    if problem is not None:
        raise UserError(f"--crosswalk: {problem}")
    settings = load_settings(args.config)
    refuse_own_files([args.output], args.config, settings.database.url)
    politeness = politeness_of(settings, args.timeout)
    if args.import_:
        return import_records(args, url, settings, politeness)
    put = _Put(args.crosswalk is not None, settings.limits.max_record_bytes)
    try:
        with written_whole(args.output) if args.output else contextlib.nullcontext() as stream:
            put.stream = stream
            hits, surplus = asyncio.run(
                _fetch(url, args.query, args.schema, args.max, politeness, put)
            )
    except HarvestError as error:
        raise UserError(f"{shown_url(args.url)}: {error}") from None
    except ValueError as error:
        raise UserError(str(error)) from None
    if surplus:
        print(f"sru: the server sent {surplus} records more than asked for; they were dropped",
              file=sys.stderr)
    print(f"sru: {hits} hits, {put.retrieved} records retrieved", file=sys.stderr)
    return 1 if put.failures else 0


class _Put:
    """Where each page's records go as it comes (printed, or written to ``stream``), so that
    no more than one page is held whatever ``--max`` is; counts them and those rejected."""

    def __init__(self, unimarc: bool, max_record_bytes: int) -> None:
        self.unimarc = unimarc
        self.max_record_bytes = max_record_bytes
        self.stream: BinaryIO | None = None
        self.retrieved = 0
        self.failures = 0

    def __call__(self, records: list[SruRecord]) -> None:
        for found in records:
            self.retrieved += 1
            try:
                record = _marc_of(found, self.unimarc, self.max_record_bytes)
                if self.stream is not None:
                    self.stream.write(record_to_iso2709(record))  # TooLong: no ISO 2709 holds it
                else:
                    print(record_to_mrk(record))
            except ValueError as error:
                self.failures += 1
                print(f"record {found.position or self.retrieved}: {error}", file=sys.stderr)


async def _fetch(
    url: str,
    query: str,
    schema: str,
    maximum: int,
    politeness: Politeness,
    put: Callable[[list[SruRecord]], None],
) -> tuple[int, int]:
    """Explain, then up to ``maximum`` records of ``query`` page by page, each page ``put`` as
    it comes; the number of hits and of the records sent past those asked for (dropped). A
    page whose records are not those asked for (a server that ignores startRecord sends the
    first ones again on every page) is a MalformedResponse."""
    async with SruClient(url, politeness) as client:
        wanted = record_schema(schema, await client.explain())
        retrieved = 0
        start = 1
        while True:
            count = min(PAGE, maximum - retrieved)
            page = await client.search(query, wanted, start=start, maximum=count)
            records = page.records[:count]
            _check_positions(records, start)
            put(records)
            retrieved += len(records)
            following = page.next_position or start + len(page.records)
            if retrieved >= maximum or not page.records:
                return page.hits, client.surplus
            if following <= start:  # as the harvest says it (a loop)
                raise MalformedResponse(
                    f"nextRecordPosition {following} does not move on from {start}"
                )
            if following > page.hits:
                return page.hits, client.surplus
            start = following


def _check_positions(records: list[SruRecord], start: int) -> None:
    """MalformedResponse when the recordPositions of a page asked from ``start`` go below it
    or do not rise (a server ignoring startRecord sent records 1 and 2 on every page); those
    that say none are taken as they come. A position skipped is no fault: a server may leave
    out a record it cannot render, keeping the true positions of the others."""
    previous = start - 1
    for found in records:
        if found.position is None:
            continue
        if found.position <= previous:
            raise MalformedResponse(
                f"asked for the records from {start}, the server sent record {found.position} "
                f"after record {previous} (does it ignore startRecord?)" if previous >= start
                else f"asked for the records from {start}, the server sent record "
                f"{found.position} (does it ignore startRecord?)"
            )
        previous = found.position


def _marc_of(found: SruRecord, unimarc: bool, max_record_bytes: int) -> Record:
    """The record as MARC21 (DC crosswalked; UNIMARC converted with ``unimarc``); ValueError
    with the reason when unusable, or larger than ``max_record_bytes`` as import refuses it."""
    if found.error or found.data is None:
        raise ValueError(found.error or "no record data")
    if (too_large := size_problem(found.raw, max_record_bytes)) is not None:
        raise ValueError(too_large)
    try:
        return to_marc(found.data, unimarc)
    except IngestError as error:
        raise ValueError(str(error)) from None


def import_records(
    args: argparse.Namespace, url: str, settings: Settings, politeness: Politeness
) -> int:
    """``--import``: harvest up to ``--max`` records into the catalogue and print the counts.
    Exit status 1 when some records were rejected."""
    if args.output is not None:
        raise UserError("--import puts the records into the catalogue (no -o with it)")
    if args.source is not None:
        try:
            check_name(args.source)
        except SourceError as error:
            raise UserError(f"--source: {error}") from None
    name = args.source or sru_source_name(args.url)
    source = HarvestSource(
        name=name, url=url, protocol="sru", query=args.query, prefix=args.schema,
        timeout=args.timeout, crosswalk=args.crosswalk or "",
    )  # fmt: skip
    try:
        done = harvest_once(
            settings, args.url,
            lambda catalog, progress: harvest_sru(
                source, catalog, politeness, limit=args.max, progress=progress,
                max_record_bytes=settings.limits.max_record_bytes,
            ),
            most=args.max,
        )  # fmt: skip
    except HarvestError as error:
        raise UserError(f"{shown_url(args.url)}: {error}") from None
    return reported(done, import_summary(name, done.result), "sru")


def import_summary(name: str, result: SruHarvestResult) -> str:
    c = result.counts
    return (
        f"sru import into {name}: {result.hits} hits; {c.added} added, {c.updated} updated, "
        f"{c.unchanged} unchanged, {c.rejected} rejected"
    )
