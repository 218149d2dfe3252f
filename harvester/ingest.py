"""Ingest: harvested OAI-PMH records into the catalogue as MARC21, with provenance.

Each record is crosswalked by the namespace of its metadata element (MARCXML as is, ``oai_dc``
and MODS through their crosswalks), then upserted by ``(source, original identifier)`` with its
provenance and original payload. A deletion the source announces deletes the record here
(persistently). A record that cannot be read, crosswalked or stored goes to
``harvest_rejects`` with its bytes and the reason; nothing is repaired.

Deletions are only ever applied one by one as the source announces them: the harvester never
infers a deletion from a record's absence, so an empty or failed harvest can delete nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields

from lxml import etree
from pymarc import Record
from sqlalchemy import insert

from catalog import CatalogWriter, Outcome, Provenance, RecordError
from catalog.harvest_state import harvest_rejects
from catalog.store import Incoming
from config import LimitsSettings
from crosswalks.marc_syntax import syntax_problems
from harvester.oai_client import OaiRecord

MARCXML_NS = "http://www.loc.gov/MARC21/slim"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
MODS_NS = "http://www.loc.gov/mods/v3"

CROSSWALKS: dict[str, str] = {
    MARCXML_NS: "crosswalks.marc_io:marcxml_element_to_record",
    OAI_DC_NS: "crosswalks.dc_to_marc:dc_to_marc",
    MODS_NS: "crosswalks.mods_to_marc:mods_to_marc",
}
"""Metadata namespace -> ``module:function`` taking the metadata element, returning a Record."""

MAX_IDENTIFIER = 1000
"""Longest original identifier kept (the catalogue's column); longer ones are rejected."""
MAX_DATESTAMP = 32

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


def to_marc(metadata: etree._Element) -> Record:
    """The MARC21 record for one metadata element; raises IngestError with the reason."""
    namespace = etree.QName(metadata).namespace or ""
    crosswalk = crosswalk_for(namespace)
    try:
        record = crosswalk(metadata)
    except Exception as error:  # a crosswalk fails in as many ways as its input is broken
        raise IngestError(f"crosswalk from {namespace} failed: {error}") from error
    problems = syntax_problems(record)
    if problems:
        tag, message = problems[0]
        raise IngestError(f"not valid MARC21: {f'field {tag}: ' if tag else ''}{message}")
    return record


@dataclass(frozen=True)
class IngestTarget:
    """Where records of one source go: its name and base URL, and the current run; and the
    largest record it takes (``[limits] max_record_bytes``)."""

    source: str
    base_url: str
    run_id: int | None
    max_record_bytes: int = LimitsSettings.max_record_bytes


def ingest(writer: CatalogWriter, target: IngestTarget, records: Iterable[OaiRecord]) -> Counts:
    """Apply ``records`` in order on ``writer``'s transaction; rejects are written there too.

    Records are stored in batches (:meth:`CatalogWriter.put_many`); a deletion first stores the
    records before it, so a page that holds a record and then its deletion ends deleted.
    """
    counts = Counts()
    batch: list[tuple[OaiRecord, Incoming]] = []

    def store_batch() -> None:
        results = writer.put_many([incoming for _item, incoming in batch])
        for (item, _incoming), result in zip(batch, results, strict=True):
            if isinstance(result, RecordError):
                reject(writer, target, item.identifier, str(result), item.raw)
                counts.rejected += 1
            else:
                counts.count_stored(result)
        batch.clear()

    for item in records:
        problem = item.error or _size_problem(item.raw, target) or _header_problem(item)
        if problem is not None:
            identifier = item.identifier[:MAX_IDENTIFIER] if item.identifier else None
            reject(writer, target, identifier, problem, item.raw[: target.max_record_bytes])
            counts.rejected += 1
            continue
        if item.deleted:
            store_batch()
            outcome = writer.delete_harvested(_provenance(target, item, "", None))
            if outcome is Outcome.DELETED:
                counts.deleted += 1
            else:
                counts.unchanged += 1
            continue
        assert item.metadata is not None
        try:
            record = to_marc(item.metadata)
        except IngestError as error:
            reject(writer, target, item.identifier, str(error), item.raw)
            counts.rejected += 1
            continue
        namespace = etree.QName(item.metadata).namespace or ""
        provenance = _provenance(target, item, namespace, etree.tostring(item.metadata))
        batch.append((item, Incoming(record, provenance=provenance)))
    store_batch()
    return counts


def _size_problem(raw: bytes, target: IngestTarget) -> str | None:
    if len(raw) <= target.max_record_bytes:
        return None
    return (
        f"record of {len(raw)} bytes, larger than max_record_bytes ({target.max_record_bytes});"
        " its first bytes are kept"
    )


def _header_problem(item: OaiRecord) -> str | None:
    if not item.identifier:
        return "no identifier"
    if len(item.identifier) > MAX_IDENTIFIER:
        return f"identifier of {len(item.identifier)} characters (at most {MAX_IDENTIFIER})"
    if item.datestamp is not None and len(item.datestamp) > MAX_DATESTAMP:
        return f"datestamp {item.datestamp[:40]!r}... is not an OAI-PMH datestamp"
    return None


def reject(
    writer: CatalogWriter, target: IngestTarget, identifier: str | None, reason: str, raw: bytes
) -> None:
    """Quarantine ``raw`` (a record or a whole page) and the reason, on the writer's transaction."""
    writer.connection.execute(
        insert(harvest_rejects).values(
            source=target.source,
            run_id=target.run_id,
            identifier=identifier,
            reason=reason[:4000],
            raw=raw,
        )
    )


def _provenance(
    target: IngestTarget, item: OaiRecord, namespace: str, payload: bytes | None
) -> Provenance:
    return Provenance(
        source=target.source,
        base_url=target.base_url,
        identifier=item.identifier or "",
        datestamp=item.datestamp or "",
        metadata_namespace=namespace,
        payload=payload,
    )
