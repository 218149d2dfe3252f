"""A harvest through every fault of the fault provider ends with the catalogue a clean one gives.

Each fault kind is injected alone in one run, then all of them in one run; every fault must be
written in the run's record (``harvest_runs.errors``). A record that stays broken is
quarantined with its bytes; a page refused for declaring entities is kept as a reject.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import pytest
from aiohttp import web
from pymarc import Record
from sqlalchemy import select

from catalog import Catalog
from catalog.demo import demo_records
from catalog.harvest_state import harvest_rejects, harvest_runs
from config import HarvestSource, Settings
from crosswalks.marcxml import record_to_marcxml
from harvester.faults import Event
from harvester.oai_client import Politeness
from harvester.runs import (
    FAILED,
    MAX_ERROR_LINES,
    PARTIAL,
    SUCCEEDED,
    HarvestRun,
    PageInfo,
    RunOptions,
    harvest,
)
from tests.fault_provider import (
    FAST,
    FAULTS,
    STEADY,
    FaultProvider,
    catalogue_of,
    harvest_with_errors,
    second_loopback,
    serve,
    sqlite_catalog,
)

RECORDS = 45
EVIDENCE = {
    "timeout": "timeout: no whole answer from http://127.0.0.1:",  # was "TimeoutError: "
    "reset": "truncated-body: the server at http://127.0.0.1:",  # was "connection: ClientPay...
    "http-500": "http-500: HTTP 500",
    "http-503": "http-503: HTTP 503, Retry-After 1",
    "http-429": "http-429: HTTP 429, Retry-After",
    "malformed": "malformed-xml:",
    "forbidden-char": "invalid Char value 1",
    "bad-token": "badResumptionToken: expired; restarting the list",
    "token-loop": "came back again; restarting the list",
    "gzip": "unannounced-gzip:",
    "charset": "charset-header: header says ISO-8859-1",
    "oai-error": "badArgument: try later",
    "cut-gzip": "truncated-body: compressed body ended early",
    "gzip-bomb": "response-too-large: response body past max_decompressed_bytes",
    "deflate-bomb": "response-too-large: response body past max_decompressed_bytes",
    "hidden-bomb": "unannounced-gzip: gzip body without Content-Encoding\n"
                   "response-too-large: response body past max_decompressed_bytes",
    "endless": "response-too-large: response body past max_response_bytes",
}


@pytest.fixture(scope="module")
def records():  # type: ignore[no-untyped-def]
    return list(demo_records(RECORDS))


def _harvest(  # type: ignore[no-untyped-def]
    catalog: Catalog, provider: FaultProvider, politeness: Politeness = FAST
):
    return harvest_with_errors(
        catalog, provider, lambda url: HarvestSource(name="partner", url=url), politeness
    )


@pytest.fixture(scope="module")
def clean(records, tmp_path_factory):  # type: ignore[no-untyped-def]
    catalog = sqlite_catalog(tmp_path_factory.mktemp("clean"), "clean")
    provider = FaultProvider(records)
    provider.delete("oai:fault.test:3")
    report, errors = _harvest(catalog, provider, STEADY)
    assert report.status == SUCCEEDED and errors == ""
    snapshot = catalogue_of(catalog, "partner")
    catalog.close()
    assert len(snapshot) == RECORDS - 1  # a deletion of a record never harvested is no record
    return snapshot


def test_evidence_names_every_fault() -> None:
    assert set(EVIDENCE) == set(FAULTS)


HOSTILE_BODIES = ("gzip-bomb", "deflate-bomb", "hidden-bomb", "endless")
"""Faults whose reading takes longer than FAST's one-second timeout on a loaded machine: they
get a generous one (their memory bound is shown on the process in tests/test_bodies.py)."""


@pytest.mark.parametrize("kind", FAULTS)
def test_one_fault_per_run(kind: str, records, clean, tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog = sqlite_catalog(tmp_path, kind)
    provider = FaultProvider(records, timeout_delay=2.0)
    provider.delete("oai:fault.test:3")
    provider.arm(kind, page=2)
    politeness = dataclasses.replace(FAST, timeout=120) if kind in HOSTILE_BODIES else FAST
    report, errors = _harvest(catalog, provider, politeness)
    assert provider.fired == [(kind, 2)]
    assert report.status == SUCCEEDED, errors
    assert EVIDENCE[kind] in errors
    assert catalogue_of(catalog, "partner") == clean
    catalog.close()


def test_all_faults_in_one_run(records, clean, tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog = sqlite_catalog(tmp_path, "mixed")
    provider = FaultProvider(records, timeout_delay=2.0, page_size=3)
    provider.delete("oai:fault.test:3")
    kinds = [kind for kind in FAULTS if kind not in HOSTILE_BODIES]
    for page, kind in enumerate(kinds):
        provider.arm(kind, page=page)
    report, errors = _harvest(catalog, provider)
    assert sorted(kind for kind, _page in provider.fired) == sorted(kinds)
    assert report.status == SUCCEEDED, errors
    for kind in kinds:
        assert EVIDENCE[kind] in errors, kind
    assert catalogue_of(catalog, "partner") == clean
    catalog.close()


def test_a_record_broken_for_good_is_quarantined_and_the_rest_arrives(
    records, clean, catalog  # type: ignore[no-untyped-def]
) -> None:
    provider = FaultProvider(records)
    provider.delete("oai:fault.test:3")
    provider.broken_forever.add("oai:fault.test:20")
    report, _errors = _harvest(catalog, provider)
    assert report.status == SUCCEEDED and report.counts.rejected == 1
    expected = {k: v for k, v in clean.items() if k != "oai:fault.test:20"}
    assert catalogue_of(catalog, "partner") == expected
    with catalog.engine.connect() as connection:
        (reject,) = connection.execute(select(harvest_rejects)).all()
    assert reject.identifier == "oai:fault.test:20" and reject.run_id == report.run_id
    assert b"\x01</leader>" in reject.raw and "malformed XML" in reject.reason


def test_a_window_that_keeps_failing_is_halved_until_the_bad_record_is_isolated(
    records, clean, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    """A provider that answers 500 whenever one record is in the page: halving gets the rest."""
    catalog = sqlite_catalog(tmp_path, "halving")
    provider = FaultProvider(records)
    provider.delete("oai:fault.test:3")
    provider.poison("oai:fault.test:30")
    report, errors = _harvest(catalog, provider, dataclasses.replace(FAST, retries=0))
    assert report.status == PARTIAL
    assert "halving it" in errors and "failed for good" in errors
    expected = {k: v for k, v in clean.items() if k != "oai:fault.test:30"}
    assert catalogue_of(catalog, "partner") == expected
    with catalog.engine.connect() as connection:
        state = connection.execute(select(harvest_runs.c.status)).scalars().all()
    assert state == [PARTIAL]


def test_a_page_with_an_external_entity_is_rejected_and_nothing_is_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import web

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    fetched: list[str] = []
    identify = FaultProvider([])._identify()

    async def evil(request: web.Request) -> web.Response:
        fetched.append(request.path)
        if request.query.get("verb") == "Identify":
            return web.Response(body=identify, content_type="text/xml")
        body = (
            '<?xml version="1.0"?><!DOCTYPE OAI-PMH [\n'
            f'<!ENTITY secret SYSTEM "file://{secret}">\n'
            f'<!ENTITY remote SYSTEM "http://{request.host}/leak">]>\n'
            '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            "<responseDate>2024-01-01T00:00:00Z</responseDate><request>x</request><ListRecords>"
            "<record><header><identifier>oai:evil:1</identifier>"
            "<datestamp>2024-01-01T00:00:00Z</datestamp></header><metadata>"
            '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&secret;&remote;</dc:title>'
            "</oai_dc:dc></metadata></record></ListRecords></OAI-PMH>"
        )
        return web.Response(text=body, content_type="text/xml")

    app = web.Application()
    app.router.add_get("/oai", evil)
    app.router.add_get("/leak", evil)
    catalog = sqlite_catalog(tmp_path, "evil")
    with serve(app) as url:
        report = harvest(catalog, HarvestSource(name="evil", url=url),
                         politeness=dataclasses.replace(FAST, retries=0))
    assert report.status != SUCCEEDED and report.counts.added == 0
    assert "/leak" not in fetched
    with catalog.engine.connect() as connection:
        rejects = connection.execute(select(harvest_rejects)).all()
    assert len(rejects) == 1 and rejects[0].reason.startswith("page: malformed-xml")
    assert b"<!ENTITY secret SYSTEM" in rejects[0].raw
    assert catalogue_of(catalog, "evil") == {}
    catalog.close()


def test_a_list_of_records_seen_again_is_a_loop_whatever_its_tokens_say(
    records, catalog  # type: ignore[no-untyped-def]
) -> None:
    """From page 2 on, the provider repeats page 2's records, with a new token each time."""
    from harvester import locks

    provider = FaultProvider(records, page_size=5)
    provider.looping_at = 2

    def stop_a_runaway(count: int) -> None:  # without the guard the list never ends
        if count > 500:
            provider.looping_at = None

    provider.on_list_request = stop_a_runaway
    report, errors = _harvest(catalog, provider)
    assert report.status == PARTIAL
    loop_pages = Settings().harvest.loop_pages
    assert loop_pages == 10
    # three tries (two restarts), each: pages 0 and 1, page 2 once, then loop_pages repeats
    assert len(provider.list_requests()) == 3 * (3 + loop_pages)
    assert errors.count("10 pages in a row held only records already seen") == 3
    assert "failed for good: 10 pages in a row held only records already seen" in errors
    assert report.counts.added == 15
    assert report.watermark is None
    locks.acquire(catalog.engine, "partner", "next-run")  # the lock was released
    locks.release(catalog.engine, "partner", "next-run")


def test_of_a_large_unusable_page_only_the_first_max_record_bytes_are_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import web

    identify = FaultProvider([])._identify()
    body = (b'<?xml version="1.0"?><!DOCTYPE OAI-PMH [<!ENTITY e "x">]><!-- '
            + b"x" * 3_000_000 + b' --><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"/>')

    async def broken(request: web.Request) -> web.Response:
        if request.query.get("verb") == "Identify":
            return web.Response(body=identify, content_type="text/xml")
        return web.Response(body=body, content_type="text/xml")

    app = web.Application()
    app.router.add_get("/oai", broken)
    catalog = sqlite_catalog(tmp_path, "large-page")
    with serve(app) as url:
        report = harvest(catalog, HarvestSource(name="broken", url=url),
                         politeness=dataclasses.replace(FAST, retries=0))
    assert report.status != SUCCEEDED
    with catalog.engine.connect() as connection:
        (page,) = connection.execute(select(harvest_rejects)).all()
    assert len(page.raw) == Settings().limits.max_record_bytes
    assert page.reason.startswith("page: malformed-xml")
    assert page.reason.endswith(f"(first 1048576 of {len(body)} bytes kept)")
    assert page.raw == body[:1048576]
    catalog.close()


def _partner(
    list_records: Callable[[dict[str, str]], str],
    earliest: str | None = None,
    requests: list[dict[str, str]] | None = None,
    response_date: str | None = None,
) -> web.Application:
    """An OAI-PMH partner answering Identify as the fault provider does (but with the
    earliestDatestamp ``earliest``, if given), and ListRecords with the ``<ListRecords>``
    content ``list_records`` gives for the request's parameters (an OAI error if it starts
    with ``<error``, the whole answer to ListSets if it starts with ``<ListSets>``), each at
    ``response_date`` if given; each request's parameters are appended to ``requests``."""
    provider = FaultProvider([])
    identify = provider._identify()
    if earliest is not None:
        identify = re.sub(rb"(<earliestDatestamp>)[^<]*", rb"\g<1>" + earliest.encode(), identify)

    def dated(body: bytes) -> bytes:
        if response_date is None:
            return body
        return re.sub(rb"(<responseDate>)[^<]*", rb"\g<1>" + response_date.encode(), body)

    async def answer(request: web.Request) -> web.Response:
        params = dict(request.query)
        if requests is not None:
            requests.append(params)
        if params.get("verb") == "Identify":
            return web.Response(body=dated(identify), content_type="text/xml")
        content = list_records(params)
        if not content.startswith(("<error", "<ListSets>")):
            content = f"<ListRecords>{content}</ListRecords>"
        body = provider._envelope(content)
        return web.Response(body=dated(body), content_type="text/xml")

    app = web.Application()
    app.router.add_get("/oai", answer)
    return app


def _record(identifier: str, marc: Record) -> str:
    return (f"<record><header><identifier>{identifier}</identifier>"
            "<datestamp>2023-01-01T00:00:00Z</datestamp></header>"
            f"<metadata>{record_to_marcxml(marc).decode()}</metadata></record>")


def test_a_cursor_or_list_size_too_large_to_save_is_ignored(records, catalog) -> None:  # type: ignore[no-untyped-def]
    """The cursor is saved with each page: 2**31 does not fit PostgreSQL's integer, 30 digits
    not SQLite's either."""

    def pages(params: dict[str, str]) -> str:
        if "resumptionToken" not in params:
            return (_record("oai:p:1", records[0])
                    + f'<resumptionToken cursor="{2**31}" completeListSize="{2**31}">next'
                    "</resumptionToken>")
        return _record("oai:p:2", records[1]) + f'<resumptionToken cursor="{"9" * 30}"/>'

    with serve(_partner(pages)) as url:
        report = harvest(catalog, HarvestSource(name="p", url=url), politeness=FAST)
    assert report.status == SUCCEEDED, report.errors
    assert sorted(catalogue_of(catalog, "p")) == ["oai:p:1", "oai:p:2"]


@pytest.mark.parametrize("earliest", ["", "the dawn of time"])
def test_a_window_is_halved_from_1970_when_identify_gives_no_earliest_datestamp(
    earliest: str, records, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    """The list of the whole repository fails (badArgument unless a ``from`` is sent): its
    halves start at 1970-01-01, Identify's earliestDatestamp being none."""

    def pages(params: dict[str, str]) -> str:
        if "from" not in params:
            return '<error code="badArgument">from is required</error>'
        return _record(f"oai:p:{params['from']}", records[0])

    catalog = sqlite_catalog(tmp_path, "earliest")
    with serve(_partner(pages, earliest)) as url:
        report = harvest(catalog, HarvestSource(name="p", url=url), politeness=FAST)
    assert report.status == SUCCEEDED, report.errors
    assert "window 1970-01-01..20" in report.errors[0] and "halving it" in report.errors[0]
    # a run's counts may then pass the list's size: the line says why
    assert report.errors[0].endswith("halving it (what it delivered before the failure is "
                                     "asked for and counted again)")
    assert len(catalogue_of(catalog, "p")) == 2
    catalog.close()


@pytest.mark.parametrize(
    ("said", "watermark"),
    [("0999-06-01T00:00:00Z", "0999-05-31T23:59:59Z"),
     ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z")],
)
def test_a_response_date_before_the_year_1000_is_a_watermark_the_next_run_reads(
    said: str, watermark: str, records, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    """A partner's clock set back centuries: its responseDate is the watermark (one second
    earlier, where there is one), written with four digits, and asked from next time."""
    requests: list[dict[str, str]] = []
    app = _partner(lambda _params: _record("oai:p:1", records[0]), requests=requests,
                   response_date=said)
    catalog = sqlite_catalog(tmp_path, "past")
    with serve(app) as url:
        source = HarvestSource(name="p", url=url)
        first = harvest(catalog, source, politeness=FAST)
        second = harvest(catalog, source, politeness=FAST)
    assert (first.status, first.watermark) == (SUCCEEDED, watermark), first.errors
    assert (second.status, second.counts.unchanged) == (SUCCEEDED, 1), second.errors
    assert requests[-1]["from"] == watermark
    catalog.close()


def test_a_list_of_records_without_identifiers_seen_again_is_a_loop(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every page holds the same three records, whose headers lack an identifier, and a new
    token: told apart by their bytes, they are seen again (the partner stops after 200)."""
    requests: list[dict[str, str]] = []
    nameless = "".join(
        _record("", marc).replace("<identifier></identifier>", "") for marc in records[:3]
    )

    def pages(params: dict[str, str]) -> str:
        page = int(params.get("resumptionToken", "0"))
        return nameless + (f"<resumptionToken>{page + 1}</resumptionToken>" if page < 200 else "")

    catalog = sqlite_catalog(tmp_path, "nameless")
    with serve(_partner(pages, requests=requests)) as url:
        report = harvest(catalog, HarvestSource(name="p", url=url), politeness=FAST)
    assert report.status == PARTIAL
    loop_pages = Settings().harvest.loop_pages
    assert len(requests) == 1 + 3 * (1 + loop_pages)  # Identify, then three tries
    assert "failed for good: 10 pages in a row held only records already seen" in "\n".join(
        report.errors
    )
    catalog.close()


def test_a_partners_long_error_message_is_quoted_in_part(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """badArgument with a message of 1,000,000 characters, to every request: each of the
    window's halvings quoted all of it (65 MB in the run's record)."""
    message = "m" * 1_000_000

    def pages(_params: dict[str, str]) -> str:
        return f'<error code="badArgument">{message}</error>'

    catalog = sqlite_catalog(tmp_path, "talkative")
    with serve(_partner(pages)) as url:
        report = harvest(catalog, HarvestSource(name="p", url=url), politeness=FAST)
    with catalog.engine.connect() as connection:
        errors = connection.execute(select(harvest_runs.c.errors)).scalar_one()
    assert report.status != SUCCEEDED
    assert "m" * 500 + "... (999500 more characters)" in errors
    assert max(len(line) for line in report.errors) < 1000
    catalog.close()


def test_a_response_date_with_a_long_fraction_of_a_second_is_saved(records, catalog) -> None:  # type: ignore[no-untyped-def]
    """responseDate 2024-06-01T00:00:00.000…Z with 40 digits of fraction: a datestamp, but
    longer than the 32 characters the run's saved first responseDate holds."""
    said = "2024-06-01T00:00:00." + "0" * 40 + "Z"
    app = _partner(lambda _params: _record("oai:p:1", records[0]), response_date=said)
    with serve(app) as url:
        report = harvest(catalog, HarvestSource(name="p", url=url), politeness=FAST)
    assert (report.status, report.watermark) == (SUCCEEDED, "2024-05-31T23:59:59Z"), report.errors
    assert sorted(catalogue_of(catalog, "p")) == ["oai:p:1"]


@pytest.mark.parametrize(("kept", "dropped", "own"), [(500, 300, 2), (10, 0, 700), (500, 0, 0)])
def test_the_runs_own_lines_stay_in_its_record_however_many_events_its_partner_caused(
    kept: int, dropped: int, own: int
) -> None:
    """A run's record holds MAX_ERROR_LINES lines at most: the partner's events are cut first
    (500 of them, and 300 more counted, left no room for "run failed"), then the run's own
    lines in their middle, their first and last kept."""
    run = HarvestRun(None, HarvestSource(name="p", url="http://127.0.0.1:9/oai"),  # type: ignore[arg-type]
                     RunOptions(), FAST)  # fmt: skip
    events = [Event("charset-header", f"page {n}") for n in range(kept)]
    run._client = SimpleNamespace(events=events, events_dropped=dropped)  # type: ignore[assignment]
    run.errors = [f"line {n}" for n in range(own - 1)] + ["run failed: the end"] if own else []
    lines = run._error_lines()
    assert len(lines) <= MAX_ERROR_LINES
    if own:
        assert lines[-1] == "run failed: the end"
        assert run.errors[0] in lines
    if kept + dropped + own > MAX_ERROR_LINES:
        assert any(line.startswith("... and ") for line in lines)
    else:
        assert lines == [str(event) for event in events] + run.errors


@pytest.mark.parametrize(
    ("error", "source", "said"),
    [
        ('<error code="cannotDisseminateFormat">only oai_dc here</error>', {"prefix": "marc21"},
         "does not serve metadataPrefix 'marc21': cannotDisseminateFormat: only oai_dc here"),
        # a partner without sets asked for one: halved 65 times, a minute at the default delay
        ('<error code="noSetHierarchy">no sets here</error>', {"sets": ("books",)},
         "has no sets, so none of 'books' can be harvested: noSetHierarchy: no sets here"),
    ],
)
def test_a_list_error_no_smaller_window_helps_ends_the_run_at_once(
    tmp_path, error: str, source: dict[str, object], said: str
) -> None:  # type: ignore[no-untyped-def]
    """cannotDisseminateFormat, or noSetHierarchy, to a list: no smaller window can help
    (halving asked some 65 times); the run fails at once, in one line naming the partner and
    what it lacks. badArgument is still ridden out by halving
    (test_a_partners_long_error_message_is_quoted_in_part)."""
    requests: list[dict[str, str]] = []

    def pages(_params: dict[str, str]) -> str:
        return error

    catalog = sqlite_catalog(tmp_path, "lacks")
    with serve(_partner(pages, requests=requests)) as url:
        report = harvest(catalog, HarvestSource(name="p", url=url, **source),  # type: ignore[arg-type]
                         politeness=FAST)  # fmt: skip
    with catalog.engine.connect() as connection:
        errors = connection.execute(select(harvest_runs.c.errors)).scalar_one()
    catalog.close()
    assert report.status == FAILED
    assert [r.get("verb") for r in requests] == ["Identify", "ListRecords"]
    assert errors == f"run failed: p ({url}) {said}"


@pytest.mark.parametrize(("second_set", "list_sets", "status"), [
    ("books", "listed on its second page", SUCCEEDED),  # an empty set of the partner's
    ("boks", "listed on neither page", PARTIAL),  # misspelt
    ("boks", '<error code="badArgument">not now</error>', SUCCEEDED),  # cannot tell: let be
])  # fmt: skip
def test_a_set_harvested_from_the_start_and_empty_is_looked_for_in_list_sets(
    records, tmp_path, second_set: str, list_sets: str, status: str
) -> None:  # type: ignore[no-untyped-def]
    """Most partners answer a misspelt setSpec with noRecordsMatch, and the run harvesting it
    succeeded, empty, every time. A set whose list from the start is empty is looked for in
    ListSets (through its resumption tokens): a set it does not name ends the run partial, its
    watermark unmoved, with a line saying so; a set it names is empty, and a ListSets that
    cannot be read changes nothing. The set that has records is harvested either way."""
    requests: list[dict[str, str]] = []

    def answers(params: dict[str, str]) -> str:
        if params["verb"] == "ListSets":
            if list_sets.startswith("<error"):
                return list_sets
            if "resumptionToken" not in params:
                return ("<ListSets><set><setSpec>maps</setSpec><setName>Maps</setName></set>"
                        "<resumptionToken>2</resumptionToken></ListSets>")
            return "<ListSets><set><setSpec>books</setSpec><setName>Books</setName></set>" \
                "<resumptionToken/></ListSets>"
        if params.get("set") == "maps":
            return _record("oai:p:1", records[0])
        return '<error code="noRecordsMatch"/>'

    catalog = sqlite_catalog(tmp_path, "sets")
    with serve(_partner(answers, requests=requests)) as url:
        report = harvest(catalog, HarvestSource(name="p", url=url, sets=("maps", second_set)),
                         politeness=FAST)  # fmt: skip
    with catalog.engine.connect() as connection:
        errors = connection.execute(select(harvest_runs.c.errors)).scalar_one()
    catalog.close()
    assert (report.status, report.counts.added) == (status, 1)
    asked = [r.get("resumptionToken") for r in requests if r["verb"] == "ListSets"]
    assert asked == ([None] if list_sets.startswith("<error") else [None, "2"])
    if status == PARTIAL:
        assert report.watermark is None
        assert errors == (
            "window the start..now of set boks failed for good: no records, and the partner's "
            "ListSets does not name the set 'boks': is the source's setSpec misspelt?"
        )
    else:
        assert report.watermark is not None and not errors


def test_no_records_match_to_a_token_ends_the_list_and_says_so(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    def pages(params: dict[str, str]) -> str:
        if "resumptionToken" in params:
            return '<error code="noRecordsMatch"/>'
        return _record("oai:p:1", records[0]) + "<resumptionToken>next</resumptionToken>"

    catalog = sqlite_catalog(tmp_path, "ends")
    with serve(_partner(pages)) as url:
        report = harvest(catalog, HarvestSource(name="p", url=url), politeness=FAST)
    with catalog.engine.connect() as connection:
        errors = connection.execute(select(harvest_runs.c.errors)).scalar_one()
    catalog.close()
    assert (report.status, report.counts.added) == (SUCCEEDED, 1)
    assert errors == "noRecordsMatch: answered to a resumption token: the list ends there"


def test_no_records_match_to_a_token_short_of_the_announced_size_ends_the_run_partial(  # type: ignore[no-untyped-def]
    records, tmp_path
) -> None:
    """The first token announces 3 records; the next page is noRecordsMatch: two were lost, so
    the watermark stays where it was and the next run asks again."""
    def pages(params: dict[str, str]) -> str:
        if "resumptionToken" in params:
            return '<error code="noRecordsMatch"/>'
        return _record("oai:p:1", records[0]) + (
            '<resumptionToken completeListSize="3" cursor="0">next</resumptionToken>')

    catalog = sqlite_catalog(tmp_path, "lost")
    with serve(_partner(pages)) as url:
        report = harvest(catalog, HarvestSource(name="p", url=url), politeness=FAST)
    catalog.close()
    assert (report.status, report.counts.added, report.watermark) == (PARTIAL, 1, None)
    assert report.errors == [
        "noRecordsMatch: answered to a resumption token: the list ends there",
        "window the start..now: the list ended at 1 of the 3 records its completeListSize "
        "announced; the run ends partial, its watermark unmoved"]


def test_a_list_ended_short_of_its_complete_list_size_leaves_the_watermark(  # type: ignore[no-untyped-def]
    records, clean, tmp_path
) -> None:
    """The second page's token is empty though its completeListSize says 45 (a deletion among
    them): the run ends partial with a line saying so, its watermark unmoved, and the next run
    asks for the whole list again, so the records the list lost arrive."""
    provider = FaultProvider(records)
    provider.delete("oai:fault.test:3")
    provider.list_ends_after = 2
    catalog = sqlite_catalog(tmp_path, "short")
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        short = harvest(catalog, source, politeness=FAST)
        provider.list_ends_after = None
        again = harvest(catalog, source, politeness=FAST)
    assert (short.status, short.counts.added, short.watermark) == (PARTIAL, 20, None)
    assert short.errors == ["window the start..now: the list ended at 20 of the 45 records its "
                            "completeListSize announced; the run ends partial, its watermark "
                            "unmoved"]
    assert "from" not in provider.list_requests()[-5]  # the second run's first request
    assert (again.status, again.errors) == (SUCCEEDED, [])
    assert catalogue_of(catalog, "partner") == clean
    catalog.close()


def test_a_list_short_by_no_more_than_the_tolerated_shortfall_is_whole(  # type: ignore[no-untyped-def]
    records, tmp_path
) -> None:
    """A partner that announces two records more than it ever serves (it counts hidden ones):
    with its ``tolerated_shortfall = 2`` the run succeeds and moves its watermark, with a line
    saying the list was short, and the next, incremental, run asks from it; one record
    further short is partial, its watermark unmoved; so is a list as short of another source,
    which tolerates none."""
    def pages(announced: int) -> Callable[[dict[str, str]], str]:
        def page(params: dict[str, str]) -> str:
            if "resumptionToken" in params:
                return _record("oai:p:2", records[1]) + (
                    f'<resumptionToken completeListSize="{announced}" cursor="1"/>')
            return _record("oai:p:1", records[0]) + (
                f'<resumptionToken completeListSize="{announced}" cursor="0">next'
                "</resumptionToken>")
        return page

    catalog = sqlite_catalog(tmp_path, "tolerated")
    with serve(_partner(pages(4))) as url:
        source = HarvestSource(name="p", url=url, tolerated_shortfall=2)
        first = harvest(catalog, source, politeness=FAST)
        second = harvest(catalog, source, politeness=FAST)
        strict = harvest(catalog, HarvestSource(name="r", url=url), politeness=FAST)
    with serve(_partner(pages(5))) as url:
        source = HarvestSource(name="q", url=url, tolerated_shortfall=2)
        short = harvest(catalog, source, politeness=FAST)
    catalog.close()
    assert (first.status, first.counts.added, first.watermark is not None) == (
        SUCCEEDED, 2, True)
    assert first.errors == ["window the start..now: the list ended at 2 of the 4 records its "
                            "completeListSize announced; no more than the source's "
                            "tolerated_shortfall (2) short: taken as whole"]
    assert second.status == SUCCEEDED and second.counts.unchanged == 2
    assert second.errors[0].startswith(f"window {first.watermark}..now: the list ended at 2")
    assert (strict.status, strict.watermark) == (PARTIAL, None)
    assert (short.status, short.watermark) == (PARTIAL, None)
    assert short.errors == ["window the start..now: the list ended at 2 of the 5 records its "
                            "completeListSize announced; the run ends partial, its watermark "
                            "unmoved"]


def test_a_resumed_list_of_a_partner_giving_no_cursor_is_still_held_to_its_size(  # type: ignore[no-untyped-def]
    records, tmp_path
) -> None:
    """A partner whose tokens give completeListSize but no cursor: a run interrupted after its
    first page (the list's end not fetched yet) saves the entries delivered with the token, and
    the run resuming it finds the list short (it knew none of the entries before its token, and
    succeeded, losing a record without a word)."""
    def page(params: dict[str, str]) -> str:  # 8 pages of a record, tokens 2..8
        n = int(params.get("resumptionToken", "1"))
        following = str(n + 1) if n < 8 else ""
        return _record(f"oai:p:{n}", records[n]) + (
            f'<resumptionToken completeListSize="9">{following}</resumptionToken>')

    class Stop(Exception):
        pass

    def stop(info: PageInfo) -> None:
        raise Stop

    catalog = sqlite_catalog(tmp_path, "resumed")
    with serve(_partner(page)) as url:
        source = HarvestSource(name="p", url=url)
        with pytest.raises(Stop):
            harvest(catalog, source, politeness=FAST, on_page=stop)
        resumed = harvest(catalog, source, politeness=FAST)
    catalog.close()
    assert (resumed.status, resumed.watermark) == (PARTIAL, None)
    assert re.fullmatch(r"resumed run #1 after [1-3] records of its list", resumed.errors[0])
    assert resumed.errors[1:] == ["window the start..now: the list ended at 8 of the 9 records "
                                  "its completeListSize announced; the run ends partial, its "
                                  "watermark unmoved"]


def test_a_partner_answering_503_to_every_retry_ends_the_run_at_once(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """503 to every retry: no smaller window can help (halving asked up to 65 lists, each
    retried, before the run gave up; some 260 requests here, about a day at Retry-After 300)."""
    provider = FaultProvider(records)
    provider.unavailable_after = 0
    catalog = sqlite_catalog(tmp_path, "down")
    report, errors = _harvest(catalog, provider)
    catalog.close()
    assert report.status == FAILED
    assert len(provider.list_requests()) == FAST.retries + 1
    line = errors.splitlines()[-1]
    assert re.fullmatch(r"run failed: partner \(http://127\.0\.0\.1:\d+/oai\) is unavailable: "
                        r"gave up after 4 attempts: http-503: HTTP 503, Retry-After 0; the run "
                        r"stops; the next run resumes from where this one is", line), line


def test_a_run_stopped_by_a_partner_gone_down_is_resumed_by_the_next(  # type: ignore[no-untyped-def]
    records, clean, tmp_path
) -> None:
    """The first page is kept; the next run, the partner up again, asks from its token: every
    record arrives once."""
    provider = FaultProvider(records)
    provider.delete("oai:fault.test:3")
    provider.unavailable_after = 1
    catalog = sqlite_catalog(tmp_path, "resumed")
    with serve(provider.app()) as url:
        source = HarvestSource(name="partner", url=url)
        first = harvest(catalog, source, politeness=FAST)
        assert (first.status, first.counts.added) == (FAILED, provider.page_size)
        provider.unavailable_after = None
        second = harvest(catalog, source, politeness=FAST)
    assert second.status == SUCCEEDED and second.errors == [
        f"resumed run #1 after {provider.page_size} records of its list"]
    assert catalogue_of(catalog, "partner") == clean
    assert sorted(provider.served) == sorted({i.identifier for i in provider.items})
    catalog.close()


def _moved(status: int, to: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler that answers every request with a redirect of ``status`` to the same path
    and query on ``to`` (scheme and address)."""

    async def handler(request: web.Request) -> web.Response:
        path = request.path.removeprefix("/old")
        location = f"{to}{path}?{request.query_string}"
        return web.Response(status=status, headers={"Location": location})

    return handler


def test_a_base_url_moved_permanently_is_said_once_a_run(records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A partner whose base URL answers 301 to the same path elsewhere on its host: every
    request is redirected and every record harvested, and the run's record says once where
    the source moved, that its URL should be changed (a redirect on the same host said
    nothing)."""
    provider = FaultProvider(records)
    app = provider.app()
    app.router.add_get("/old/oai", _moved(301, ""))  # a Location without scheme and host
    catalog = sqlite_catalog(tmp_path, "moved")
    try:
        with serve(app) as url:
            old = url.replace("/oai", "/old/oai")
            report = harvest(catalog, HarvestSource(name="partner", url=old), politeness=FAST)
        errors = _recorded(catalog, report.run_id)
    finally:
        catalog.close()
    assert report.status == SUCCEEDED and report.counts.added == RECORDS
    assert report.requests == 2 * len(provider.requests) > 4  # Identify and the list pages
    assert errors == report.errors == [
        f"moved: {old} has moved permanently to {url}; every request is redirected "
        "there until the source's URL is changed to it"
    ]


def test_a_base_url_moved_permanently_to_another_host_is_said_once_not_twice(
    records, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    """An SRU partner's base URL answering 308 to another host: one line saying where it
    moved, on another host, and no line a request about the other host (one a request said
    so before, and would have been a second line about the same hop)."""
    provider = FaultProvider(records, page_size=10)
    source = HarvestSource(name="partner", url="", protocol="sru", prefix="marcxml",
                           query="cql.allRecords=1", delay=0, timeout=5)  # fmt: skip
    catalog = sqlite_catalog(tmp_path, "moved")
    try:
        with serve(provider.app(), second_loopback()) as there:
            mover = web.Application()
            mover.router.add_get("/old/sru", _moved(308, there.removesuffix("/oai")))
            with serve(mover) as here:
                old = here.replace("/oai", "/old/sru")
                report = harvest(catalog, dataclasses.replace(source, url=old), politeness=FAST)
        errors = _recorded(catalog, report.run_id)
    finally:
        catalog.close()
    assert report.status == SUCCEEDED and report.counts.added == RECORDS
    assert len(provider.requests) > 3  # explain and the pages of the search
    assert errors == report.errors == [
        f"moved: {old} has moved permanently to {there.replace('/oai', '/sru')} (another host); "
        "every request is redirected there until the source's URL is changed to it"
    ]


def _recorded(catalog: Catalog, run_id: int) -> list[str]:
    """The lines of run ``run_id``'s record (``harvest_runs.errors``)."""
    with catalog.engine.connect() as connection:
        errors = connection.execute(
            select(harvest_runs.c.errors).where(harvest_runs.c.id == run_id)
        ).scalar_one()
    return str(errors).splitlines()

