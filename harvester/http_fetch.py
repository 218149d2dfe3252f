"""Polite, bounded HTTP GETs of XML documents from a partner; OAI-PMH and SRU clients use it.

>>> async with HttpFetcher("http://127.0.0.1:8081/oai", Politeness(delay=0.5)) as http:
...     root, raw = await http.document({"verb": "Identify"}, read_document, what="Identify")

Politeness: one request at a time per host (across every client in the process, the Z39.50
origin's requests too: :func:`host_turn`), ``delay`` seconds between two requests to a host, a
timeout per request, redirects followed by the fetcher itself (up to :data:`MAX_REDIRECTS`, to
http and https addresses only, each under the gate of its own host; one to another host is an
event, and a permanent one of the base URL one event a fetcher, saying where it moved:
:attr:`HttpFetcher.moved_to`), and retries with exponential backoff and jitter after timeouts,
resets, truncated bodies and 5xx; 503 and 429 are retried after the Retry-After the partner
asked for (seconds or an HTTP date), never longer than ``retry_after_max``. A partner still
answering 503 or 429 after the retries, or one that cannot be connected to (refused, host not
found), raises :class:`Unavailable`; the other faults :class:`HarvestError`. A server that
breaks HTTP itself (a body short of its Content-Length, a broken chunked encoding, no status
line, a header line too long) is said in words of what it did (:func:`fault_event`), never in
aiohttp's.

Bounds: a body is counted as it streams, on the wire and once unpacked
(:mod:`harvester.bodies`); one past a bound is dropped at once and raises
:class:`ResponseTooLarge` (not retried: the same request would bring the same body).

Tolerance: a charset header that disagrees with the document is reported and the document's
own encoding wins; a document that is not well-formed XML is fetched once more, and if it is
still broken it is given back unparsed when the caller can salvage it. Nothing is repaired.

Every fault met and handled is appended to :attr:`HttpFetcher.events`, so a run can record it.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Self
from urllib.parse import parse_qsl, urljoin, urlsplit

import aiohttp
from aiohttp.http_exceptions import (
    BadStatusLine,
    ContentLengthError,
    HttpProcessingError,
    LineTooLong,
    TransferEncodingError,
)
from lxml import etree

from crosswalks.xmltext import MAX_XML_BYTES, xml_error_said
from harvester.bodies import BodyLimits, TruncatedBody, read_body
from harvester.faults import (
    Event,
    HarvestError,
    MalformedResponse,
    ResponseTooLarge,
    Unavailable,
    quoted,
)
from protocols.http_urls import http_url_problem
from protocols.shown import one_line

CHUNK = 64 * 1024
MAX_REDIRECTS = 5
"""Redirects followed for one request: a partner moved once or twice (http to https, a new
host, a trailing slash) needs no more, and a loop ends after a few requests."""
REDIRECTS = (301, 302, 303, 307, 308)
"""The statuses of a redirect; each is followed with a GET (every request here is one)."""
PERMANENT = (301, 308)
"""The statuses of a redirect that says the address has moved for good (RFC 9110 15.4)."""
MAX_EVENTS = 500
"""Events a fetcher keeps for the run's record (as many lines as the record shows): a partner
may cause one on every page of a list of a million, each quoting what it sent."""


MASK = "***"
"""What :func:`shown_url` shows in place of a password."""


def shown_url(url: str) -> str:
    """``url`` as a message may show it: without the password of its user part (one that is no
    URL, ``http://[::1/oai``, as it is: the line refusing it quotes what was typed)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:{MASK}@{host}").geturl()


def public_url(url: str) -> str:
    """``url`` as the catalogue may publish it (the provenance OAI-PMH serves to anyone):
    without its user part, name and password alike (a token may be given as the name)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


@dataclass(frozen=True)
class Politeness:
    """How hard the client may push a partner, how long it waits, and how much it reads."""

    delay: float = 1.0
    """Seconds between the end of one request to a host and the start of the next."""
    timeout: float = 60.0
    """Seconds one request may take, connection to last byte."""
    retries: int = 5
    """Further attempts after a timeout, reset, 5xx, 429 or malformed page."""
    backoff: float = 1.0
    """Wait before the first retry; doubled on each further one (with jitter)."""
    backoff_max: float = 120.0
    retry_after_max: float = 300.0
    """Upper bound on a wait a partner asks for with Retry-After."""
    max_bytes: int = 32 * 1024 * 1024
    """Upper bound on one response body as sent (``[harvest] max_response_bytes``)."""
    max_decompressed_bytes: int = MAX_XML_BYTES
    """Upper bound on one response body unpacked (``[harvest] max_decompressed_bytes``)."""

    @property
    def body_limits(self) -> BodyLimits:
        return BodyLimits(self.max_bytes, self.max_decompressed_bytes)

    def backoff_wait(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt + 1``: ``backoff`` doubled ``attempt`` times,
        at most ``backoff_max``, with jitter (half of it to all of it)."""
        return min(self.backoff_max, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)


@dataclass
class _Gate:
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_end: float = 0.0


class _HostGates:
    """One request at a time per host, across every client and thread of the process."""

    _gates: ClassVar[dict[str, _Gate]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    @contextlib.asynccontextmanager
    async def turn(cls, host: str, delay: float) -> AsyncIterator[None]:
        with cls._guard:
            gate = cls._gates.setdefault(host, _Gate())
        while not gate.lock.acquire(blocking=False):
            await asyncio.sleep(0.005)
        try:
            wait = gate.last_end + delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            yield
        finally:
            gate.last_end = time.monotonic()
            gate.lock.release()


def host_turn(host: str, delay: float) -> contextlib.AbstractAsyncContextManager[None]:
    """A request's turn at ``host``: inside the block it is the one request to the host in the
    process, sent at least ``delay`` seconds after the previous one ended. The one gate of every
    harvest client (HTTP and Z39.50 alike), so a host shared by two sources is paced once."""
    return _HostGates.turn(host.lower(), delay)


class _Retry(Exception):
    """A fault worth asking again for; ``unavailable`` when it says the partner is not there
    to answer (:class:`Unavailable` if it is still so after the retries)."""

    def __init__(
        self, event: Event, wait: float | None = None, *, unavailable: bool = False
    ) -> None:
        super().__init__(str(event))
        self.event = event
        self.wait = wait
        self.unavailable = unavailable


class HttpFetcher:
    """GETs of documents from one base URL; use it as an async context manager.

    ``sleep`` is awaited with the number of seconds of each wait before a retry (backoff or
    Retry-After); it is :func:`asyncio.sleep` unless a caller (a test) wants to see the waits.
    """

    def __init__(
        self,
        base_url: str,
        politeness: Politeness,
        *,
        user_agent: str,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url
        self.politeness = politeness
        self.user_agent = user_agent
        self._sleep = sleep
        self.events: list[Event] = []
        self.events_dropped = 0
        """Events met past the first :data:`MAX_EVENTS`: counted, not kept."""
        self.requests = 0
        self.moved_to: str | None = None
        """Where the base URL said it moved for good (its permanent redirects), once it did."""
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpFetcher:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.politeness.timeout),
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
            auto_decompress=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def document(
        self,
        params: dict[str, str],
        parse: Callable[[bytes], etree._Element],
        *,
        what: str,
        salvage: bool = False,
    ) -> tuple[etree._Element | None, bytes]:
        """Fetch with ``params`` and ``parse`` the body (which raises XMLSyntaxError); returns
        the root and the bytes, or ``(None, bytes)`` when ``salvage`` and the document stays
        malformed. Raises :class:`HarvestError` (:class:`MalformedResponse` for a document
        still broken after a second try, :class:`Unavailable` for a partner not there to
        answer)."""
        self._bound_events()
        policy = self.politeness
        attempt = 0
        while True:
            try:
                raw = await self._fetch(params)
                try:
                    return parse(raw), raw
                except etree.XMLSyntaxError as error:
                    event = Event("malformed-xml", f"{what}: {xml_error_said(error)}")
                    if b"<!ENTITY" in raw:  # refused on purpose: asking again is useless
                        self.events.append(event)
                        raise MalformedResponse(str(event), raw) from None
                    if attempt >= min(1, policy.retries):
                        self.events.append(event)
                        if salvage:
                            return None, raw
                        raise MalformedResponse(str(event), raw) from None
                    raise _Retry(event) from None
            except _Retry as retry:
                self.events.append(retry.event)
                if attempt >= policy.retries:
                    fault = Unavailable if retry.unavailable else HarvestError
                    tried = "1 attempt" if attempt == 0 else f"{attempt + 1} attempts"
                    raise fault(f"gave up after {tried}: {retry.event}") from None
                wait = retry.wait
                if wait is None:
                    wait = policy.backoff_wait(attempt)
                attempt += 1
                await self._sleep(wait)

    def _bound_events(self) -> None:
        """Keep the first :data:`MAX_EVENTS` events, count the others (called before each
        request: a request adds a few at most)."""
        surplus = len(self.events) - MAX_EVENTS
        if surplus > 0:
            del self.events[MAX_EVENTS:]
            self.events_dropped += surplus

    async def _fetch(self, params: dict[str, str]) -> bytes:
        """The body of a GET with ``params``, its redirects followed (each hop under its own
        host's gate, up to :data:`MAX_REDIRECTS`); raises :class:`_Retry` for a retryable fault
        and :class:`HarvestError` for a redirect not followed. The permanent redirects met
        first, from the base URL on, say where the base URL moved (:meth:`_moved`, once they
        end, whatever comes next); a hop after them to another host is an event each time."""
        url, query = self.base_url, params
        moving, moved = True, None  # every hop so far was a permanent one; where they lead
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                answer = await self._get(url, query)
                if isinstance(answer, bytes):
                    return answer
                problem = http_url_problem(answer.location)
                if problem is not None:
                    raise HarvestError(f"redirect from {shown_url(url)} to "
                                       f"{quoted(shown_url(answer.location))} refused: {problem}")
                moving = moving and answer.status in PERMANENT
                if moving:
                    moved = _moved_base(answer, self.base_url)
                elif urlsplit(answer.location).hostname != urlsplit(url).hostname:
                    self.events.append(
                        Event("redirect", f"to another host: {shown_url(answer.location)}")
                    )
                url, query = answer.location, None  # the whole address: no parameters added
            moved = None  # a loop: it moved nowhere
            raise HarvestError(f"more than {MAX_REDIRECTS} redirects from "
                               f"{shown_url(self.base_url)}, the last to {shown_url(url)}")
        finally:
            if moved is not None:
                self._moved(moved)

    def _moved(self, address: str) -> None:
        """Note that the base URL moved for good to ``address`` (its permanent redirects, 301
        or 308): one event a fetcher (a run), the first time, for the operator to change the
        source's URL; every request is redirected until then."""
        if self.moved_to is not None:
            return
        self.moved_to = address
        elsewhere = urlsplit(address).hostname != urlsplit(self.base_url).hostname
        self.events.append(Event(
            "moved",
            f"{shown_url(self.base_url)} has moved permanently to {shown_url(address)}"
            f"{' (another host)' if elsewhere else ''}; every request is redirected there until "
            "the source's URL is changed to it",
        ))  # fmt: skip

    async def _get(self, url: str, params: dict[str, str] | None) -> bytes | _Redirect:
        """One HTTP GET of ``url`` (with ``params``) under its host's gate: the body, or the
        redirect. Raises :class:`_Retry` for a retryable fault."""
        if self._session is None:
            raise RuntimeError("requests are sent only inside `async with HttpFetcher(...)`")
        policy = self.politeness
        declared = ""
        async with host_turn(urlsplit(url).hostname or url, policy.delay):
            self.requests += 1
            try:
                async with self._session.get(
                    url, params=params, allow_redirects=False
                ) as response:
                    status = response.status
                    location = response.headers.get("Location")
                    if status in REDIRECTS and location is not None:
                        sent = str(response.url)
                        return _Redirect(status, _joined(sent, location), sent)
                    if status == 429 or status >= 500:
                        wait = _retry_after(response.headers.get("Retry-After"), policy)
                        detail = f"HTTP {status}"
                        if wait is not None:
                            detail += f", Retry-After {response.headers['Retry-After']}"
                        busy = status in (429, 503)
                        raise _Retry(Event(f"http-{status}", detail), wait, unavailable=busy)
                    if status != 200:
                        raise HarvestError(f"HTTP {status} from {shown_url(url)}")
                    declared = response.headers.get("Content-Length", "")
                    if (declared.isascii() and declared.isdigit()
                            and int(declared) > policy.max_bytes):
                        raise ResponseTooLarge(
                            f"response of {declared} bytes announced, past max_response_bytes "
                            f"({policy.max_bytes})"
                        )
                    data = await read_body(
                        response.content.iter_chunked(CHUNK),
                        response.headers.get("Content-Encoding", ""),
                        policy.body_limits,
                        self.events,
                    )
                    charset = response.charset
            except ResponseTooLarge as error:
                self.events.append(Event("response-too-large", str(error)))
                raise
            except TruncatedBody as error:
                raise _Retry(Event("truncated-body", str(error))) from None
            except aiohttp.ClientConnectorError as error:  # refused, no such host, TLS
                event = Event("connection", not_connected(error))
                raise _Retry(event, unavailable=True) from None
            except TimeoutError:  # aiohttp's own are TimeoutErrors too, saying nothing
                detail = f"no whole answer from {shown_url(url)} within {policy.timeout:g} s"
                raise _Retry(Event("timeout", detail)) from None
            except aiohttp.ClientError as error:
                raise _Retry(fault_event(error, url, declared)) from None
        _check_charset(data, charset, self.events)
        return data


def not_connected(error: aiohttp.ClientConnectorError) -> str:
    """Why no connection to a partner could be made, in the words an operator acts on
    (aiohttp's own name the exception class and the SSL context: ``ClientConnectorError:
    Cannot connect to host h:80 ssl:default [Connect call failed ('h', 80)]``)."""
    where = f"{error.host}:{error.port}"
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return f"no such host {error.host!r} ({error.strerror or 'its name is not resolved'})"
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return f"the TLS certificate of {where} is not accepted: {error.certificate_error}"
    if isinstance(error, aiohttp.ClientConnectorSSLError):
        return f"no TLS connection with {where}: {error.os_error}"
    if isinstance(error.os_error, ConnectionRefusedError):
        return f"{where} refused the connection (nothing listens there)"
    reason = error.strerror or str(error.os_error) or type(error.os_error).__name__
    return f"cannot connect to {where}: {reason}"


def fault_event(error: aiohttp.ClientError, url: str, declared: str = "") -> Event:
    """The event of an exchange with the server at ``url`` that aiohttp ended with ``error``
    once connected (``declared``: the response's Content-Length, once its head came): what the
    server did, in words, where aiohttp's own were the class names and reprs of its exceptions
    (``ClientPayloadError: Response payload is not completed: <ContentLengthError: 400,
    message='Not enough data to satisfy content length header (...)'>``, or the repr of the
    request over several lines). Kinds: ``truncated-body`` (a body cut short),
    ``malformed-http`` (an answer that breaks HTTP), ``connection`` (the connection ended)."""
    server = f"the server at {shown_url(url)}"
    broken = _parser_error(error)
    if isinstance(broken, ContentLengthError):
        length = f" (Content-Length {quoted(declared)})" if declared else ""
        return Event("truncated-body",
                     f"{server} ended the response before its declared length{length}")
    if isinstance(broken, TransferEncodingError):
        return Event("truncated-body", f"{server} broke the chunked encoding of the response "
                                       "(a chunk cut short or malformed)")
    if isinstance(broken, BadStatusLine):
        return Event("malformed-http", f"{server} answered without an HTTP status line")
    if isinstance(broken, LineTooLong):
        return Event("malformed-http", f"{server} sent a status or header line too long to read")
    if broken is not None:  # aiohttp's first line says what; those after quote the bytes
        said = broken.message.split("\n", 1)[0].rstrip(":")
        return Event("malformed-http", f"{server} answered what is not HTTP: {quoted(said)}")
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return Event("connection", f"{server} closed the connection before the head of its "
                                   "response (status line and headers) ended")
    if isinstance(error, aiohttp.ClientOSError):
        return Event("connection",
                     f"the connection with {server} failed: {error.strerror or one_line(error)}")
    return Event("connection", f"the exchange with {server} failed: {one_line(error)}")


def _parser_error(error: BaseException) -> HttpProcessingError | None:
    """The error of aiohttp's HTTP parser behind ``error``, if any: the last of its causes
    (aiohttp raises a plain HttpProcessingError from the parser's own, which says which)."""
    found: HttpProcessingError | None = None
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:  # (a chain may loop)
        seen.add(id(cause))
        if isinstance(cause, HttpProcessingError):
            found = cause
        cause = cause.__cause__
    return found


@dataclass(frozen=True)
class _Redirect:
    """A redirect answered to a GET of ``sent`` (with its parameters): its status and the
    absolute address it points to."""

    status: int
    location: str
    sent: str


def _moved_base(redirect: _Redirect, base_url: str) -> str:
    """The address the base URL moved to, from a permanent ``redirect`` of a request to it:
    the Location, with the parameters the request sent (the base URL's own, then the
    request's), if it carries them all back, given back as the base URL's own only."""
    location, sent = urlsplit(redirect.location), urlsplit(redirect.sent)
    if parse_qsl(location.query) != parse_qsl(sent.query):
        return redirect.location
    return location._replace(query=urlsplit(base_url).query, fragment="").geturl()


def _joined(base: str, location: str) -> str:
    """The absolute address of a redirect's ``location`` (perhaps relative) from ``base``; a
    location that is no address at all is returned as it is, for :func:`http_url_problem`
    to refuse."""
    try:
        return urljoin(base, location)
    except ValueError:
        return location


class FetchingClient:
    """What a protocol client over one :class:`HttpFetcher` shares: it is an async context
    manager, and it shows the fetcher's events and request count."""

    _http: HttpFetcher

    @property
    def events(self) -> list[Event]:
        """The faults met and handled so far (the first :data:`MAX_EVENTS`, and those of the
        last request)."""
        return self._http.events

    @property
    def events_dropped(self) -> int:
        """How many more faults were met than :attr:`events` keeps."""
        return self._http.events_dropped

    @property
    def requests(self) -> int:
        """Requests sent so far."""
        return self._http.requests

    async def __aenter__(self) -> Self:
        await self._http.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.__aexit__(*exc)


_XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _check_charset(data: bytes, header: str | None, events: list[Event]) -> None:
    """Report a charset header that disagrees with the document; the document's encoding wins."""
    if not header:
        return
    match = _XML_DECLARATION.match(data[:200])
    document = match.group(1).decode("ascii") if match else "utf-8"
    if _charset_name(header) != _charset_name(document):
        events.append(
            Event("charset-header", f"header says {quoted(header)}, document is {document}; "
                  "the document's encoding is used")
        )


def _charset_name(name: str) -> str:
    return name.lower().replace("_", "-").replace("utf8", "utf-8")


def _retry_after(value: str | None, policy: Politeness) -> float | None:
    """Seconds to wait from a Retry-After value (seconds or an HTTP date), bounded."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):  # (a year or an offset past a C long)
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, min(seconds, policy.retry_after_max))
