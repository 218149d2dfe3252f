"""An asynchronous OAI-PMH 2.0 client that is polite to partners and expects them to misbehave.

>>> async with OaiClient("http://127.0.0.1:8081/oai", Politeness(delay=0.5)) as client:
...     identity = await client.identify()
...     async for page in client.list_pages("ListRecords", prefix="marc21"):
...         for record in page.records: ...

Politeness: one request at a time per host (across every client in the process), ``delay``
seconds between two requests to a host, a timeout per request, and retries with exponential
backoff and jitter after timeouts, resets and 5xx; 503 and 429 are retried after the
Retry-After the partner asked for (seconds or an HTTP date), never longer than
``retry_after_max``.

Tolerance: gzip sent without being announced is unpacked; a charset header that disagrees with
the document is reported and the document's own encoding wins; a page that is not well-formed
XML (or holds characters XML forbids) is fetched once more, and if it is still broken its
records are parsed one by one, so a bad record comes out with its bytes and the reason
(:attr:`OaiRecord.error`) instead of stopping the harvest. Nothing is repaired.

Safety: every size read from the wire is bounded; XML is parsed with entity resolution and the
network off, and a document declaring entities is refused (no XXE, no entity bombs).

Every fault met and handled is appended to :attr:`OaiClient.events`, so a run can record it.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import re
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Literal, overload
from urllib.parse import urlsplit

import aiohttp
from lxml import etree

from crosswalks.xmltext import MAX_XML_BYTES
from harvester.oai_pages import (
    OAI_NS,
    Event,
    HarvestError,
    MalformedResponse,
    OaiError,
    OaiRecord,
    Page,
    ResumptionLoop,
    raise_oai_error,
    read_document,
    read_page,
    response_date,
    salvage_page,
)

__all__ = [
    "Event",
    "HarvestError",
    "Identity",
    "MalformedResponse",
    "OaiClient",
    "OaiError",
    "OaiRecord",
    "Page",
    "Politeness",
    "ResumptionLoop",
]

_O = f"{{{OAI_NS}}}"
USER_AGENT = "Koprik-harvester/0.1 (+OAI-PMH)"


@dataclass(frozen=True)
class Politeness:
    """How hard the client may push a partner, and how long it waits for one."""

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
    max_bytes: int = MAX_XML_BYTES
    """Upper bound on one response body, after decompression."""



@dataclass
class Identity:
    """What Identify says about a repository."""

    repository_name: str
    base_url: str
    protocol_version: str
    granularity: str
    earliest_datestamp: str
    deleted_record: str
    response_date: str
    """The responseDate of the Identify answer: the provider's clock when it answered."""



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


class _Retry(Exception):
    def __init__(self, event: Event, wait: float | None = None) -> None:
        super().__init__(str(event))
        self.event = event
        self.wait = wait


class OaiClient:
    """A client for one OAI-PMH base URL; use it as an async context manager.

    ``sleep`` is awaited with the number of seconds of each wait before a retry (backoff or
    Retry-After); it is :func:`asyncio.sleep` unless a caller (a test) wants to see the waits.
    """

    def __init__(
        self,
        base_url: str,
        politeness: Politeness | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url
        self.politeness = politeness or Politeness()
        self._sleep = sleep
        self.host = urlsplit(base_url).hostname or base_url
        self.events: list[Event] = []
        self.requests = 0
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> OaiClient:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.politeness.timeout),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
            auto_decompress=True,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- requests --------------------------------------------------------------------------

    async def request(self, verb: str, **params: str) -> etree._Element:
        """The parsed response root of ``verb``; raises :class:`OaiError` for an OAI error.

        Transport faults and pages that are not well-formed are retried; a page still broken
        after the retries raises :class:`MalformedResponse`.
        """
        root, _raw = await self._request_document(verb, params, salvage=False)
        raise_oai_error(root)
        return root

    async def identify(self) -> Identity:
        """Identify, checked: raises :class:`HarvestError` when the answer is not usable."""
        root = await self.request("Identify")
        element = root.find(f"{_O}Identify")
        if element is None:
            raise MalformedResponse("the answer to Identify has no <Identify> element")

        def text(name: str) -> str:
            return (element.findtext(f"{_O}{name}") or "").strip()

        identity = Identity(
            repository_name=text("repositoryName"),
            base_url=text("baseURL"),
            protocol_version=text("protocolVersion"),
            granularity=text("granularity"),
            earliest_datestamp=text("earliestDatestamp"),
            deleted_record=text("deletedRecord"),
            response_date=response_date(root),
        )
        if identity.protocol_version != "2.0":
            raise MalformedResponse(
                f"protocolVersion is {identity.protocol_version!r}, not OAI-PMH 2.0"
            )
        if identity.granularity not in ("YYYY-MM-DD", "YYYY-MM-DDThh:mm:ssZ"):
            raise MalformedResponse(f"granularity {identity.granularity!r} is not OAI-PMH 2.0")
        return identity

    async def metadata_formats(self) -> dict[str, str]:
        """``metadataPrefix -> metadataNamespace`` of every format ListMetadataFormats offers."""
        root = await self.request("ListMetadataFormats")
        return {
            (element.findtext(f"{_O}metadataPrefix") or "").strip():
                (element.findtext(f"{_O}metadataNamespace") or "").strip()
            for element in root.iter(f"{_O}metadataFormat")
        }

    async def list_pages(
        self,
        verb: str,
        *,
        prefix: str | None = None,
        set_spec: str | None = None,
        from_: str | None = None,
        until: str | None = None,
        token: str | None = None,
    ) -> AsyncIterator[Page]:
        """The pages of a ListRecords or ListIdentifiers list, following resumption tokens.

        With ``token``, the list resumes there (the other arguments are then not sent).
        noRecordsMatch yields one empty page. A token that repeats raises
        :class:`ResumptionLoop`; an OAI error (badResumptionToken included) raises
        :class:`OaiError`.
        """
        seen: set[str] = set()
        if token is None:
            params = {"metadataPrefix": prefix or ""}
            if set_spec:
                params["set"] = set_spec
            if from_:
                params["from"] = from_
            if until:
                params["until"] = until
        else:
            params = {"resumptionToken": token}
            seen.add(token)
        while True:
            page = await self._list_page(verb, params)
            yield page
            if page.token is None:
                return
            if page.token in seen:
                raise ResumptionLoop(f"resumption token {page.token[:80]!r} came back again")
            seen.add(page.token)
            params = {"resumptionToken": page.token}

    async def _list_page(self, verb: str, params: dict[str, str]) -> Page:
        root, raw = await self._request_document(verb, params, salvage=verb == "ListRecords")
        if root is None:
            return salvage_page(raw, self.events)
        try:
            raise_oai_error(root)
        except OaiError as error:
            if error.code == "noRecordsMatch":
                return Page(response_date(root), [], None, raw_size=len(raw))
            raise
        container = root.find(f"{_O}{verb}")
        if container is None:
            raise MalformedResponse(f"the answer to {verb} has no <{verb}> element")
        page = read_page(container, verb, response_date(root))
        page.raw_size = len(raw)
        return page

    @overload
    async def _request_document(
        self, verb: str, params: dict[str, str], *, salvage: Literal[False]
    ) -> tuple[etree._Element, bytes]: ...

    @overload
    async def _request_document(
        self, verb: str, params: dict[str, str], *, salvage: bool
    ) -> tuple[etree._Element | None, bytes]: ...

    async def _request_document(
        self, verb: str, params: dict[str, str], *, salvage: bool
    ) -> tuple[etree._Element | None, bytes]:
        """Fetch and parse; ``(None, bytes)`` when ``salvage`` and the page stays malformed."""
        query = {"verb": verb, **params}
        policy = self.politeness
        attempt = 0
        while True:
            try:
                raw = await self._fetch(query)
                try:
                    return read_document(raw), raw
                except etree.XMLSyntaxError as error:
                    event = Event("malformed-xml", f"{verb}: {error}")
                    if _declares_entities(raw):  # refused on purpose: asking again is useless
                        self.events.append(event)
                        raise MalformedResponse(str(event), raw) from error
                    if attempt >= min(1, policy.retries):
                        self.events.append(event)
                        if salvage:
                            return None, raw
                        raise MalformedResponse(str(event), raw) from error
                    raise _Retry(event) from error
            except _Retry as retry:
                self.events.append(retry.event)
                if attempt >= policy.retries:
                    raise HarvestError(
                        f"gave up after {attempt + 1} attempts: {retry.event}"
                    ) from None
                wait = retry.wait
                if wait is None:
                    wait = min(policy.backoff_max, policy.backoff * 2**attempt)
                    wait *= random.uniform(0.5, 1.0)
                attempt += 1
                await self._sleep(wait)

    async def _fetch(self, query: dict[str, str]) -> bytes:
        """One HTTP GET under the host's gate; raises :class:`_Retry` for a retryable fault."""
        if self._session is None:
            raise RuntimeError("OaiClient sends requests only inside `async with OaiClient(...)`")
        policy = self.politeness
        async with _HostGates.turn(self.host, policy.delay):
            self.requests += 1
            try:
                async with self._session.get(self.base_url, params=query) as response:
                    status = response.status
                    if status == 429 or status >= 500:
                        wait = _retry_after(response.headers.get("Retry-After"), policy)
                        detail = f"HTTP {status}"
                        if wait is not None:
                            detail += f", Retry-After {response.headers['Retry-After']}"
                        raise _Retry(Event(f"http-{status}", detail), wait)
                    if status != 200:
                        raise HarvestError(f"HTTP {status} from {self.base_url}")
                    declared = response.headers.get("Content-Length")
                    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                        raise HarvestError(f"response of {declared} bytes exceeds the limit")
                    body = bytearray()
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        body += chunk
                        if len(body) > policy.max_bytes:
                            raise HarvestError(
                                f"response larger than the limit of {policy.max_bytes} bytes"
                            )
                    charset = response.charset
            except (aiohttp.ClientError, TimeoutError) as error:
                kind = "timeout" if isinstance(error, TimeoutError) else "connection"
                raise _Retry(Event(kind, f"{type(error).__name__}: {error}")) from error
        data = bytes(body)
        if data[:2] == b"\x1f\x8b":
            self.events.append(Event("unannounced-gzip", "gzip body without Content-Encoding"))
            data = _gunzip(data, policy.max_bytes)
        _check_charset(data, charset, self.events)
        return data


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as error:
        raise HarvestError(f"gzip body that cannot be unpacked: {error}") from error
    if len(out) > limit or inflater.unconsumed_tail:
        raise HarvestError(f"gzip body larger than the limit of {limit} bytes")
    return out


_XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _check_charset(data: bytes, header: str | None, events: list[Event]) -> None:
    """Report a charset header that disagrees with the document; the document's encoding wins."""
    if not header:
        return
    match = _XML_DECLARATION.match(data[:200])
    document = match.group(1).decode("ascii") if match else "utf-8"
    if _charset_name(header) != _charset_name(document):
        events.append(
            Event("charset-header", f"header says {header}, document is {document}; "
                  "the document's encoding is used")
        )


def _charset_name(name: str) -> str:
    return name.lower().replace("_", "-").replace("utf8", "utf-8")


def _retry_after(value: str | None, policy: Politeness) -> float | None:
    """Seconds to wait from a Retry-After value (seconds or an HTTP date), bounded."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, min(seconds, policy.retry_after_max))


def _declares_entities(raw: bytes) -> bool:
    return b"<!ENTITY" in raw
