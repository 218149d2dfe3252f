"""Retry the rejects of a run: ingest their kept bytes again, as they were received.

Worth doing after a crosswalk was fixed or a limit raised: each reject of the run is read
again from its raw bytes (an OAI-PMH or SRU ``<record>``; a Z39.50 source's ISO 2709 record)
and ingested through the one ingest path of a harvest (:func:`harvester.ingest.ingest`). The
old reject row goes in the same transaction; a record that fails again gets a new one with
its (perhaps new) reason. Rejects that are whole pages (a malformed response) cannot be split
into records here; they stay, and the next harvest asks for those records again. Nor can
a record larger than the limit of its time (only its first bytes are kept, and its reason
says so: :data:`harvester.ingest.CUT_NOTE`): read again from them it would be rejected as
broken XML or MARC, its real reason gone. Such rejects stay as they are, counted in
:class:`Cut`, whose line says how to fetch their records again (an OAI-PMH source's with
``koprik harvest NAME --full``: its watermark is past them; a Z39.50 or SRU source's next run
asks for the whole result set anyway).

>>> unmapped, cut = Unmapped(), Cut()
>>> counts = retry_rejects(catalog, source, run_id, max_record_bytes, unmapped, cut)
>>> unmapped.line()   # what a UNIMARC source's records had with no place in MARC21, or None
>>> cut.line()        # the rejects of records too large to retry, and what to do, or None
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from catalog import Catalog, CatalogWriter
from catalog.harvest_state import harvest_rejects
from config import HarvestSource
from harvester import oai_pages, sru_pages
from harvester.harvested import Harvested
from harvester.ingest import CUT_NOTE, Counts, IngestTarget, Unmapped, ingest
from harvester.sources import SRU, Z3950
from harvester.z3950_harvest import store_batch
from harvester.z3950_origin import RetrievedRecord
from harvester.z3950_records import charset_label, marc_syntax, parse_address

PAGE_PREFIX = "page:"
"""The reason of a reject that holds a whole page (see :meth:`harvester.runs.HarvestRun`)."""


@dataclass
class Cut:
    """The rejects a retry left as they were because they keep only the first bytes of a
    record larger than the limit of the time (:data:`harvester.ingest.CUT_NOTE`), and how
    their source gets those records again (set by :func:`retry_rejects`)."""

    rejects: int = 0
    again: str = ""

    def line(self) -> str | None:
        """What a retry's report says of them; None when there were none."""
        if not self.rejects:
            return None
        return (f"{self.rejects} reject(s) of records larger than max_record_bytes when "
                "harvested were kept as they were (only their first bytes are kept): "
                f"{self.again}")


def _again(source: HarvestSource) -> str:
    """How ``source`` gets its records again (:attr:`Cut.again`)."""
    if source.protocol in (Z3950, SRU):
        return (f"the next harvest of {source.name} fetches them again (it asks for the whole "
                "result set)")
    return (f"harvest the source with --full to fetch them again (koprik harvest "
            f"{source.name} --full; an incremental harvest does not ask for them)")


def retry_rejects(
    catalog: Catalog, source: HarvestSource, run_id: int, max_record_bytes: int,
    unmapped: Unmapped | None = None, cut: Cut | None = None,
) -> Counts:
    """Ingest the rejects of run ``run_id`` of ``source`` again (records up to
    ``max_record_bytes``, the ``[limits]`` setting); return what it did. The records stored
    with UNIMARC data that had no place in MARC21 are noted in ``unmapped``, for the line a
    harvest run's record has (:meth:`harvester.ingest.Unmapped.line`); the rejects left as
    they were because only the first bytes of their records are kept, in ``cut``."""
    r = harvest_rejects.c
    with catalog.engine.connect() as connection:
        rows = connection.execute(
            select(r.id, r.reason, r.raw)
            .where(r.run_id == run_id, r.source == source.name)
            .order_by(r.id)
        ).all()
    counts = Counts()
    for row in rows:
        if row.reason.startswith(PAGE_PREFIX) or not row.raw:
            continue
        if row.reason.endswith(CUT_NOTE):
            if cut is not None:
                cut.rejects += 1
                cut.again = _again(source)
            continue
        if source.protocol == Z3950:
            counts.add(_retry_z3950(catalog, source, run_id, row.id, row.raw, max_record_bytes,
                                    unmapped))
            continue
        if source.protocol == SRU:
            item = sru_pages.read_record_bytes(row.raw).harvested()
        else:
            item = oai_pages.read_record_bytes(row.raw).harvested()
        target = IngestTarget.of(source, source.url, run_id, max_record_bytes)
        counts.add(_retry(catalog, target, row.id, item, unmapped))
    return counts


class _Taken(Exception):
    """The reject was retried meanwhile, by a retry of the run at the same moment."""


def _forget(writer: CatalogWriter, reject_id: int) -> None:
    """Delete the reject being retried, in the transaction that ingests its record again;
    raise :class:`_Taken` (undoing the transaction) when another retry took it first. Two
    retries of a run at once (a button pressed twice, two workers) each ingested every reject
    again, and each record rejected again had two rejects, then four."""
    taken = delete(harvest_rejects).where(harvest_rejects.c.id == reject_id)
    if writer.connection.execute(taken).rowcount != 1:
        raise _Taken


def _retry(
    catalog: Catalog, target: IngestTarget, reject_id: int, item: Harvested,
    unmapped: Unmapped | None,
) -> Counts:
    def write(writer: CatalogWriter) -> Counts:
        _forget(writer, reject_id)
        return ingest(writer, target, [item], unmapped=unmapped)

    try:
        return catalog.write(write)
    except _Taken:
        return Counts()


def _retry_z3950(
    catalog: Catalog, source: HarvestSource, run_id: int, reject_id: int, raw: bytes,
    max_record_bytes: int, unmapped: Unmapped | None,
) -> Counts:
    target = IngestTarget.of(source, parse_address(source.url).url, run_id, max_record_bytes)
    syntax = marc_syntax(target.unimarc)  # as the run asked
    record = RetrievedRecord(position=1, database=None, syntax=syntax, data=raw)
    expected = charset_label(source.charset) if source.charset else None
    try:
        counts, _reasons = store_batch(
            catalog, target, [record], expected,
            lambda writer, _counts: _forget(writer, reject_id), unmapped,
        )  # fmt: skip
    except _Taken:
        return Counts()
    return counts
