"""An asynchronous OAI-PMH 2.0 client that is polite to partners and expects them to misbehave.

>>> async with OaiClient("http://127.0.0.1:8081/oai", Politeness(delay=0.5)) as client:
...     identity = await client.identify()
...     async for page in client.list_pages("ListRecords", prefix="marc21"):
...         for record in page.records: ...

Politeness, bounds on bodies, retries and the tolerance of transport faults are those of
:class:`harvester.http_fetch.HttpFetcher`. A ListRecords page that is still not well-formed XML
(or holds characters XML forbids) after a second try has its records parsed one by one, so a
bad record comes out with its bytes and the reason (:attr:`OaiRecord.error`) instead of
stopping the harvest. Nothing is repaired.

Safety: XML is parsed with entity resolution and the network off, and a document declaring
entities is refused (no XXE, no entity bombs).

Every fault met and handled is appended to :attr:`OaiClient.events`, so a run can record it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass

from lxml import etree

from harvester.faults import Event, HarvestError, MalformedResponse, quoted
from harvester.http_fetch import FetchingClient, HttpFetcher, Politeness, shown_url
from harvester.oai_pages import (
    OAI_NS,
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
MAX_SET_PAGES = 100
"""Pages of ListSets read when looking for a source's sets in it."""
_HTML_STARTS = (b"<!doctype html", b"<html")


class NotOaiPmh(MalformedResponse):
    """An answer to Identify that is no OAI-PMH document: the address is not the partner's
    OAI-PMH endpoint (its home page, its SRU, its /health). The message names the address."""


def _is_html(raw: bytes) -> bool:
    """Whether ``raw`` is an HTML page (what a web server answers at an address it has no
    OAI-PMH at), well-formed as XML or not."""
    return raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:len(_HTML_STARTS[0])].lower().startswith(
        _HTML_STARTS)


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


class OaiClient(FetchingClient):
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
        self._http = HttpFetcher(base_url, self.politeness, user_agent=USER_AGENT, sleep=sleep)

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
        """Identify, checked: raises :class:`HarvestError` when the answer is not usable; one
        that is no OAI-PMH document says so, naming the base URL (the parser's words alone,
        "Start tag expected, '<' not found", did not tell of a URL that is not the partner's
        OAI-PMH endpoint)."""
        try:
            root = await self.request("Identify")
        except MalformedResponse as error:
            question = "is it the partner's OAI-PMH base URL?"
            if _is_html(error.raw):  # the parser's words on it said "not OAI-PMH" once more
                raise NotOaiPmh(f"{shown_url(self.base_url)} answered Identify with an HTML "
                                f"page, not OAI-PMH; {question}", error.raw) from None
            raise NotOaiPmh(f"{error}: {shown_url(self.base_url)} answered no OAI-PMH "
                            f"document; {question}", error.raw) from None
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
                f"protocolVersion is {quoted(identity.protocol_version)!r}, not OAI-PMH 2.0"
            )
        if identity.granularity not in ("YYYY-MM-DD", "YYYY-MM-DDThh:mm:ssZ"):
            raise MalformedResponse(
                f"granularity {quoted(identity.granularity)!r} is not OAI-PMH 2.0"
            )
        return identity

    async def metadata_formats(self) -> dict[str, str]:
        """``metadataPrefix -> metadataNamespace`` of every format ListMetadataFormats offers."""
        root = await self.request("ListMetadataFormats")
        return {
            (element.findtext(f"{_O}metadataPrefix") or "").strip():
                (element.findtext(f"{_O}metadataNamespace") or "").strip()
            for element in root.iter(f"{_O}metadataFormat")
        }

    async def named_sets(
        self, specs: Collection[str], max_pages: int = MAX_SET_PAGES
    ) -> set[str] | None:
        """The setSpecs of ``specs`` that ListSets names, following its resumption tokens for
        at most ``max_pages`` pages (None: some not found in them, and the list goes on). A
        partner without sets raises :class:`OaiError` noSetHierarchy."""
        wanted, found = set(specs), set()
        params: dict[str, str] = {}
        seen: set[bytes] = set()
        for _ in range(max_pages):
            root = await self.request("ListSets", **params)
            container = root.find(f"{_O}ListSets")
            if container is None:
                raise MalformedResponse("the answer to ListSets has no <ListSets> element")
            for element in container.iter(f"{_O}set"):
                spec = (element.findtext(f"{_O}setSpec") or "").strip()
                if spec in wanted:
                    found.add(spec)
            token = (container.findtext(f"{_O}resumptionToken") or "").strip()
            if not token or found == wanted:
                return found
            digest = _digest(token)
            if digest in seen:
                raise ResumptionLoop(f"resumption token {token[:80]!r} came back again")
            seen.add(digest)
            params = {"resumptionToken": token}
        return None

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
        noRecordsMatch yields one empty page (answered to a token, it is also an event: the
        list ended there, short of what its size may have said). A token that repeats raises
        :class:`ResumptionLoop`; an OAI error (badResumptionToken included) raises
        :class:`OaiError`.
        """
        seen: set[bytes] = set()  # digests of the tokens: a list may hold a million of 10,000 bytes
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
            seen.add(_digest(token))
        while True:
            page = await self._list_page(verb, params)
            yield page
            if page.token is None:
                return
            digest = _digest(page.token)
            if digest in seen:
                raise ResumptionLoop(f"resumption token {page.token[:80]!r} came back again")
            seen.add(digest)
            params = {"resumptionToken": page.token}

    async def _list_page(self, verb: str, params: dict[str, str]) -> Page:
        root, raw = await self._request_document(verb, params, salvage=verb == "ListRecords")
        if root is None:
            return salvage_page(raw, self.events)
        try:
            raise_oai_error(root)
        except OaiError as error:
            if error.code == "noRecordsMatch":
                if "resumptionToken" in params:  # no records after a token: the list ends
                    self.events.append(Event("noRecordsMatch", "answered to a resumption "
                                             "token: the list ends there"))
                return Page(response_date(root), [], None, raw_size=len(raw))
            raise
        container = root.find(f"{_O}{verb}")
        if container is None:
            raise MalformedResponse(f"the answer to {verb} has no <{verb}> element")
        page = read_page(container, verb, response_date(root))
        page.raw_size = len(raw)
        return page

    async def _request_document(
        self, verb: str, params: dict[str, str], *, salvage: bool
    ) -> tuple[etree._Element | None, bytes]:
        """Fetch and parse; ``(None, bytes)`` when ``salvage`` and the page stays malformed."""
        return await self._http.document(
            {"verb": verb, **params}, read_document, what=verb, salvage=salvage
        )


def _digest(token: str) -> bytes:
    """What a list remembers of a resumption token to see it come back."""
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
