"""Incremental harvesting from the watermark, and resuming an interrupted run at its page."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import event, func, select, update

from catalog import Catalog, models
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs, harvest_state
from catalog.search_index import sort_keys, stored_terms
from config import DatabaseSettings, HarvestSource, Settings
from harvester import dates
from harvester.oai_client import Politeness
from harvester.runs import FAILED, INTERRUPTED, SUCCEEDED, PageInfo, RunOptions, harvest
from tests.fault_provider import FaultProvider, Item, catalogue_of, serve, stamp

FAST = Politeness(delay=0, timeout=2.0, retries=2, backoff=0.01)


class Crash(Exception):
    """Stands for the harvester dying after a page was committed."""


@pytest.fixture(scope="module")
def records():  # type: ignore[no-untyped-def]
    return list(demo_records(60))


def _fresh(tmp_path, name: str) -> Catalog:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / (name + '.sqlite3')}"
    return Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url)))


def _state(catalog: Catalog):  # type: ignore[no-untyped-def]
    with catalog.engine.connect() as connection:
        return connection.execute(select(harvest_state)).one()


def test_watermark_steps_back_one_granularity_unit() -> None:
    assert dates.watermark_from("2024-03-01T00:00:00Z", dates.SECONDS) == "2024-02-29T23:59:59Z"
    assert dates.watermark_from("2024-03-01T10:00:00Z", dates.DAY) == "2024-02-29"
    assert dates.split("2024-01-01", "2024-01-02", dates.DAY) == (
        ("2024-01-01", "2024-01-01"), ("2024-01-02", "2024-01-02"))
    assert dates.split("2024-01-01", "2024-01-01", dates.DAY) is None


def test_next_run_fetches_only_the_changes(records, catalog, tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider = FaultProvider(records, page_size=10)
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        first = harvest(catalog, source, politeness=FAST)
        assert (first.status, first.counts.added, first.pages) == (SUCCEEDED, 60, 6)
        watermark = _state(catalog).watermark
        assert watermark == first.watermark

        provider.requests.clear()
        provider.served.clear()
        quiet = harvest(catalog, source, politeness=FAST)
        assert quiet.counts.total == 0 and quiet.requests == 2  # Identify, noRecordsMatch
        assert provider.list_requests()[0]["from"] == watermark

        changed = list(demo_records(2, seed=7))
        provider.change("oai:fault.test:4", changed[0])
        provider.change("oai:fault.test:40", changed[1])
        provider.delete("oai:fault.test:17")
        provider.add("oai:fault.test:new", next(demo_records(1, seed=8)))
        provider.requests.clear()
        provider.served.clear()
        second = harvest(catalog, source, politeness=FAST)
        assert second.counts.as_dict() == {
            "added": 1, "updated": 2, "deleted": 1, "unchanged": 0, "gone": 0, "rejected": 0}
        assert second.requests == 2
        assert sorted(provider.served) == sorted(
            ["oai:fault.test:4", "oai:fault.test:40", "oai:fault.test:17", "oai:fault.test:new"])
        assert dates.parse(_state(catalog).watermark) >= dates.parse(watermark)

        reference = _fresh(tmp_path, "reference")
        harvest(reference, source, politeness=FAST)
    live = {k: v for k, v in catalogue_of(catalog, "partner").items() if not v[0]}
    assert live == catalogue_of(reference, "partner")
    assert catalogue_of(catalog, "partner")["oai:fault.test:17"][0] is True
    reference.close()


def test_day_granularity_sources_get_days(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog = _fresh(tmp_path, "days")
    provider = FaultProvider(records[:15], day_granularity=True)
    with serve(provider.app()) as url:
        source = HarvestSource(name="daily", url=url)
        harvest(catalog, source, politeness=FAST)
        provider.requests.clear()
        harvest(catalog, source, politeness=FAST)
    (request,) = provider.list_requests()
    assert len(request["from"]) == 10 and request["from"] == _state(catalog).watermark
    catalog.close()


def _crash_after(pages: int):  # type: ignore[no-untyped-def]
    def on_page(info: PageInfo) -> None:
        if info.pages == pages:
            raise Crash
    return on_page


def test_an_interrupted_run_resumes_at_its_page(records, catalog, tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider = FaultProvider(records, page_size=10)
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        with pytest.raises(Crash):
            harvest(catalog, source, politeness=FAST, on_page=_crash_after(3))
        state = _state(catalog)
        # page 3 committed (with the 30 entries delivered), and page 4 if it shared its
        # transaction
        assert state.token is not None and state.cursor in (30, 40) and state.watermark is None
        left = len(records) - state.cursor
        provider.requests.clear()
        pages: list[PageInfo] = []
        resumed = harvest(catalog, source, politeness=FAST, on_page=pages.append)
        listed = provider.list_requests()
        reference = _fresh(tmp_path, "reference")
        harvest(reference, source, politeness=FAST)
    assert resumed.status == SUCCEEDED and resumed.counts.added == left == 10 * resumed.pages
    # The resumed run's requests are the last: the crashed run's request for the page after
    # those it was storing may reach the provider after the log was cleared (seen in CI: the
    # first request logged asked for |||40, the resumed run's first for |||30).
    assert listed[-resumed.pages]["resumptionToken"] == state.token
    # what a progress bar is told: the records the resumed run will have done, not the list's
    assert [page.expected for page in pages] == [left] * resumed.pages
    assert catalogue_of(catalog, "partner") == catalogue_of(reference, "partner")
    with catalog.engine.connect() as connection:
        statuses = connection.execute(
            select(harvest_runs.c.status).order_by(harvest_runs.c.id)).scalars().all()
    assert statuses == [FAILED, SUCCEEDED]
    reference.close()


def test_an_expired_token_on_resume_restarts_from_the_watermark(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog = _fresh(tmp_path, "expired")
    provider = FaultProvider(records, page_size=10)
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        harvest(catalog, source, politeness=FAST)
        watermark = _state(catalog).watermark
        for n in range(25):
            provider.change(f"oai:fault.test:{n}", next(demo_records(1, seed=100 + n)))
        with pytest.raises(Crash):
            harvest(catalog, source, politeness=FAST, on_page=_crash_after(1))
        # The partner no longer knows the token saved. (Arming its page to answer
        # badResumptionToken once was not enough: the crashed run's request for that page, sent
        # as it crashed, may reach the partner late and take the fault; and on a loaded machine
        # the token saved is page 2's, written with page 1.)
        with catalog.engine.begin() as connection:
            connection.execute(update(harvest_state).values(token="forgotten"))
        provider.requests.clear()
        resumed = harvest(catalog, source, politeness=FAST)
    assert resumed.status == SUCCEEDED
    listed = provider.list_requests()
    at = next(n for n, r in enumerate(listed) if r.get("resumptionToken") == "forgotten")
    restart = next(r for r in listed[at + 1:] if "resumptionToken" not in r)
    assert restart["from"] == watermark
    assert len({k for k, v in catalogue_of(catalog, "partner").items()}) == 60
    catalog.close()


def test_a_run_killed_without_cleanup_is_marked_interrupted(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog = _fresh(tmp_path, "killed")
    provider = FaultProvider(records[:20], page_size=10)
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        harvest(catalog, source, RunOptions(full=True), politeness=FAST)
        with catalog.engine.begin() as connection:  # what SIGKILL leaves behind
            connection.execute(harvest_runs.update().values(status="running"))
        harvest(catalog, source, politeness=FAST)
    with catalog.engine.connect() as connection:
        statuses = connection.execute(
            select(harvest_runs.c.status).order_by(harvest_runs.c.id)).scalars().all()
    assert statuses == [INTERRUPTED, SUCCEEDED]
    catalog.close()


def test_runs_bounded_by_hand_move_the_watermark_only_when_they_cover_it(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog = _fresh(tmp_path, "bounded")
    provider = FaultProvider(records[:30])
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        early = harvest(catalog, source, RunOptions(until="2020-01-01T09:00:00Z"), politeness=FAST)
        assert (early.counts.added, early.watermark) == (10, None)
        late = harvest(catalog, source, RunOptions(from_="2020-01-02"), politeness=FAST)
        assert late.counts.added == 6 and late.watermark is None  # 2020-01-01 10:00.. missing
        full = harvest(catalog, source, RunOptions(full=True), politeness=FAST)
        assert full.counts.added == 14 and full.watermark is not None
        again = harvest(catalog, source, RunOptions(from_="2020-01-01"), politeness=FAST)
        assert again.counts.unchanged == 30 and again.watermark >= full.watermark
    catalog.close()


def test_an_until_day_takes_all_of_that_day_from_a_source_of_seconds(records, catalog) -> None:  # type: ignore[no-untyped-def]
    """``--until 2020-01-01`` is inclusive: a source of seconds was asked until
    2020-01-01T00:00:00Z, which left out the rest of the day."""
    provider = FaultProvider(records[:30])
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        day = harvest(catalog, source, RunOptions(until="2020-01-01"), politeness=FAST)
    assert day.status == SUCCEEDED and day.counts.added == 30 - 6  # all but 2020-01-02's 6
    assert provider.list_requests()[0]["until"] == "2020-01-01T23:59:59Z"


def test_a_future_response_date_never_becomes_the_watermark(records, catalog) -> None:  # type: ignore[no-untyped-def]
    """A partner whose clock says 2998: the fault is recorded, the watermark is our clock, and
    a record changed later still arrives in the next incremental run."""
    from datetime import UTC, datetime

    from harvester import guards

    provider = FaultProvider(records[:12], page_size=5)
    provider.response_date = datetime(2998, 1, 1, tzinfo=UTC)
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        before = guards.now()
        first = harvest(catalog, source, politeness=FAST)
        after = guards.now()
        assert (first.status, first.counts.added) == (SUCCEEDED, 12)
        (fault,) = [line for line in first.errors if line.startswith("future-response-date")]
        assert "responseDate 2998-01-01T00:00:00Z is after our clock" in fault
        with catalog.engine.connect() as connection:
            recorded = connection.execute(select(harvest_runs.c.errors)).scalar_one()
        assert fault in recorded
        watermark = dates.parse(_state(catalog).watermark)
        assert before - dates.step(dates.SECONDS) <= watermark < after
        provider.change("oai:fault.test:3", next(demo_records(1, seed=9)))
        second = harvest(catalog, source, politeness=FAST)
    assert second.counts.updated == 1 and dates.parse(_state(catalog).watermark).year < 2998


def test_own_clock_takes_the_earlier_of_the_two() -> None:
    from datetime import UTC, datetime

    from harvester.guards import own_clock

    ours = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert own_clock("2026-05-01T11:59:00Z", ours) == ("2026-05-01T11:59:00Z", None)
    assert own_clock("2026-05-01T12:01:00Z", ours) == ("2026-05-01T12:00:00Z", None)
    date, fault = own_clock("2998-01-01T00:00:00Z", ours)
    assert date == "2026-05-01T12:00:00Z" and fault is not None
    date, fault = own_clock("yesterday", ours)
    assert date == "2026-05-01T12:00:00Z" and fault is not None and "bad-response-date" in fault


def test_a_first_harvest_counts_deletions_it_never_held_as_gone(records, catalog) -> None:  # type: ignore[no-untyped-def]
    """A deletion announced for a record the catalogue does not hold changes nothing, but it is
    not an unchanged record either: an empty catalogue's first harvest has none."""
    provider = FaultProvider(records[:20], page_size=10)
    provider.delete("oai:fault.test:3")
    provider.delete("oai:fault.test:11")
    with serve(provider.app()) as url:
        first = harvest(catalog, HarvestSource(name="partner", url=url), politeness=FAST)
    assert first.counts.as_dict() == {
        "added": 18, "updated": 0, "deleted": 0, "unchanged": 0, "gone": 2, "rejected": 0}
    with catalog.engine.connect() as connection:
        row = connection.execute(
            select(harvest_runs).where(harvest_runs.c.id == first.run_id)).one()
    assert (row.added, row.unchanged, row.gone) == (18, 0, 2)


def test_a_page_of_thousands_of_deletions_is_applied_together(records, catalog) -> None:  # type: ignore[no-untyped-def]
    """A page of 5,000 deletions of held records (and some of records not held, one announced
    twice) ends as 5,000 deletions one at a time did: each record deleted once with its
    provenance's new datestamp, kept in its sets, out of the search index, and out of its
    union record (another source holds the same records); in tens of statements, not several
    for each deletion (a page of 100,000 took 356 s one at a time)."""
    held = 5000
    provider = FaultProvider(list(demo_records(held)), page_size=2 * held)  # records first
    r = models.records
    partner = r.c.source == "partner"
    with serve(provider.app()) as url, serve(FaultProvider(records).app()) as other:
        source = HarvestSource(name="partner", url=url)
        assert harvest(catalog, source, politeness=FAST).counts.added == held
        assert harvest(catalog, HarvestSource(name="other", url=other),
                       politeness=FAST).counts.added == len(records)
        listed = catalog.list_entries("marc21", limit=3 * held)
        sets = {e.local_id: e.set_specs for e in listed if e.local_id.startswith("partner:")}
        uzbek = len(catalog.list_entries("marc21", set_spec="lang:uzb", limit=3 * held))
        unions, members = _unions(catalog, partner)
        assert unions == len(records) and members == len(records)
        now = provider.now()
        provider.items = [dataclasses.replace(item, datestamp=now, marcxml=None)
                          for item in provider.items]
        provider.items += [Item(f"oai:fault.test:x{n}", now, None, ["even"]) for n in range(300)]
        provider.items.append(Item("oai:fault.test:7", now, None, ["odd"]))
        statements: list[str] = []
        count = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(catalog.engine, "before_cursor_execute", count)
        try:
            second = harvest(catalog, source, politeness=FAST)
        finally:
            event.remove(catalog.engine, "before_cursor_execute", count)
    assert second.counts.as_dict() == {
        "added": 0, "updated": 0, "deleted": held, "unchanged": 0, "gone": 301, "rejected": 0}
    assert len(statements) < 1000, len(statements)
    state = catalogue_of(catalog, "partner")
    assert len(state) == held and all(state[i] == (True, "deleted") for i in state)
    listed = catalog.list_entries("marc21", limit=3 * held)
    entries = [e for e in listed if e.local_id.startswith("partner:")]
    assert len(entries) == held and all(e.deleted and e.data is None for e in entries)
    assert {e.local_id: e.set_specs for e in entries} == sets  # the catalogue's own sets
    assert len(catalog.list_entries("marc21", set_spec="lang:uzb", limit=3 * held)) == uzbek
    assert _unions(catalog, partner) == (len(records), 0)
    with catalog.engine.connect() as connection:
        provenance = connection.execute(select(models.provenance.c.datestamp).where(
            models.provenance.c.source == "partner")).scalars().all()
        changes = connection.execute(select(models.record_changes.c.outcome).where(
            models.record_changes.c.source == "partner")).scalars().all()
        ids = connection.execute(select(r.c.id).where(partner)).scalars().all()
        left = [connection.execute(select(func.count()).select_from(table).where(
            table.c.record_id.in_(ids))).scalar()
            for table in (models.renditions, models.match_keys, sort_keys)]
        assert stored_terms(connection, ids) == set()
    assert provenance == [stamp(now)] * held
    assert sorted(changes) == ["added"] * held + ["deleted"] * held
    assert left == [0, 0, 0]


def _unions(catalog: Catalog, members_of) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Live union records, and the records matching ``members_of`` that belong to one."""
    r = models.records
    with catalog.engine.connect() as connection:
        unions = connection.execute(select(func.count()).where(r.c.is_union, ~r.c.deleted))
        members = connection.execute(
            select(func.count()).where(members_of, r.c.union_id.is_not(None)))
        return unions.scalar_one(), members.scalar_one()
