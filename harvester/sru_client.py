"""An asynchronous SRU client (versions 1.1, 1.2 and 2.0) with the politeness of OAI sources.

>>> async with SruClient("http://127.0.0.1:2100/Default", Politeness(delay=0.5)) as client:
...     explain = await client.explain()
...     page = await client.search("dc.title=navoiy", "marcxml", start=1, maximum=50)

The version: an address may pin it (``http://host/db?version=1.1``: every parameter of the
address goes with every request); otherwise explain is asked for with no parameters (an SRU
server then answers in the version it prefers) and that version is used from then on.
Records are asked for as XML (``recordPacking=xml`` in 1.x, ``recordXMLEscaping=xml`` in 2.0);
records sent as escaped strings are read too.

Politeness, bounds on bodies, retries after resets, 5xx, 503/429 with Retry-After and malformed
XML are those of :class:`harvester.http_fetch.HttpFetcher`; every fault met is in
:attr:`SruClient.events`, a diagnostic that came beside records (not fatal, see
:mod:`harvester.sru_pages`) once per diagnostic URI however many pages carry it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from harvester.faults import Event
from harvester.http_fetch import FetchingClient, HttpFetcher, Politeness
from harvester.sru_pages import (
    Explain,
    SruPage,
    read_document,
    read_explain,
    read_search,
    version_of,
)
from protocols.sru import VERSIONS

USER_AGENT = "Koprik-harvester/0.1 (+SRU)"


def split_address(url: str) -> tuple[str, dict[str, str]]:
    """The base URL of an SRU address and the parameters it pins (its query string)."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return base, dict(parse_qsl(parts.query))


class SruClient(FetchingClient):
    """A client for one SRU base URL; use it as an async context manager."""

    def __init__(
        self,
        url: str,
        politeness: Politeness | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url, self.pinned = split_address(url)
        pinned = self.pinned.get("version")
        if pinned is not None and pinned not in VERSIONS:
            raise ValueError(f"SRU version {pinned!r}: expected one of {', '.join(VERSIONS)}")
        self.version: str | None = pinned
        """The version requests are sent in: pinned by the address, or what explain said."""
        self._http = HttpFetcher(
            self.base_url, politeness or Politeness(), user_agent=USER_AGENT, sleep=sleep
        )
        self.surplus = 0
        """Records sent past the maximumRecords asked for, dropped unread."""
        self._diagnostics_said: set[str] = set()
        """URIs of the non-fatal diagnostics already in :attr:`events`."""

    async def explain(self) -> Explain:
        """The server's explain record; sets :attr:`version` unless the address pinned it.
        Raises :class:`harvester.faults.HarvestError` (:class:`SruError` for a diagnostic)."""
        params = {"operation": "explain", **self.pinned} if self.version else {}
        root, _raw = await self._http.document(params, read_document, what="explain")
        assert root is not None
        explain = read_explain(root)
        if self.version is None:
            self.version = version_of(root)
        return explain

    async def search(self, query: str, schema: str, *, start: int, maximum: int) -> SruPage:
        """One searchRetrieve page: ``maximum`` records of ``query`` from position ``start``
        in record schema ``schema``. Raises HarvestError (SruError for a diagnostic)."""
        version = self.version or "1.2"
        params = {
            "version": version,
            "query": query,
            "startRecord": str(start),
            "maximumRecords": str(maximum),
            "recordSchema": schema,
        }
        if version == "2.0":
            params.update(recordXMLEscaping="xml", recordPacking="packed")
        else:
            params.update(operation="searchRetrieve", recordPacking="xml")
        params.update(self.pinned)
        root, _raw = await self._http.document(params, read_document, what="searchRetrieve")
        assert root is not None
        page = read_search(root, maximum)
        self._say_diagnostics(page, start)
        if page.surplus:
            if not self.surplus:  # once a harvest: koprik sru says the count at its end
                self.events.append(Event("surplus", f"{page.surplus} records past the {maximum} "
                                         f"asked for from {start} were dropped (and any more "
                                         "it sends)"))
            self.surplus += page.surplus
        return page

    def _say_diagnostics(self, page: SruPage, start: int) -> None:
        """An event for each diagnostic beside the records of ``page`` (asked from ``start``)
        not said before in this client's harvest."""
        for diagnostic in page.diagnostics:
            if diagnostic.uri not in self._diagnostics_said:
                self._diagnostics_said.add(diagnostic.uri)
                self.events.append(Event("diagnostic", f"{diagnostic}, beside the records "
                                         f"from {start} (not fatal: they are taken)"))
