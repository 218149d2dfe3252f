"""Each record's change history (``record_changes``), on SQLite and on PostgreSQL."""

import hashlib
import time

from pymarc import Field, Indicators, Subfield

from catalog import Outcome, Provenance
from catalog.demo import demo_records
from catalog.store import PARALLEL_BATCH, Incoming, canonical_marc


def _record_id(catalog, local_id):
    entry = catalog.get_entry(local_id)
    assert entry is not None
    return entry.id


def test_add_update_delete_are_three_changes_in_order(catalog, monkeypatch):
    record = next(demo_records(1))
    first_digest = hashlib.sha256(canonical_marc(record)).hexdigest()
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    with catalog.writer("import") as writer:
        assert writer.put(record) == Outcome.ADDED
    record.add_field(Field(tag="500", indicators=Indicators(" ", " "),
                           subfields=[Subfield("a", "Edited note")]))
    second_digest = hashlib.sha256(canonical_marc(record)).hexdigest()
    clock[0] = 1_000_010.0
    with catalog.writer("import") as writer:
        assert writer.put(record) == Outcome.UPDATED
    clock[0] = 1_000_020.0
    with catalog.writer() as writer:
        assert writer.delete("demo0000001") == Outcome.DELETED

    history = catalog.record_history(_record_id(catalog, "demo0000001"))
    assert [(c.datestamp, c.outcome, c.origin, c.previous_digest) for c in history] == [
        (1_000_000, Outcome.ADDED, "import", None),
        (1_000_010, Outcome.UPDATED, "import", first_digest),
        (1_000_020, Outcome.DELETED, "catalog", second_digest),
    ]
    assert catalog.get_entry("demo0000001").datestamp == 1_000_020


def test_an_unchanged_write_adds_no_change(catalog):
    records = list(demo_records(5))
    with catalog.writer() as writer:
        writer.put_many([Incoming(r) for r in records])
    with catalog.writer() as writer:
        assert set(writer.put_many([Incoming(r) for r in records])) == {Outcome.UNCHANGED}
        assert writer.delete("nope") == Outcome.GONE
    for record in records:
        history = catalog.record_history(_record_id(catalog, record["001"].data))
        assert [c.outcome for c in history] == [Outcome.ADDED]


def test_the_change_has_the_datestamp_the_record_commits_with(catalog, monkeypatch):
    clock = iter([2_000_000.0, 2_000_007.0])  # the transaction ends 7 s after it began
    monkeypatch.setattr(time, "time", lambda: next(clock, 2_000_007.0))
    with catalog.writer() as writer:
        writer.put(next(demo_records(1)))
    entry = catalog.get_entry("demo0000001")
    assert entry.datestamp == 2_000_007
    assert [c.datestamp for c in catalog.record_history(entry.id)] == [2_000_007]


def test_a_harvested_change_names_its_source_and_run(catalog):
    provenance = Provenance("partner", "http://127.0.0.1:1/oai", "oai:partner:1",
                            "2024-01-01T00:00:00Z", "http://www.loc.gov/MARC21/slim")
    record = next(demo_records(1))
    with catalog.writer() as writer:
        writer.run_id = 42
        assert writer.put(record, provenance=provenance) == Outcome.ADDED
        assert writer.delete_harvested(provenance) == Outcome.DELETED
    entry = catalog.get_entry("partner:oai:partner:1")
    history = catalog.record_history(entry.id)
    assert [(c.outcome, c.origin, c.source, c.run_id) for c in history] == [
        (Outcome.ADDED, "harvest", "partner", 42),
        (Outcome.DELETED, "harvest", "partner", 42),
    ]


def test_a_large_batch_written_by_the_workers_records_every_change(catalog):
    records = list(demo_records(300))
    assert len(records) >= PARALLEL_BATCH  # the renditions are made in worker processes
    with catalog.writer("import") as writer:
        assert set(writer.put_many([Incoming(r) for r in records])) == {Outcome.ADDED}
    records[0].add_field(Field(tag="500", indicators=Indicators(" ", " "),
                               subfields=[Subfield("a", "Edited note")]))
    with catalog.writer("import") as writer:
        outcomes = writer.put_many([Incoming(r) for r in records])
    assert outcomes.count(Outcome.UPDATED) == 1
    histories = [catalog.record_history(_record_id(catalog, r["001"].data)) for r in records]
    assert [c.outcome for c in histories[0]] == [Outcome.ADDED, Outcome.UPDATED]
    assert all([c.outcome for c in h] == [Outcome.ADDED] for h in histories[1:])
    assert all(h[0].origin == "import" for h in histories)
