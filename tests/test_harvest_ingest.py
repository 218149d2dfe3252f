"""harvester.ingest: crosswalk by metadata namespace, upsert with provenance, quarantine."""

from __future__ import annotations

import copy
import dataclasses

from lxml import etree
from sqlalchemy import select

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.harvest_state import harvest_rejects
from catalog.search_index import entries_of, read_canonical, terms
from catalog.store import PARALLEL_BATCH, canonical_marc
from config import DatabaseSettings, Settings
from crosswalks.marcxml import record_to_marcxml
from crosswalks.mods import marc_to_mods
from harvester.harvested import Harvested
from harvester.ingest import IngestTarget, ingest

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
                                "rejected": 0}
    entry = catalog.get_entry("partner:oai:p:dc", "marc21")
    assert entry is not None and entry.provenance is not None
    assert entry.provenance.metadata_namespace == "http://www.openarchives.org/OAI/2.0/oai_dc/"
    assert entry.provenance.datestamp == "2024-05-01T10:00:00Z"
    assert b"Bir kitob" in (entry.data or b"")
    assert catalog.marc_of("partner:oai:p:marc") == canonical_marc(copy.deepcopy(marc))
    title = catalog.get_entry("partner:oai:p:mods", "marc21")
    assert title is not None and mods.title is not None
    assert mods.title.split()[0].encode() in (title.data or b"")
    # the same again is unchanged; a deletion then deletes, once
    with catalog.writer() as writer:
        again = ingest(writer, TARGET, [*items, _item("oai:p:dc", None, deleted=True)])
        twice = ingest(writer, TARGET, [_item("oai:p:dc", None, deleted=True)])
    assert (again.unchanged, again.deleted, twice.deleted, twice.unchanged) == (3, 1, 0, 1)


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



def test_a_large_page_is_read_in_the_workers_as_a_small_one_is_here(tmp_path) -> None:
    """Records of a page of PARALLEL_BATCH or more are read into MARC21 in the worker
    processes; they are stored as when small pages have them read in the writing process,
    and one that cannot be read is refused with the same reason."""
    records = list(demo_records(PARALLEL_BATCH + 50))
    broken = copy.deepcopy(records[100])
    broken.leader = "garbage leader that is far too long"
    items = [_item(f"oai:p:{n}", record_to_marcxml(r)) for n, r in enumerate(records)]
    items[100] = _item("oai:p:broken", record_to_marcxml(broken))

    def stored(name: str, page: int) -> tuple[set, int, list]:  # type: ignore[type-arg]
        url = f"sqlite:///{tmp_path / name}"
        catalog = Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url)))
        try:
            for start in range(0, len(items), page):
                with catalog.writer() as writer:
                    ingest(writer, TARGET, items[start : start + page])
            assert (catalog._pool is not None) == (page >= PARALLEL_BATCH)  # workers used
            n = max(page, PARALLEL_BATCH)  # the same again: found unchanged, in workers too
            with catalog.writer() as writer:
                again = ingest(writer, TARGET, items[:n])
            assert (again.added, again.updated, again.unchanged, again.rejected) == (
                0, 0, n - 1, 1)
            with catalog.engine.connect() as connection:
                r = models.records.c
                rows = set(connection.execute(select(r.local_id, r.digest, r.set_specs)))
                count = len(connection.execute(select(terms.c.record_id)).all())
                marcs = connection.execute(select(r.marc)).scalars().all()
                renditions = len(connection.execute(select(models.renditions.c.format)).all())
            # Every record has its terms and its three renditions.
            assert count == sum(len(entries_of(read_canonical(m)).terms) for m in marcs)
            assert renditions == 3 * len(marcs)
            return rows, count, [(x.identifier, x.reason) for x in _rejects(catalog)]
        finally:
            catalog.close()

    in_workers = stored("large.sqlite3", len(items))
    assert in_workers == stored("small.sqlite3", 40)
    assert len(in_workers[0]) == len(items) - 1
    (first, again) = in_workers[2]  # refused each time
    assert first == again and first[0] == "oai:p:broken" and "leader" in first[1]
