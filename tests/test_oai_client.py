"""harvester.oai_client against the fault-injecting provider and hostile documents on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import socket
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey

from catalog.demo import demo_records
from harvester.faults import Unavailable
from harvester.http_fetch import MAX_EVENTS, MAX_REDIRECTS, _retry_after, not_connected
from harvester.oai_client import (
    HarvestError,
    MalformedResponse,
    OaiClient,
    OaiError,
    Politeness,
    ResumptionLoop,
)
from tests.fault_provider import FaultProvider, second_loopback, serve

FAST = Politeness(delay=0, timeout=1.0, retries=3, backoff=0.01, retry_after_max=1.5)


@pytest.fixture(scope="module")
def records():  # type: ignore[no-untyped-def]
    return list(demo_records(25))


async def _all(client: OaiClient, **kwargs: str) -> list:  # type: ignore[type-arg]
    pages = [page async for page in client.list_pages("ListRecords", prefix="marc21", **kwargs)]
    return pages


def test_retry_after_in_seconds_and_as_http_date_is_bounded() -> None:
    policy = Politeness(retry_after_max=30)
    assert _retry_after("7", policy) == 7
    assert _retry_after("86400", policy) == 30
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    assert 18 <= (_retry_after(soon, policy) or 0) <= 20
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert _retry_after(past, policy) == 0
    assert _retry_after("soon, please", policy) is None
    assert _retry_after("\u00b2", policy) is None  # a digit to str.isdigit(), not to float()


async def test_pages_follow_tokens_with_cursor_and_size(records) -> None:  # type: ignore[no-untyped-def]
    provider = FaultProvider(records, page_size=10)
    with serve(provider.app()) as url:
        async with OaiClient(url, FAST) as client:
            identity = await client.identify()
            pages = await _all(client)
    assert identity.granularity == "YYYY-MM-DDThh:mm:ssZ"
    assert [len(p.records) for p in pages] == [10, 10, 5]
    assert [p.cursor for p in pages] == [0, 10, 20]
    assert {p.complete_list_size for p in pages} == {25}
    identifiers = [r.identifier for p in pages for r in p.records]
    assert identifiers == [f"oai:fault.test:{n}" for n in range(25)]
    assert all(r.metadata is not None and r.error is None for p in pages for r in p.records)
    assert client.events == []


async def test_no_records_match_is_an_empty_page(records) -> None:  # type: ignore[no-untyped-def]
    provider = FaultProvider(records)
    with serve(provider.app()) as url:
        async with OaiClient(url, FAST) as client:
            pages = await _all(client, from_="2030-01-01T00:00:00Z")
    assert len(pages) == 1 and pages[0].records == [] and pages[0].token is None


@pytest.mark.parametrize(
    ("kind", "event"),
    [
        ("timeout", "timeout"),
        ("reset", "truncated-body"),  # a body cut short of its Content-Length
        ("http-500", "http-500"),
        ("http-503", "http-503"),
        ("http-429", "http-429"),
        ("malformed", "malformed-xml"),
        ("gzip", "unannounced-gzip"),
        ("charset", "charset-header"),
    ],
)
async def test_transport_faults_are_retried_or_tolerated_and_reported(
    records, kind: str, event: str  # type: ignore[no-untyped-def]
) -> None:
    provider = FaultProvider(records, timeout_delay=2.0)
    provider.arm(kind, page=1)
    with serve(provider.app()) as url:
        async with OaiClient(url, FAST) as client:
            pages = await _all(client)
    assert provider.fired == [(kind, 1)]
    assert sum(len(p.records) for p in pages) == 25
    assert [e.kind for e in client.events] == [event]


async def test_retry_after_is_waited_for(records) -> None:  # type: ignore[no-untyped-def]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    provider = FaultProvider(records)
    provider.arm("http-503", page=0)  # answered with Retry-After: 1
    with serve(provider.app()) as url:
        async with OaiClient(url, FAST, sleep=sleep) as client:
            pages = await _all(client)
    assert waits == [1.0]
    assert provider.fired == [("http-503", 0)] and len(provider.list_requests()) == 4
    assert sum(len(p.records) for p in pages) == 25


async def test_retry_after_above_the_bound_is_cut_to_it(records) -> None:  # type: ignore[no-untyped-def]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def busy(_request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": "3600"})

    app = web.Application()
    app.router.add_get("/oai", busy)
    with serve(app) as url:
        async with OaiClient(url, FAST, sleep=sleep) as client:
            with pytest.raises(HarvestError, match="gave up after 4 attempts"):
                await client.identify()
    assert waits == [FAST.retry_after_max] * FAST.retries


async def test_retries_are_bounded() -> None:
    async def always_500(_request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/oai", always_500)
    with serve(app) as url:
        async with OaiClient(url, FAST) as client:
            with pytest.raises(HarvestError, match="gave up after 4 attempts") as raised:
                await client.identify()
    assert client.requests == 4
    assert not isinstance(raised.value, Unavailable)  # a 500 may be one record's: halved


async def test_a_partner_refusing_connections_is_unavailable() -> None:
    with socket.socket() as free:  # a port of 127.0.0.1 nothing listens on, once closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    async with OaiClient(f"http://127.0.0.1:{port}/oai", FAST) as client:
        with pytest.raises(Unavailable, match="gave up after 4 attempts: connection: "
                           f"127.0.0.1:{port} refused the connection"):
            await client.identify()
    once = dataclasses.replace(FAST, retries=0)  # as a copy-cataloguing search asks
    async with OaiClient(f"http://127.0.0.1:{port}/oai", once) as client:
        with pytest.raises(Unavailable, match="gave up after 1 attempt: connection: "):
            await client.identify()


async def test_a_partner_speaking_no_tls_where_its_address_says_https_is_said_so() -> None:
    with serve(FaultProvider(list(demo_records(2))).app()) as url:  # plain HTTP
        https = url.replace("http://", "https://")
        async with OaiClient(https, dataclasses.replace(FAST, retries=0)) as client:
            with pytest.raises(Unavailable, match=r"gave up after 1 attempt: connection: no TLS "
                               r"connection with 127\.0\.0\.1:\d+: \[SSL"):
                await client.identify()


def test_a_host_whose_name_is_not_resolved_is_said_so() -> None:
    key = ConnectionKey("nowhere.invalid", 80, False, True, None, None, None, None)
    error = aiohttp.ClientConnectorDNSError(key, OSError(-2, "Name or service not known"))
    assert not_connected(error) == "no such host 'nowhere.invalid' (Name or service not known)"


async def test_token_errors_and_loops_are_raised(records) -> None:  # type: ignore[no-untyped-def]
    provider = FaultProvider(records)
    provider.arm("bad-token", page=1)
    with serve(provider.app()) as url:
        async with OaiClient(url, FAST) as client:
            with pytest.raises(OaiError) as caught:
                await _all(client)
            assert caught.value.code == "badResumptionToken"
            provider.arm("token-loop", page=1)
            with pytest.raises(ResumptionLoop):
                await _all(client)


async def test_a_persistently_broken_record_is_quarantined_with_its_bytes(records) -> None:  # type: ignore[no-untyped-def]
    provider = FaultProvider(records)
    provider.broken_forever.add("oai:fault.test:12")
    with serve(provider.app()) as url:
        async with OaiClient(url, FAST) as client:
            pages = await _all(client)
    items = [r for p in pages for r in p.records]
    assert len(items) == 25
    (bad,) = [r for r in items if r.error]
    assert bad.identifier == "oai:fault.test:12"
    assert b"\x01</leader>" in bad.raw and "malformed XML" in bad.error
    assert [p.token is not None for p in pages] == [True, True, False]
    assert [e.kind for e in client.events] == ["malformed-xml", "malformed-xml", "quarantined"]


async def test_responses_larger_than_the_limit_are_refused(records) -> None:  # type: ignore[no-untyped-def]
    provider = FaultProvider(records, page_size=25)  # about 40 kB, about 8 kB gzipped
    provider.arm("gzip", page=0)
    small = Politeness(delay=0, timeout=1, retries=0, max_decompressed_bytes=20_000)
    with serve(provider.app()) as url:
        async with OaiClient(url, small) as client:
            with pytest.raises(HarvestError, match="past max_decompressed_bytes"):
                await _all(client)
    assert [e.kind for e in client.events] == ["unannounced-gzip", "response-too-large"]


class _Timed:
    """A partner answering Identify in 0.05 s that records when each request starts and the
    most it answered at once."""

    def __init__(self, records) -> None:  # type: ignore[no-untyped-def]
        self.answer = FaultProvider(records)._identify()
        self.active = self.peak = 0
        self.starts: list[float] = []
        self.app = web.Application()
        self.app.router.add_get("/oai", self._identify)

    async def _identify(self, _request: web.Request) -> web.Response:
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.starts.append(time.monotonic())
        await asyncio.sleep(0.05)
        self.active -= 1
        return web.Response(body=self.answer, content_type="text/xml")

    def least_gap(self) -> float:
        return min(b - a for a, b in itertools.pairwise(self.starts))


async def test_one_request_at_a_time_per_host_and_delay_between(records) -> None:  # type: ignore[no-untyped-def]
    partner = _Timed(records)
    polite = Politeness(delay=0.1, timeout=2, retries=0)
    with serve(partner.app) as url:
        async with OaiClient(url, polite) as first, OaiClient(url, polite) as second:
            await asyncio.gather(*(c.identify() for c in (first, second, first, second)))
    assert partner.peak == 1
    assert partner.least_gap() >= 0.14  # 0.05 s answering plus the 0.1 s delay


def _redirecting(location: str) -> web.Application:
    """A partner whose /oai answers every request with a redirect to ``location``."""

    async def moved(_request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": location})

    app = web.Application()
    app.router.add_get("/oai", moved)
    return app


async def test_a_redirect_to_another_host_is_followed_under_that_hosts_gate(records) -> None:  # type: ignore[no-untyped-def]
    """A client of the first host, redirected to the second, takes its turn with the second
    host's own clients: one request at a time there and the delay between (aiohttp followed
    the redirect itself, under the first host's gate, and the second host had two at once)."""
    partner = _Timed(records)
    polite = Politeness(delay=0.1, timeout=2, retries=0)
    with serve(partner.app, second_loopback()) as there, serve(_redirecting(there)) as here:
        async with OaiClient(here, polite) as moved, OaiClient(there, polite) as direct:
            await asyncio.gather(*(c.identify() for c in (moved, direct, moved, direct)))
    assert partner.peak == 1 and len(partner.starts) == 4
    assert partner.least_gap() >= 0.14  # 0.05 s answering plus the 0.1 s delay
    assert [str(e) for e in moved.events] == [f"redirect: to another host: {there}"] * 2
    assert moved.requests == 4 and direct.events == []


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/oai", "file:///etc/passwd"])
async def test_a_redirect_to_no_http_address_is_refused(location: str) -> None:
    with serve(_redirecting(location)) as url:
        async with OaiClient(url, FAST) as client:
            with pytest.raises(HarvestError) as raised:
                await client.identify()
    assert str(raised.value) == (f"redirect from {url} to {location} refused: "
                                 "expected http:// or https://")
    assert client.requests == 1


async def test_a_redirect_loop_ends_after_a_few_hops() -> None:
    app = web.Application()

    async def elsewhere(request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": "/again" if request.path == "/oai"
                                                 else "/oai"})

    app.router.add_get("/oai", elsewhere)
    app.router.add_get("/again", elsewhere)
    with serve(app) as url:
        async with OaiClient(url, FAST) as client:
            with pytest.raises(HarvestError) as raised:
                await client.identify()
    assert str(raised.value) == f"more than {MAX_REDIRECTS} redirects from {url}, the last to {url}"
    assert client.requests == MAX_REDIRECTS + 1
    assert client.events == []  # permanent redirects, but round in a loop: moved nowhere


HTML = "{url} answered Identify with an HTML page, not OAI-PMH; is it the partner's OAI-PMH "\
    "base URL?"
"""The whole line of an HTML page answered: the parser's words on it ("root element is html,
not OAI-PMH") and the address were said twice in it."""


@pytest.mark.parametrize(("body", "content_type", "said"), [
    (b"<!DOCTYPE html><html><body><p>Koprik<br></body></html>", "text/html", HTML),
    (b"\n  <HTML><body>Welcome</body></HTML>", "text/html", HTML),  # well-formed as XML
    (b"<?xml version='1.0'?><explainResponse xmlns='http://www.loc.gov/zing/srw/'/>", "text/xml",
     "malformed-xml: Identify: root element is "),
    (b'{"status": "ok"}', "application/json", "malformed-xml: Identify: "),
])  # fmt: skip
async def test_an_answer_to_identify_that_is_no_oai_pmh_names_the_base_url(
    body: bytes, content_type: str, said: str
) -> None:
    """A source added at a URL that is not the partner's OAI-PMH endpoint (its home page, its
    SRU, its /health) failed with the parser's words alone. An HTML page is said so, in one
    line saying each thing once."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_get("/oai", page)
    with serve(app) as url:
        async with OaiClient(url, FAST) as client:
            with pytest.raises(MalformedResponse) as raised:
                await client.identify()
    message = str(raised.value)
    assert "\n" not in message
    if said == HTML:
        assert message == HTML.format(url=url)
        return
    assert message.startswith(said), message
    assert message.endswith(f": {url} answered no OAI-PMH document; is it the partner's "
                            "OAI-PMH base URL?"), message


EVIL = {
    "external-file": b"""<?xml version="1.0"?>
<!DOCTYPE OAI-PMH [<!ENTITY secret SYSTEM "file://SECRET">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2024-01-01T00:00:00Z</responseDate>
<request>x</request><Identify><repositoryName>&secret;</repositoryName></Identify></OAI-PMH>""",
    "external-network": b"""<?xml version="1.0"?>
<!DOCTYPE OAI-PMH [<!ENTITY net SYSTEM "NETWORK">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2024-01-01T00:00:00Z</responseDate>
<request>x</request><Identify><repositoryName>&net;</repositoryName></Identify></OAI-PMH>""",
    "entity-bomb": b"""<?xml version="1.0"?>
<!DOCTYPE OAI-PMH [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2024-01-01T00:00:00Z</responseDate>
<request>x</request><Identify><repositoryName>&g;</repositoryName></Identify></OAI-PMH>""",
}


@pytest.mark.parametrize("kind", sorted(EVIL))
async def test_entities_are_refused_and_nothing_is_fetched(kind: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    hits: list[str] = []

    async def evil(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path == "/entity":
            return web.Response(text="FROM THE NETWORK")
        body = EVIL[kind].replace(b"SECRET", str(secret).encode())
        body = body.replace(b"NETWORK", f"http://{request.host}/entity".encode())
        return web.Response(body=body, content_type="text/xml")

    app = web.Application()
    app.router.add_get("/oai", evil)
    app.router.add_get("/entity", evil)
    with serve(app) as url:
        async with OaiClient(url, FAST) as client:
            with pytest.raises(MalformedResponse) as caught:
                await client.identify()
    assert "entit" in str(caught.value)
    assert caught.value.raw.startswith(b"<?xml")
    assert "/entity" not in hits


_OPENING = (b'<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            b"<responseDate>2024-01-01T00:00:00Z</responseDate><request>x</request>")
_BROKEN = b"<record><header><identifier>x</identifier></header><metadata>\x01</metadata></record>"
SLOW_TO_SALVAGE = {
    # each unterminated token was searched to the end of the page
    "unterminated-tokens": _OPENING + b"<ListRecords>" + _BROKEN + b"<resumptionToken>" * 60_000,
    # each root start tag without its '>' was searched to the end of the page
    "unclosed-root-tags": b'<?xml version="1.0"?>' + b"<OAI-PMH" * 120_000,
    # the root's declarations were parsed again with each of the records
    "long-declarations": _OPENING.replace(
        b"<OAI-PMH ", b"<OAI-PMH " + b"".join(b' xmlns:n%d="urn:%d"' % (n, n) for n in range(5000))
    ) + b"<ListRecords>" + _BROKEN * 20_000 + b"</ListRecords></OAI-PMH>",
}


@pytest.mark.parametrize("kind", sorted(SLOW_TO_SALVAGE))
async def test_a_malformed_page_is_salvaged_or_refused_in_linear_time(kind: str) -> None:
    body = SLOW_TO_SALVAGE[kind]

    async def hostile(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/xml")

    app = web.Application()
    app.router.add_get("/oai", hostile)
    with serve(app) as url:
        async with OaiClient(url, FAST) as client:
            started = time.monotonic()
            try:
                pages = await _all(client)
            except MalformedResponse:
                pages = []
            seconds = time.monotonic() - started
    assert seconds < 10, f"{len(body)} bytes took {seconds:.1f} s"
    assert all(r.error for page in pages for r in page.records)


@pytest.mark.parametrize("when", [
    "Fri, 31 Dec 99999999999999999999 23:59:59 GMT",   # a year past a C long
    "Fri, 31 Dec 2024 23:59:59 +99999999999999999999",  # an offset past a C int
])
async def test_a_retry_after_date_out_of_every_range_is_backoff(when: str, records) -> None:  # type: ignore[no-untyped-def]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    answers = [web.Response(status=503, headers={"Retry-After": when}),
               web.Response(body=FaultProvider(records)._identify(), content_type="text/xml")]

    async def busy_then_fine(_request: web.Request) -> web.Response:
        return answers.pop(0)

    app = web.Application()
    app.router.add_get("/oai", busy_then_fine)
    with serve(app) as url:
        async with OaiClient(url, FAST, sleep=sleep) as client:
            identity = await client.identify()
    assert identity.repository_name == "Fault provider"
    assert len(waits) == 1 and waits[0] <= FAST.backoff  # no Retry-After read: the backoff
    assert [e.kind for e in client.events] == ["http-503"]


async def test_a_page_cut_inside_its_resumption_token_is_no_last_page(records) -> None:  # type: ignore[no-untyped-def]
    """Each time, the page ends in the middle of its token: read as a page without a token,
    it ended the list (the run succeeded, its watermark moved past the pages never asked for)."""
    provider = FaultProvider(records)

    async def cut(request: web.Request) -> web.Response:
        whole = (await provider._handle(request)).body
        assert isinstance(whole, bytes)
        return web.Response(body=whole[: whole.index(b"</resumptionToken>") - 2],
                            content_type="text/xml")

    app = web.Application()
    app.router.add_get("/oai", cut)
    with serve(app) as url:
        async with OaiClient(url, FAST) as client:
            with pytest.raises(MalformedResponse, match="resumption token is cut short"):
                await _all(client)
    assert [e.kind for e in client.events] == ["malformed-xml", "malformed-xml"]


async def test_a_list_of_many_pages_keeps_a_bounded_part_of_what_its_partner_sent() -> None:
    """700 pages, each with a resumption token of 7,000 characters and a charset header of
    7,000 that disagrees with the document: the client keeps the first MAX_EVENTS events, each
    quoting 500 characters of the header, and counts the others; and remembers a digest of each
    token, not the token (4.9 MB of them, before)."""
    pages, padding = 700, "x" * 7_000

    async def handler(request: web.Request) -> web.Response:
        n = int(request.query.get("resumptionToken", "0:").partition(":")[0])
        token = f"<resumptionToken>{n + 1}:{padding}</resumptionToken>" if n + 1 < pages else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/'
            'OAI/2.0/"><responseDate>2024-01-01T00:00:00Z</responseDate><request>x</request>'
            f"<ListIdentifiers><header><identifier>oai:p:{n}</identifier><datestamp>2020-01-01"
            f"</datestamp></header>{token}</ListIdentifiers></OAI-PMH>"
        )
        charset = "ISO-8859-1; x=" + "y" * 7_000
        headers = {"Content-Type": f"text/xml; charset={charset}"}
        return web.Response(body=body.encode(), headers=headers)

    app = web.Application()
    app.router.add_get("/oai", handler)
    seen = 0
    tracemalloc.start()
    try:
        with serve(app) as url:
            async with OaiClient(url, FAST) as client:
                async for page in client.list_pages("ListIdentifiers", prefix="oai_dc"):
                    seen += len(page.records)
                    if seen == MAX_EVENTS:
                        before, _peak = tracemalloc.get_traced_memory()
                    if page.token is None:
                        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == pages
    assert MAX_EVENTS <= len(client.events) <= MAX_EVENTS + 1
    assert len(client.events) + client.events_dropped == pages
    assert {event.kind for event in client.events} == {"charset-header"}
    assert max(len(event.detail) for event in client.events) < 700
    assert held - before < 500_000, (before, held)  # 200 tokens more: 1.4 MB, before
