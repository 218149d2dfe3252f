"""The record store: canonical MARC21, renditions, sets and provenance, written together.

Writing goes through :meth:`Catalog.write`, a transaction: everything a record needs (its MARC,
its renditions, its set memberships, its provenance, and whatever the caller adds on the same
connection, such as a harvester's resumption token) commits at once or not at all. A transaction
PostgreSQL aborts to break a deadlock with another writer is run again as a whole.

>>> catalog = Catalog.open(settings)
>>> catalog.write(lambda writer: writer.put(record))   # Outcome.ADDED, UPDATED or UNCHANGED
>>> page = catalog.list_entries("oai_dc", limit=500)
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar

from pymarc import Leader, Record
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)

from catalog import models
from catalog.db import execute_in, insert_rows, open_engine
from catalog.file_damage import watch
from catalog.match_keys import MatchKey, match_data
from catalog.renditions import FORMATS, make_renditions
from catalog.restamp import restamp_after_commit
from catalog.schema import ensure_current
from catalog.search_index import (
    NO_ENTRIES,
    IndexEntries,
    entries_of,
    read_canonical,
    write_entries,
)
from catalog.set_rules import adopt, described, refuse_others
from catalog.sets import set_name, set_specs
from catalog.transactions import hold_writes, retried, uninterrupted
from catalog.workers import WorkerPool
from catalog.written_ids import WrittenIds
from config import LimitSettings, SetRule, Settings
from config.settings import ORG_SOURCE_PREFIX
from crosswalks.check import check_record
from crosswalks.dublin_core import marc_languages
from crosswalks.iso2709 import Canonical, checked_length, plain_utf8

log = logging.getLogger(__name__)

T = TypeVar("T")

PARALLEL_BATCH = 200
"""From this many records to write at once, their renditions and terms are made in workers."""

WORKERS = max(2, (os.cpu_count() or 2) - 1)
"""Worker processes a catalogue starts (on first use) to make renditions and terms: one for
each core beside the process that writes (two at least, which is what a 2-core machine gets)."""

class Outcome(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    GONE = "gone"
    """A deletion of a record the catalogue never had (or had already deleted): a harvest's
    :attr:`harvester.ingest.Counts.gone`, an import's "deletions of records not held"."""


class RecordError(ValueError):
    """A record the catalogue cannot store (the message says why)."""


@dataclass(frozen=True)
class Provenance:
    """Where a harvested record came from (shown in OAI-PMH ``<about>``)."""

    source: str
    base_url: str
    identifier: str
    datestamp: str
    metadata_namespace: str
    payload: bytes | None = None


@dataclass(frozen=True)
class Entry:
    """One record as an OAI list sees it: header fields, and the rendition when asked for."""

    id: int
    local_id: str
    datestamp: int
    deleted: bool
    set_specs: tuple[str, ...]
    data: bytes | None = None
    provenance: Provenance | None = None
    size: int | None = None
    """The rendition's size in bytes, when read with a ``max_bytes`` (a larger rendition is not
    read: ``data`` is None)."""

    @property
    def key(self) -> tuple[int, int]:
        """The keyset position ``(datestamp, id)`` of this entry in every list."""
        return (self.datestamp, self.id)


@dataclass(frozen=True)
class Change:
    """One entry of a record's change history (:meth:`Catalog.record_history`)."""

    datestamp: int
    """The record's datestamp as committed by the change."""
    outcome: Outcome
    origin: str
    """The kind of work: ``harvest``, ``union``, or what the writer was opened for."""
    source: str | None
    run_id: int | None
    """The harvest run (a row of ``harvest_runs``), when the write came from one."""
    previous_digest: str | None
    """The SHA-256 of the record's canonical MARC before the change (None: it had none)."""


_ChangeRow = tuple[int, str, str, str | None, int | None, str | None]
"""``(record_id, outcome, origin, source, run_id, previous_digest)``, before its datestamp."""


@dataclass(frozen=True)
class Unread:
    """A record still to be read from ``data`` by ``read``, which raises with the reason when
    it cannot be (``str(error)`` becomes the :class:`RecordError`).

    :meth:`Catalog.prepare` has it read where its derivations are made, in a worker process for
    a large batch, sparing the process that writes (a harvested MARCXML record costs about
    200 µs to read into a :class:`Record`). ``read`` must be a module-level function (or a
    :func:`functools.partial` of one), so that it can be sent to a worker.
    """

    read: Callable[[bytes], Record | Noted]
    data: bytes


class Noted(NamedTuple):
    """A record an :class:`Unread`'s ``read`` made, with lines saying what of the data it was
    made from has no place in it (a UNIMARC field with none in MARC21): they come back with
    the prepared record (:attr:`PreparedRecord.notes`), from a worker process too."""

    record: Record
    notes: tuple[str, ...]


class Incoming(NamedTuple):
    """A record to store, for :meth:`CatalogWriter.put_many`.

    A record belongs to a source: a harvested one to ``provenance.source``, one loaded from a
    file source to ``source``, a union record (``union``, made by :mod:`catalog.union`) to
    none; any other is the repository's own, unless its 003 names another organization (then
    its source is ``003:CODE``, so that it never overwrites one of ours). A record not yet read
    (:class:`Unread`) comes with its provenance, which keys it. A record read straight into
    its canonical bytes (:class:`~crosswalks.iso2709.Canonical`, from a file) is never built.
    """

    record: Record | Unread | Canonical
    local_id: str | None = None
    provenance: Provenance | None = None
    source: str | None = None
    union: bool = False
    check_as: int | None = None
    """Validate the record (:func:`crosswalks.check.check_record`) as record number
    ``check_as`` of its file, alongside the rest of its preparation (:meth:`Batch.problems`)."""
    notes: tuple[str, ...] = ()
    """What the record's data had that it has no place for (:class:`Noted`), kept with it."""
    deletes: bool = False
    """A record whose leader/05 says it is deleted (``d``) deletes the record stored under its
    key instead of being stored: a library system's export sends its deletions so
    (:attr:`PreparedRecord.deletion`)."""


@dataclass(frozen=True)
class PreparedRecord:
    record: Record | None
    """None when the record was prepared in another process (:class:`Preparer`) or never built
    (:class:`~crosswalks.iso2709.Canonical`): its canonical MARC stands for it."""
    local_id: str
    provenance: Provenance | None
    marc: bytes
    digest: str
    source: str | None
    source_identifier: str | None
    union: bool
    check_as: int | None
    plain: bool = False
    """``marc`` is a :class:`~crosswalks.iso2709.Canonical`'s: read again without checks
    (:func:`~crosswalks.iso2709.read_plain`)."""
    notes: tuple[str, ...] = ()
    """:attr:`Incoming.notes`, or what reading an :class:`Unread` record noted."""
    deletion: bool = False
    """The record is a deletion of the one stored under its key (:attr:`Incoming.deletes`):
    it is neither derived nor checked nor stored."""

    @cached_property
    def key(self) -> tuple[str, ...]:
        """What the record is stored under: its source's identifier, else its local id (asked
        for several times for each record a batch stores, so made once)."""
        if self.source is not None and self.source_identifier is not None:
            return ("source", self.source, self.source_identifier)
        return ("local", self.local_id)


DELETED_STATUS = b"d"
"""Leader/05 of a deleted record, in MARC21 (and in UNIMARC, whose crosswalk keeps it)."""

ISO2709_MAX_BYTES = 99_999
"""The longest record ISO 2709 can describe: its length is five digits of the leader."""


@dataclass(frozen=True)
class Preparer:
    """The first step of :meth:`Catalog.prepare` (canonical MARC, digest, keys), which needs
    no database, as a picklable callable: a process reading a large file runs it there and
    hands the results, without the records, to :meth:`Catalog.prepare_made`."""

    max_bytes: int
    own_code: str

    def __call__(self, item: Incoming) -> PreparedRecord | RecordError:
        prepared = _prepare(item, self.max_bytes, self.own_code)
        if isinstance(prepared, RecordError) or prepared.record is None:
            return prepared
        return dataclasses.replace(prepared, record=None)


def _prepare(item: Incoming, max_bytes: int, own_code: str) -> PreparedRecord | RecordError:
    record = item.record
    plain = False
    if isinstance(record, Canonical):
        marc, control_number, organization = (
            record.marc, record.control_number, record.organization
        )
        record, plain = None, True
    else:
        assert isinstance(record, Record)
        try:
            marc = canonical_marc(record)
        except Exception as error:  # pymarc raises many kinds on broken records
            return RecordError(f"cannot serialize as MARC21: {error}")
        control_number, organization = _control_data(record, "001"), _control_data(record, "003")
    if len(marc) > max_bytes:
        return RecordError(
            f"record of {len(marc)} bytes is larger than the limit of {max_bytes} "
            "(limits.max_record_bytes)"
        )
    if len(marc) > ISO2709_MAX_BYTES:
        return RecordError(
            f"record of {len(marc)} bytes is longer than ISO 2709 allows ({ISO2709_MAX_BYTES})"
        )
    if not marc[:24].isascii():
        return RecordError("the leader is not ASCII")
    deletion = item.deletes and marc[5:6] == DELETED_STATUS
    if deletion and item.provenance is None and _control_id(control_number) is None:
        return RecordError("a deletion (leader/05 d) without a 001 names no record")
    source, identifier = item.source, None
    if item.provenance is not None:
        source, identifier = item.provenance.source, item.provenance.identifier
    elif not item.union:
        code = _organization_code(organization)
        if source is None and code and code != own_code:
            source = ORG_SOURCE_PREFIX + code
        if source is not None:
            identifier = _control_id(control_number) or _content_id(marc)
    if source is not None and identifier is not None:
        local_id = item.local_id or source_local_id(source, identifier)
    elif item.local_id is not None:
        local_id = item.local_id
    else:
        local_id = _control_id(control_number) or _content_id(marc)
        if ID_SEPARATOR in local_id:
            return RecordError(
                f"001 {local_id!r} has a {ID_SEPARATOR!r}, which only the ids of other sources' "
                "records (SOURCE:ID) and of union records have: stored as ours, it would "
                "replace one of them; load it as a source's record (koprik import --source NAME)"
            )
    return PreparedRecord(record, local_id, item.provenance, marc,
                          hashlib.sha256(marc).hexdigest(), source, identifier, item.union,
                          item.check_as, plain, item.notes, deletion=deletion)


def _control_data(record: Record, tag: str) -> str | None:
    """The data of the first ``tag`` field of ``record``, or None."""
    field = record.get(tag)
    return None if field is None else field.data


def _organization_code(data: str | None) -> str:
    """The organization code in a 003 (spaces and control characters dropped), or ""."""
    return _printable(data or "")[:90]


def _printable(text: str) -> str:
    """``text`` without spaces and control characters (letters and digits, the usual
    content of a 001 or 003, are neither: such a text is returned at once)."""
    if text.isalnum():
        return text
    return "".join(ch for ch in text if ch.isprintable() and not ch.isspace())


_Derived = tuple[
    dict[str, bytes], IndexEntries, list[MatchKey] | None, str | None, list[str],
    list[str], str | None,
]
"""A record's renditions, search terms, match keys, match profile, validator findings and set
specs, and why they could not be made (None: they were)."""

_Work = tuple[Record | bytes, str, bool, bool, int | None, str | None, bool]
"""What :func:`_derive` takes for one record: the record, or its canonical ISO 2709 (read again
in a worker: sending those bytes costs a fraction of pickling a :class:`Record` and reading it
back); its local id (for log messages); whether it gets match keys; whether it is to be stored
(else only checked); the record number to check it as (None: not checked); its source; whether
its bytes are a :class:`~crosswalks.iso2709.Canonical`'s (:attr:`PreparedRecord.plain`)."""


@dataclass(frozen=True)
class _Options:
    """What derivations depend on besides the record: the settings they read."""

    control_prefixes: tuple[str, ...]
    title_chars: int
    rules: tuple[SetRule, ...]


def _derive(work: list[_Work], options: _Options) -> list[_Derived]:
    """The derivations of each record of ``work``; pure, run in a worker process for a large
    batch. A record without a marc21 rendition (rejected) gets no terms; one not to be stored
    gets its findings only. A record whose derivations raise (a fault of ours that some record
    brings out) gets the reason instead, and is rejected alone: the rest of its batch, a
    harvested page or an import's 2,000 records, is stored. The reason is one of its findings
    only when it is not to be stored (else its rejection says it)."""
    derived: list[_Derived] = []
    for record_or_marc, local_id, keyed, store, check_as, source, plain in work:
        problems: list[str] = []
        try:
            read = isinstance(record_or_marc, bytes)
            record = read_canonical(record_or_marc, plain=plain) if read else record_or_marc
            if check_as is not None:
                problems = [str(p) for p in check_record(record, check_as,
                                                         read_from_iso2709=read)]
            derived.append(_derivations(record, local_id, keyed, store, source, problems,
                                        options))
        except Exception as error:
            log.exception("record %s: its derivations failed", local_id)
            reason = f"its derivations failed: {type(error).__name__}: {error}"
            findings = problems if store else [*problems, reason]
            derived.append(({}, NO_ENTRIES, None, None, findings, [], reason))
    return derived


def _derivations(
    record: Record, local_id: str, keyed: bool, store: bool, source: str | None,
    problems: list[str], options: _Options,
) -> _Derived:
    """What :func:`_derive` makes of one record, its validator's ``problems`` found."""
    if not store:
        return {}, NO_ENTRIES, None, None, problems, [], None
    made = make_renditions(record, local_id)
    codes = marc_languages(record)  # the search terms, the sets and the match profile all use them
    terms = entries_of(record, language_codes=codes) if "marc21" in made else NO_ENTRIES
    specs = set_specs(record, options.rules, source, language_codes=codes)
    if keyed:
        keys, profile = match_data(record, options.control_prefixes, options.title_chars,
                                   language_codes=codes)
        return made, terms, keys, profile.to_json(), problems, specs, None
    return made, terms, None, None, problems, specs, None


_ReadWork = tuple[Unread, Provenance, str | None, str | None]
"""What :func:`_read_and_derive` takes for one record: the record to read, its provenance,
its local id, if given, and the digest of the record stored under its key (None: none is)."""


def _read_and_derive(
    work: list[_ReadWork], max_bytes: int, own_code: str, options: _Options
) -> list[tuple[PreparedRecord | RecordError, _Derived | None]]:
    """Each record of ``work`` read, prepared (without the record, and without the provenance,
    which the caller has and puts back: unpickling it with its payload cost the caller 7 of
    the 55 µs a harvested record's results cost) and derived; pure, run in a worker process
    for a large batch. A record that cannot be read or prepared gets the reason; one stored
    unchanged, no derivations (but what its reading noted, as every record read)."""
    done: list[tuple[PreparedRecord | RecordError, _Derived | None]] = []
    for unread, provenance, local_id, stored_digest in work:
        try:
            read = unread.read(unread.data)
        except Exception as error:  # a reader fails in as many ways as its input is broken
            done.append((RecordError(str(error)), None))
            continue
        record, notes = read if isinstance(read, Noted) else (read, ())
        prepared = _prepare(Incoming(record, local_id, provenance, notes=notes), max_bytes,
                            own_code)
        if isinstance(prepared, RecordError):
            done.append((prepared, None))
            continue
        made = dataclasses.replace(prepared, record=None, provenance=None)
        if prepared.digest == stored_digest:
            done.append((made, None))
            continue
        (derived,) = _derive(
            [(record, prepared.local_id, True, True, None, prepared.source, False)], options
        )
        done.append((made, derived))
    return done


@dataclass(frozen=True)
class _Unprepared:
    """A record of a batch being read and prepared elsewhere: ``part[place]`` will say (all
    but its ``provenance``)."""

    part: Future[list[tuple[PreparedRecord | RecordError, _Derived | None]]]
    place: int
    provenance: Provenance


class Batch:
    """Records prepared for writing (:meth:`Catalog.prepare`): their canonical MARC and keys,
    and their derivations, made in the worker processes while the caller goes on."""

    def __init__(self, items: list[PreparedRecord | RecordError | _Unprepared]) -> None:
        self.items = items
        self._parts: dict[int, tuple[Future[list[_Derived]], int, bool]] = {}

    def settle(self) -> list[PreparedRecord | RecordError]:
        """The items, once those read and prepared elsewhere are (waiting for them)."""
        settled: list[PreparedRecord | RecordError] = []
        derived: dict[int, Future[list[_Derived]]] = {}
        read: Future[list[tuple[PreparedRecord | RecordError, _Derived | None]]] | None = None
        results: list[tuple[PreparedRecord | RecordError, _Derived | None]] = []
        for position, item in enumerate(self.items):
            if isinstance(item, _Unprepared):
                if item.part is not read:  # a part's records are next to each other
                    read, results = item.part, item.part.result()
                made, derivation = results[item.place]
                if derivation is not None:
                    part = derived.get(id(item.part))
                    if part is None:
                        part = derived[id(item.part)] = Future()
                        part.set_result([d for _, d in item.part.result()])  # type: ignore[misc]
                    self._parts[position] = (part, item.place, True)
                if isinstance(made, PreparedRecord):
                    made = dataclasses.replace(made, provenance=item.provenance)
                item = self.items[position] = made
            settled.append(item)
        return settled

    def expect(self, work: list[tuple[int, bool]], parts: list[Future[list[_Derived]]],
               size: int) -> None:
        """Say that the derivations of each ``items[position]`` of ``work`` (``position,
        stored``: made to be stored, or only checked) are in ``parts``, ``size`` a part."""
        for i, (position, stored) in enumerate(work):
            self._parts[position] = (parts[i // size], i % size, stored)

    def derivation(self, position: int) -> tuple[Future[list[_Derived]], int] | None:
        """Where the derivations for storing ``items[position]`` are: a part and a place."""
        found = self._parts.get(position)
        return None if found is None or not found[2] else (found[0], found[1])

    def problems(self, position: int) -> list[str]:
        """The validator's findings for ``items[position]`` (when it asked to be checked)."""
        found = self._parts.get(position)
        if found is None:
            return []
        future, place, _stored = found
        return future.result()[place][4]


def canonical_marc(record: Record) -> bytes:
    """ISO 2709 in UTF-8 with leader/09 ``a``: the catalogue's canonical bytes.

    The record is made to say what the bytes say, so that whatever is derived from it equals
    what is derived from the bytes read again (as a worker process does): its leader gets the
    record length and base address written, and a control field without data is empty (pymarc
    would write it as the text ``None``). :class:`crosswalks.iso2709.TooLong` when a field
    or the record is longer than ISO 2709 can hold.
    """
    leader = str(record.leader)
    if leader[9:10] != "a":
        record.leader = leader = leader[:9] + "a" + leader[10:]
    for field in record.fields:
        if field.is_control_field() and field.data is None:
            field.data = ""
    record.force_utf8 = True
    written = plain_utf8(record.fields, leader)
    marc: bytes = checked_length(record.as_marc(), record) if written is None else written
    head = marc[:24]
    if head.isascii() and str(record.leader) != (written := head.decode("ascii")):
        record.leader = Leader(written)
    return marc


def _control_id(data: str | None) -> str | None:
    """The local identifier of an imported record from the data of its 001; None when nothing
    of it is left (then :func:`_content_id` gives it)."""
    # Spaces and control characters (a NUL cannot even be stored by PostgreSQL) are dropped.
    return _printable(data or "")[:255] or None


def _content_id(marc: bytes) -> str:
    """The local identifier of a record without a 001: a digest of its canonical bytes."""
    return "h" + hashlib.sha1(marc).hexdigest()[:20]


ID_SEPARATOR = ":"
"""What separates a source from its record's identifier in a local identifier (``SOURCE:ID``;
union records are ``union:N``): the repository's own records, keyed by their bare 001, may not
have it, so that one of them never takes the id of another source's record."""


def source_local_id(source: str, identifier: str) -> str:
    """The local identifier of record ``identifier`` of ``source``: ``SOURCE:IDENTIFIER``."""
    local_id = f"{source}{ID_SEPARATOR}{identifier}"
    # (split() cuts at exactly the characters isspace() names: at none, the id is one word.
    # Asked of each character in turn, a harvested record's id took 1.7-1.9 µs; so, 0.3)
    if len(local_id) <= 255 and local_id.split() == [local_id]:
        return local_id
    digest = hashlib.sha1(identifier.encode()).hexdigest()[:24]
    return f"{source}{ID_SEPARATOR}{digest}"


class Catalog:
    """The collection on one database (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        rules: Sequence[SetRule],
        max_record_bytes: int = LimitSettings.max_record_bytes,
        settings: Settings | None = None,
    ) -> None:
        self.engine = engine
        self.rules = list(rules)
        self.described_rules = described(self.rules)
        """What of :attr:`rules` places records, compared with the catalogue's by each
        transaction that places records (:func:`catalog.set_rules.refuse_others`)."""
        self.max_record_bytes = max_record_bytes
        """Canonical MARC longer than this is refused (:class:`RecordError`), whatever the
        reader let through: the last guard of ``limits.max_record_bytes``."""
        self.settings = settings or Settings()
        self._known_sets: set[str] = set()
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings) -> Catalog:
        """Open (and create if needed) the catalogue that ``settings`` names.

        Raises :class:`catalog.schema.SchemaError` when its schema is not this Koprik's. A
        catalogue with no set rules recorded takes the settings' as those its records were
        placed in sets by (:func:`catalog.set_rules.adopt`).
        """
        engine = open_engine(settings.database.url, echo=settings.database.echo,
                             pool=settings.database)  # fmt: skip
        try:
            ensure_current(engine)
            adopt(engine, settings.sets)
        except BaseException:
            engine.dispose()
            raise
        watch(engine)  # once open: a file found damaged as it opens stops the command, in a line
        return cls(engine, settings.sets, settings.limits.max_record_bytes, settings)

    def close(self) -> None:
        """Release the database connections and stop the worker processes, if any started."""
        self.engine.dispose()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def preparer(self) -> Preparer:
        """The first step of :meth:`prepare`, to run in another process (see :class:`Preparer`)."""
        return Preparer(self.max_record_bytes, self.settings.union.institution_code)

    def prepare(self, items: Sequence[Incoming], connection: Connection | None = None) -> Batch:
        """Prepare ``items`` for :meth:`CatalogWriter.put_prepared`: their canonical MARC here,
        their derivations (renditions, terms, match keys, set specs, findings) started in the
        workers.

        A record stored unchanged is not derived (it will not be written). Which records are
        is read on ``connection``, or on a connection of its own: a caller may prepare its
        next batch while the previous one is being written, since the writer looks again
        within its transaction and derives there whatever was skipped wrongly.
        """
        own_code = self.settings.union.institution_code
        unread = [item for item in items if isinstance(item.record, Unread)]
        reading = iter(self._read_later(unread, connection))
        return self.prepare_made([
            next(reading) if isinstance(item.record, Unread)
            else _prepare(item, self.max_record_bytes, own_code)
            for item in items
        ], connection)

    def prepare_made(
        self,
        prepared: Sequence[PreparedRecord | RecordError | _Unprepared],
        connection: Connection | None = None,
    ) -> Batch:
        """:meth:`prepare` for records whose first step a :meth:`preparer` has done (or is
        doing, for records not yet read)."""
        batch = Batch(list(prepared))
        stored = self._stored(
            [p.key for p in prepared if isinstance(p, PreparedRecord)], connection
        )
        work: list[tuple[int, bool]] = []
        for position, item in enumerate(prepared):
            if not isinstance(item, PreparedRecord) or item.deletion:
                continue
            row = stored.get(item.key)
            store = row is None or row.digest != item.digest or bool(row.deleted)
            if store or item.check_as is not None:
                work.append((position, store))
        parts, size = self._derive_later(
            [(prepared[position], store) for position, store in work]  # type: ignore[misc]
        )
        batch.expect(work, parts, size)
        return batch

    def _derive_later(
        self, work: list[tuple[PreparedRecord, bool]]
    ) -> tuple[list[Future[list[_Derived]]], int]:
        """Start making the derivations of ``work`` (each record, and whether it is to be
        stored): in the worker processes when the batch is large enough to pay for sending
        the records there, else here and now. Returns the parts and the size of each.

        The workers are started by a fork server (never by forking this process, whose other
        threads may hold locks) and live until :meth:`close`, or until this process ends
        however it ends (:mod:`catalog.workers`). As with any use of
        multiprocessing, a program's main script must start its work under
        ``if __name__ == "__main__":`` (the workers import it).
        """
        pool = self._workers(len(work))
        if pool is None:
            done: Future[list[_Derived]] = Future()
            done.set_result(_derive(
                [(p.marc if p.record is None else p.record, p.local_id, not p.union, store,
                  p.check_as, p.source, p.plain) for p, store in work],
                self._options(),
            ))
            return [done], max(len(work), 1)
        sent: list[_Work] = [(p.marc, p.local_id, not p.union, store, p.check_as, p.source,
                              p.plain) for p, store in work]  # fmt: skip
        return self._spread(pool, _derive, sent, self._options())

    def _stored(
        self, keys: list[tuple[str, ...]], connection: Connection | None
    ) -> dict[tuple[str, ...], Row]:
        """:func:`_existing` on ``connection``, or on a connection of its own."""
        if not keys:
            return {}
        if connection is not None:
            return _existing(connection, keys)
        with self.engine.connect() as reader:
            return _existing(reader, keys)

    def _read_later(
        self, items: list[Incoming], connection: Connection | None
    ) -> list[_Unprepared]:
        """Start reading, preparing and deriving ``items``, records not yet read
        (:class:`Unread`), as :meth:`_derive_later` derives records; a record found stored
        unchanged (its digest given, looked up on ``connection``) is not derived."""
        if not items:
            return []
        keys = [("source", i.provenance.source, i.provenance.identifier)  # type: ignore[union-attr]
                for i in items]  # fmt: skip
        stored = self._stored(keys, connection)
        work: list[_ReadWork] = []
        for item, key in zip(items, keys, strict=True):
            # An Unread record is a harvested one: its provenance keys it and it is not checked.
            assert isinstance(item.record, Unread) and item.provenance is not None
            assert not item.union and item.check_as is None and item.source is None
            row = stored.get(key)
            digest = row.digest if row is not None and not row.deleted else None
            work.append((item.record, item.provenance, item.local_id, digest))
        own_code = self.settings.union.institution_code
        pool = self._workers(len(work))
        if pool is None:
            done: Future[list[tuple[PreparedRecord | RecordError, _Derived | None]]] = Future()
            done.set_result(
                _read_and_derive(work, self.max_record_bytes, own_code, self._options())
            )
            return [_Unprepared(done, place, w[1]) for place, w in enumerate(work)]
        parts, size = self._spread(
            pool, _read_and_derive, work, self.max_record_bytes, own_code, self._options()
        )
        return [_Unprepared(parts[i // size], i % size, w[1]) for i, w in enumerate(work)]

    def _spread(
        self, pool: ProcessPoolExecutor, function: Callable[..., list[T]], work: list[Any],
        *arguments: object,
    ) -> tuple[list[Future[list[T]]], int]:
        """``function(part, *arguments)`` submitted for each part of ``work``: a few parts per
        worker, to even out the load. Returns the parts and the size of each."""
        size = -(-len(work) // (WORKERS * 4))
        try:
            return [pool.submit(function, work[i : i + size], *arguments)
                    for i in range(0, len(work), size)], size
        except BrokenProcessPool:
            self._discard_broken()
            raise

    def _options(self) -> _Options:
        dedup = self.settings.dedup
        return _Options(tuple(dedup.control_prefixes), dedup.title_key_chars, tuple(self.rules))

    def _discard_broken(self) -> None:
        """Forget the worker processes if one of them died (the pool then refuses all work),
        so that the next batch starts new ones; a pool another thread started meanwhile is
        kept."""
        with self._pool_lock:
            pool = self._pool
            if pool is None:
                return
            try:
                pool.submit(int).cancel()  # a broken pool refuses work at once
            except BrokenProcessPool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)

    def _workers(self, records: int) -> ProcessPoolExecutor | None:
        """The worker processes, started on first use; None when ``records`` are too few to
        pay for sending them there, or the machine has one core."""
        if records < PARALLEL_BATCH or WORKERS < 2 or (os.cpu_count() or 1) < 2:
            return None
        with self._pool_lock:  # a harvest prepares its next page while it writes one
            if self._pool is None:
                self._pool = WorkerPool(WORKERS)
            return self._pool

    def write(self, work: Callable[[CatalogWriter], T], origin: str = "catalog") -> T:
        """``work(writer)`` in a write transaction (:meth:`writer`), run again as a whole in a
        new one when the database aborts it to break a deadlock (:mod:`catalog.transactions`);
        returns what ``work`` returns.

        ``work`` must be repeatable: what it changes outside the transaction waits for the
        commit (:meth:`CatalogWriter.after_commit`).
        """
        section, writer, result = retried(
            lambda: self._committed(work, origin), f"{origin} transaction"
        )
        with section:
            self._after_commit(writer)
        return result

    @contextmanager
    def writer(self, origin: str = "catalog") -> Iterator[CatalogWriter]:
        """A write transaction; it commits when the block ends without an exception. A block
        is not run again when the database aborts it: :meth:`write` is.

        ``origin`` names the kind of work in each record's change history (``import``,
        ``copy``, ...); a harvested record's change is always ``harvest``, a union record's
        ``union``.
        """
        with ExitStack() as section:
            with self._transaction(origin, section) as writer:
                yield writer
            self._after_commit(writer)

    def _committed(
        self, work: Callable[[CatalogWriter], T], origin: str
    ) -> tuple[ExitStack, CatalogWriter, T]:
        """``work(writer)`` in one write transaction, committed; the section its COMMIT began
        in (:meth:`_transaction`), to be left once what follows the commit is done, the writer
        and its result. A transaction that fails leaves the section at once."""
        with ExitStack() as section:
            with self._transaction(origin, section) as writer:
                result = work(writer)
            return section.pop_all(), writer, result

    @contextmanager
    def _transaction(self, origin: str, section: ExitStack) -> Iterator[CatalogWriter]:
        """A writer on a transaction of its own, which its records are stamped in and which
        commits when the block ends without an exception (:meth:`writer`). The COMMIT begins
        an :func:`~catalog.transactions.uninterrupted` ``section``: a ^C or SIGTERM does not
        come between it and what follows it (:meth:`_after_commit`), such as the counts of a
        run told what the transaction kept. It is the catalogue's one writer from its start
        (:func:`~catalog.transactions.hold_writes`)."""
        with self.engine.begin() as connection:
            hold_writes(connection)
            writer = CatalogWriter(self, connection, origin)
            yield writer
            writer.stamp_at_commit()
            writer.write_changes()
            section.enter_context(uninterrupted())  # the COMMIT, as this block ends, and after

    def _after_commit(self, writer: CatalogWriter) -> None:
        """What follows the commit of ``writer``'s transaction: its sets are known, its callers
        told, its records moved to the second the COMMIT ended in (:mod:`catalog.restamp`)."""
        self._known_sets.update(writer.new_sets)
        # Taken from the writer as they run: a writer is in a reference cycle (the listeners
        # of its connection), freed only when the collector next runs, and a caller's callback
        # holds what it reports; an import of large records kept every batch's records, 150 MB
        # more by the end of a 150 MB file.
        committed, writer.committed = writer.committed, []
        for then in committed:
            then()
        if writer.clocked and writer.touched:
            restamp_after_commit(self.engine, sorted(writer.touched), writer.now)

    # -- reading -------------------------------------------------------------------------

    def get_entry(
        self, local_id: str, prefix: str | None = None, *, max_bytes: int | None = None
    ) -> Entry | None:
        """The record ``local_id`` with its ``prefix`` rendition (None when it has none); a
        rendition larger than ``max_bytes`` is not read (:attr:`Entry.size` says how large)."""
        r = models.records
        members = self.settings.union.serve_members
        query = self._entry_select(prefix, True, max_bytes, members=members).where(
            r.c.local_id == local_id)
        parameters = {"members_set": self.settings.union.members_set}
        with self.engine.connect() as connection:
            row = connection.execute(query, parameters).first()
        return None if row is None else _entry(row, prefix is not None)

    def formats_of(self, local_id: str, max_bytes: int | None = None) -> list[str] | None:
        """The rendition formats record ``local_id`` is available in (those of at most
        ``max_bytes``, when given); None if there is no such id.

        A deleted record is available in every format (as a header with status deleted).
        """
        r, rend = models.records, models.renditions
        with self.engine.connect() as connection:
            row = connection.execute(
                select(r.c.id, models.hidden().label("deleted")).where(r.c.local_id == local_id)
            ).first()
            if row is None:
                return None
            if row.deleted:
                return list(FORMATS)
            query = select(rend.c.format).where(rend.c.record_id == row.id)
            if max_bytes is not None:
                query = query.where(func.length(rend.c.data) <= max_bytes)
            available = set(connection.execute(query).scalars())
            return [f for f in FORMATS if f in available]

    def list_entries(
        self,
        prefix: str | None,
        *,
        set_spec: str | None = None,
        from_: int | None = None,
        until: int | None = None,
        after: tuple[int, int] | None = None,
        limit: int = 500,
        with_data: bool = True,
        max_bytes: int | None = None,
        max_total_bytes: int | None = None,
    ) -> list[Entry]:
        """Up to ``limit`` entries in ``(datestamp, id)`` order after the key ``after``.

        With ``prefix``, only records that have that rendition (and deleted records) are listed.
        ``from_`` and ``until`` are inclusive bounds in epoch seconds. Renditions larger than
        ``max_bytes`` are not read (:attr:`Entry.size` says how large they are). With
        ``max_total_bytes``, reading stops after the entry whose rendition takes the total past
        it (rows are streamed from the database, so no more than that is ever held).
        """
        members = self.is_members_set(set_spec)
        in_set = set_spec is not None and not members
        shape = (prefix, with_data, max_bytes, members, in_set,
                 from_ is not None, until is not None, after is not None)  # fmt: skip
        query = _LIST_QUERIES.get(shape)
        if query is None:
            r, rs = models.records, models.record_sets
            query = self._entry_select(prefix, with_data, max_bytes, members=members,
                                       in_set=in_set)  # fmt: skip
            key_datestamp, key_id = r.c.datestamp, r.c.id
            if members:
                query = query.where(r.c.union_id.is_not(None))
            elif in_set:
                query = query.where(
                    rs.c.set_spec == bindparam("set_spec", type_=rs.c.set_spec.type))  # fmt: skip
                key_datestamp, key_id = rs.c.datestamp, rs.c.record_id
            if from_ is not None:
                query = query.where(key_datestamp >= bindparam("from_", type_=r.c.datestamp.type))
            if until is not None:
                query = query.where(key_datestamp <= bindparam("until", type_=r.c.datestamp.type))
            if after is not None:
                after_key = tuple_(bindparam("after_datestamp", type_=r.c.datestamp.type),
                                   bindparam("after_id", type_=r.c.id.type))  # fmt: skip
                query = query.where(tuple_(key_datestamp, key_id) > after_key)
            query = query.order_by(key_datestamp, key_id)
            query = query.limit(bindparam("limit", type_=r.c.id.type))
            if len(_LIST_QUERIES) >= LIST_QUERIES_KEPT:
                _LIST_QUERIES.clear()
            _LIST_QUERIES[shape] = query
        parameters = {"set_spec": set_spec, "from_": from_, "until": until, "limit": limit,
                      "after_datestamp": after and after[0], "after_id": after and after[1],
                      "members_set": self.settings.union.members_set}
        with self.engine.connect() as connection:
            if max_total_bytes is None:
                rows = connection.execute(query, parameters).all()
            else:
                rows = _rows_within(connection, query, parameters, max_total_bytes)
        return [_entry(row, with_data and prefix is not None) for row in rows]

    def is_members_set(self, set_spec: str | None) -> bool:
        """Whether ``set_spec`` is the set of the union records' members (served only when
        ``union.serve_members``; elsewhere a member is served as a deletion)."""
        union = self.settings.union
        return union.serve_members and set_spec == union.members_set

    def _entry_select(  # type: ignore[no-untyped-def]
        self,
        prefix: str | None,
        with_data: bool,
        max_bytes: int | None = None,
        *,
        members: bool = False,
        in_set: bool = False,
    ):
        """Entries as served: a member of a union record is a deletion, except where members
        are served (``members``: in the members set, and to GetRecord, when
        ``union.serve_members``), live, with the members set (the bound parameter
        ``members_set``) among its sets: GetRecord gives it the header of the one list that
        serves it live. ``in_set``: joined with their memberships of a set, whose datestamp they
        are served with (the time the record joined the set, when the set's rule came after it:
        :mod:`catalog.set_rules`)."""
        r, p, rend, rs = models.records, models.provenance, models.renditions, models.record_sets
        deleted = r.c.deleted if members else models.hidden()
        datestamp = rs.c.datestamp.label("datestamp") if in_set else r.c.datestamp
        specs = r.c.set_specs
        if members:
            members_set = bindparam("members_set", type_=specs.type)
            specs = case((r.c.union_id.is_not(None), specs + " " + members_set), else_=specs)
        columns = [r.c.id, r.c.local_id, datestamp, deleted.label("deleted"), specs]
        columns += [p.c.source, p.c.base_url, p.c.identifier, p.c.datestamp.label("pds")]
        columns += [p.c.metadata_namespace]
        joined = r.join(rs, rs.c.record_id == r.c.id) if in_set else r
        joined = joined.outerjoin(p, p.c.record_id == r.c.id)
        if prefix is None:
            return select(*columns).select_from(joined)
        joined = joined.outerjoin(rend, and_(rend.c.record_id == r.c.id, rend.c.format == prefix))
        if not with_data:
            columns.append(rend.c.format)
            if max_bytes is not None:  # the length alone: no rendition is read
                columns.append(func.length(rend.c.data).label("size"))
        elif max_bytes is None:
            columns.append(rend.c.data)
        else:
            size = func.length(rend.c.data)
            columns += [case((size <= max_bytes, rend.c.data), else_=None).label("data"),
                        size.label("size")]  # fmt: skip
        return select(*columns).select_from(joined).where(
            or_(deleted, rend.c.record_id.is_not(None))
        )

    def count(
        self,
        prefix: str | None,
        *,
        set_spec: str | None = None,
        from_: int | None = None,
        until: int | None = None,
        at_most: int | None = None,
    ) -> int | None:
        """How many entries :meth:`list_entries` would list in all with the same filters; None
        when there are more than ``at_most`` (counting stops there: a count reads every entry,
        and a national catalogue's millions would cost seconds for each list a client starts).
        """
        r, rend = models.records, models.renditions
        query = select(literal(1)).select_from(r)
        key_datestamp = r.c.datestamp
        members = self.is_members_set(set_spec)
        if members:
            query = query.where(r.c.union_id.is_not(None))
        elif set_spec is not None:
            rs = models.record_sets
            query = query.join(rs, rs.c.record_id == r.c.id).where(rs.c.set_spec == set_spec)
            key_datestamp = rs.c.datestamp
        if prefix is not None:
            has_rendition = (
                select(rend.c.record_id)
                .where(rend.c.record_id == r.c.id, rend.c.format == prefix)
                .exists()
            )
            query = query.where(or_(r.c.deleted if members else models.hidden(), has_rendition))
        if from_ is not None:
            query = query.where(key_datestamp >= from_)
        if until is not None:
            query = query.where(key_datestamp <= until)
        if at_most is not None:
            query = query.limit(at_most + 1)
        with self.engine.connect() as connection:
            count = int(connection.execute(select(func.count()).select_from(query.subquery()))
                        .scalar_one())  # fmt: skip
        return None if at_most is not None and count > at_most else count

    def earliest_datestamp(self) -> int | None:
        with self.engine.connect() as connection:
            return connection.execute(select(func.min(models.records.c.datestamp))).scalar()

    def list_sets(self) -> list[tuple[str, str]]:
        """Every set that has (or had) a record, as ``(spec, name)`` in spec order."""
        s = models.sets
        with self.engine.connect() as connection:
            rows = connection.execute(select(s.c.spec, s.c.name).order_by(s.c.spec)).all()
        found = [(row.spec, row.name) for row in rows]
        if self.settings.union.serve_members:
            found.append((self.settings.union.members_set, "Members of union records"))
            found.sort()
        return found

    def marc_of(self, local_id: str) -> bytes | None:
        """The canonical ISO 2709 bytes of a live record."""
        r = models.records
        with self.engine.connect() as connection:
            return connection.execute(
                select(r.c.marc).where(r.c.local_id == local_id, ~models.hidden())
            ).scalar()

    def approximate_size(self) -> int:
        """About how many records the catalogue has, deleted ones included, at the cost of one
        index lookup: the highest record id (record rows are never removed; a rolled-back
        insert can leave a gap on PostgreSQL)."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.max(models.records.c.id))).scalar() or 0)

    def record_history(self, record_id: int) -> list[Change]:
        """The changes of record ``record_id``, oldest first (none before history was kept)."""
        c = models.record_changes
        query = select(c.c.datestamp, c.c.outcome, c.c.origin, c.c.source, c.c.run_id,
                       c.c.previous_digest).where(c.c.record_id == record_id).order_by(c.c.id)
        with self.engine.connect() as connection:
            return [Change(row.datestamp, Outcome(row.outcome), row.origin, row.source,
                           row.run_id, row.previous_digest)
                    for row in connection.execute(query)]

    def is_empty(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(select(models.records.c.id).limit(1)).first() is None


def _existing(
    connection: Connection, keys: Iterable[tuple[str, ...]]
) -> dict[tuple[str, ...], Row]:
    """The stored rows for ``keys`` (:attr:`PreparedRecord.key`), by key (read on
    ``connection``)."""
    found: dict[tuple[str, ...], Row] = {}
    by_source: dict[str, list[str]] = {}
    local_ids: list[str] = []
    for key in keys:
        if key[0] == "source":
            by_source.setdefault(key[1], []).append(key[2])
        else:
            local_ids.append(key[1])
    for row in execute_in(connection, _EXISTING + "local_id IN ({values})", local_ids):
        found[("local", row.local_id)] = row
    for source, identifiers in by_source.items():
        for row in execute_in(
            connection, _EXISTING + "source = {p} AND source_identifier IN ({values})",
            identifiers, (source,),
        ):
            found[("source", row.source, row.source_identifier)] = row
    return found


_EXISTING = ("SELECT id, local_id, digest, deleted, source, source_identifier, union_id "
             "FROM records WHERE ")
"""What :func:`_existing` reads of a record (through :func:`catalog.db.execute_in`: this runs
twice for each batch written)."""


_HELD = ("SELECT id, deleted, set_specs, digest, source_identifier FROM records "
         "WHERE source = {p} AND ")
"""What :meth:`CatalogWriter.delete_harvested_many` reads of a source's records."""


STREAM_BATCH = 64
"""Rows :func:`_rows_within` takes from the database at a time."""

LIST_QUERIES_KEPT = 64
_LIST_QUERIES: dict[tuple[object, ...], Select] = {}  # type: ignore[type-arg]
"""The statement of each shape of :meth:`Catalog.list_entries` (prefix, filters present...),
built once with its values as parameters: building one costs as much as reading a hundred rows.
A server uses a few shapes per format; at most :data:`LIST_QUERIES_KEPT` are kept."""


def _rows_within(  # type: ignore[no-untyped-def]
    connection: Connection, query, parameters: dict[str, object], max_total_bytes: int
) -> list[Row]:  # type: ignore[type-arg]
    """The rows of ``query`` up to and including the one whose ``data`` takes the total past
    ``max_total_bytes``, streamed (a server-side cursor on PostgreSQL; SQLite steps lazily).

    Rows are taken from the driver a batch at a time (at most ``STREAM_BATCH`` more than needed
    are held), as going through the result row by row costs more than reading them."""
    rows: list[Row] = []  # type: ignore[type-arg]
    total = 0
    streamed = connection.execution_options(stream_results=True, yield_per=STREAM_BATCH)
    result = streamed.execute(query, parameters)
    try:
        for batch in result.partitions():
            for row in batch:
                rows.append(row)
                total += len(row.data or b"")
                if total > max_total_bytes:
                    return rows
    finally:
        result.close()
    return rows


def _entry(row, with_data: bool) -> Entry:  # type: ignore[no-untyped-def]
    """An entry from a row of :meth:`Catalog._entry_select` (unpacked by position, which is
    much cheaper than by name: a page makes hundreds of these)."""
    (id_, local_id, datestamp, deleted, specs, source, base_url, identifier, source_datestamp,
     namespace, *rendition) = row  # fmt: skip
    provenance = None
    if source is not None:
        provenance = Provenance(
            source=source,
            base_url=base_url,
            identifier=identifier,
            datestamp=source_datestamp,
            metadata_namespace=namespace,
        )
    return Entry(
        id_,
        local_id,
        datestamp,
        bool(deleted),
        tuple(specs.split()) if specs else (),
        rendition[0] if with_data else None,
        provenance,
        rendition[1] if len(rendition) > 1 else None,  # the size, read with a max_bytes
    )


class CatalogWriter:
    """Writes within one transaction; get one from :meth:`Catalog.writer`."""

    def __init__(self, catalog: Catalog, connection: Connection, origin: str = "catalog") -> None:
        self.catalog = catalog
        self.connection = connection
        self.now = self.began = int(time.time())
        self.new_sets: set[str] = set()
        self.touched: set[int] = set()
        self.clocked = False
        """Whether the datestamp is the clock's at commit (:meth:`stamp_at_commit`), not one
        the caller set."""
        self.origin = origin
        self.run_id: int | None = None
        """The harvest run whose records this transaction writes (set by the ingest path)."""
        self._changes: list[_ChangeRow] = []
        self._rules_checked = False
        """Whether this transaction found the catalogue placing records by the writer's rules
        (:func:`catalog.set_rules.refuse_others`, once a transaction)."""
        self._memberships: dict[int, tuple[Sequence[str], int]] = {}
        """Set memberships not written yet: each record's set specs and their datestamp
        (:meth:`_place_many_in_sets`)."""
        self.committed: list[Callable[[], None]] = []
        """What to do once the transaction has committed (:meth:`after_commit`)."""
        self._once: WrittenIds | None = None
        """The run's records stored before this transaction (:meth:`put_prepared`)."""
        self._once_here: set[int] = set()
        """The run's records stored in this transaction, marked in ``_once`` at its commit."""

    def after_commit(self, then: Callable[[], None]) -> None:
        """Call ``then()`` once this transaction has committed, not before: a transaction
        aborted and run again (:meth:`Catalog.write`) must not count, list or tell twice."""
        self.committed.append(then)

    def put(
        self,
        record: Record,
        *,
        local_id: str | None = None,
        provenance: Provenance | None = None,
    ) -> Outcome:
        """Add or update ``record``; unchanged content keeps its datestamp.

        The record is found by ``local_id`` (default: its 001), or for a harvested record by
        ``(provenance.source, provenance.identifier)``. Raises :class:`RecordError` when the
        record cannot be stored.
        """
        (result,) = self.put_many([Incoming(record, local_id, provenance)])
        if isinstance(result, RecordError):
            raise result
        return result

    def put_many(self, items: Sequence[Incoming]) -> list[Outcome | RecordError]:
        """:meth:`put` for a batch, in a handful of statements; one result per item, in order.

        A record that cannot be stored gets a :class:`RecordError` in its place and the others
        are stored. Items are applied in order: when a batch holds one record twice, the later
        one is compared with the earlier, as two calls of :meth:`put` would.
        """
        return self.put_prepared(self.catalog.prepare(items, self.connection))

    def put_prepared(
        self, batch: Batch, once: WrittenIds | None = None
    ) -> list[Outcome | RecordError]:
        """:meth:`put_many` for records already prepared (:meth:`Catalog.prepare`).

        With ``once``, the records a run has stored so far (:mod:`catalog.written_ids`): a
        record under the key of one of them is refused, the first kept, and those stored here
        are marked in it once this transaction commits.
        """
        if once is not None and self._once is None:
            self._once = once
            self.after_commit(lambda: once.add_all(self._once_here))
        results: list[Outcome | RecordError] = []
        chunk: list[int] = []
        keys: set[tuple[str, ...]] = set()
        try:
            settled = batch.settle()
        except BrokenProcessPool:
            self.catalog._discard_broken()
            raise
        for position, prepared in enumerate(settled):
            if isinstance(prepared, RecordError):
                results.extend(self._put_chunk(batch, chunk))
                chunk, keys = [], set()
                results.append(prepared)
                continue
            if prepared.key in keys:
                results.extend(self._put_chunk(batch, chunk))
                chunk, keys = [], set()
            chunk.append(position)
            keys.add(prepared.key)
        results.extend(self._put_chunk(batch, chunk))
        return results

    def _put_chunk(self, batch: Batch, chunk: list[int]) -> list[Outcome | RecordError]:
        """Store the records ``batch.items[i]`` for ``i`` in ``chunk``, whose keys all differ.

        Their derivations are taken as the workers finish them, in order; a part is written as
        soon as it is made, while the workers make the next ones.
        """
        if not chunk:
            return []
        items = [batch.items[i] for i in chunk]
        existing = _existing(self.connection, [item.key for item in items])  # type: ignore[union-attr]
        results: list[Outcome | RecordError | None] = []
        waiting: list[
            tuple[int, PreparedRecord, Row | None, tuple[Future[list[_Derived]], int]]
        ] = []
        missing: list[tuple[int, PreparedRecord, Row | None]] = []
        doomed: list[Row] = []
        for position in chunk:
            item = batch.items[position]
            assert not isinstance(item, RecordError)
            row = existing.get(item.key)
            if row is not None and self._once is not None and (
                row.id in self._once or row.id in self._once_here
            ):
                if row.deleted and item.deletion:  # deleted twice: the second changes nothing
                    results.append(Outcome.GONE)
                elif row.deleted:
                    results.append(RecordError(f"its id {item.local_id} is that of a record "
                                               "deleted earlier in this run, which stays deleted"))
                else:
                    results.append(RecordError(f"its id {item.local_id} is that of a record "
                                               "stored earlier in this run, which is kept"))
                continue
            if item.deletion:
                if row is not None and self._once is not None:
                    self._once_here.add(row.id)
                if row is None or row.deleted:
                    results.append(Outcome.GONE)
                else:
                    doomed.append(row)
                    results.append(Outcome.DELETED)
                continue
            if row is not None and row.digest == item.digest and not row.deleted:
                if self._once is not None:
                    self._once_here.add(row.id)
                results.append(Outcome.UNCHANGED)
                continue
            found = batch.derivation(position)
            if found is None:
                missing.append((len(results), item, row))
            else:
                waiting.append((len(results), item, row, found))
            results.append(None)
        self.delete_ids([row.id for row in doomed])
        if missing:  # derivations skipped when prepared (stored unchanged then, changed now)
            parts, size = self.catalog._derive_later([(item, True) for _, item, _ in missing])
            waiting.extend((at, item, row, (parts[i // size], i % size))
                           for i, (at, item, row) in enumerate(missing))
        # Consecutive records derived in one part are written together, as the part is done.
        for _, group in itertools.groupby(waiting, key=lambda w: id(w[3][0])):
            members = list(group)
            made = self._result(members[0][3][0])
            self._store_part([(at, item, row) for at, item, row, _ in members],
                             [made[place] for *_, (_, place) in members], results)
        return [result for result in results if result is not None]

    def _store_part(
        self,
        part: list[tuple[int, PreparedRecord, Row | None]],
        derived: list[_Derived],
        results: list[Outcome | RecordError | None],
    ) -> None:
        """Write changed records with their renditions and terms; fill in their results."""
        new_rows: list[dict[str, object]] = []
        updated: list[tuple[int, dict[str, object]]] = []
        stored: list[tuple[PreparedRecord, dict[str, bytes], IndexEntries, list[str],
                           int | None]] = []
        keyed: list[tuple[int | None, list[MatchKey]]] = []
        prior: list[str | None] = []
        for (position, item, row), (made, terms, keys, profile, _, specs, failure) in zip(
            part, derived, strict=True
        ):
            if failure is not None:
                results[position] = RecordError(failure)
                continue
            if "marc21" not in made:
                results[position] = RecordError("cannot be written as MARCXML")
                continue
            values = {
                "local_id": row.local_id if row is not None else item.local_id,
                "datestamp": self.now,
                "deleted": False,
                "marc": item.marc,
                "digest": item.digest,
                "set_specs": " ".join(specs),
                "source": item.source,
                "source_identifier": item.source_identifier,
                "is_union": item.union,
                "match_profile": profile,
            }
            if row is not None and row.union_id is not None:
                terms = NO_ENTRIES  # a member of a union record is not searched by itself
            if row is None:
                new_rows.append(values)
                results[position] = Outcome.ADDED
            else:
                updated.append((row.id, values))
                results[position] = Outcome.UPDATED
            stored.append((item, made, terms, specs, row.id if row is not None else None))
            prior.append(row.digest if row is not None and not row.deleted else None)
            keyed.append((row.id if row is not None else None, keys or []))
        record_ids = self._write_records(new_rows, updated)
        if stored and not self._rules_checked:  # after a write: on SQLite, under its lock
            refuse_others(self.connection, self.catalog.described_rules,
                          self.catalog.settings.file)
            self._rules_checked = True
        fresh = set(record_ids)
        ids = iter(record_ids)
        placed = [(rid if rid is not None else next(ids), item, made, terms, specs)
                  for item, made, terms, specs, rid in stored]
        if self._once is not None:
            self._once_here.update(rid for rid, *_ in placed)
        self._write_match_keys(
            [(rid, keys) for (rid, item, *_), (_, keys) in zip(placed, keyed, strict=True)
             if not item.union],
            fresh=fresh,
        )
        insert_rows(
            self.connection, models.renditions, ("record_id", "format", "data"),
            [(rid, f, data) for rid, _, made, _, _ in placed for f, data in made.items()],
        )
        self.touched.update(rid for rid, *_ in placed)
        write_entries(
            self.connection, [(rid, terms) for rid, _, _, terms, _ in placed], fresh=fresh
        )
        self._place_many_in_sets([(rid, specs) for rid, *_, specs in placed], fresh=fresh)
        self._keep_provenances(
            [(rid, item.provenance) for rid, item, *_ in placed if item.provenance is not None],
            fresh=fresh,
        )
        for (rid, item, *_), (*_, old_id), digest in zip(placed, stored, prior, strict=True):
            outcome = Outcome.ADDED if old_id is None else Outcome.UPDATED
            self._changes.append(self._change(rid, outcome, item.source, digest,
                                              harvested=item.provenance is not None,
                                              union=item.union))

    def _result(self, future: Future[list[_Derived]]) -> list[_Derived]:
        try:
            return future.result()
        except BrokenProcessPool:
            self.catalog._discard_broken()
            raise

    def _write_records(
        self, new_rows: list[dict[str, object]], updated: list[tuple[int, dict[str, object]]]
    ) -> list[int]:
        """Insert ``new_rows`` (returning their ids, in order) and apply ``updated``.

        The new rows go in as one bulk insert and their ids are read back by ``local_id``
        (unique): an INSERT ... RETURNING in parameter order is sent one row at a time on
        SQLite, and each of those statements waits for the GIL while a harvest prepares its
        next page in another thread.

        The rows are updated in the order of their ids, the order ``koprik db sets`` locks
        them in (:func:`catalog.set_rules.place_again`): in a partner's order, a page could take
        a record db sets wants while waiting for one db sets holds, a deadlock.
        """
        r = models.records
        ids: list[int] = []
        if new_rows:
            names = tuple(new_rows[0])
            values = itemgetter(*names)
            insert_rows(self.connection, r, names, [values(row) for row in new_rows])
            local_ids = [row["local_id"] for row in new_rows]
            made: dict[str, int] = dict(execute_in(  # type: ignore[arg-type]
                self.connection, "SELECT local_id, id FROM records WHERE local_id IN ({values})",
                local_ids,
            ))
            ids = [made[local_id] for local_id in local_ids]
        if updated:
            in_order = sorted(updated, key=itemgetter(0))
            self.connection.execute(
                update(r).where(r.c.id == bindparam("record_id")),
                [{"record_id": rid, **values} for rid, values in in_order],
            )
            self._delete_rows_of("renditions", [rid for rid, _ in updated])
        return ids

    def delete(self, local_id: str) -> Outcome:
        """Mark ``local_id`` deleted (persistently: it keeps its identifier and its sets)."""
        r = models.records
        row = self.connection.execute(
            select(r.c.id, r.c.deleted, r.c.set_specs, r.c.is_union, r.c.source, r.c.digest)
            .where(r.c.local_id == local_id)
        ).first()
        if row is None or row.deleted:
            return Outcome.GONE
        self._mark_many_deleted([(row.id, row.set_specs)], queue=not row.is_union)
        self._changes.append(self._change(row.id, Outcome.DELETED, row.source, row.digest,
                                          union=row.is_union))
        return Outcome.DELETED

    def delete_ids(self, record_ids: Sequence[int]) -> int:
        """Delete the records ``record_ids`` that are live, as a file's deletions or a run
        replacing a source's records ask (never a union record: its members decide it);
        returns how many were deleted."""
        rows = execute_in(self.connection,
                          "SELECT id, set_specs, source, digest FROM records "
                          "WHERE NOT deleted AND NOT is_union AND id IN ({values})",
                          sorted(set(record_ids)))  # fmt: skip
        self._mark_many_deleted([(row.id, row.set_specs) for row in rows])
        self._changes.extend(self._change(row.id, Outcome.DELETED, row.source, row.digest)
                             for row in rows)
        return len(rows)

    def delete_harvested(self, provenance: Provenance) -> Outcome:
        """Apply a deletion announced by a source for its record ``provenance.identifier``."""
        (outcome,) = self.delete_harvested_many([provenance])
        return outcome

    def delete_harvested_many(self, provenances: Sequence[Provenance]) -> list[Outcome]:
        """:meth:`delete_harvested` for a page of deletions, in order, in a handful of
        statements for each :data:`~catalog.db.IN_CHUNK` records. A page of 100,000 deletions
        took 356 s one at a time (40 s for records not held), 46 s (0.8 s) so; most of what
        remains is taking the records out of the search index and its tables.

        A record announced deleted twice is deleted once (the second finds it deleted), as
        two calls of :meth:`delete_harvested` would."""
        held: dict[tuple[str, str], Row[Any]] = {}
        by_source: dict[str, list[str]] = {}
        for provenance in provenances:
            by_source.setdefault(provenance.source, []).append(provenance.identifier)
        for source, identifiers in by_source.items():
            for row in execute_in(self.connection, _HELD + "source_identifier IN ({values})",
                                  identifiers, (source,)):  # fmt: skip
                held[(source, row.source_identifier)] = row
        outcomes: list[Outcome] = []
        doomed: list[tuple[Row[Any], Provenance]] = []
        done: set[int] = set()
        for provenance in provenances:
            row = held.get((provenance.source, provenance.identifier))
            if row is None or row.deleted or row.id in done:
                outcomes.append(Outcome.GONE)
                continue
            done.add(row.id)
            doomed.append((row, provenance))
            outcomes.append(Outcome.DELETED)
        self._mark_many_deleted([(row.id, row.set_specs) for row, _ in doomed])
        self._changes.extend(
            self._change(row.id, Outcome.DELETED, provenance.source, row.digest, harvested=True)
            for row, provenance in doomed
        )
        self._keep_provenances([(row.id, provenance) for row, provenance in doomed])
        return outcomes

    def _change(self, record_id: int, outcome: Outcome, source: str | None,
                previous_digest: str | None, *, harvested: bool = False,
                union: bool = False) -> _ChangeRow:
        origin = "harvest" if harvested else "union" if union else self.origin
        return (record_id, outcome.value, origin, source,
                self.run_id if harvested else None, previous_digest)

    def write_changes(self) -> None:
        """Append this transaction's changes to the records' histories, in one bulk insert, at
        the datestamp the records commit with (call after :meth:`stamp_at_commit`)."""
        rows = [(rid, self.now, outcome, origin, source, run_id, digest)
                for rid, outcome, origin, source, run_id, digest in self._changes]
        insert_rows(self.connection, models.record_changes,
                    ("record_id", "datestamp", "outcome", "origin", "source", "run_id",
                     "previous_digest"), rows)
        self._changes = []

    def _write_match_keys(
        self, keyed: list[tuple[int, list[MatchKey]]], *, fresh: AbstractSet[int]
    ) -> None:
        """Replace the match keys of the records ``keyed`` and queue them for deduplication."""
        if not keyed:
            return
        ids = [rid for rid, _ in keyed]
        self._delete_rows_of("match_keys", [rid for rid in ids if rid not in fresh])
        rows = sorted((kind, key, rid) for rid, keys in keyed for kind, key in keys)
        insert_rows(self.connection, models.match_keys, ("kind", "key", "record_id"), rows)
        self.queue_dedup(ids, fresh=fresh)

    def rekey(self, record_ids: Sequence[int]) -> int:
        """Recompute the match keys and profiles of the live records ``record_ids`` and queue
        them (after the ``[dedup]`` key settings changed, or for records written before match
        keys existed); union records are skipped. Returns how many were rekeyed."""
        r = models.records
        dedup = self.catalog.settings.dedup
        rows = self.connection.execute(
            select(r.c.id, r.c.marc).where(r.c.id.in_(list(record_ids)), ~r.c.deleted,
                                           ~r.c.is_union)).all()
        keyed: list[tuple[int, list[MatchKey]]] = []
        profiles: list[dict[str, object]] = []
        for row in rows:
            keys, profile = match_data(Record(data=row.marc, force_utf8=True),
                                       dedup.control_prefixes, dedup.title_key_chars)
            keyed.append((row.id, keys))
            profiles.append({"record_id": row.id, "profile": profile.to_json()})
        if profiles:
            self.connection.execute(
                update(r).where(r.c.id == bindparam("record_id"))
                .values(match_profile=bindparam("profile")), profiles)
        self._write_match_keys(keyed, fresh=frozenset())
        return len(rows)

    def queue_dedup(
        self, record_ids: Sequence[int], *, fresh: AbstractSet[int] = frozenset()
    ) -> None:
        """Queue records for the next deduplication (:mod:`catalog.dedup`); ids in ``fresh``
        are records inserted in this transaction, not queued yet (record rows are never
        removed, so no queue entry can wait for a new id)."""
        ids = sorted(set(record_ids))
        self._delete_rows_of("dedup_queue", [rid for rid in ids if rid not in fresh])
        insert_rows(self.connection, models.dedup_queue, ("record_id", "queued_at"),
                    [(i, self.now) for i in ids])

    def _mark_many_deleted(self, marked: list[tuple[int, str]], *, queue: bool = True) -> None:
        """Delete each record of ``marked`` (``record_id, set_specs``), persistently: it keeps
        its identifier and its sets, and loses its MARC, renditions, search entries and (when
        ``queue``) its match keys, being queued for deduplication (which takes a deleted member
        out of its union record)."""
        if not marked:
            return
        ids = [rid for rid, _ in marked]
        self.touched.update(ids)
        if queue:
            self._delete_rows_of("match_keys", ids)
            self.queue_dedup(ids)
        execute_in(self.connection,
                   "UPDATE records SET deleted = {p}, datestamp = {p}, marc = NULL, digest = {p}"
                   " WHERE id IN ({values})", ids, (True, self.now, "deleted"))  # fmt: skip
        self._delete_rows_of("renditions", ids)
        write_entries(self.connection, [(rid, None) for rid in ids])
        self._place_many_in_sets([(rid, specs.split()) for rid, specs in marked])

    def restamp(self, record_ids: Sequence[int]) -> None:
        """Give records the writer's datestamp: they appear in or vanish from what is served
        (a member joining a union record becomes a deletion in OAI-PMH, one leaving comes back)."""
        ids = sorted(set(record_ids))
        self.touched.update(ids)
        self._stamp(ids, self.now)

    def stamp_at_commit(self) -> None:
        """Give every record this transaction changed the time of its commit as datestamp, and
        write the set memberships held back (:meth:`_place_many_in_sets`).

        Rows are written with the time the transaction began; when it ends in a later second,
        they are moved to now, just before COMMIT (unless the caller set ``now`` itself, as a
        replay or a test may). Otherwise a long transaction could commit
        records with a datestamp that harvesters have already paged past, and even an
        incremental harvest from the time of their last request would never see them.
        """
        now = int(time.time())
        self.clocked = self.now == self.began
        if self.clocked and self.touched and now != self.now:
            self._stamp(sorted(self.touched), now)
            self.now = now
        rows = [(spec, datestamp, rid)
                for rid, (specs, datestamp) in self._memberships.items() for spec in specs]
        insert_rows(self.connection, models.record_sets, ("set_spec", "datestamp", "record_id"),
                    rows)  # fmt: skip
        self._memberships = {}

    def _delete_rows_of(self, table: str, record_ids: list[int]) -> None:
        """Delete the rows of ``table`` (one keyed by ``record_id``) of the records
        ``record_ids``."""
        execute_in(self.connection, f"DELETE FROM {table} WHERE record_id IN ({{values}})",
                   record_ids)  # fmt: skip

    def _stamp(self, ids: list[int], datestamp: int) -> None:
        """Give the records ``ids`` and their set memberships ``datestamp``."""
        execute_in(self.connection, "UPDATE records SET datestamp = {p} WHERE id IN ({values})",
                   ids, (datestamp,))  # fmt: skip
        held = self._memberships
        for rid in ids:
            if rid in held:
                held[rid] = (held[rid][0], datestamp)
        execute_in(self.connection,
                   "UPDATE record_sets SET datestamp = {p} WHERE record_id IN ({values})",
                   [rid for rid in ids if rid not in held], (datestamp,))  # fmt: skip

    def _place_many_in_sets(
        self, placements: list[tuple[int, Sequence[str]]], *, fresh: AbstractSet[int] = frozenset()
    ) -> None:
        """Make each record a member of exactly its sets, at the writer's datestamp.

        Ids in ``fresh`` are records inserted in this transaction, in no set yet. The new
        memberships are written just before COMMIT (:meth:`stamp_at_commit`), with the
        datestamp the records commit with: rows written at once would be moved to it then, when
        the transaction ends in a later second, as an import's batch of 2,000 records nearly
        always does. An import of 19,794 records (118,764 memberships) moved them for 21 µs of
        the writing process's CPU a record (of 420).
        """
        if not placements:
            return
        self._delete_rows_of("record_sets", [rid for rid, _ in placements if rid not in fresh])
        for rid, specs in placements:
            self._memberships[rid] = (specs, self.now)
        specs = {spec for _, specs in placements for spec in specs}
        new = specs - self.catalog._known_sets - self.new_sets
        if new:
            s = models.sets
            present = set(
                self.connection.execute(select(s.c.spec).where(s.c.spec.in_(new))).scalars()
            )
            missing = sorted(new - present)
            if missing:
                names = [{"spec": spec, "name": set_name(spec, self.catalog.rules)}
                         for spec in missing]
                self.connection.execute(insert(s), names)
            self.new_sets.update(new)

    def _keep_provenances(
        self, kept: list[tuple[int, Provenance]], *, fresh: AbstractSet[int] = frozenset()
    ) -> None:
        """Make each ``(record_id, provenance)`` the record's provenance, in two statements;
        ids in ``fresh`` are records inserted in this transaction, which have none yet."""
        if not kept:
            return
        self._delete_rows_of("provenance", [rid for rid, _ in kept if rid not in fresh])
        insert_rows(
            self.connection, models.provenance,
            ("record_id", "source", "base_url", "identifier", "datestamp", "metadata_namespace",
             "payload"),
            [(rid, v.source, v.base_url, v.identifier, v.datestamp, v.metadata_namespace,
              v.payload) for rid, v in kept],
        )
