"""``koprik z3950``: search a Z39.50 target and show or save the records it returns.

    koprik z3950 z3950.loc.gov:7090/Voyager '@attr 1=4 "war and peace"' --max 5
    koprik z3950 127.0.0.1:2100/Default '@attr 1=1003 navoiy' -o navoiy.mrc
    koprik z3950 irbis.example.ru:210/IBIS '@attr 1=4 навои' --format unimarc

USMARC records are printed as MarcEdit ``.mrk`` text (character set detected, MARC-8 converted)
or, with ``-o``, written to the file as the ISO 2709 bytes the target sent; UNIMARC (and
RUSMARC) records too, as they are (character set detected without MARC-8, which UNIMARC never
uses). XML and SUTRS records are printed (or written) as they came; OPAC records as their
bibliographic record followed by one ``#`` line per holding.

With ``--import`` the USMARC records are put into the catalogue instead, as a one-off
Z39.50 harvest (:func:`harvester.z3950_harvest.harvest_z3950`) of a source named
``z3950:HOST:PORT/DATABASE``: each record keyed by its 001, with its provenance and the bytes as
sent; the command ends with the counts added, updated, unchanged and rejected (rejects, with
their reasons, are also kept in the catalogue's harvest rejects). ``--format unimarc
--import`` asks for UNIMARC records and converts them to MARC21 as they are put in, as a
source's ``crosswalk = "unimarc"`` has them converted (:mod:`harvester.ingest`).

    koprik z3950 127.0.0.1:2100/Default '@attr 1=1003 navoiy' --max 500 --import
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

from config import HarvestSource, load_settings
from crosswalks.iso2709 import decode_record
from crosswalks.mrk import record_to_mrk
from harvester.ingest import size_problem
from harvester.z3950_harvest import Z3950HarvestError, Z3950HarvestResult, harvest_z3950
from harvester.z3950_origin import (
    RetrievedRecord,
    Z3950Client,
    Z3950Error,
    Z3950TooLarge,
    present_in_halves,
)
from harvester.z3950_records import Z3950Address, parse_address
from koprik.errors import UserError
from koprik.one_off import SOURCE_NAME_LENGTH, harvest_once, reported
from koprik.option_checks import checked_charset
from koprik.output_files import refuse_own_files, refuse_unwritable, written_whole
from protocols.z3950.pqf import PqfError, parse_pqf

MARC_FORMATS = ("usmarc", "unimarc", "opac")
"""The formats whose records are ISO 2709 (OPAC: its bibliographic record)."""
IMPORTED = ("usmarc", "unimarc")
PAGE = 50
DEFAULT_CHARSET = "UTF-8"


def parse_target(text: str) -> tuple[str, int, str]:
    """Split ``HOST[:PORT][/DATABASE]``; raises :class:`UserError` for a bad address."""
    try:
        return parse_address(text)
    except ValueError as error:
        raise UserError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    host, port, database = parse_target(args.target)
    try:
        parse_pqf(args.query)
    except PqfError as error:
        raise UserError(f"bad PQF query: {error}") from error
    if args.max < 0:
        raise UserError("--max cannot be negative")
    checked_charset(args.charset)  # proposed to the target as given; with --import, read in
    if args.import_:
        return import_records(args, Z3950Address(host, port, database))
    settings = load_settings(args.config)
    if args.output is not None:
        refuse_unwritable(args.output)
        refuse_own_files([args.output], args.config, settings.database.url)
    put = _Put(args.format, settings.limits.max_record_bytes)
    with written_whole(args.output) if args.output else contextlib.nullcontext() as stream:
        put.stream = stream
        hits, surplus = asyncio.run(_fetch(args, host, port, database, put))
    if surplus:
        print(f"z3950: the target sent {surplus} records more than asked for; they were "
              "dropped", file=sys.stderr)  # fmt: skip
    print(f"z3950: {hits} hits, {put.retrieved} records retrieved", file=sys.stderr)
    return 1 if put.failures else 0


class _Put:
    """Where each Present's records go as they come (printed, or written to ``stream``), so
    that no more than one Present's are held whatever ``--max`` is. A record is checked as it
    is printed (:func:`record_text`) before it is written, and one past ``max_record_bytes``
    is rejected as import rejects it; each rejected is one line and counted."""

    def __init__(self, syntax: str, max_record_bytes: int) -> None:
        self.syntax = syntax
        self.max_record_bytes = max_record_bytes
        self.stream: BinaryIO | None = None
        self.retrieved = 0
        self.failures = 0

    def __call__(self, records: list[RetrievedRecord]) -> None:
        for record in records:
            self.retrieved += 1
            try:
                if (too_large := size_problem(record.data, self.max_record_bytes)) is not None:
                    raise ValueError(too_large)
                text = record_text(record, self.syntax)
            except ValueError as error:
                self.failures += 1
                print(f"record {record.position}: {error}", file=sys.stderr)
                continue
            if self.stream is None:
                print(text)
            else:
                marc = self.syntax in MARC_FORMATS
                self.stream.write(record.data if marc else record.data + b"\n")


async def _fetch(
    args: argparse.Namespace,
    host: str,
    port: int,
    database: str,
    put: Callable[[list[RetrievedRecord]], None],
) -> tuple[int, int]:
    """Search, then present up to ``--max`` records, each Present's ``put`` as it comes; the
    hits and how many records the target sent past those asked for. A fault is a UserError
    saying what went unanswered: the connection, or a request of the association."""
    charset = args.charset or DEFAULT_CHARSET
    try:
        client = await Z3950Client.connect(host, port, database, charset, args.timeout)
    except ConnectionRefusedError:
        raise UserError(f"{host}:{port} refused the connection (nothing listens there)") from None
    except Z3950Error as error:
        raise UserError(f"{host}:{port}/{database}: {error}") from error
    except (OSError, TimeoutError) as error:
        reason = str(error) or f"no answer within {args.timeout:g} s"
        raise UserError(f"cannot talk to {host}:{port}: {reason}") from error
    doing = "search"
    presenting = _Presenting(args, client)
    try:
        hits = presenting.hits = await client.search(args.query)
        wanted = min(hits, args.max)
        retrieved = 0
        doing = "present"
        while retrieved < wanted:
            count = min(PAGE, wanted - retrieved)
            page = await present_in_halves(presenting.present, retrieved + 1, count)
            put(page)
            retrieved += len(page)
        return hits, presenting.surplus
    except Z3950Error as error:
        raise UserError(f"{host}:{port}/{database}: {error}") from error
    except (OSError, TimeoutError) as error:
        reason = str(error) or f"no answer to the {doing} within {args.timeout:g} s"
        raise UserError(f"{host}:{port}/{database}: {reason}") from error
    finally:
        await presenting.close()


class _Presenting:
    """The command's Presents, on ``client`` and, once an answer too large to read has closed
    its association, on a new one searched again (:meth:`Z3950Client.searched_again`), as
    :func:`~harvester.z3950_origin.present_in_halves` asks again."""

    def __init__(self, args: argparse.Namespace, client: Z3950Client) -> None:
        self.args = args
        self.client = client
        self.lost = False
        """Whether the association of ``client`` is gone (a new one is opened to present)."""
        self.hits = 0
        """Those of the first search, which a new association's must be."""
        self.replaced_surplus = 0
        """Records sent past those asked for on the associations replaced."""

    @property
    def surplus(self) -> int:
        """Records the target sent past those asked for (dropped), all associations."""
        return self.replaced_surplus + self.client.surplus

    async def present(self, start: int, count: int) -> list[RetrievedRecord]:
        args = self.args
        if self.lost:
            again = await self.client.searched_again(args.query, self.hits)
            self.replaced_surplus += self.client.surplus
            self.client, self.lost = again, False
        try:
            return await self.client.present(start, count, args.format, args.elements or None)
        except Z3950TooLarge:
            self.lost = True
            raise

    async def close(self) -> None:
        await self.client.close()


def import_records(args: argparse.Namespace, address: Z3950Address) -> int:
    """``--import``: harvest up to ``--max`` records into the catalogue and print the counts.
    Exit status 1 when some records were rejected."""
    if args.format not in IMPORTED or args.output is not None:
        raise UserError("--import takes USMARC or UNIMARC records only (no other --format, "
                        "no -o with it)")  # fmt: skip
    source = HarvestSource(
        name=import_source_name(address),
        url=address.url,
        protocol="z3950",
        query=args.query,
        timeout=args.timeout,
        charset=args.charset or "",
        crosswalk="unimarc" if args.format == "unimarc" else "",
    )
    try:
        done = harvest_once(
            load_settings(args.config), str(address),
            lambda catalog, progress: harvest_z3950(
                source, catalog, limit=args.max, progress=progress
            ),
        )  # fmt: skip
    except Z3950HarvestError as error:
        raise UserError(str(error)) from None
    return reported(done, import_summary(address, done.result), "z3950")


def import_source_name(address: Z3950Address) -> str:
    """``z3950:HOST:PORT/DATABASE``, or a digest of it past the catalogue's 100 characters."""
    name = f"z3950:{address}"
    if len(name) <= SOURCE_NAME_LENGTH:
        return name
    return "z3950:" + hashlib.sha1(str(address).encode()).hexdigest()


def import_summary(address: Z3950Address, result: Z3950HarvestResult) -> str:
    c = result.counts
    return (
        f"z3950 import from {address}: {result.hits} hits; {c.added} added, {c.updated} updated, "
        f"{c.unchanged} unchanged, {c.rejected} rejected"
    )


def record_text(record: RetrievedRecord, syntax: str) -> str:
    """The text to print for one record: ``.mrk`` for MARC (OPAC holdings as ``#`` lines),
    the document or text itself otherwise. Raises :class:`ValueError` with the reason when the
    target sent a diagnostic instead or the MARC record cannot be read."""
    if record.problem is not None:
        raise ValueError(record.problem)
    if syntax not in MARC_FORMATS:
        return record.text if record.text is not None else record.data.decode("utf-8", "replace")
    try:
        marc, _charset = decode_record(record.data, allow_marc8=syntax != "unimarc")
    except ValueError as error:
        raise ValueError(f"cannot read MARC: {error}") from error
    holdings = "".join(f"# holding: {_holding(holding)}\n" for holding in record.holdings)
    return record_to_mrk(marc) + holdings


def _holding(holding: dict[str, Any]) -> str:
    """One line for an OPAC HoldingsAndCircData: its text elements, then availability."""
    parts = [f"{key}={value}" for key, value in holding.items() if isinstance(value, str)]
    for circulation in holding.get("circulationData", []):
        parts.append(f"available={circulation['availableNow']}")
    return "; ".join(parts)
