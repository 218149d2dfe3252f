"""SRU sources against the fault-injecting server (tests/fault_provider.py, at /sru): a harvest
through resets, 500, 503 with Retry-After, 429, timeouts and truncated XML ends with the
catalogue a clean one gives, in each SRU version, every fault in the run's record."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_rejects
from config import HarvestSource
from crosswalks.marcxml import record_to_marcxml
from harvester.http_fetch import Politeness
from harvester.runs import FAILED, SUCCEEDED, PageInfo, RunOptions, harvest
from harvester.sources import SourceError
from harvester.sru_harvest import DEFAULT_PAGE
from tests.fault_provider import (
    FAST,
    SRU_1,
    STEADY,
    FaultProvider,
    catalogue_of,
    harvest_with_errors,
    serve,
    sqlite_catalog,
)

RECORDS = 23
SRU_FAULTS = {
    "reset": "truncated-body: the server at http://127.0.0.1:",
    "http-500": "http-500: HTTP 500",
    "http-503": "http-503: HTTP 503, Retry-After 1",
    "http-429": "http-429: HTTP 429, Retry-After",
    "timeout": "timeout:",
    "malformed": "malformed-xml: searchRetrieve:",
    "gzip": "unannounced-gzip:",
    "cut-gzip": "truncated-body: compressed body ended early",
}


@pytest.fixture(scope="module")
def records():  # type: ignore[no-untyped-def]
    return list(demo_records(RECORDS))


def _source(url: str, version: str = "") -> HarvestSource:
    address = url.replace("/oai", "/sru") + (f"?version={version}" if version else "")
    return HarvestSource(name="partner", url=address, protocol="sru",
                         query="cql.allRecords=1", prefix="marcxml")


def _harvest(  # type: ignore[no-untyped-def]
    catalog: Catalog, provider: FaultProvider, version: str = "", politeness: Politeness = FAST
):
    return harvest_with_errors(catalog, provider, lambda url: _source(url, version), politeness)


@pytest.fixture(scope="module")
def clean(records, tmp_path_factory):  # type: ignore[no-untyped-def]
    catalog = sqlite_catalog(tmp_path_factory.mktemp("clean"), "clean")
    provider = FaultProvider(records, page_size=5)
    report, errors = _harvest(catalog, provider, politeness=STEADY)
    assert report.status == SUCCEEDED and errors == ""
    assert (report.counts.added, report.pages, report.requests) == (RECORDS, 5, 6)
    snapshot = catalogue_of(catalog, "partner")
    again, _ = _harvest(catalog, provider, politeness=STEADY)
    assert again.counts.unchanged == RECORDS and catalogue_of(catalog, "partner") == snapshot
    catalog.close()
    assert len(snapshot) == RECORDS
    return snapshot


@pytest.mark.parametrize("version", ["1.1", "1.2", "2.0"])
def test_every_fault_in_one_run_ends_as_a_clean_run(  # type: ignore[no-untyped-def]
    version: str, records, clean, tmp_path
) -> None:
    catalog = sqlite_catalog(tmp_path, version)
    provider = FaultProvider(records, timeout_delay=2.0, page_size=3)
    for page, kind in enumerate(SRU_FAULTS):
        provider.arm(kind, page=page)
    report, errors = _harvest(catalog, provider, version)
    assert sorted(kind for kind, _page in provider.fired) == sorted(SRU_FAULTS)
    assert report.status == SUCCEEDED, errors
    for kind, evidence in SRU_FAULTS.items():
        assert evidence in errors, kind
    assert {r.get("version") for r in provider.requests if "query" in r} == {version}
    assert catalogue_of(catalog, "partner") == clean
    catalog.close()


def test_a_fault_that_outlasts_the_retries_fails_the_run_and_keeps_the_pages(  # type: ignore[no-untyped-def]
    records, clean, tmp_path
) -> None:
    catalog = sqlite_catalog(tmp_path, "down")
    provider = FaultProvider(records, page_size=5)
    provider.poison(provider.items[12].identifier)  # page 2 answers 500 every time
    report, errors = _harvest(catalog, provider)
    assert report.status == FAILED
    assert "run failed: gave up after 4 attempts: http-500: HTTP 500" in errors
    assert report.counts.added == 10 and len(catalogue_of(catalog, "partner")) == 10
    catalog.close()


def test_a_run_stopped_by_a_partner_gone_down_is_resumed_by_the_next(  # type: ignore[no-untyped-def]
    records, clean, tmp_path
) -> None:
    """503 to every retry after the first page: the run fails in one line naming the partner,
    its page kept; the next run, the partner up again, asks from the page after it."""
    catalog = sqlite_catalog(tmp_path, "gone")
    provider = FaultProvider(records, page_size=5)
    provider.unavailable_after = 1
    with serve(provider.app()) as url:
        source = _source(url)
        first = harvest(catalog, source, politeness=FAST)
        assert (first.status, first.counts.added) == (FAILED, 5)
        assert first.errors[-1] == (
            f"run failed: partner ({source.url}) is unavailable: gave up after 4 attempts: "
            "http-503: HTTP 503, Retry-After 0; the run stops; the next run resumes from where "
            "this one is")
        provider.unavailable_after = None
        pages: list[PageInfo] = []
        second = harvest(catalog, source, politeness=FAST, on_page=pages.append)
    assert second.status == SUCCEEDED
    assert second.errors == [f"resumed run #1 at record 6 of {len(clean)}"]
    # a progress bar of the resumed run ends at its own records
    assert [page.expected for page in pages] == [len(clean) - 5] * len(pages)
    assert catalogue_of(catalog, "partner") == clean
    assert len(provider.served) == len(set(provider.served)) == len(clean)  # each once
    catalog.close()


@pytest.mark.parametrize("version", ["1.2", "2.0"])
def test_a_diagnostic_beside_the_records_is_said_once_and_the_records_are_taken(  # type: ignore[no-untyped-def]
    version: str, records, clean, tmp_path
) -> None:
    """Every page answers its records with diagnostic 80 beside them (a non-fatal one: the
    server cannot sort): the run takes every record and says the diagnostic once."""
    catalog = sqlite_catalog(tmp_path, version)
    provider = FaultProvider(records, page_size=5)
    provider.sru_diagnostic = (80, "Sort not supported")
    report, errors = _harvest(catalog, provider, version, STEADY)
    assert report.status == SUCCEEDED, errors
    assert errors == ("diagnostic: SRU diagnostic 80: Sort not supported, beside the records "
                      "from 1 (not fatal: they are taken)")
    assert catalogue_of(catalog, "partner") == clean
    catalog.close()


def test_an_sru_source_takes_no_date_window(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog = sqlite_catalog(tmp_path, "window")
    with pytest.raises(SourceError, match="do not apply to an SRU source"):
        harvest(catalog, _source("http://127.0.0.1:1/oai"), RunOptions(from_="2024-01-01"))
    catalog.close()


def test_pages_of_records_seen_again_end_the_harvest_as_a_loop(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """From page 2 on, the server claims a million hits and repeats page 2's records."""
    catalog = sqlite_catalog(tmp_path, "loop")
    provider = FaultProvider(records, page_size=5)
    provider.looping_at = 2
    report, errors = _harvest(catalog, provider)
    assert report.status == FAILED
    assert "run failed: 10 pages in a row held only records already seen" in errors
    searches = [r for r in provider.requests if "query" in r]
    assert len(searches) == 2 + 1 + 10  # pages 0 and 1, page 2, then ten repeats of it
    assert report.counts.added == 15
    catalog.close()


def _server(page: Callable[[int, int], tuple[int, int, int | None]], records) -> web.Application:  # type: ignore[no-untyped-def]
    """An SRU 1.2 server over ``records`` whose searchRetrieve at startRecord s for m records
    answers ``page(s, m)``: (numberOfRecords, records sent from s, nextRecordPosition)."""
    marcxml = [record_to_marcxml(record).decode() for record in records]

    async def answer(request: web.Request) -> web.Response:
        head = f'<searchRetrieveResponse xmlns="{SRU_1}"><version>1.2</version>'
        if "query" not in request.query:
            body = f'<explainResponse xmlns="{SRU_1}"><version>1.2</version></explainResponse>'
            return web.Response(text=body, content_type="text/xml")
        start = int(request.query["startRecord"])
        hits, sent, following = page(start, int(request.query["maximumRecords"]))
        body = head + f"<numberOfRecords>{hits}</numberOfRecords><records>" + "".join(
            f"<record><recordSchema>marcxml</recordSchema><recordPacking>xml</recordPacking>"
            f"<recordData>{marcxml[position - 1]}</recordData>"
            f"<recordPosition>{position}</recordPosition></record>"
            for position in range(start, start + sent)
        ) + "</records>"
        if following is not None:
            body += f"<nextRecordPosition>{following}</nextRecordPosition>"
        return web.Response(text=body + "</searchRetrieveResponse>", content_type="text/xml")

    app = web.Application()
    app.router.add_get("/sru", answer)
    return app


def test_a_next_record_position_past_the_records_sent_skips_none(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A server that sends 5 records a page but says the next is 10 further on (in the result
    set, or far past it): the records between are asked for, not lost."""
    hits = len(records)

    def page(start: int, maximum: int) -> tuple[int, int, int | None]:
        return hits, min(5, hits - start + 1), start + 10 if start < 11 else 3_000_000_000

    catalog = sqlite_catalog(tmp_path, "skips")
    with serve(_server(page, records)) as url:
        report = harvest(catalog, _source(url), politeness=FAST)
    assert report.status == SUCCEEDED, report.errors
    assert report.counts.added == hits and len(catalogue_of(catalog, "partner")) == hits
    assert "nextRecordPosition 11 after 5 records from 1" in "\n".join(report.errors)
    catalog.close()


def test_a_next_record_position_past_the_hit_count_is_followed(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A server that counts 10 hits but serves every record, 5 a page, each page with the
    next record position until the last: the run ended at 10 records."""
    served = len(records)

    def page(start: int, maximum: int) -> tuple[int, int, int | None]:
        sent = max(0, min(5, maximum, served - start + 1))
        return 10, sent, start + sent if start + sent <= served else None

    catalog = sqlite_catalog(tmp_path, "undercount")
    with serve(_server(page, records)) as url:
        report = harvest(catalog, _source(url), politeness=FAST)
    assert report.status == SUCCEEDED, report.errors
    assert report.counts.added == served and len(catalogue_of(catalog, "partner")) == served
    catalog.close()


def test_a_run_killed_past_the_hit_count_is_resumed_where_it_stood(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The server of the test above fails at record 16 (after three pages, the last one past
    its 10 hits): the next run asks from record 16, not "nothing is left"."""
    served, down = len(records), [True]

    def page(start: int, maximum: int) -> tuple[int, int, int | None]:
        if down[0] and start >= 16:
            raise RuntimeError("the server fails")  # HTTP 500 to every retry
        sent = max(0, min(5, maximum, served - start + 1))
        return 10, sent, start + sent if start + sent <= served else None

    catalog = sqlite_catalog(tmp_path, "undercount-killed")
    with serve(_server(page, records)) as url:
        first = harvest(catalog, _source(url), politeness=FAST)
        assert (first.status, first.counts.added) == (FAILED, 15)
        down[0] = False
        second = harvest(catalog, _source(url), politeness=FAST)
    assert second.status == SUCCEEDED, second.errors
    assert second.errors == ["resumed run #1 at record 16, past the 10 hits the server counts "
                             "(it serves records past them)"]  # fmt: skip
    assert second.counts.added == served - 15 and len(catalogue_of(catalog, "partner")) == served
    catalog.close()


def test_a_hit_count_past_what_the_database_holds_is_saved_as_its_largest(records, catalog) -> None:  # type: ignore[no-untyped-def]
    """numberOfRecords 3,000,000,000 (PostgreSQL's integer ends at 2**31 - 1): the records
    sent are stored, and the run ends on the page that has none, in one line."""

    def page(start: int, maximum: int) -> tuple[int, int, int | None]:
        return 3_000_000_000, max(0, min(maximum, len(records) - start + 1)), None

    with serve(_server(page, records)) as url:
        report = harvest(catalog, _source(url), politeness=FAST)
    assert report.status == FAILED
    assert report.errors[-1] == (
        f"run failed: searchRetrieve at {len(records) + 1} of 3000000000 returned no records"
    )
    assert len(catalogue_of(catalog, "partner")) == len(records)


def test_a_diagnostics_long_details_are_quoted_in_part(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async def answer(request: web.Request) -> web.Response:
        if "query" not in request.query:
            body = f'<explainResponse xmlns="{SRU_1}"><version>1.2</version></explainResponse>'
            return web.Response(text=body, content_type="text/xml")
        body = (f'<searchRetrieveResponse xmlns="{SRU_1}"><version>1.2</version>'
                "<numberOfRecords>0</numberOfRecords><diagnostics><diagnostic xmlns="
                '"http://www.loc.gov/zing/srw/diagnostic/"><uri>info:srw/diagnostic/1/1'
                f"</uri><details>{'d' * 1_000_000}</details></diagnostic></diagnostics>"
                "</searchRetrieveResponse>")
        return web.Response(text=body, content_type="text/xml")

    assert _failed_against(answer, tmp_path) == [
        f"run failed: SRU diagnostic 1: ({'d' * 500}... (999500 more characters))"
    ]


def test_the_schemas_an_explain_lists_are_quoted_in_part(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """explain lists 20,000 record schemas, none of them MARCXML or Dublin Core."""
    schemas = "".join(f'<schema name="s{n:05}" identifier="info:{n}"/>' for n in range(20_000))

    async def answer(_request: web.Request) -> web.Response:
        body = (f'<explainResponse xmlns="{SRU_1}"><version>1.2</version><record>'
                "<recordPacking>xml</recordPacking><recordData>"
                f'<explain xmlns="http://explain.z3950.org/dtd/2.0/"><schemaInfo>{schemas}'
                "</schemaInfo></explain></recordData></record></explainResponse>")
        return web.Response(text=body, content_type="text/xml")

    (line,) = _failed_against(answer, tmp_path)
    assert line.startswith("run failed: the server offers no 'marcxml' records (it offers s00000")
    assert line.endswith(" more characters))") and len(line) < 700


def _failed_against(
    answer: Callable[[web.Request], Awaitable[web.Response]], tmp_path: Path
) -> list[str]:
    """The errors of a harvest from an SRU server answering every request with ``answer``,
    a run that must fail."""
    app = web.Application()
    app.router.add_get("/sru", answer)
    catalog = sqlite_catalog(tmp_path, "partner")
    try:
        with serve(app) as url:
            report = harvest(catalog, _source(url), politeness=FAST)
    finally:
        catalog.close()
    assert report.status == FAILED
    return report.errors


def test_a_second_record_under_one_001_is_rejected_and_the_first_kept_at_every_run(  # type: ignore[no-untyped-def]
    records, tmp_path
) -> None:
    """A partner serving several institutions' records may give two of them one 001 (the key
    of a Z39.50 or SRU record): the later replaced the earlier, unsaid, and every run wrote
    both again, one over the other, each with a new datestamp (harvesters of ours fetched
    them again). The later is rejected with the reason; a run again changes nothing."""
    import copy

    twin = copy.deepcopy(records[7])
    twin["001"].data = records[3]["001"].data
    twin["245"]["a"] = "Boshqa kitob"
    served = [*records[:10], twin]

    def page(start: int, maximum: int) -> tuple[int, int, int | None]:
        sent = min(maximum, len(served) - start + 1)
        return len(served), sent, start + sent if start + sent <= len(served) else None

    catalog = sqlite_catalog(tmp_path, "twins")
    with serve(_server(page, served)) as url:
        first = harvest(catalog, _source(url), politeness=FAST)
        again = harvest(catalog, _source(url), politeness=FAST)
    held = catalogue_of(catalog, "partner")
    with catalog.engine.connect() as connection:
        reasons = connection.execute(select(harvest_rejects.c.reason)).scalars().all()
    catalog.close()
    assert (first.counts.added, first.counts.updated, first.counts.rejected) == (10, 0, 1)
    assert (again.counts.unchanged, again.counts.updated, again.counts.rejected) == (10, 0, 1)
    assert len(held) == 10 and len(reasons) == 2
    assert all(f"its id partner:{twin['001'].data} is that of a record stored earlier in this run"
               in reason for reason in reasons), reasons


def test_records_past_the_maximum_asked_for_are_dropped_unread(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A server that ignores maximumRecords: after the records asked for, each page carries
    500 more (empty ones here); they are dropped and said once, not read as rejects."""
    records = list(demo_records(2 * DEFAULT_PAGE))  # two full pages
    marcxml = [record_to_marcxml(record).decode() for record in records]
    asked: list[int] = []

    async def answer(request: web.Request) -> web.Response:
        if "query" not in request.query:
            body = f'<explainResponse xmlns="{SRU_1}"><version>1.2</version></explainResponse>'
            return web.Response(text=body, content_type="text/xml")
        start, maximum = int(request.query["startRecord"]), int(request.query["maximumRecords"])
        asked.append(maximum)
        sent = range(start, min(start + maximum, len(records) + 1))
        body = "".join(
            f"<record><recordSchema>marcxml</recordSchema><recordData>{marcxml[at - 1]}"
            f"</recordData><recordPosition>{at}</recordPosition></record>" for at in sent
        ) + "<record><recordSchema>marcxml</recordSchema></record>" * 500
        return web.Response(
            text=f'<searchRetrieveResponse xmlns="{SRU_1}"><version>1.2</version>'
            f"<numberOfRecords>{len(records)}</numberOfRecords><records>{body}</records>"
            "</searchRetrieveResponse>", content_type="text/xml")  # fmt: skip

    app = web.Application()
    app.router.add_get("/sru", answer)
    catalog = sqlite_catalog(tmp_path, "surplus")
    with serve(app) as url:
        report = harvest(catalog, _source(url), politeness=FAST)
    assert report.status == SUCCEEDED, report.errors
    assert (report.counts.added, report.counts.rejected) == (len(records), 0)
    dropped = [line for line in report.errors if "were dropped" in line]
    assert asked == [DEFAULT_PAGE, DEFAULT_PAGE] and len(dropped) == 1
    assert f"500 records past the {DEFAULT_PAGE} asked for from 1" in dropped[0]
    catalog.close()
