"""harvester.ingest: crosswalk by metadata namespace, upsert with provenance, quarantine."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pymarc import Field, Leader, Record, Subfield
from sqlalchemy import select

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.harvest_state import harvest_rejects
from catalog.search_index import entries_of, read_canonical, stored_terms
from catalog.store import PARALLEL_BATCH, Unread, canonical_marc
from config import DatabaseSettings, Settings
from crosswalks import charsets, registry
from crosswalks.iso2709 import RecordError
from crosswalks.marc_io import record_to_iso2709
from crosswalks.marcxml import record_to_marcxml
from crosswalks.mods import marc_to_mods
from crosswalks.namespaces import MARCXML_NS
from harvester.harvested import Harvested, identifier_of
from harvester.ingest import (
    Counts,
    IngestError,
    IngestTarget,
    Plan,
    Unmapped,
    _Records,
    ingest,
    prepare,
    to_marc,
)
from harvester.pipeline import write_pages
from harvester.sru_harvest import _items
from harvester.sru_pages import read_document, read_search
from harvester.z3950_harvest import prepare_batch, store_batch
from harvester.z3950_origin import RetrievedRecord
from harvester.z3950_records import decode_usmarc
from protocols.z3950 import oids
from tests.conftest import DATA
from tests.postgres import until_waiting_for_a_lock

TARGET = IngestTarget("partner", "http://127.0.0.1:1/oai", None)


def _item(identifier: str, metadata: bytes | None, *, deleted: bool = False) -> Harvested:
    element = None if metadata is None else etree.fromstring(metadata)
    return Harvested(identifier, b"<record>" + (metadata or b"") + b"</record>",
                     "2024-05-01T10:00:00Z", deleted, element)


def _rejects(catalog: Catalog) -> list:  # type: ignore[type-arg]
    with catalog.engine.connect() as connection:
        return connection.execute(select(harvest_rejects).order_by(harvest_rejects.c.id)).all()


def test_each_namespace_has_its_crosswalk(catalog: Catalog) -> None:
    marc, mods = list(demo_records(2))
    dc = b"""<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
        xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Bir kitob</dc:title>
        <dc:creator>Navoiy, Alisher</dc:creator><dc:language>uzb</dc:language></oai_dc:dc>"""
    items = [
        _item("oai:p:marc", record_to_marcxml(marc)),
        _item("oai:p:mods", marc_to_mods(mods)),
        _item("oai:p:dc", dc),
    ]
    with catalog.writer() as writer:
        counts = ingest(writer, TARGET, items)
    assert counts.as_dict() == {"added": 3, "updated": 0, "deleted": 0, "unchanged": 0,
                                "gone": 0, "rejected": 0}
    entry = catalog.get_entry("partner:oai:p:dc", "marc21")
    assert entry is not None and entry.provenance is not None
    assert entry.provenance.metadata_namespace == "http://www.openarchives.org/OAI/2.0/oai_dc/"
    assert entry.provenance.datestamp == "2024-05-01T10:00:00Z"
    assert b"Bir kitob" in (entry.data or b"")
    assert catalog.marc_of("partner:oai:p:marc") == canonical_marc(copy.deepcopy(marc))
    title = catalog.get_entry("partner:oai:p:mods", "marc21")
    assert title is not None and mods.title is not None
    assert mods.title.split()[0].encode() in (title.data or b"")
    # the same again is unchanged; a deletion then deletes, once: again, it deletes nothing
    with catalog.writer() as writer:
        again = ingest(writer, TARGET, [*items, _item("oai:p:dc", None, deleted=True)])
        twice = ingest(writer, TARGET, [_item("oai:p:dc", None, deleted=True)])
    assert (again.unchanged, again.deleted, twice.deleted, twice.gone) == (3, 1, 0, 1)


def test_what_cannot_be_ingested_is_quarantined_with_the_reason(catalog: Catalog) -> None:
    record = next(demo_records(1))
    broken = copy.deepcopy(record)
    broken.leader = "garbage leader that is far too long"
    items = [
        _item("oai:p:unknown", b'<x:thing xmlns:x="urn:example:unknown"/>'),
        _item("oai:p:" + "x" * 1200, record_to_marcxml(record)),
        _item("oai:p:leader", record_to_marcxml(broken)),
        Harvested("oai:p:raw", b"<record>\x01</record>", error="malformed XML"),
        _item("oai:p:fine", record_to_marcxml(record)),
    ]
    with catalog.writer() as writer:
        counts = ingest(writer, TARGET, items)
    assert (counts.added, counts.rejected) == (1, 4)
    # (A record read into MARC21 in a worker is refused where its batch is written: after
    # what was refused before reading it.)
    reasons = {r.identifier[:12]: r.reason for r in _rejects(catalog)}
    assert reasons == {
        "oai:p:unknow": "no crosswalk into MARC21 for metadata namespace 'urn:example:unknown'",
        "oai:p:xxxxxx": "identifier of 1206 characters (at most 1000)",
        "oai:p:leader": reasons["oai:p:leader"],
        "oai:p:raw": "malformed XML",
    }
    assert "leader" in reasons["oai:p:leader"]
    (raw,) = [r.raw for r in _rejects(catalog) if r.identifier == "oai:p:raw"]
    assert raw == b"<record>\x01</record>"


def test_marcxml_that_pymarc_refuses_is_rejected(catalog: Catalog) -> None:
    namespace = "http://www.loc.gov/MARC21/slim"
    bad = f'<record xmlns="{namespace}"><leader>00000nam a2200000 a 4500</leader>' \
          '<datafield tag="245" ind1="1" ind2="0"><subfield>no code</subfield></datafield>' \
          "</record>"
    with catalog.writer() as writer:
        counts = ingest(writer, TARGET, [_item("oai:p:nocode", bad.encode())])
    assert counts.rejected == 1
    (reject,) = _rejects(catalog)
    assert reject.identifier == "oai:p:nocode" and reject.reason


def test_an_indicator_iso_2709_cannot_carry_is_rejected(catalog: Catalog) -> None:
    """The MARCXML schema's ``\\d`` lets an Arabic-Indic digit be an indicator; ISO 2709 has one
    byte for it, so such a record stored could never be read back: it is refused instead."""
    namespace = "http://www.loc.gov/MARC21/slim"
    odd = f'<record xmlns="{namespace}"><leader>00000nam a2200000 a 4500</leader>' \
          '<controlfield tag="001">odd1</controlfield>' \
          '<datafield tag="245" ind1="1" ind2="\u0664"><subfield code="a">Title</subfield>' \
          "</datafield></record>"
    with catalog.writer() as writer:
        counts = ingest(writer, TARGET, [_item("oai:p:odd", odd.encode())])
    assert (counts.added, counts.rejected) == (0, 1)
    (reject,) = _rejects(catalog)
    assert reject.reason == (
        "not valid MARC21: field 245: indicator 2 '\u0664' is not a digit, a-z or blank")


def test_a_record_and_then_its_deletion_in_one_page_end_deleted(catalog: Catalog) -> None:
    first, second = list(demo_records(2))
    items = [
        _item("oai:p:a", record_to_marcxml(first)),
        _item("oai:p:b", record_to_marcxml(second)),
        _item("oai:p:a", None, deleted=True),
        _item("oai:p:b", record_to_marcxml(first)),
    ]
    with catalog.writer() as writer:
        counts = ingest(writer, TARGET, items)
    assert (counts.added, counts.deleted, counts.updated) == (2, 1, 1)
    assert catalog.marc_of("partner:oai:p:a") is None
    assert catalog.marc_of("partner:oai:p:b") == canonical_marc(copy.deepcopy(first))


def test_the_changes_of_a_page_name_the_source_and_the_run(catalog: Catalog) -> None:
    first, second = list(demo_records(2))
    items = [
        _item("oai:p:a", record_to_marcxml(first)),
        _item("oai:p:a", None, deleted=True),
        _item("oai:p:b", record_to_marcxml(second)),
    ]
    with catalog.writer() as writer:
        ingest(writer, IngestTarget("partner", "http://127.0.0.1:1/oai", 5), items)
    for local_id, outcomes in (("partner:oai:p:a", ["added", "deleted"]),
                               ("partner:oai:p:b", ["added"])):
        entry = catalog.get_entry(local_id)
        assert entry is not None
        history = catalog.record_history(entry.id)
        assert [(c.outcome.value, c.origin, c.source, c.run_id) for c in history] == [
            (outcome, "harvest", "partner", 5) for outcome in outcomes]


def test_a_harvested_record_past_max_record_bytes_is_a_reject(catalog: Catalog) -> None:
    """A partner's 9 MB record (9,000 notes) is refused with the reason; its neighbours come in."""
    from config import HarvestSource
    from harvester.http_fetch import Politeness
    from harvester.runs import SUCCEEDED, harvest
    from tests.fault_provider import FaultProvider, serve

    records = list(demo_records(5))
    provider = FaultProvider(records)
    giant = provider.items[2]
    notes = b"".join(
        b'<datafield tag="500" ind1=" " ind2=" "><subfield code="a">' + b"n" * 1000
        + b"</subfield></datafield>" for _ in range(9000)
    )  # fmt: skip
    assert giant.marcxml is not None
    giant.marcxml = giant.marcxml.replace(b"</record>", notes + b"</record>")
    assert len(giant.marcxml) > 9_000_000
    with serve(provider.app()) as url:
        report = harvest(catalog, HarvestSource(name="partner", url=url),
                         politeness=Politeness(delay=0, retries=0))
    assert report.status == SUCCEEDED
    assert (report.counts.added, report.counts.rejected) == (4, 1)
    (rejected,) = _rejects(catalog)
    assert rejected.identifier == giant.identifier and rejected.run_id == report.run_id
    assert rejected.reason.startswith("record of 9")
    assert "larger than max_record_bytes (1048576)" in rejected.reason
    assert len(rejected.raw) == 1048576
    assert catalog.get_entry(f"partner:{giant.identifier}", "marc21") is None


Ingests = Callable[[Catalog, list[Any]], Counts]
"""Stores one page of a protocol's items in a catalogue, in one transaction."""


def _oai_page(catalog: Catalog, items: list[Harvested]) -> Counts:
    with catalog.writer() as writer:
        return ingest(writer, TARGET, items)


def _stored_in_pages(
    folder: Path, items: list[Any], page: int, put: Ingests
) -> tuple[set[tuple[Any, ...]], list[tuple[str, str]], Counts]:
    """``items`` stored ``page`` at a time into a new catalogue, then the first of them again
    (a large page, found unchanged): the records stored (local id, digest, sets, canonical
    MARC, provenance identifier, format and payload), the rejects (identifier, reason), and
    what the second pass did. Checks that the workers ran for a large page only, and that
    every record has its terms and its three renditions."""
    url = f"sqlite:///{folder / f'page-{page}.sqlite3'}"
    catalog = Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url)))
    try:
        for start in range(0, len(items), page):
            put(catalog, items[start : start + page])
        assert (catalog._pool is not None) == (page >= PARALLEL_BATCH)  # workers used
        again = put(catalog, items[: max(page, PARALLEL_BATCH)])  # in workers too
        with catalog.engine.connect() as connection:
            r, p = models.records.c, models.provenance.c
            rows = set(connection.execute(
                select(r.local_id, r.digest, r.set_specs, r.marc, p.identifier,
                       p.metadata_namespace, p.payload).join(models.provenance)
            ))  # fmt: skip
            count = len(stored_terms(connection))
            renditions = len(connection.execute(select(models.renditions.c.format)).all())
        marcs = [row[3] for row in rows]
        assert count == sum(len(entries_of(read_canonical(m)).terms) for m in marcs)
        assert renditions == 3 * len(marcs)
        return rows, [(x.identifier, x.reason) for x in _rejects(catalog)], again
    finally:
        catalog.close()


def test_a_large_page_is_read_in_the_workers_as_a_small_one_is_here(tmp_path) -> None:
    """Records of a page of PARALLEL_BATCH or more are read into MARC21 in the worker
    processes; they are stored as when small pages have them read in the writing process,
    and one that cannot be read is refused with the same reason."""
    records = list(demo_records(PARALLEL_BATCH + 50))
    broken = copy.deepcopy(records[100])
    broken.leader = "garbage leader that is far too long"
    items = [_item(f"oai:p:{n}", record_to_marcxml(r)) for n, r in enumerate(records)]
    items[100] = _item("oai:p:broken", record_to_marcxml(broken))

    rows, rejects, again = _stored_in_pages(tmp_path, items, len(items), _oai_page)
    small, small_rejects, small_again = _stored_in_pages(tmp_path, items, 40, _oai_page)
    assert (rows, rejects) == (small, small_rejects)
    assert len(rows) == len(items) - 1
    for n, counts in ((len(items), again), (PARALLEL_BATCH, small_again)):
        assert (counts.added, counts.updated, counts.unchanged, counts.rejected) == (
            0, 0, n - 1, 1)
    (first, second) = rejects  # refused each time
    assert first == second and first[0] == "oai:p:broken" and "leader" in first[1]


def _sru_response(records: list[bytes]) -> bytes:
    """A searchRetrieveResponse (SRU 1.2) holding ``records``' MARCXML, without identifiers."""
    listed = b"".join(
        b"<record><recordSchema>marcxml</recordSchema><recordPacking>xml</recordPacking>"
        b"<recordData>" + data + b"</recordData><recordPosition>%d</recordPosition></record>"
        % position
        for position, data in enumerate(records, 1)
    )
    return (b'<searchRetrieveResponse xmlns="http://www.loc.gov/zing/srw/"><version>1.2'
            b"</version><numberOfRecords>%d</numberOfRecords><records>%s</records>"
            b"</searchRetrieveResponse>" % (len(records), listed))  # fmt: skip


def test_a_large_sru_page_is_read_in_the_workers_as_a_small_one_is_here(tmp_path) -> None:
    """SRU records without a recordIdentifier, keyed by their 001 (or a digest of their XML),
    are read in the worker processes for a large page, and stored under the identifiers,
    with the records and payloads, that reading each here gives; a record read here to be
    keyed goes along; one that cannot be read is refused with the reason reading it gives."""
    records = list(demo_records(PARALLEL_BATCH + 50))
    broken = copy.deepcopy(records[100])
    broken.leader = "garbage leader that is far too long"
    records[100] = broken
    for n, control in ((20, None), (30, "  spaced 001 "), (40, "   ")):
        records[n].remove_fields("001")
        if control is not None:
            records[n].add_ordered_field(Field("001", data=control))
    marcxml = [record_to_marcxml(r) for r in records]
    marcxml[50] = marcxml[50].replace(b"demo0000051<", b"demo<!-- read here -->0000051<")
    page = read_search(read_document(_sru_response(marcxml)))
    items = _items(page)

    # What ingest reads here, as every SRU record was read before.
    expected, reasons = set(), []
    for position, record in enumerate(page.records, 1):
        assert record.data is not None and record.identifier is None
        payload = etree.tostring(record.data)
        try:
            marc = to_marc(record.data)
        except IngestError as error:
            reasons.append(f"record {position}: {error}")
            continue
        identifier = identifier_of(marc, payload)
        expected.add((identifier, canonical_marc(marc), MARCXML_NS, payload))

    def put(catalog: Catalog, chunk: list[Harvested]) -> Counts:
        (counts,) = write_pages(catalog, TARGET, [(prepare(catalog, TARGET, chunk), None)])
        return counts

    assert _unread(tmp_path, lambda c: prepare(c, TARGET, items[:60])) == 60 - 1  # not #51

    rows, rejects, again = _stored_in_pages(tmp_path, items, len(items), put)
    small, small_rejects, small_again = _stored_in_pages(tmp_path, items, 40, put)
    assert (rows, rejects) == (small, small_rejects)
    assert {(row[4], row[3], row[5], row[6]) for row in rows} == expected
    assert len(expected) == len(items) - 1 and {"spaced001", "demo0000051"} <= {
        row[4] for row in rows}
    for n, counts in ((len(items), again), (PARALLEL_BATCH, small_again)):
        assert (counts.added, counts.updated, counts.unchanged, counts.rejected) == (
            0, 0, n - 1, 1)
    assert [reason for _, reason in rejects] == reasons * 2 and "leader" in reasons[0]
    assert rejects[0][0] == "demo0000101"  # kept under the 001 it was keyed by


def _unread(folder: Path, plan: Callable[[Catalog], Plan]) -> int:
    """How many records of the ``plan`` a new catalogue makes are left to read where they
    are derived."""
    url = f"sqlite:///{folder / 'plan.sqlite3'}"
    catalog = Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url)))
    try:
        return sum(isinstance(incoming.record, Unread) for step in plan(catalog)
                   if isinstance(step, _Records) for _, incoming in step.items)  # fmt: skip
    finally:
        catalog.close()


def _usmarc(title: str, control: str | None, encoded: str) -> bytes:
    """A record with ``title`` and the 001 ``control``, in ISO 2709: UTF-8, MARC-8 or an
    8-bit codec (as pymarc writes a record not in Unicode)."""
    record = Record(leader=Leader("00000nam a2200000 a 4500"))
    if control is not None:
        record.add_field(Field(tag="001", data=control))
    record.add_field(Field("245", ["1", "0"], [Subfield("a", title)]))
    if encoded == "utf-8":
        return record_to_iso2709(record)
    if encoded == "marc-8":
        return charsets.record_to_iso2709_marc8(record)
    record.leader = Leader("00000nam  2200000 a 4500")
    record["245"]["a"] = title.encode(encoded).decode("latin-1")
    record.to_unicode = False  # else pymarc writes UTF-8 and sets leader/09
    return record.as_marc()


@pytest.mark.parametrize("charset", [None, charsets.UTF8, charsets.CP1251])
def test_a_large_z3950_batch_is_read_in_the_workers_as_a_small_one_is_here(
    tmp_path, charset: str | None
) -> None:
    """USMARC records keyed by the 001 in their directory are decoded in the worker processes
    for a large batch, in the character set expected as before (MARC-8 with escapes, 8-bit
    sets detection cannot tell, UTF-8 agreed), and stored under the identifiers, with the
    records and payloads, that decoding each here gives; records decoded here to be keyed go
    along; one that cannot be decoded is refused with the reason decoding it gives."""
    data = [record_to_iso2709(r) for r in demo_records(PARALLEL_BATCH + 50)]
    data[10] = _usmarc("Café crème", "m8 1", "marc-8")  # MARC-8, no escapes
    data[11] = _usmarc("Война и мир", "m8 2", "marc-8")  # MARC-8 with escapes
    data[12] = _usmarc("Я", "1251 1", "cp1251")  # one 8-bit byte: detection guesses Latin-1
    data[13] = _usmarc("Война и мир", "1251 2", "cp1251")
    data[20] = _usmarc("No 001", None, "utf-8")
    data[30] = _usmarc("Blank 001", "   ", "utf-8")
    data[40] = _usmarc("Not plain", "ü-1", "utf-8")  # decoded here to be keyed
    data[100] = _usmarc("Bad indicator", "bad 1", "utf-8").replace(b"10", b"X0")
    data[110] = data[110][:-5]  # not flawless: decoded here, refused with its digest
    batch = [RetrievedRecord(n, "Default", oids.USMARC, d) for n, d in enumerate(data, 1)]

    # What was done here before: decode_usmarc, then identifier_of.
    expected, reasons = set(), []
    for position, raw in enumerate(data, 1):
        try:
            record = decode_usmarc(raw, charset)
        except RecordError as error:
            reasons.append(f"record {position}: {error}")
            continue
        expected.add((identifier_of(record, raw), canonical_marc(record), oids.USMARC, raw))

    def put(catalog: Catalog, chunk: list[RetrievedRecord]) -> Counts:
        return store_batch(catalog, TARGET, chunk, charset)[0]

    plan = lambda c: prepare_batch(c, TARGET, batch[:60], charset)  # noqa: E731
    assert _unread(tmp_path, plan) == 60 - 1  # all but #41, whose 001 is not plain ASCII
    rows, rejects, again = _stored_in_pages(tmp_path, batch, len(batch), put)
    small, small_rejects, _ = _stored_in_pages(tmp_path, batch, 40, put)
    assert rows == small and sorted(rejects) == sorted(small_rejects)
    assert {(row[4], row[3], row[5], row[6]) for row in rows} == expected
    if charset is None:
        assert {"m81", "m82", "12511", "12512", "ü-1"} <= {row[4] for row in rows}
    assert sorted(reason for _, reason in rejects) == sorted(reasons * 2)
    refused = dict((reason.split(":")[0], identifier) for identifier, reason in rejects)
    assert refused["record 101"] == "bad1" and refused["record 111"].startswith("sha1:")
    assert again.rejected == len(reasons) and again.added == again.updated == 0


def test_unimarc_data_with_no_place_in_marc21_is_noted_from_the_workers_as_here(
    tmp_path: Path,
) -> None:
    """The lines of what a UNIMARC record had with no place in MARC21 come back with the
    record read in a worker process (a large batch) as with one read here: a run's
    :class:`Unmapped` counts the same records and lines, whether stored or found unchanged,
    and says them in one line whatever their number."""
    rusmarc = (DATA / "unimarc" / "TEST1.ISO").read_bytes().split(b"\x1d")[:-1]
    copies = [record.replace(b"RU\\NLR\\", b"RU\\NL%d\\" % copy) + b"\x1d"
              for copy in range(3) for record in rusmarc]  # fmt: skip
    assert len(copies) >= PARALLEL_BATCH
    batch = [RetrievedRecord(n, "Default", oids.UNIMARC, d) for n, d in enumerate(copies, 1)]
    target = dataclasses.replace(TARGET, unimarc=True)
    expected = [registry_notes(data) for data in copies]
    noted: list[Unmapped] = []

    def put(catalog: Catalog, chunk: list[RetrievedRecord]) -> Counts:
        unmapped = Unmapped()
        noted.append(unmapped)
        plan = prepare_batch(catalog, target, chunk, None)
        (counts,) = write_pages(catalog, target, [(plan, None)], unmapped=unmapped)
        return counts

    _stored_in_pages(tmp_path, batch, len(batch), put)  # stored, then found unchanged
    _stored_in_pages(tmp_path, batch, 40, put)
    large, unchanged, *small = noted
    with_notes = sum(1 for notes in expected if notes)  # 801 $a $c are not noted: 5 have none
    assert (large.records, large.lines) == (with_notes, sum(len(n) for n in expected))
    assert large.line() == unchanged.line()
    assert sum(u.records for u in small[:-1]) == large.records  # the last: found unchanged
    assert sum(u.lines for u in small[:-1]) == large.lines
    line = large.line()
    assert line is not None and line.startswith(
        f"{with_notes} record(s) had UNIMARC data with no place in MARC21, left out "
        f"({large.lines} field(s) or subfield(s); first: RU\\NL0\\bibl\\3415: 010 $9: 700 "
        f"(and {len(expected[0]) - 1} more); "
    )
    assert line.count("RU\\NL") == 3 and len(line) < 700


def registry_notes(data: bytes) -> list[str]:
    """What ``koprik import --format unimarc`` reports of the UNIMARC record ``data``."""
    (item,) = registry.input_format("unimarc").read(BytesIO(data), 1 << 20)
    return item.notes


def test_a_harvest_transaction_aborted_by_a_deadlock_is_written_again_once(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    """The store step writes two pages in one transaction: record B (page 1), then record A
    (page 2). A transaction that is not the catalogue's writer (``koprik db sets`` placing
    records in sets: writers take turns, :func:`catalog.transactions.hold_writes`) meanwhile
    takes A, then B: each waits for the other, and PostgreSQL aborts the harvest's transaction
    (its deadlock_timeout ends first). The pages are written again, as a whole, once the other
    has committed: the counts, the page's ``on_batch`` and the reasons of the rejects are those
    of the one commit, not of both tries, and the run's warning says so in one line. Before,
    the harvest failed."""
    import threading

    from sqlalchemy import text

    if catalog.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: a writer waits for the other's lock")
    a, b = list(demo_records(2))

    def version(record: Record, note: str) -> Harvested:
        changed = copy.deepcopy(record)
        changed.add_ordered_field(Field("500", [" ", " "], [Subfield("a", note)]))
        return _item(f"oai:p:{record['001'].data}", record_to_marcxml(changed))

    write_pages(catalog, TARGET, [(prepare(catalog, TARGET, [version(a, "1"), version(b, "1")]),
                                   None)])  # fmt: skip
    refused = _item("oai:p:broken", b"<nothing/>")
    pages = [prepare(catalog, TARGET, [version(b, "harvest"), refused]),
             prepare(catalog, TARGET, [version(a, "harvest")])]  # fmt: skip
    other_done = threading.Event()

    def other() -> None:
        with catalog.engine.begin() as connection:
            for record in (a, b):  # B waits for the harvest's
                connection.execute(text("UPDATE records SET set_specs = set_specs "
                                        "WHERE local_id = :id"),
                                   {"id": f"partner:oai:p:{record['001'].data}"})  # fmt: skip
        other_done.set()

    tries, counted = [], []

    def on_first_page(writer: Any, counts: Counts) -> None:
        writer.connection.exec_driver_sql("SET LOCAL deadlock_timeout = '100ms'")
        tries.append(counts)
        writer.after_commit(lambda: counted.append(counts))
        if len(tries) > 1:
            return
        threading.Thread(target=other).start()
        until_waiting_for_a_lock(catalog.engine, 1)  # for B

    reasons: list[str] = []
    done = write_pages(catalog, TARGET, [(pages[0], on_first_page), (pages[1], None)], reasons)
    assert other_done.wait(60)
    assert len(tries) == 2 and len(counted) == 1
    assert [c.as_dict() for c in done] == [
        {"added": 0, "updated": 1, "deleted": 0, "unchanged": 0, "gone": 0, "rejected": 1},
        {"added": 0, "updated": 1, "deleted": 0, "unchanged": 0, "gone": 0, "rejected": 0}]
    assert len(reasons) == 1 and len(_rejects(catalog)) == 1
    retries = [r.getMessage() for r in caplog.records if "running it again" in r.getMessage()]
    assert len(retries) == 1 and retries[0].startswith(
        "catalog transaction aborted by the database (deadlock detected)")
    for record in (a, b):
        entry = catalog.get_entry(f"partner:oai:p:{record['001'].data}", "marc21")
        assert entry is not None and b"harvest" in entry.data
