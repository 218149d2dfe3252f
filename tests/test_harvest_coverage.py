"""What a watermark covers (``harvester.coverage``): the sets and the endpoint its runs harvested.

A set added to a source with a watermark is asked from the start (its old records arrive), the
sets the watermark covers only from it; a source that harvested some sets and now harvests the
whole repository asks for it from the start, a watermark of the whole repository covers every
set; a source moved to another address or format is asked for everything from the start. A run
stopped before it reached an added set, and resumed, still asks for that set from the start; one
put, meanwhile, in front of the one the stopped run stood in is harvested by the resumed run,
and the sets the stopped run finished are not asked for again, yet covered. Each
run with the real fault provider (records of 2020, each in one of its sets), on SQLite and on
PostgreSQL, counting its requests and their ``from``.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Row, select

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_runs, harvest_state
from config import HarvestSource
from harvester.runs import INTERRUPTED, SUCCEEDED, harvest
from koprik.cli import main
from tests.fault_provider import FAST, FaultProvider, catalogue_of, held_then_stopped, serve

RECORDS = 30
PAGE = 5
PAGES_OF_A_SET = RECORDS // 2 // PAGE
"""ListRecords requests for all of one of the two sets (15 records each)."""


def _source(url: str, *sets: str, prefix: str = "marc21") -> HarvestSource:
    return HarvestSource(name="partner", url=url, prefix=prefix, sets=list(sets))


def _state(catalog: Catalog) -> Row[Any]:
    with catalog.engine.connect() as connection:
        return connection.execute(select(harvest_state)).one()


def _pages_of_last_run(catalog: Catalog) -> int:
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(harvest_runs.c.pages).order_by(harvest_runs.c.id.desc()).limit(1)
        ).scalar_one()


def _asked(provider: FaultProvider, since: int) -> Counter[tuple[str, str | None]]:
    """(set, ``from``) -> ListRecords requests since the ``since``-th; a token's request is
    counted with the ``from`` of the list it continues (its second field, '' for none)."""
    asked: Counter[tuple[str, str | None]] = Counter()
    for request in provider.list_requests()[since:]:
        token = request.get("resumptionToken")
        start = token.split("|")[1] if token is not None else request.get("from", "")
        asked[provider.set_of(request), start or None] += 1
    return asked


def test_a_set_added_to_a_source_is_harvested_from_the_start(catalog: Catalog) -> None:
    """Set b, added after a run of set a, arrives whole (its records are of 2020, long before
    the watermark); a is asked only from the watermark. The watermark then covers both."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE, sets=("a", "b"))
    with serve(provider.app()) as url:
        first = harvest(catalog, _source(url, "a"), politeness=FAST)
        assert (first.status, first.counts.added) == (SUCCEEDED, RECORDS // 2)
        state = _state(catalog)
        watermark = state.watermark
        assert (state.watermark_endpoint, state.watermark_sets) == (f"oai-pmh {url} marc21", "a")

        provider.change("oai:fault.test:0", next(demo_records(1, seed=5)))  # in set a
        since = len(provider.list_requests())
        second = harvest(catalog, _source(url, "a", "b"), politeness=FAST)
        assert second.status == SUCCEEDED, second.errors
        assert _asked(provider, since) == {("a", watermark): 1, ("b", None): PAGES_OF_A_SET}
        assert second.errors == [
            f"the watermark {watermark} covers set a, not set b: harvested from the start"]
        assert (second.counts.added, second.counts.updated) == (RECORDS // 2, 1)
        state = _state(catalog)
        assert state.watermark == second.watermark >= watermark  # runs a second apart, or less
        assert state.watermark_sets == "a b"

        since = len(provider.list_requests())
        third = harvest(catalog, _source(url, "a", "b"), politeness=FAST)
        assert third.errors == [] and (third.counts.added, third.counts.updated) == (0, 0)
        assert _asked(provider, since) == {("a", second.watermark): 1, ("b", second.watermark): 1}
    assert sorted(catalogue_of(catalog, "partner")) == sorted(
        f"oai:fault.test:{n}" for n in range(RECORDS))


def test_the_whole_repository_after_some_sets_is_harvested_from_the_start(
    catalog: Catalog,
) -> None:
    """A watermark of set a does not cover the whole repository; one of the whole repository
    covers every set."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE, sets=("a", "b"))
    with serve(provider.app()) as url:
        watermark = harvest(catalog, _source(url, "a"), politeness=FAST).watermark
        since = len(provider.list_requests())
        whole = harvest(catalog, _source(url), politeness=FAST)
        assert _asked(provider, since) == {("", None): RECORDS // PAGE}
        assert whole.errors == [f"the watermark {watermark} covers set a, not the whole "
                                "repository: harvested from the start"]  # fmt: skip
        assert (whole.counts.added, whole.counts.unchanged) == (RECORDS // 2, RECORDS // 2)
        assert _state(catalog).watermark_sets == ""

        since = len(provider.list_requests())
        both = harvest(catalog, _source(url, "b", "a"), politeness=FAST)
        assert both.errors == [] and both.counts.total == 0
        assert _asked(provider, since) == {("b", whole.watermark): 1, ("a", whole.watermark): 1}
        assert _state(catalog).watermark_sets == "b a"
    assert len(catalogue_of(catalog, "partner")) == RECORDS


@pytest.mark.parametrize("change", ["url", "prefix"])
def test_a_source_moved_to_another_address_or_format_is_harvested_from_the_start(
    catalog: Catalog, change: str
) -> None:
    """The watermark of one repository (or format) means nothing in another: every set is asked
    from the start, said in the run's errors, and the watermark then covers the new endpoint."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE, sets=("a", "b"))
    with serve(provider.app()) as url, serve(provider.app()) as other:
        watermark = harvest(catalog, _source(url, "a", "b"), politeness=FAST).watermark
        moved = _source(other, "a", "b") if change == "url" else \
            _source(url, "a", "b", prefix="marcxml")  # fmt: skip
        since = len(provider.list_requests())
        report = harvest(catalog, moved, politeness=FAST)
        assert report.status == SUCCEEDED
        now = f"oai-pmh {moved.url} {moved.prefix}"
        assert _asked(provider, since) == {("a", None): PAGES_OF_A_SET, ("b", None): PAGES_OF_A_SET}
        assert report.errors == [
            f"the watermark {watermark} is of oai-pmh {url} marc21, the source is now {now}: "
            "sets a, b harvested from the start"]
        assert report.counts.unchanged == RECORDS
        state = _state(catalog)
        assert (state.watermark, state.watermark_endpoint) == (report.watermark, now)

        since = len(provider.list_requests())
        again = harvest(catalog, moved, politeness=FAST)
        assert again.errors == [] and again.counts.total == 0
        assert _asked(provider, since) == {("a", report.watermark): 1, ("b", report.watermark): 1}


def test_a_new_password_in_the_url_is_no_move(catalog: Catalog) -> None:
    """A partner's password changed (``http://harvester:OLD@host/oai`` made
    ``...:NEW@...``) is the same repository: the watermark still covers it. The source was
    taken as moved and harvested whole from the start, and the run's line saying so (shown on
    the public overview) named both passwords."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE, sets=("a", "b"))
    with serve(provider.app()) as url:
        old = url.replace("http://", "http://harvester:s3cret@")
        watermark = harvest(catalog, _source(old, "a"), politeness=FAST).watermark
        assert "s3cret" not in _state(catalog).watermark_endpoint
        since = len(provider.list_requests())
        report = harvest(catalog, _source(old.replace("s3cret", "n3w"), "a"), politeness=FAST)
        assert report.status == SUCCEEDED and report.errors == []
        assert _asked(provider, since) == {("a", watermark): 1}
    assert _state(catalog).watermark_endpoint == f"oai-pmh {url} marc21"


def _stop_at(catalog: Catalog, provider: FaultProvider, source: HarvestSource, at: int) -> None:
    """Run a harvest of ``source`` and stop it as its ``at``-th ListRecords request (counted by
    the provider) arrives: the run is interrupted once the pages before it are in."""
    with held_then_stopped(catalog, provider, source, at) as held:
        deadline = time.monotonic() + 30
        while _pages_of_last_run(catalog) < at - 1:
            assert time.monotonic() < deadline, "the pages before the held request never came"
            time.sleep(0.05)
    assert held.report is not None and held.report.status == INTERRUPTED


def test_a_run_stopped_before_an_added_set_still_harvests_it_from_the_start(
    catalog: Catalog,
) -> None:
    """Stopped after set a, before b (added since the watermark): the resumed run goes on at b,
    from the start, as the stopped run would have."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE, sets=("a", "b"))
    with serve(provider.app()) as url:
        watermark = harvest(catalog, _source(url, "a"), politeness=FAST).watermark
        provider.change("oai:fault.test:0", next(demo_records(1, seed=5)))  # a has one page
        _stop_at(catalog, provider, _source(url, "a", "b"), at=2)  # b's first request
        state = _state(catalog)
        assert (state.set_spec, state.token, state.run_from) == ("a", None, watermark)

        since = len(provider.list_requests())
        resumed = harvest(catalog, _source(url, "a", "b"), politeness=FAST)
        assert resumed.status == SUCCEEDED
        assert _asked(provider, since) == {("b", None): PAGES_OF_A_SET}
        assert resumed.errors == [
            f"resumed run #{state.run_id} after set a",
            f"the watermark {watermark} covers set a, not set b: harvested from the start"]
        assert resumed.counts.added == RECORDS // 2
        assert _state(catalog).watermark_sets == "a b"
    assert len(catalogue_of(catalog, "partner")) == RECORDS


def test_a_set_put_in_front_of_where_a_stopped_run_stood_is_harvested_by_the_resumed_run(
    catalog: Catalog,
) -> None:
    """A run of sets a, b is stopped after a; c is then put in front of a. The resumed run goes
    on at b and harvests c too (the stopped run had not finished it: only a is saved as
    finished), so its watermark covers every set and the next run asks each from it."""
    records = RECORDS * 3 // 2
    provider = FaultProvider(list(demo_records(records)), page_size=PAGE, sets=("a", "b", "c"))
    with serve(provider.app()) as url:
        _stop_at(catalog, provider, _source(url, "a", "b"), at=PAGES_OF_A_SET + 1)
        assert (_state(catalog).set_spec, _state(catalog).done_sets) == ("a", None)
        since = len(provider.list_requests())
        resumed = harvest(catalog, _source(url, "c", "a", "b"), politeness=FAST)
        assert resumed.status == SUCCEEDED
        assert _asked(provider, since) == {("c", None): PAGES_OF_A_SET,
                                           ("b", None): PAGES_OF_A_SET}  # fmt: skip
        assert resumed.counts.added == RECORDS
        assert _state(catalog).watermark_sets == "c a b"

        since = len(provider.list_requests())
        after = harvest(catalog, _source(url, "c", "a", "b"), politeness=FAST)
        assert after.errors == [] and after.counts.total == 0
        assert _asked(provider, since) == {
            ("c", resumed.watermark): 1, ("a", resumed.watermark): 1, ("b", resumed.watermark): 1}
    assert len(catalogue_of(catalog, "partner")) == records


@pytest.mark.parametrize("saved", ["with the run", "before revision 0013"])
def test_the_sets_a_stopped_first_harvest_finished_are_covered_once_it_is_resumed(
    catalog: Catalog, saved: str
) -> None:
    """A first harvest of sets a, b is stopped in the middle of b; the resumed run finishes b.
    Set a, finished by the stopped run, is saved with its pages as finished: the resumed run
    does not ask for it again, and its watermark covers a and b, so the next run asks each from
    the watermark (it used to ask a from the start, all of it again). A position saved before
    revision 0013 says nothing of the sets finished: the resumed run asks a again, unchanged."""
    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE, sets=("a", "b"))
    with serve(provider.app()) as url:
        _stop_at(catalog, provider, _source(url, "a", "b"), at=PAGES_OF_A_SET + 2)
        state = _state(catalog)
        assert (state.set_spec, state.token is not None, state.done_sets) == ("b", True, "a")
        if saved == "before revision 0013":
            with catalog.engine.begin() as connection:
                connection.execute(harvest_state.update().values(done_sets=None))
        since = len(provider.list_requests())
        resumed = harvest(catalog, _source(url, "a", "b"), politeness=FAST)
        assert resumed.status == SUCCEEDED
        again = {("a", None): PAGES_OF_A_SET} if saved == "before revision 0013" else {}
        assert _asked(provider, since) == {("b", None): PAGES_OF_A_SET - 1, **again}
        assert resumed.counts.added == RECORDS // 2 - PAGE
        assert resumed.counts.unchanged == (RECORDS // 2 if again else 0)
        assert _state(catalog).watermark_sets == "a b"

        since = len(provider.list_requests())
        after = harvest(catalog, _source(url, "a", "b"), politeness=FAST)
        assert after.errors == [] and after.counts.total == 0
        assert _asked(provider, since) == {("a", resumed.watermark): 1, ("b", resumed.watermark): 1}
    assert len(catalogue_of(catalog, "partner")) == RECORDS


def test_sources_list_says_what_the_next_run_harvests_from_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The operator's way: ``koprik sources edit --set`` adds set b; ``koprik sources list``
    then ends with a line saying that the watermark does not cover it, until a run has
    harvested it."""
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n')

    def koprik(*args: str) -> list[str]:
        assert main(["--config", str(config), *args]) == 0
        return capsys.readouterr().out.splitlines()

    provider = FaultProvider(list(demo_records(RECORDS)), page_size=PAGE, sets=("a", "b"))
    with serve(provider.app()) as url:
        koprik("sources", "add", "partner", "--url", url, "--delay", "0", "--set", "a")
        koprik("harvest", "partner")
        assert len(koprik("sources", "list")) == 2  # the heading and the source
        koprik("sources", "edit", "partner", "--set", "a", "--set", "b")
        listed = koprik("sources", "list")
        watermark = listed[1].split()[6]
        why = f"the watermark {watermark} covers set a, not set b: harvested from the start"
        assert listed[2:] == [f"partner, next run: {why}"]
        harvested = koprik("harvest", "partner")
        assert harvested[1].startswith(f"  {RECORDS // 2} new, 0 updated")
        assert f"  ! {why}" in harvested
        assert len(koprik("sources", "list")) == 2
