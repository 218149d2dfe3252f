"""Ingest: the one path by which harvested records (OAI-PMH, SRU, Z39.50) enter the catalogue.

Every client hands over :class:`Harvested` items, whatever its protocol: XML metadata (OAI-PMH,
SRU) is crosswalked by its namespace (MARCXML as is, Dublin Core and MODS through their
crosswalks); MARC bytes (Z39.50) are decoded by the reader they come with. The MARC records
of a source whose records are UNIMARC (:attr:`IngestTarget.unimarc`) are then converted to
MARC21 by the UNIMARC crosswalk (:func:`crosswalks.unimarc.to_marc21`); what it had no place
for comes back with the prepared record (:attr:`catalog.store.PreparedRecord.notes`) and is
counted for the run's record (:class:`Unmapped`). A record keyed
without reading it (its identifier given, or its 001 found cheaply) is read where the catalogue
derives it, in a worker process for a large batch (:class:`catalog.store.Unread`); any other
is read here. Each record is then upserted by
``(source, identifier)`` with its provenance and original payload, and counted in one
:class:`Counts`. A deletion the source announces deletes the record here (persistently). A
record that is too large, cannot be read, crosswalked or stored goes to ``harvest_rejects``
with its bytes and the reason (:func:`reject`, the one shape of a reject); nothing is repaired.

Deletions are only ever applied as the source announces them, record by record (a page's
together): the harvester never infers a deletion from a record's absence, so an empty or failed
harvest can delete nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from functools import partial

from lxml import etree
from pymarc import Record
from sqlalchemy import Connection, insert

from catalog import Catalog, CatalogWriter, Outcome, Provenance, RecordError
from catalog.harvest_state import harvest_rejects
from catalog.store import Batch, Incoming, Noted, PreparedRecord, Unread
from catalog.written_ids import WrittenIds
from config import HarvestSource, LimitSettings
from crosswalks.marc_syntax import syntax_problems
from crosswalks.namespaces import DC_NS, MARCXML_NS, MODS_NS, OAI_DC_NS, SRW_DC_NS
from crosswalks.unimarc import NotConverted, to_marc21
from crosswalks.xmltext import parse_untrusted, xml_error_said
from harvester.harvested import Harvested, identifier_of, marcxml_identifier
from harvester.http_fetch import public_url

CROSSWALKS: dict[str, str] = {
    MARCXML_NS: "crosswalks.marc_io:marcxml_element_to_record",
    OAI_DC_NS: "crosswalks.dc_to_marc:dc_to_marc",
    SRW_DC_NS: "crosswalks.dc_to_marc:dc_to_marc",
    DC_NS: "crosswalks.dc_to_marc:dc_to_marc",
    MODS_NS: "crosswalks.mods_to_marc:mods_to_marc",
}
"""Metadata namespace -> ``module:function`` taking the metadata element, returning a Record."""

MAX_IDENTIFIER = 1000
"""Longest original identifier kept (the catalogue's column); longer ones are rejected."""
MAX_DATESTAMP = 32
MAX_REASON = 4000
"""Longest reason kept with a reject (the column)."""
CUT_NOTE = "; its first bytes are kept"
"""How the reason of a reject ends when its kept bytes are only the first ``max_record_bytes``
of its record (one larger than the limit of the time): retried from them
(:mod:`harvester.retry`) it could only be rejected again as broken, so the record itself must
be harvested again."""

_resolved: dict[str, Callable[[etree._Element], Record]] = {}


class IngestError(ValueError):
    """A record that cannot become MARC21 (the message says why)."""


@dataclass
class Counts:
    """What a run (or a page) did to the catalogue."""

    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    gone: int = 0
    """Deletions announced of records the catalogue does not hold (never harvested, or deleted
    already): nothing to delete, and not an unchanged record either (an empty catalogue's first
    harvest has none)."""
    rejected: int = 0

    def count_stored(self, outcome: Outcome) -> None:
        """Count what :meth:`CatalogWriter.put_many` did to one record."""
        if outcome is Outcome.ADDED:
            self.added += 1
        elif outcome is Outcome.UPDATED:
            self.updated += 1
        else:
            self.unchanged += 1

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def line(self) -> str:
        """The counts as a run's summary and log say them: ``3 new, 0 updated, ...``."""
        gone = f"{self.gone} deletions of records not held, " if self.gone else ""
        return (f"{self.added} new, {self.updated} updated, {self.deleted} deleted, "
                f"{self.unchanged} unchanged, {gone}{self.rejected} rejected")


UNMAPPED_EXAMPLES = 3
"""Records a run's line about UNIMARC data with no place in MARC21 names as examples."""
EXAMPLE_CHARS = 160
"""The most characters of one such example (an identifier and the first of its lines)."""


@dataclass
class Unmapped:
    """The records of a UNIMARC source stored with data that had no place in MARC21 (the
    lines :func:`crosswalks.unimarc.to_marc21` reports, which ``koprik import --format
    unimarc`` writes in its report), counted over a run with the first few as examples: the
    run's record says them in one line, bounded whatever the partner sends (:meth:`line`)."""

    records: int = 0
    lines: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, identifier: str, notes: tuple[str, ...]) -> None:
        """Count a record stored under ``identifier`` with ``notes``, its unmapped lines."""
        if not notes:
            return
        self.records += 1
        self.lines += len(notes)
        if len(self.examples) < UNMAPPED_EXAMPLES:
            more = f" (and {len(notes) - 1} more)" if len(notes) > 1 else ""
            example = f"{identifier}: {' '.join(notes[0].split())}"
            if len(example) > EXAMPLE_CHARS:
                example = example[: EXAMPLE_CHARS - 3] + "..."
            self.examples.append(example + more)

    def line(self) -> str | None:
        """The run's line about them (None: every record found a place for all its data)."""
        if not self.records:
            return None
        return (
            f"{self.records} record(s) had UNIMARC data with no place in MARC21, left "
            f"out ({self.lines} field(s) or subfield(s); first: {'; '.join(self.examples)})"
        )


def crosswalk_for(namespace: str) -> Callable[[etree._Element], Record]:
    """The crosswalk into MARC21 for metadata in ``namespace``; raises IngestError if none."""
    function = _resolved.get(namespace)
    if function is not None:
        return function
    target = CROSSWALKS.get(namespace)
    if target is None:
        raise IngestError(f"no crosswalk into MARC21 for metadata namespace {namespace!r}")
    module_name, _, name = target.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise IngestError(f"crosswalk {target} is not available: {error}") from error
    _resolved[namespace] = function
    return function


def to_marc(metadata: etree._Element, unimarc: bool = False) -> Record:
    """The MARC21 record for one metadata element (``unimarc``: a MARCXML record whose content
    is UNIMARC, converted); raises IngestError with the reason."""
    return noted_marc(metadata, unimarc).record


def noted_marc(metadata: etree._Element, unimarc: bool) -> Noted:
    """:func:`to_marc`, with what the UNIMARC conversion had no place for."""
    record = _crosswalked(metadata)
    return unimarc_converted(record) if unimarc else Noted(_valid(record), ())


def _crosswalked(metadata: etree._Element) -> Record:
    """The record the crosswalk of the element's namespace makes of it, unchecked."""
    namespace = etree.QName(metadata).namespace or ""
    crosswalk = crosswalk_for(namespace)
    try:
        return crosswalk(metadata)
    except Exception as error:  # a crosswalk fails in as many ways as its input is broken
        raise IngestError(f"crosswalk from {namespace} failed: {error}") from error


def from_unimarc(read: Callable[[bytes], Record], data: bytes) -> Noted:
    """The MARC21 record for ``data``, a UNIMARC record ``read`` reads (an :class:`Unread`'s
    reading, wrapped: it runs where the record is derived), with what had no place in it;
    raises with the reason."""
    return unimarc_converted(read(data))


def unimarc_converted(record: Record) -> Noted:
    """``record``, UNIMARC, converted to MARC21 (:func:`crosswalks.unimarc.to_marc21`), with
    the lines of what had no place in MARC21 as its notes (``"899 $a: NLR"``:
    :attr:`crosswalks.unimarc.UnimarcResult.unmapped`); raises IngestError with the reason."""
    try:
        converted = to_marc21(record)
    except NotConverted as error:
        raise IngestError(str(error)) from None
    return Noted(_valid(converted.record), tuple(converted.unmapped))


def _valid(record: Record) -> Record:
    """``record``, a crosswalk's, unless it breaks the MARCXML syntax (IngestError)."""
    problems = syntax_problems(record)
    if problems:
        tag, message = problems[0]
        raise IngestError(f"not valid MARC21: {f'field {tag}: ' if tag else ''}{message}")
    return record


@dataclass(frozen=True)
class IngestTarget:
    """Where records of one source go: its name and base URL, and the current run; the
    largest record it takes (``[limits] max_record_bytes``); whether its MARC records are
    UNIMARC (its ``crosswalk``), to be converted to MARC21."""

    source: str
    base_url: str
    run_id: int | None
    max_record_bytes: int = LimitSettings.max_record_bytes
    unimarc: bool = False
    once: WrittenIds | None = field(default=None, compare=False)
    """The records the run has stored (:mod:`catalog.written_ids`), when a second record under
    one key is to be rejected rather than replace the first: a Z39.50 or SRU record is keyed by
    its 001, which a partner serving several institutions' records may give two of them (the
    later replaced the earlier, unsaid, and each run wrote both again, one over the other). An
    OAI-PMH list may carry one record twice (updated meanwhile): None."""

    @classmethod
    def of(cls, source: HarvestSource, base_url: str, run_id: int | None,
           max_record_bytes: int, *, once: bool = False) -> IngestTarget:  # fmt: skip
        """The target of ``source``'s records (``base_url``: its address, which provenance
        keeps without its credentials), with a new :attr:`once` when ``once``."""
        return cls(source.name, public_url(base_url), run_id, max_record_bytes,
                   bool(source.crosswalk), WrittenIds() if once else None)


def ingest(
    writer: CatalogWriter,
    target: IngestTarget,
    items: Iterable[Harvested],
    reasons: list[str] | None = None,
    unmapped: Unmapped | None = None,
) -> Counts:
    """Apply ``items`` in order on ``writer``'s transaction; rejects are written there too
    (and their reasons appended to ``reasons``, when given). :func:`prepare` then
    :func:`apply`, at once (UNIMARC data with no place in MARC21 noted in ``unmapped``)."""
    plan = prepare(writer.catalog, target, items, writer.connection)
    return apply(writer, target, plan, reasons, unmapped)


@dataclass(frozen=True)
class _Refusal:
    item: Harvested
    identifier: str | None
    reason: str


@dataclass(frozen=True)
class _Deletions:
    """Deletions next to each other in a plan, applied together
    (:meth:`CatalogWriter.delete_harvested_many`)."""

    items: list[Harvested]


@dataclass(frozen=True)
class _Records:
    items: list[tuple[Harvested, Incoming]]
    batch: Batch


Plan = list[_Refusal | _Deletions | _Records]
"""What a page (or batch) of items does to the catalogue, in order (:func:`prepare`)."""


def prepare(
    catalog: Catalog,
    target: IngestTarget,
    items: Iterable[Harvested],
    connection: Connection | None = None,
) -> Plan:
    """Key ``items`` and start their reading into MARC21 and their derivations
    (:meth:`Catalog.prepare`), writing nothing: a harvester prepares its next page while the
    one before is being written. Only an item that cannot be keyed without it is read here.

    Records are grouped in batches; a deletion of a record in the batch ends the batch, so a
    page that holds a record and then its deletion ends deleted (other deletions do not cut
    the batch short).
    """
    plan: Plan = []
    batch: list[tuple[Harvested, Incoming]] = []
    batched: set[str] = set()

    def end_batch() -> None:
        if batch:
            prepared = catalog.prepare([incoming for _, incoming in batch], connection)
            plan.append(_Records(list(batch), prepared))
        batch.clear()
        batched.clear()

    for item in items:
        problem = (item.error or size_problem(item.raw, target.max_record_bytes)
                   or _header_problem(item))
        if problem is not None:
            plan.append(_Refusal(item, item.identifier or _digest_identifier(item), problem))
            continue
        if item.deleted:
            if item.identifier in batched:
                end_batch()  # the record is deleted after it is stored
            if plan and isinstance(plan[-1], _Deletions):
                plan[-1].items.append(item)
            else:
                plan.append(_Deletions([item]))
            continue
        refusal = _not_unimarc(item, target)
        if refusal is not None:
            plan.append(_Refusal(item, item.identifier or _digest_identifier(item), refusal))
            continue
        unread = _unread(item, target.unimarc)
        if isinstance(unread, _Refusal):
            plan.append(unread)
            continue
        if unread is not None:  # read into MARC21 where it is derived (a worker process)
            identifier, namespace, reading = unread
            provenance = _provenance(target, item, identifier, namespace, reading.data)
            batch.append((item, Incoming(reading, provenance=provenance)))
            batched.add(identifier)
            continue
        try:
            (record, notes), namespace, payload = _marc_of(item, target.unimarc)
        except IngestError as error:
            plan.append(_Refusal(item, item.identifier or _digest_identifier(item), str(error)))
            continue
        identifier = item.identifier or identifier_of(record, payload)
        provenance = _provenance(target, item, identifier, namespace, payload)
        batch.append((item, Incoming(record, provenance=provenance, notes=notes)))
        batched.add(identifier)
    end_batch()
    return plan


def apply(
    writer: CatalogWriter,
    target: IngestTarget,
    plan: Plan,
    reasons: list[str] | None = None,
    unmapped: Unmapped | None = None,
) -> Counts:
    """Carry out a :func:`prepare` d plan on ``writer``'s transaction, in order; the records
    stored with UNIMARC data that had no place in MARC21 are noted in ``unmapped`` (when
    given), and the reasons of those refused appended to ``reasons``, once it commits (a
    transaction run again notes them once)."""
    counts = Counts()
    writer.run_id = target.run_id  # the records' change history names the run

    def refuse(item: Harvested, identifier: str | None, reason: str) -> None:
        text = f"{item.where}: {reason}" if item.where else reason
        raw = item.raw[: target.max_record_bytes]
        if len(raw) < len(item.raw):
            text = text[: MAX_REASON - len(CUT_NOTE)] + CUT_NOTE
        reject(writer, target, identifier[:MAX_IDENTIFIER] if identifier else None, text, raw)
        counts.rejected += 1
        if reasons is not None:
            writer.after_commit(partial(reasons.append, text))

    for step in plan:
        if isinstance(step, _Refusal):
            refuse(step.item, step.identifier, step.reason)
        elif isinstance(step, _Deletions):
            outcomes = writer.delete_harvested_many(
                [_provenance(target, item, "", "", None) for item in step.items]
            )
            deleted = outcomes.count(Outcome.DELETED)
            counts.deleted += deleted
            counts.gone += len(outcomes) - deleted
        else:
            results = writer.put_prepared(step.batch, target.once)
            for (item, incoming), result, prepared in zip(step.items, results, step.batch.items,
                                                          strict=True):  # fmt: skip
                assert incoming.provenance is not None
                if isinstance(result, RecordError):
                    refuse(item, incoming.provenance.identifier, str(result))
                    continue
                counts.count_stored(result)
                if unmapped is not None and isinstance(prepared, PreparedRecord):
                    writer.after_commit(
                        partial(unmapped.note, incoming.provenance.identifier, prepared.notes))
    return counts


def marc_of_xml(payload: bytes) -> Record:
    """The MARC21 record for a metadata element's XML (:func:`to_marc`); raises IngestError."""
    return to_marc(_parsed(payload))


def unimarc_of_xml(payload: bytes) -> Record:
    """The UNIMARC record in a MARCXML element's XML, read as it is (to be converted:
    :func:`from_unimarc`); raises IngestError."""
    return _crosswalked(_parsed(payload))


def _parsed(payload: bytes) -> etree._Element:
    try:
        return parse_untrusted(payload)
    except etree.XMLSyntaxError as error:
        raise IngestError(f"not well-formed XML: {xml_error_said(error)}") from error


def _unread(item: Harvested, unimarc: bool) -> tuple[str, str, Unread] | _Refusal | None:
    """The identifier, format and :class:`Unread` record of an item that can be keyed without
    being read (its own identifier, or its 001 found cheaply: :func:`marcxml_identifier`,
    :func:`usmarc_identifier`), read as UNIMARC and converted with ``unimarc``; a refusal when
    its metadata has no crosswalk; None when it must be read here to be keyed (or is read
    already)."""
    if item.read is not None and item.identifier is not None and item.payload is not None:
        read = partial(from_unimarc, item.read) if unimarc else item.read
        return item.identifier, item.format, Unread(read, item.payload)
    metadata = item.metadata
    if metadata is None or (metadata.tail and metadata.tail.strip()):
        return None  # text after the element would make its XML unreadable on its own
    namespace = etree.QName(metadata).namespace or ""
    try:
        crosswalk_for(namespace)
    except IngestError as error:
        return _Refusal(item, item.identifier or _digest_identifier(item), str(error))
    payload = etree.tostring(metadata)
    identifier = item.identifier or marcxml_identifier(metadata, payload)
    if identifier is None:
        return None
    read = partial(from_unimarc, unimarc_of_xml) if unimarc else marc_of_xml
    return identifier, item.format or namespace, Unread(read, payload)


def _not_unimarc(item: Harvested, target: IngestTarget) -> str | None:
    """Why an item of a UNIMARC source cannot be converted: its metadata is no MARC record
    (None: it is one, or the source is no UNIMARC source)."""
    if not target.unimarc or item.metadata is None:
        return None
    namespace = etree.QName(item.metadata).namespace or ""
    if namespace == MARCXML_NS:
        return None
    return f"the source's crosswalk converts UNIMARC in MARCXML, not metadata in {namespace!r}"


def _marc_of(item: Harvested, unimarc: bool) -> tuple[Noted, str, bytes]:
    """The item's MARC21 record (converted from UNIMARC with ``unimarc``, with what had no
    place in MARC21), its format and its payload; raises IngestError."""
    if item.record is not None:
        noted = unimarc_converted(item.record) if unimarc else Noted(item.record, ())
        return noted, item.format, item.payload if item.payload is not None else item.raw
    if item.metadata is None:
        raise IngestError("record without metadata")
    namespace = etree.QName(item.metadata).namespace or ""
    return (noted_marc(item.metadata, unimarc), item.format or namespace,
            etree.tostring(item.metadata))  # fmt: skip


def size_problem(raw: bytes, max_record_bytes: int) -> str | None:
    """Why a record of ``raw`` bytes is refused (None: it is not) by ``limits.max_record_bytes``,
    as a harvest, ``koprik sru`` and ``koprik z3950`` say it."""
    if len(raw) <= max_record_bytes:
        return None
    return f"record of {len(raw)} bytes, larger than max_record_bytes ({max_record_bytes})"
    # (a harvest's reject keeps its first bytes, and says so: CUT_NOTE)


def _header_problem(item: Harvested) -> str | None:
    if item.identifier is not None and not item.identifier:
        return "no identifier"
    if item.identifier is None and item.deleted:
        return "a deletion without an identifier"
    if item.identifier is not None and len(item.identifier) > MAX_IDENTIFIER:
        return f"identifier of {len(item.identifier)} characters (at most {MAX_IDENTIFIER})"
    if len(item.datestamp) > MAX_DATESTAMP:
        return f"datestamp {item.datestamp[:40]!r}... is not a datestamp"
    return None


def _digest_identifier(item: Harvested) -> str | None:
    """The identifier a reject of an item without one is kept under (None without bytes)."""
    if item.identifier is not None or not item.raw:
        return None
    return identifier_of(item.record, item.raw)


def reject(
    writer: CatalogWriter, target: IngestTarget, identifier: str | None, reason: str, raw: bytes
) -> None:
    """Quarantine ``raw`` (a record or a whole page) and the reason, on the writer's transaction."""
    writer.connection.execute(
        insert(harvest_rejects).values(
            source=target.source,
            run_id=target.run_id,
            identifier=identifier,
            reason=reason[:MAX_REASON],
            raw=raw,
        )
    )


def _provenance(
    target: IngestTarget, item: Harvested, identifier: str, namespace: str, payload: bytes | None
) -> Provenance:
    return Provenance(
        source=target.source,
        base_url=target.base_url,
        identifier=identifier or item.identifier or "",
        datestamp=item.datestamp,
        metadata_namespace=namespace,
        payload=payload,
    )
