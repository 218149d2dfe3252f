"""Deduplication into union records on a real catalogue (catalog/dedup.py), both engines."""

import dataclasses
import time

import pytest
from pymarc import Field, Record, Subfield
from sqlalchemy import select

from catalog import Catalog, models
from catalog.db import insert_rows
from catalog.dedup import DedupError, DedupReport, run_dedup, unqueue
from catalog.dedup_operators import explain, merge, review_decide, review_list, split
from catalog.query import Match, search
from catalog.store import Incoming
from config.settings import DedupSettings, FileSource
from harvester.scheduler import start_scheduler
from tests.books import book

SOURCES = [FileSource("sam", "UzSaRL", "Samarqand"), FileSource("bux", "UzBuRL", "Buxoro"),
           FileSource("xor", "UzXoRL", "Xorazm")]


@pytest.fixture
def union_catalog(settings):
    opened = Catalog.open(dataclasses.replace(settings, file_sources=SOURCES))
    yield opened
    opened.close()


def put(catalog, *items):
    with catalog.writer() as writer:
        return writer.put_many([Incoming(record, source=source) for source, record in items])


def history(control, *, script="latin", **extra):
    title, author = ("Ўзбекистон тарихи", "Каримов, Алишер") if script == "cyrillic" else (
        "O‘zbekiston tarixi", "Karimov, Alisher")
    return book(control, title, author=author, **extra)


def hits(catalog, index, term):
    with catalog.engine.connect() as connection:
        return search(connection, Match(index, term), limit=100).ids


def marc(catalog, local_id):
    data = catalog.marc_of(local_id)
    return None if data is None else Record(data=data, force_utf8=True)


def members(catalog, union_id):
    """The members a union record names, ``(CODE)IDENTIFIER``."""
    return sorted(f.get("a") for f in marc(catalog, union_id).get_fields("035"))


def holdings(record):
    return sorted(f.get("a") for f in record.get_fields("852"))


def test_copies_in_two_scripts_from_three_sources_become_one_union_record(union_catalog):
    c = union_catalog
    put(c, (None, history("1", script="cyrillic", isbn="978-9943-01-234-9", organization="UzNL",
                          call_number="T3(5U)", subjects=("Тарих",))),
        ("sam", history("1", isbn="994301234X", subjects=("Tarix", "Madaniyat"))),
        ("bux", book("77", "O'zbekiston tarixi.", author="Karimov, A.", sublocation="Main")),
        ("sam", book("2", "Kimyo", author="Rahimov, Botir")))
    report = run_dedup(c)
    assert (report.processed, report.unions_written) == (4, 1)
    union = marc(c, "union:1")
    assert holdings(union) == ["UzBuRL", "UzNL", "UzSaRL"]
    assert {f.get("a") for f in union.get_fields("035")} == {
        "(UzNL)1", "(UzSaRL)1", "(UzBuRL)77"}
    ours = next(f for f in union.get_fields("852") if f.get("a") == "UzNL")
    assert ours.get("h") == "T3(5U)"
    assert next(f for f in union.get_fields("852") if f.get("a") == "UzBuRL").get("b") == "Main"
    assert len(union.get_fields("650")) == 2  # Тарих = Tarix once, and Madaniyat
    listed = {e.local_id: e.deleted for e in c.list_entries("marc21", limit=100)}
    assert listed == {"1": True, "sam:1": True, "bux:77": True, "sam:2": False, "union:1": False}
    assert [c.get_entry(i, None).local_id for i in ("union:1",)] == ["union:1"]
    assert len(hits(c, "title", "tarixi")) == 1
    assert len(hits(c, "title", "kimyo")) == 1
    assert marc(c, "sam:1") is None  # a member is not served by itself
    assert run_dedup(c).processed == 0  # the queue is empty



def test_a_word_of_another_members_title_finds_the_union_record(union_catalog):
    c = union_catalog
    put(c, ("sam", book("1", "Хамса", author="Навоий, Алишер")),
        ("bux", book("7", "Xamsa", subtitle="besh doston", author="Navoiy, Alisher")))
    run_dedup(c)
    assert hits(c, "title", "doston") == [c.get_entry("union:1", None).id]

def test_a_stop_between_batches_leaves_the_rest_queued(union_catalog):
    """(A harvest stopped by the operator while the union catalogue follows it.)"""
    c = union_catalog
    put(c, *[("sam", book(str(n), f"Kitob {n}", author="Rahimov, Botir")) for n in range(5)])
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 1  # after the first batch

    assert run_dedup(c, batch=2, stop=stop).processed == 2
    with c.engine.connect() as connection:
        queued = connection.execute(select(models.dedup_queue.c.record_id)).scalars().all()
    assert len(queued) == 3
    assert run_dedup(c, batch=2).processed == 3


def test_the_scheduler_works_through_what_was_written_outside_a_harvest(union_catalog):
    """Copy cataloguing and ``koprik demo`` write without deduplicating: the records waited
    for the next import or harvest."""
    c = union_catalog
    put(c, ("sam", history("1")), ("bux", history("1", script="cyrillic")))
    scheduler = start_scheduler(c.settings, c, sync_seconds=0.2)
    try:
        deadline = time.monotonic() + 20
        while marc(c, "union:1") is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL"]
    with c.engine.connect() as connection:
        assert connection.execute(select(models.dedup_queue.c.record_id)).all() == []


def test_records_of_one_source_are_never_grouped(union_catalog):
    put(union_catalog, ("sam", history("1")), ("sam", history("2")))
    assert run_dedup(union_catalog).unions_written == 0
    assert union_catalog.count(None) == 2


def test_traps_stay_apart(union_catalog):
    put(union_catalog, (None, history("1", organization="UzNL", volume="1-jild")),
        ("sam", history("1", volume="2-jild")),
        ("bux", history("1", edition="2-nashr", year=2005)),
        ("xor", book("1", "История Узбекистана", author="Каримов, Алишер", language="rus")),
        ("xor", book("2", "O‘zbekiston tarixi", author="Rahimov, Botir")))
    run_dedup(union_catalog)
    assert union_catalog.marc_of("union:1") is None
    why = explain(union_catalog, "sam:1")
    assert any(d[3].startswith("volume/part: 2 / 1") for d in why.decisions), why.decisions



def test_a_copy_whose_830_repeats_its_series_number_joins_the_copy_without_830(union_catalog):
    """A series numbered in 490 and, traced, in 830 is the series of the copy that has the 490
    alone: its number was read 2.2 against 2, a veto, and the book was served twice."""
    traced = history("1", script="cyrillic", series=("Мактаб кутубхонаси", "2-китоб"))
    traced.add_field(Field(tag="830", indicators=[" ", "0"], subfields=[
        Subfield("a", "Мактаб кутубхонаси ;"), Subfield("v", "2-китоб.")]))
    put(union_catalog, ("sam", traced),
        ("bux", history("7", series=("Maktab kutubxonasi", "2-kitob"))))
    run_dedup(union_catalog)
    assert holdings(marc(union_catalog, "union:1")) == ["UzBuRL", "UzSaRL"]


def test_a_copy_whose_isbn_has_a_cyrillic_x_joins_the_copies_of_the_isbn(union_catalog):
    """Its ISBN kept aside as a wrong check digit, the copy needed a title 0.85 alike: one
    whose title proper names the genre too stayed apart."""
    put(union_catalog,
        ("sam", book("1", "Садди Искандарий. Достон", author="Навоий, Алишер",
                     isbn="9943-01-234-Х")),
        ("bux", book("7", "Saddi Iskandariy", author="Navoiy, Alisher",
                     isbn="978-9943-01-234-9")))
    run_dedup(union_catalog)
    assert holdings(marc(union_catalog, "union:1")) == ["UzBuRL", "UzSaRL"]

def test_a_members_deletion_keeps_the_union_record_until_the_last_one(union_catalog):
    c = union_catalog
    put(c, ("sam", history("1")), ("bux", history("2")))
    run_dedup(c)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL"]
    with c.writer() as writer:
        writer.delete("sam:1")
    run_dedup(c)
    assert holdings(marc(c, "union:1")) == ["UzBuRL"]
    with c.writer() as writer:
        writer.delete("bux:2")
    run_dedup(c)
    entry = c.get_entry("union:1", "marc21")
    assert entry.deleted and hits(c, "title", "tarixi") == []



@pytest.mark.parametrize("change", ["delete", "retitle"])
def test_a_centres_second_copy_joins_the_group_its_first_copy_leaves(union_catalog, change):
    """A centre sent one book twice; its first copy joined another centre's, its second stayed
    out (a group holds one record per source). When the first copy was deleted (or became
    another book) the second was never looked at again: the book was served twice, once
    without the centre's holding, until ``koprik dedup --all``."""
    c = union_catalog
    put(c, ("sam", history("1", script="cyrillic")), ("sam", history("2")),
        ("bux", history("7")))
    run_dedup(c)
    assert members(c, "union:1") == ["(UzBuRL)7", "(UzSaRL)1"]
    if change == "delete":
        with c.writer() as writer:
            writer.delete("sam:1")
    else:
        put(c, ("sam", book("1", "Kimyo", author="Rahimov, Botir")))
    run_dedup(c)
    assert members(c, "union:1") == ["(UzBuRL)7", "(UzSaRL)2"]
    assert hits(c, "title", "tarixi") == [c.get_entry("union:1", None).id]

def test_merge_keeps_the_older_identifier_and_deletes_the_other_and_split_gives_a_new_one(
    union_catalog,
):
    c = union_catalog
    put(c, ("sam", history("1", isbn="978-9943-01-234-9")), ("bux", history("1", isbn=None)),
        ("xor", book("1", "Tarixiy lavhalar", author="Karimov, Alisher")),
        (None, book("9", "Tarixiy lavhalar", author="Karimov, Alisher", organization="UzNL")))
    run_dedup(c)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL"]
    assert holdings(marc(c, "union:2")) == ["UzNL", "UzXoRL"]
    with pytest.raises(DedupError):
        merge(c, ["sam:1", "bux:1"])
    merged = DedupReport()
    assert merge(c, ["union:2", "sam:1"], report=merged) == "union:1"
    assert (merged.merged, merged.unions_written, merged.unions_deleted) == (1, 1, 1)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzNL", "UzSaRL", "UzXoRL"]
    assert c.get_entry("union:2", "marc21").deleted
    before = c.get_entry("union:1", "marc21").datestamp
    # Later runs respect the operator: everything queued again changes nothing.
    with c.writer() as writer:
        writer.queue_dedup(range(1, 20))
    run_dedup(c)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzNL", "UzSaRL", "UzXoRL"]
    assert c.get_entry("union:1", "marc21").datestamp == before

    # every member of a group: the same group under a new identifier (union:1 deleted)
    with pytest.raises(DedupError, match=r"^those are all the members of union:1: name the "):
        split(c, ["sam:1", "bux:1", "xor:1", "9"])
    assert not c.get_entry("union:1", "marc21").deleted
    parted = DedupReport()
    assert split(c, ["xor:1", "9"], report=parted) == "union:3"
    assert (parted.left, parted.unions_written, parted.unions_deleted) == (2, 2, 0)
    assert holdings(marc(c, "union:3")) == ["UzNL", "UzXoRL"]
    assert split(c, ["bux:1"]) is None
    assert marc(c, "bux:1") is not None and holdings(marc(c, "union:1")) == ["UzSaRL"]
    with c.writer() as writer:
        writer.queue_dedup(range(1, 20))
    run_dedup(c)
    assert marc(c, "bux:1") is not None


def test_a_merge_counts_the_records_it_puts_in_a_group_apart_from_the_groups_it_merges(
    union_catalog,
):
    """A record in no group merged into a group (or with another such record) was counted
    as a group merged ("1 groups merged", "0 records put in a group"): it is put in a group,
    as ``review accept`` counts it, and no group is merged."""
    c = union_catalog
    put(c, ("sam", history("1")), ("bux", history("2")), ("xor", book("3", "Kimyo")),
        ("sam", book("4", "Fizika")), ("bux", book("5", "Geometriya")))
    run_dedup(c)
    joined = DedupReport()
    assert merge(c, ["union:1", "xor:3"], report=joined) == "union:1"
    assert (joined.joined, joined.merged, joined.unions_written) == (1, 0, 1)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL", "UzXoRL"]
    paired = DedupReport()
    assert merge(c, ["sam:4", "bux:5"], report=paired) == "union:2"
    assert (paired.joined, paired.merged, paired.unions_written) == (2, 0, 1)
    assert holdings(marc(c, "union:2")) == ["UzBuRL", "UzSaRL"]
    assert marc(c, "sam:4") is None and explain(c, "bux:5").union == "union:2"


def test_a_record_that_changes_leaves_its_group_and_is_served_again(union_catalog):
    c = union_catalog
    put(c, ("sam", history("1")), ("bux", history("2")))
    run_dedup(c)
    put(c, ("bux", history("2", year=1990)))
    report = run_dedup(c)
    assert report.left == 1
    assert marc(c, "bux:2") is not None and holdings(marc(c, "union:1")) == ["UzSaRL"]
    assert sorted(hits(c, "title", "tarixi")) == sorted(
        [c.get_entry("union:1", None).id, c.get_entry("bux:2", None).id])


def test_a_record_that_stays_in_its_group_brings_in_a_matching_copy_left_apart(union_catalog):
    """sam:1 and bux:2 are one book; bux:2 is retitled and leaves; sam:1 is retitled the same
    way and stays in its group (of itself alone), and bux:2 matches it again: sam:1 stayed
    without looking at its candidates, so the two were served apart until `dedup --all`."""
    c = union_catalog
    put(c, ("sam", history("1")), ("bux", history("2")))
    run_dedup(c)
    retitled = {"title": "Buxoro amirligi tarixi"}
    put(c, ("bux", book("2", **retitled, author="Karimov, Alisher")))
    assert run_dedup(c).left == 1
    put(c, ("sam", book("1", **retitled, author="Karimov, Alisher")))
    run_dedup(c)
    union = marc(c, "union:1")
    assert union is not None and holdings(union) == ["UzBuRL", "UzSaRL"]
    assert hits(c, "title", "amirligi") == [c.get_entry("union:1", None).id]


def test_uncertain_pairs_wait_for_review_and_an_operator_decides(union_catalog):
    c = union_catalog
    put(c, ("sam", book("1", "Xalq dostonlari", pages=None)),
        ("bux", book("1", "Xalq dostonlari", pages=None)))
    run_dedup(c)
    assert c.marc_of("union:1") is None
    ((a, b, score, reason),) = review_list(c)
    assert {a, b} == {"sam:1", "bux:1"} and "no author" in reason and score < 0.9
    review_decide(c, a, b, same=True)
    run_dedup(c)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL"]
    assert review_list(c) == []
    review_decide(c, a, b, same=False)
    run_dedup(c)  # the union record keeps its identifier and its remaining member
    assert marc(c, "sam:1") is not None and holdings(marc(c, "union:1")) == ["UzBuRL"]


def _two_groups(c, *, year=2001):
    """union:1 = sam:1 + bux:1 and union:2 = xor:1 + our own 9: the same book twice, under two
    titles that share no match key (so no run ever compares the two groups), the second group
    of ``year``."""
    put(c, ("sam", history("1")), ("bux", history("1")),
        ("xor", book("1", "Tarix sahifalari", author="Karimov, Alisher", year=year)),
        (None, book("9", "Tarix sahifalari", author="Karimov, Alisher", year=year,
                    organization="UzNL")))
    run_dedup(c)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL"]
    assert holdings(marc(c, "union:2")) == ["UzNL", "UzXoRL"]


def test_two_runs_at_once_form_each_group_once(union_catalog, settings):
    """Two deduplications of one queue at once (a scheduled harvest's and ``koprik dedup``,
    here two catalogues open on one database, in two threads) take turns batch by batch:
    each book's two copies end in one union record, none in two."""
    from concurrent.futures import ThreadPoolExecutor

    titles = [f"Kitob {word}" for word in ("alfa", "bravo", "charli", "delta", "ekho", "fokstrot",
                                           "golf", "hotel", "indiya", "juliet", "kilo", "lima")]
    put(union_catalog, *((source, book(str(n), title, author="Karimov, Alisher",
                                       year=1990 + n))
                         for source in ("sam", "bux") for n, title in enumerate(titles)))
    other = Catalog.open(dataclasses.replace(settings, file_sources=SOURCES))
    try:
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(run_dedup, each, batch=2) for each in (union_catalog, other)]
            reports = [run.result() for run in runs]
    finally:
        other.close()
    assert sum(report.processed for report in reports) == 2 * len(titles)
    with union_catalog.engine.connect() as connection:
        r = models.records
        unions = connection.execute(select(r.c.local_id).where(
            r.c.local_id.like("union:%"), r.c.deleted.is_(False))).scalars().all()
        members = connection.execute(select(r.c.union_id).where(
            r.c.source.in_(["sam", "bux"]))).scalars().all()
    assert len(unions) == len(titles)
    assert len(set(members)) == len(titles) and None not in members



def test_undated_books_of_one_title_by_other_authors_wait_for_no_review(union_catalog):
    put(union_catalog,
        ("sam", book("1", "Tanlangan asarlar", author="Qodiriy, Abdulla", year=None)),
        ("bux", book("1", "Танланган асарлар", author="Чўлпон", year=None)),
        ("xor", book("1", "Tanlangan asarlar", author="Qodiriy, A.", year=None)))
    run_dedup(union_catalog)
    assert [pair[:2] for pair in review_list(union_catalog)] == [("sam:1", "xor:1")]

def test_an_accepted_pair_in_two_groups_ends_in_one(union_catalog):
    """Accepting a pair not waiting for review, each record in a group of its own, stored
    "same", queued them and left both groups as they were ("0 groups merged")."""
    c = union_catalog
    _two_groups(c)
    done = DedupReport()
    assert review_decide(c, "sam:1", "xor:1", same=True, report=done) == "union:1"
    assert (done.merged, done.unions_written, done.unions_deleted) == (1, 1, 1)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzNL", "UzSaRL", "UzXoRL"]
    assert c.get_entry("union:2", "marc21").deleted
    assert explain(c, "xor:1").union == "union:1"
    with c.writer() as writer:  # later runs keep them together
        writer.queue_dedup(range(1, 20))
    run_dedup(c)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzNL", "UzSaRL", "UzXoRL"]
    assert review_decide(c, "bux:1", "9", same=True) == "union:1"  # already: nothing to do
    # rejecting a pair of one group takes them apart at the next run
    assert review_decide(c, "sam:1", "xor:1", same=False) is None
    run_dedup(c)
    assert explain(c, "sam:1").union != explain(c, "xor:1").union


def test_an_accepted_pair_whose_groups_cannot_be_one_is_refused_with_the_reason(union_catalog):
    """A pair is grouped as a run would group it: when another member of one group vetoes one
    of the other, nothing changes (the pair stays as it was) and the error says why."""
    c = union_catalog
    _two_groups(c, year=1990)
    with pytest.raises(DedupError, match=r"^sam:1 and xor:1 not grouped: that would put "
                       r"(sam|bux):1 and (xor:1|9) in one group, but they differ \(year: "):
        review_decide(c, "sam:1", "xor:1", same=True)
    assert explain(c, "sam:1").pairs == []  # the answer is not kept either
    assert holdings(marc(c, "union:2")) == ["UzNL", "UzXoRL"]


def test_an_accepted_pair_is_refused_across_a_shared_source_or_an_operators_no(union_catalog):
    c = union_catalog
    _two_groups(c)
    put(c, ("sam", book("7", "Tarix sahifalari", author="Karimov, Alisher")))
    run_dedup(c)
    assert explain(c, "sam:7").union == "union:2"
    with pytest.raises(DedupError, match=r"^sam:1 and xor:1 not grouped: that would put sam:1 "
                       r"and sam:7 in one group, but both are of source sam and a union record "
                       r"holds one record per source; split one off first$"):
        review_decide(c, "sam:1", "xor:1", same=True)
    split(c, ["sam:7"])
    assert review_decide(c, "bux:1", "9", same=False) is None
    with pytest.raises(DedupError, match=r"that would put bux:1 and 9 in one group, but an "
                       r"operator said they are different; merge the groups to override$"):
        review_decide(c, "sam:1", "xor:1", same=True)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL"]


def test_a_blocked_isbn_matches_nothing(union_catalog, settings):
    shared = "978-9943-01-234-9"
    put(union_catalog, ("sam", book("1", "Xalq dostonlari", isbn=shared, pages=None)),
        ("bux", book("1", "Xalq dostonlari", isbn=shared, pages=None)))
    blocked = dataclasses.replace(settings, file_sources=SOURCES,
                                  dedup=DedupSettings(blocked_isbns=["994301234X"]))
    catalog = Catalog.open(blocked)
    try:
        run_dedup(catalog)
        assert catalog.marc_of("union:1") is None
        why = explain(catalog, "bux:1")
        assert [d[1] for d in why.decisions if d[0] == "sam:1"] == ["review"]
    finally:
        catalog.close()


def test_members_are_served_as_a_set_of_their_own_when_asked(settings):
    from config.settings import UnionSettings

    asked = dataclasses.replace(settings, file_sources=SOURCES,
                                union=UnionSettings(serve_members=True))
    c = Catalog.open(asked)
    try:
        put(c, ("sam", history("1")), ("bux", history("2")), ("xor", book("3", "Kimyo")))
        run_dedup(c)
        whole = {e.local_id: e.deleted for e in c.list_entries("marc21", limit=100)}
        assert whole == {"sam:1": True, "bux:2": True, "xor:3": False, "union:1": False}
        members = c.list_entries("marc21", set_spec="members", limit=100)
        assert {e.local_id: e.deleted for e in members} == {"sam:1": False, "bux:2": False}
        assert b"tarixi" in members[0].data
        assert c.count("marc21", set_spec="members") == 2
        assert ("members", "Members of union records") in c.list_sets()
        assert not c.get_entry("sam:1", "marc21").deleted
    finally:
        c.close()
    assert not [s for s, _ in Catalog.open(dataclasses.replace(settings)).list_sets()
                if s == "members"]


def test_a_served_member_has_the_header_of_the_members_set_in_get_record_too(settings):
    """A served member's header (live) did not name the members set, neither in the set's
    lists nor in GetRecord: the set's list is the one that serves it live, so both name it."""
    from config.settings import UnionSettings

    asked = dataclasses.replace(settings, file_sources=SOURCES,
                                union=UnionSettings(serve_members=True, members_set="copies"))
    c = Catalog.open(asked)
    try:
        put(c, ("sam", history("1")), ("bux", history("2")), ("xor", book("3", "Kimyo")))
        run_dedup(c)
        listed = {e.local_id: (e.deleted, e.set_specs)
                  for e in c.list_entries("marc21", set_spec="copies", limit=100)}
        assert listed["sam:1"] == (False, ("lang", "lang:uzb", "type", "type:book", "copies"))
        for local_id, header in listed.items():
            got = c.get_entry(local_id, "marc21")
            assert (got.deleted, got.set_specs) == header
        assert "copies" not in c.get_entry("xor:3", "marc21").set_specs
        assert "copies" not in c.get_entry("union:1", "marc21").set_specs
    finally:
        c.close()


def test_rekey_gives_records_written_before_match_keys_their_keys(union_catalog):
    from sqlalchemy import delete as sql_delete
    from sqlalchemy import update as sql_update

    from catalog import models

    c = union_catalog
    put(c, ("sam", history("1")), ("bux", history("2")))
    with c.writer() as writer:  # as a catalogue written before match keys existed
        writer.connection.execute(sql_delete(models.match_keys))
        writer.connection.execute(sql_delete(models.dedup_queue))
        writer.connection.execute(sql_update(models.records).values(match_profile=None))
    assert run_dedup(c).processed == 0 and c.marc_of("union:1") is None
    with c.writer() as writer:
        assert writer.rekey([1, 2, 3]) == 2
    assert run_dedup(c).unions_written == 1
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL"]


def test_a_union_record_that_cannot_be_stored_leaves_its_members_served(settings):
    from config.settings import LimitSettings

    small = dataclasses.replace(settings, file_sources=SOURCES,
                                limits=LimitSettings(max_record_bytes=1100))
    c = Catalog.open(small)
    try:
        subjects = [tuple(f"{side} mavzu {n:02d} tarixi va madaniyati" for n in range(14))
                    for side in ("Birinchi", "Ikkinchi")]
        put(c, ("sam", history("1", subjects=subjects[0])),
            ("bux", history("2", subjects=subjects[1])))
        run_dedup(c)
        assert c.marc_of("union:1") is None
        assert marc(c, "sam:1") is not None and marc(c, "bux:2") is not None
        why = explain(c, "sam:1").decisions
        assert any(d[1] == "failed" and "limits.max_record_bytes" in d[3] for d in why), why
        assert run_dedup(c).processed == 0  # the queue does not stick
    finally:
        c.close()


def test_a_union_record_that_cannot_be_made_leaves_its_members_served_and_others_written(
        union_catalog, monkeypatch, caplog):
    """A fault of ours in making one group's union record (here one member brings it out) is
    that group's alone: its members stay served, the reason is where explain shows it, the
    other groups of the batch get their union records, and the queue does not stick."""
    from catalog import dedup

    c = union_catalog
    made = dedup.union_record

    def failing_for_one(local_id, own, members):
        if any(b"Kimyo" in member.marc for member in members):
            raise KeyError("no such subfield")
        return made(local_id, own, members)

    monkeypatch.setattr(dedup, "union_record", failing_for_one)
    put(c, ("sam", history("1")), ("bux", history("2")),
        ("sam", book("3", "Kimyo", author="Rahimov, Botir")),
        ("bux", book("4", "Kimyo", author="Rahimov, Botir")))
    report = run_dedup(c)
    assert report.unions_written == 1
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL"]
    assert marc(c, "sam:3") is not None and marc(c, "bux:4") is not None
    why = explain(c, "sam:3").decisions
    assert any(d[1] == "failed" and "making it failed: KeyError" in d[3] for d in why), why
    assert "making it failed" in caplog.text
    assert run_dedup(c).processed == 0


def _failing_with(monkeypatch, members):
    """Make union records fail to be made for groups of ``members`` members or more."""
    from catalog import dedup

    made = dedup.union_record

    def failing(local_id, own, given):
        if len(given) >= members:
            raise KeyError("no such subfield")
        return made(local_id, own, given)

    monkeypatch.setattr(dedup, "union_record", failing)


def test_a_record_joining_a_group_whose_union_record_fails_stays_served(union_catalog,
                                                                         monkeypatch):
    """A record joining a group whose union record then cannot be made is not hidden behind
    the stored union record, which lacks its holdings: it stays served by itself, the union
    record as it was, and the reason where explain shows it."""
    c = union_catalog
    put(c, ("sam", history("1")), ("bux", history("2")))
    run_dedup(c)
    _failing_with(monkeypatch, 3)
    put(c, ("xor", history("3")))
    run_dedup(c)
    assert marc(c, "xor:3") is not None
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL"]
    assert marc(c, "sam:1") is None
    assert any(d[1] == "failed" for d in explain(c, "xor:3").decisions)


def test_groups_merged_into_one_whose_union_record_fails_stay_as_they_were(union_catalog,
                                                                          monkeypatch):
    """Two groups an operator says are one book, whose merged union record cannot be made:
    neither union record is deleted, each keeps its members, none of which is served alone."""
    c = union_catalog
    _two_groups(c)
    _failing_with(monkeypatch, 4)
    review_decide(c, "sam:1", "xor:1", same=True)
    assert holdings(marc(c, "union:1")) == ["UzBuRL", "UzSaRL"]
    assert holdings(marc(c, "union:2")) == ["UzNL", "UzXoRL"]
    assert not c.get_entry("union:2", "marc21").deleted
    assert all(marc(c, m) is None for m in ("sam:1", "bux:1", "xor:1", "9"))
    assert explain(c, "xor:1").union == "union:2"


def test_a_source_added_from_the_command_line_names_its_institution(union_catalog):
    from catalog import Provenance
    from config import HarvestSource
    from harvester.sources import add_source

    c = union_catalog
    add_source(c.settings, c, HarvestSource(name="kar", url="http://127.0.0.1:9/oai",
                                            institution_code="UzKaRL"), check=False)
    with c.writer() as writer:
        writer.put(history("1"), provenance=Provenance("kar", "http://127.0.0.1:9/oai",
                                                       "oai:kar:1", "2024-01-01", ""))
    put(c, ("sam", history("1")))
    run_dedup(c)
    union = marc(c, "union:1")
    assert holdings(union) == ["UzKaRL", "UzSaRL"]
    assert "(UzKaRL)oai:kar:1" in [f.get("a") for f in union.get_fields("035")]


def test_a_source_added_from_the_command_line_may_name_the_library_of_each_copy(
    union_catalog,
):
    """``koprik sources add --holdings named`` (a regional centre's feed): the 852 $a of its
    records names the library of each copy in the union record, as for a source of the file."""
    from catalog import Provenance
    from config import HarvestSource
    from harvester.sources import add_source

    c = union_catalog
    add_source(c.settings, c, HarvestSource(name="kar", url="http://127.0.0.1:9/oai",
                                            institution_code="UzKaRIK", holdings="named"),
               check=False)
    with c.writer() as writer:
        writer.put(history("1", organization="UzKaRL-Nukus", call_number="63.3"),
                   provenance=Provenance("kar", "http://127.0.0.1:9/oai", "oai:kar:1",
                                         "2024-01-01", ""))
    put(c, ("sam", history("1", organization="UzSaRL-Urgut", call_number="63.3")))
    run_dedup(c)
    union = marc(c, "union:1")
    assert holdings(union) == ["UzKaRL-Nukus", "UzSaRL"]
    assert "(UzKaRIK)oai:kar:1" in [f.get("a") for f in union.get_fields("035")]


def _limited(settings, limit):  # type: ignore[no-untyped-def]
    """The catalogue of ``settings`` with the file sources and ``max_candidates`` = ``limit``."""
    return Catalog.open(dataclasses.replace(settings, file_sources=SOURCES,
                                            dedup=DedupSettings(max_candidates=limit)))


@pytest.mark.parametrize("limit, compared", [(2, set()), (3, {"sam:1", "sam:2", "sam:3"})])
def test_a_key_too_common_counts_the_records_of_every_source(settings, limit, compared):
    """Records of bux:1's own source are no candidates for it, yet they count towards
    ``max_candidates``: four records hold the title key, more than 2 + 1."""
    catalog = _limited(settings, limit)
    try:
        put(catalog, ("bux", book("1", "She'rlar", author="Karimov, Alisher")),
            ("sam", book("1", "She'rlar")),
            ("sam", book("2", "She'rlar", author="Rahimov, Botir")),
            ("sam", book("3", "She'rlar", author="Xo'jayev, Anvar")))
        run_dedup(catalog)
        why = explain(catalog, "bux:1")
        assert {d[0] for d in why.decisions if d[0] is not None} == compared, why.decisions
    finally:
        catalog.close()


def test_explain_says_which_keys_are_too_common_to_be_used(settings):
    """A record whose keys were all held by more records than ``max_candidates`` was
    explained as "alone, no match" with no reason; a larger ``max_candidates`` changed
    nothing in the explanation, which is the stored decision of the run that last looked at
    the record: the explanation now says which keys are not used as the settings stand, and
    that a key is used now when one is."""
    catalog = _limited(settings, 2)
    try:
        put(catalog, ("bux", book("1", "She'rlar", author="Karimov, Alisher")),
            ("sam", book("1", "She'rlar")),
            ("sam", book("2", "She'rlar", author="Rahimov, Botir")),
            ("xor", book("3", "She'rlar", author="Xo'jayev, Anvar")))
        run_dedup(catalog)
        why = explain(catalog, "bux:1")
        assert why.union is None and [d[1] for d in why.decisions] == ["alone"], why.decisions
        assert why.unused == [
            "key 'title sherlar' held by 4 records, more than dedup.max_candidates (2) "
            "besides this one: not used"], why.unused
        assert why.usable == 0
    finally:
        catalog.close()
    catalog = _limited(settings, 3)
    try:
        why = explain(catalog, "bux:1")
        assert why.unused == [] and why.usable == 1, (why.unused, why.usable)
    finally:
        catalog.close()


@pytest.mark.parametrize("later", [None, "bux"])
def test_records_of_one_source_queued_alone_find_those_of_every_other_source(union_catalog,
                                                                             later):
    """A batch from one source (an import of our own records, a harvest) reads only the
    records of other sources; our own records have no source (NULL) to compare with."""
    first = "sam" if later is None else None
    put(union_catalog, (first, history("1", organization="UzNL" if first is None else None)),
        (first, history("2", year=1990)))
    assert run_dedup(union_catalog).joined == 0
    put(union_catalog, (later, history("1", organization="UzNL" if later is None else None)),
        (later, history("3", year=1990)))
    report = run_dedup(union_catalog)
    assert (report.processed, report.joined, report.unions_written) == (2, 4, 2)
    assert holdings(marc(union_catalog, "union:1")) == sorted(
        ["UzNL", "UzSaRL" if later is None else "UzBuRL"])


def test_a_record_with_no_candidate_has_its_decisions_replaced_by_one_saying_so(union_catalog):
    """A record no key links to another one (also one that just left its group) is decided
    alone: that decision replaces those of its run before, on every run it is queued."""
    c = union_catalog
    put(c, ("sam", history("1")), ("bux", history("2")), ("xor", book("1", "Kimyo")))
    run_dedup(c)
    alone = [(None, "alone", 0.0, "no match")]
    assert explain(c, "xor:1").decisions == alone
    joined_by = ("sam:1", "joined by", 1.0, "joined the group of bux:2")
    assert explain(c, "bux:2").decisions == [
        (None, "stays", 1.0, "still fits a new group"), joined_by]
    put(c, ("bux", book("2", "Fizika", author="Salimov, Anvar", year=1990)))
    with c.writer() as writer:
        writer.queue_dedup([c.get_entry("xor:1", None).id])
    assert run_dedup(c).processed == 3  # and sam:1, the rest of the group bux:2 left
    assert explain(c, "bux:2").decisions == [
        (None, "left", 0.0, "left union:1: no longer fits its group"), *alone]
    assert explain(c, "sam:1").decisions == [(None, "stays", 1.0, "still fits union:1")]
    assert explain(c, "xor:1").decisions == alone


def test_unqueue_removes_the_entries_read_and_keeps_those_queued_again_since(catalog):
    q = models.dedup_queue
    with catalog.engine.begin() as connection:
        insert_rows(connection, q, ("record_id", "queued_at"),
                    [(1, 100), (2, 100), (3, 101), (4, 102), (5, 100)])
        # read as (2, 99) and (4, 100): both were queued again after they were read
        unqueue(connection, [(1, 100), (2, 99), (3, 101), (4, 100)])
        left = connection.execute(select(q.c.record_id, q.c.queued_at).order_by(q.c.record_id))
        assert [tuple(row) for row in left] == [(2, 100), (4, 102), (5, 100)]
