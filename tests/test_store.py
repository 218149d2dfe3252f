"""The catalogue on SQLite and on PostgreSQL (the catalog fixture runs each test on both)."""

import copy
import time

import pytest
from pymarc import Field, Indicators, Leader, RawField, Record, Subfield
from sqlalchemy import select

from catalog import Outcome, Provenance, models, store
from catalog.demo import demo_records
from catalog.restamp import RESTAMP_TRIES
from catalog.search_index import stored_terms
from catalog.store import Incoming
from crosswalks.iso2709 import checked_length
from crosswalks.marc_io import iter_records
from tests.conftest import DATA


def test_put_is_idempotent_and_updates_bump_the_datestamp(catalog, monkeypatch):
    records = list(demo_records(20))
    with catalog.writer() as writer:
        assert {writer.put(r) for r in records} == {Outcome.ADDED}
    first = catalog.get_entry("demo0000003", "oai_dc")
    assert first is not None and b"<oai_dc:dc" in first.data
    with catalog.writer() as writer:
        assert {writer.put(r) for r in records} == {Outcome.UNCHANGED}

    monkeypatch.setattr(time, "time", lambda: first.datestamp + 5.0)
    edited = records[2]
    edited.add_field(Field(tag="500", indicators=Indicators(" ", " "),
                           subfields=[Subfield("a", "Edited note")]))
    with catalog.writer() as writer:
        assert writer.put(edited) == Outcome.UPDATED
    again = catalog.get_entry("demo0000003", "marc21")
    assert again.datestamp == first.datestamp + 5
    assert b"Edited note" in again.data
    assert catalog.count(None) == 20


def test_every_rendition_is_written_with_the_record(catalog):
    with catalog.writer() as writer:
        writer.put(next(demo_records(1)))
    assert catalog.formats_of("demo0000001") == ["oai_dc", "marc21", "mods"]
    assert catalog.formats_of("nope") is None
    assert catalog.get_entry("demo0000001", "mods").data.startswith(b"<mods")


def test_keyset_listing_with_sets_and_dates(catalog, monkeypatch):
    clock = iter(range(1_000_000, 1_000_100))
    records = list(demo_records(30))
    for start in range(0, 30, 10):
        tick = float(next(clock))
        monkeypatch.setattr(time, "time", lambda tick=tick: tick)
        with catalog.writer() as writer:
            for record in records[start : start + 10]:
                writer.put(record)
    everything = catalog.list_entries("oai_dc", limit=100)
    assert [e.key for e in everything] == sorted(e.key for e in everything)
    assert len(everything) == 30

    pages, after = [], None
    while page := catalog.list_entries("oai_dc", after=after, limit=7):
        pages.append(page)
        after = page[-1].key
    assert [e.local_id for p in pages for e in p] == [e.local_id for e in everything]

    middle = catalog.list_entries("marc21", from_=1_000_001, until=1_000_001, limit=100)
    assert [e.local_id for e in middle] == [f"demo{n:07d}" for n in range(11, 21)]
    assert catalog.count("marc21", from_=1_000_001, until=1_000_001) == 10

    uzbek = catalog.list_entries("oai_dc", set_spec="lang:uzb", limit=100)
    assert uzbek and all("lang:uzb" in e.set_specs for e in uzbek)
    assert catalog.count("oai_dc", set_spec="lang") == 30
    assert catalog.count("oai_dc", set_spec="lang", at_most=30) == 30
    assert catalog.count("oai_dc", set_spec="lang", at_most=29) is None
    assert catalog.count("marc21", from_=1_000_001, until=1_000_001, at_most=9) is None
    assert ("lang:uzb", "By language: Uzbek") in catalog.list_sets()


def test_list_statements_are_reused_per_shape_with_their_values_and_kept_bounded(catalog):
    with catalog.writer() as writer:
        for record in demo_records(12):
            writer.put(record)
    everything = catalog.list_entries("marc21", limit=100)
    by_language: dict[str, list[str]] = {}
    for entry in everything:
        for spec in entry.set_specs:
            by_language.setdefault(spec, []).append(entry.local_id)
    for spec, expected in by_language.items():  # one shape, each set's own value
        assert [e.local_id for e in catalog.list_entries("marc21", set_spec=spec)] == expected
    for size in range(store.LIST_QUERIES_KEPT + 10):  # a shape per size limit
        listed = catalog.list_entries("marc21", after=everything[2].key, limit=3,
                                      max_bytes=1_000 + size)  # fmt: skip
        assert [e.key for e in listed] == [e.key for e in everything[3:6]]
        assert len(store._LIST_QUERIES) <= store.LIST_QUERIES_KEPT


def test_deletions_are_persistent_and_move_to_the_end(catalog, monkeypatch):
    records = list(demo_records(5))
    monkeypatch.setattr(time, "time", lambda: 2_000_000.0)
    with catalog.writer() as writer:
        for record in records:
            writer.put(record)
    monkeypatch.setattr(time, "time", lambda: 2_000_010.0)
    with catalog.writer() as writer:
        assert writer.delete("demo0000002") == Outcome.DELETED
        assert writer.delete("demo0000002") == Outcome.GONE
    listed = catalog.list_entries("mods", limit=10)
    assert listed[-1].local_id == "demo0000002" and listed[-1].deleted
    assert listed[-1].data is None and listed[-1].datestamp == 2_000_010
    assert catalog.formats_of("demo0000002") == ["oai_dc", "marc21", "mods"]
    in_set = catalog.list_entries("oai_dc", set_spec=listed[-1].set_specs[0], limit=10)
    assert "demo0000002" in [e.local_id for e in in_set]
    with catalog.writer() as writer:
        assert writer.put(records[1]) == Outcome.UPDATED
    assert not catalog.get_entry("demo0000002", "oai_dc").deleted


def test_harvested_records_keep_provenance_and_are_keyed_by_source(catalog):
    record = next(demo_records(1))
    origin = Provenance("partner", "http://127.0.0.1:9/oai", "oai:x.org:1", "2020-01-01",
                        "http://www.loc.gov/MARC21/slim", b"<record/>")
    with catalog.writer() as writer:
        assert writer.put(record, provenance=origin) == Outcome.ADDED
        assert writer.put(record, provenance=origin) == Outcome.UNCHANGED
    entry = catalog.get_entry("partner:oai:x.org:1", "oai_dc")
    assert entry.provenance.identifier == "oai:x.org:1"
    assert entry.provenance.base_url == "http://127.0.0.1:9/oai"
    with catalog.writer() as writer:
        assert writer.delete_harvested(origin) == Outcome.DELETED
    assert catalog.get_entry("partner:oai:x.org:1", None).deleted


def test_a_failed_transaction_leaves_nothing(catalog):
    record = next(demo_records(1))
    with pytest.raises(RuntimeError, match="crash mid-page"), catalog.writer() as writer:
        writer.put(record)
        raise RuntimeError("crash mid-page")
    assert catalog.is_empty()
    assert catalog.list_sets() == []


def test_datestamps_are_the_time_of_commit_not_of_the_start(catalog, monkeypatch):
    clock = [3_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    records = list(demo_records(3))
    with catalog.writer() as writer:
        writer.put(records[0])
    with catalog.writer() as writer:
        writer.put(records[1])
        writer.delete("demo0000001")
        clock[0] = 3_000_042.0  # a long transaction: it commits 42 s after it began
    stamped = {e.local_id: e.datestamp for e in catalog.list_entries(None, limit=10)}
    assert stamped == {"demo0000001": 3_000_042, "demo0000002": 3_000_042}
    in_sets = catalog.list_entries(None, set_spec="lang", from_=3_000_042, limit=10)
    assert {e.local_id for e in in_sets} == {"demo0000001", "demo0000002"}


def test_records_committed_in_a_later_second_move_to_it(catalog, monkeypatch):
    """A COMMIT ending a second after its datestamp: a harvest answered in that second did not
    see the records, and one from its responseDate would miss them, so they move to it."""
    clock = [3_000_000.0]

    records = list(demo_records(3))
    with catalog.writer() as writer:
        writer.put(records[0])
    monkeypatch.setattr(time, "time", lambda: clock[0])
    with catalog.writer() as writer:
        writer.put(records[1])
        writer.delete("demo0000001")
        writer.write_changes = _then(writer.write_changes, lambda: clock.__setitem__(0, 3e6 + 1.5))
    stamped = {e.local_id: e.datestamp for e in catalog.list_entries(None, limit=10)}
    assert stamped == {"demo0000001": 3_000_001, "demo0000002": 3_000_001}
    in_sets = catalog.list_entries(None, set_spec="lang", from_=3_000_001, limit=10)
    assert {e.local_id for e in in_sets} == {"demo0000001", "demo0000002"}
    for entry in catalog.list_entries(None, limit=10):
        assert catalog.record_history(entry.id)[-1].datestamp == 3_000_001


def test_a_commit_never_in_its_second_stops_moving_records(catalog, monkeypatch, caplog):
    """A clock a second on at every reading: the writer gives up after its tries, and says so."""
    ticks = iter(range(4_000_000, 4_000_100))
    monkeypatch.setattr(time, "time", lambda: float(next(ticks)))
    with catalog.writer() as writer:
        writer.put(next(demo_records(1)))
    assert catalog.get_entry("demo0000001").datestamp > 4_000_000 + RESTAMP_TRIES
    assert "a harvest answered meanwhile may miss them" in caplog.text


def _then(call, after):
    """``call``, then ``after()``: what happens last before COMMIT, made to take a while."""
    def both(*args, **kwargs):
        result = call(*args, **kwargs)
        after()
        return result
    return both


def test_control_characters_never_reach_a_local_identifier(catalog):
    record = next(demo_records(1))
    record["001"].data = "demo\x00 12\x1f3"
    with catalog.writer() as writer:
        writer.put(record)
    assert catalog.get_entry("demo123", "oai_dc") is not None


def test_a_record_of_ours_never_takes_the_id_of_another_sources_record(catalog):
    """Our records are keyed by their bare 001, another source's by SOURCE:001: a 001 of ours
    written 'sam:sam0003' replaced Samarqand's record (its source then NULL), and one written
    first made Samarqand's own import fail on a UNIQUE constraint. It is refused, alone."""
    theirs, ours, other = (copy.deepcopy(r) for r in demo_records(3))
    theirs["001"].data = "sam0003"
    ours["001"].data = "sam:sam0003"
    with catalog.writer() as writer:
        assert writer.put_many([Incoming(theirs, source="sam")]) == [Outcome.ADDED]
        first, second = writer.put_many([Incoming(ours), Incoming(other)])
    assert isinstance(first, store.RecordError) and second == Outcome.ADDED
    assert str(first).startswith("001 'sam:sam0003' has a ':', which only the ids of other "
                                 "sources' records (SOURCE:ID) and of union records have")
    with catalog.engine.connect() as connection:
        row = connection.execute(select(models.records.c.source, models.records.c.marc).where(
            models.records.c.local_id == "sam:sam0003")).one()
    assert row.source == "sam" and row.marc == store.canonical_marc(theirs)


def test_a_record_over_the_size_limit_is_refused_with_the_limit_named(settings):
    import dataclasses

    from catalog import Catalog, RecordError
    from config import LimitSettings

    small = dataclasses.replace(settings, limits=LimitSettings(max_record_bytes=2000))
    catalog = Catalog.open(small)
    records = list(demo_records(3))
    records[1].add_field(Field(tag="500", indicators=Indicators(" ", " "),
                               subfields=[Subfield("a", "x" * 3000)]))
    with catalog.writer() as writer:
        results = writer.put_many([Incoming(r) for r in records])
    catalog.close()
    assert results[0] == results[2] == Outcome.ADDED
    assert isinstance(results[1], RecordError)
    assert "larger than the limit of 2000 (limits.max_record_bytes)" in str(results[1])


def test_a_record_whose_derivations_fail_is_rejected_alone(catalog, monkeypatch, caplog):
    """A fault in one record's derivations (here the search terms) rejects that record with
    the reason, logs it, and stores the rest of the batch with everything derived."""
    from catalog import RecordError

    records = list(demo_records(3))
    broken = records[1]["001"].data
    made_terms = store.entries_of

    def terms_failing_for_one(record, **given):
        if record["001"].data == broken:
            raise KeyError("no such field number")
        return made_terms(record, **given)

    monkeypatch.setattr(store, "entries_of", terms_failing_for_one)
    with catalog.writer() as writer:
        results = writer.put_many([Incoming(r) for r in records])
    assert results[0] == results[2] == Outcome.ADDED
    assert isinstance(results[1], RecordError)
    assert str(results[1]) == "its derivations failed: KeyError: 'no such field number'"
    assert f"record {broken}: its derivations failed" in caplog.text
    assert catalog.get_entry(broken) is None
    r = models.records
    with catalog.engine.connect() as connection:
        for record in (records[0], records[2]):
            local_id = record["001"].data
            assert catalog.get_entry(local_id, "mods") is not None
            rid = connection.execute(select(r.c.id).where(r.c.local_id == local_id)).scalar_one()
            assert stored_terms(connection, [rid])


def test_a_record_longer_than_iso2709_allows_is_refused(catalog):
    from catalog import RecordError

    record = next(demo_records(1))
    record.add_field(Field(tag="505", indicators=Indicators("0", " "),
                           subfields=[Subfield("a", "y" * 9000)] * 12))
    with catalog.writer() as writer, pytest.raises(RecordError, match="longer than ISO 2709"):
        writer.put(record)


def _canonical_by_pymarc(record: Record) -> bytes:
    """:func:`catalog.store.canonical_marc` as it was, with pymarc's ``as_marc`` writing every
    record (and refusing, as it does, bytes that break ISO 2709: a field or record too long, a
    tag not of three characters): the reference for its own writer."""
    leader = str(record.leader)
    if leader[9:10] != "a":
        record.leader = leader[:9] + "a" + leader[10:]
    for field in record.fields:
        if field.is_control_field() and field.data is None:
            field.data = ""
    record.force_utf8 = True
    marc: bytes = checked_length(record.as_marc(), record)
    head = marc[:24]
    if head.isascii() and str(record.leader) != (written := head.decode("ascii")):
        record.leader = Leader(written)
    return marc


def _outcome(write, record: Record) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
    """What ``write`` gives for a copy of ``record`` (bytes, or the error), and what it leaves
    of the record."""
    record = copy.deepcopy(record)
    try:
        made: object = write(record)
    except Exception as error:  # the reference raises whatever pymarc raises
        made = (type(error), str(error))
    return made, type(record.leader), str(record.leader), record.as_dict()


def _odd_records() -> list[Record]:
    """Records a reader or a crosswalk may make that pymarc writes in its own way."""
    odd = []
    for change in [
        lambda r: r.add_field(Field(tag="1", data="short tag")),
        lambda r: r.add_field(Field(tag="12345", indicators=Indicators("1", "0"),
                                    subfields=[Subfield("a", "long tag")])),
        lambda r: r.add_field(Field(tag="\u0663\u0663\u0663", indicators=Indicators(" ", " "),
                                    subfields=[Subfield("a", "Arabic-Indic digits")])),
        lambda r: r.add_field(Field(tag="00\u00e9", data="non-ASCII tag")),
        lambda r: r.add_field(RawField(tag="500", indicators=Indicators(" ", " "),
                                       subfields=[Subfield("a", b"raw")])),
        lambda r: r.add_field(Field(tag="005")),
        lambda r: r.add_field(Field(tag="500", indicators=Indicators(" ", " "),
                                    subfields=[Subfield("a", None)])),  # type: ignore[arg-type]
        lambda r: r.add_field(Field(tag="500", indicators=Indicators(" ", " "),
                                    subfields=[Subfield("a", "lone \udc80 surrogate")])),
        lambda r: r.add_field(Field(tag="505", indicators=Indicators(" ", " "),
                                    subfields=[Subfield("a", "y" * 12_000)])),
        lambda r: r.add_field(Field(tag="500", indicators=Indicators("\u00e9", " "),
                                    subfields=[Subfield("\u00e9", "accented code")])),
        lambda r: setattr(r, "leader", Leader("01234cam  2200000   4500")),
        lambda r: setattr(r, "leader", "00000nam a2200000 i 4500"),
        lambda r: setattr(r, "leader", "00000nam a2200000 i 450"),
        lambda r: setattr(r, "leader", "short"),
        lambda r: setattr(r, "leader", "00000\u00e9am a2200000 i 4500"),
        lambda r: setattr(r, "to_unicode", False),
        lambda r: setattr(r, "fields", []),
    ]:
        record = next(demo_records(1))
        change(record)
        odd.append(record)
    return odd


def test_canonical_marc_writes_what_pymarc_writes():
    """The canonical bytes and what becomes of the record, for demo records, the MARC21 test
    files read every way (ISO 2709 in UTF-8, MARC-8 and code pages, MARCXML, MARC-in-JSON,
    .mrk) and odd records, equal those of pymarc's ``as_marc``."""
    records = [*demo_records(200), *_odd_records()]
    for path in sorted((DATA / "marc21").rglob("*")):
        if path.suffix in (".dat", ".mrc", ".marc", ".xml", ".json", ".mrk"):
            records.extend(i.record for i in iter_records(path) if i.record is not None)
    assert len(records) > 300
    for record in records:
        assert _outcome(store.canonical_marc, record) == _outcome(_canonical_by_pymarc, record)


def test_set_memberships_are_those_of_a_records_last_write_in_a_transaction(catalog, monkeypatch):
    clock = [3_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    first, other = list(demo_records(2))
    second = copy.deepcopy(first)
    fixed = second["008"]
    language = "rus" if fixed.data[35:38] != "rus" else "uzb"
    fixed.data = fixed.data[:35] + language + fixed.data[38:]
    with catalog.writer() as writer:
        writer.put(first)
        writer.put(other)
        writer.now = 3_000_007  # a caller's own datestamp, from here on
        writer.put(second)
        clock[0] = 3_000_042.0
    rs, r = models.record_sets, models.records
    with catalog.engine.connect() as connection:
        held = connection.execute(
            select(r.c.local_id, rs.c.set_spec, rs.c.datestamp).join(r, r.c.id == rs.c.record_id)
        ).all()
    languages = {spec for local_id, spec, _ in held
                 if local_id == "demo0000001" and spec.startswith("lang:")}
    assert languages == {"lang:" + second["008"].data[35:38]}
    assert {(local_id, datestamp) for local_id, _, datestamp in held} == {
        ("demo0000001", 3_000_007), ("demo0000002", 3_000_000)}


def test_a_source_identifier_with_any_space_is_kept_under_a_digest():
    """Every character ``str.isspace`` names (Unicode's), and none other, makes the local id
    of a source's record a digest of its identifier."""
    spaces = [chr(code) for code in range(0x110000) if chr(code).isspace()]
    assert len(spaces) > 20  # the Unicode ones too, not only ASCII
    for space in spaces:
        local_id = store.source_local_id("peer", f"oai:peer:{space}1")
        assert local_id.startswith("peer:") and len(local_id) == len("peer:") + 24, repr(space)
    for kept in ("oai:peer:1", "oai:peer:\u200b1", "oai:peer:Навоий-1"):
        assert store.source_local_id("peer", kept) == f"peer:{kept}"
