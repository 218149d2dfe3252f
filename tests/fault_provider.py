"""A small OAI-PMH and SRU server on 127.0.0.1 that misbehaves on request (a test fixture).

It serves ``marc21`` (MARCXML) records with seconds granularity, sets (record n in the
(n mod k)-th of k sets, by default ``even`` and ``odd``), deletions and resumption tokens,
honours ``from``/``until``, and counts every request; at ``/sru`` the same records (less the
deletions) answer SRU 1.1, 1.2 and 2.0 searchRetrieve, paged by startRecord (a startRecord past
the hits is diagnostic 61, as Zebra answers), and explain. Faults are armed per page number
(0 = the first page of a list) and fire once each::

    provider = FaultProvider(records)
    provider.arm("http-503", page=2)
    with serve(provider.app()) as base_url:
        ...

Fault kinds (:data:`FAULTS`): ``timeout`` (answers too late), ``reset`` (drops the
connection), ``http-500``, ``http-503`` (Retry-After in seconds), ``http-429`` (Retry-After as
an HTTP date), ``malformed`` (truncated XML), ``forbidden-char`` (a control character in a
record), ``bad-token`` (badResumptionToken), ``token-loop`` (sends the token it was asked
with), ``gzip`` (gzip body without Content-Encoding), ``charset`` (a wrong charset header),
``oai-error`` (badArgument instead of the page); and bodies no harvester should hold:
``gzip-bomb`` and ``deflate-bomb`` (1 GiB of zeros packed into about 1 MB, announced as
Content-Encoding gzip or deflate), ``hidden-bomb`` (the gzip bomb without Content-Encoding) and
``endless`` (an XML body that never ends); ``cut-gzip`` is a gzip body (announced) whose
compressed stream stops halfway, though the HTTP message is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gzip
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

import pytest
from aiohttp import web
from pymarc import Record
from sqlalchemy import select

from catalog import Catalog, models
from catalog.harvest_state import harvest_runs
from config import DatabaseSettings, HarvestSource, Settings
from crosswalks.marcxml import record_to_marcxml
from harvester.http_fetch import Politeness
from harvester.runs import RunReport, Stop, harvest

FAULTS = (
    "timeout", "reset", "http-500", "http-503", "http-429", "malformed", "forbidden-char",
    "bad-token", "token-loop", "gzip", "charset", "oai-error",
    "cut-gzip", "gzip-bomb", "deflate-bomb", "hidden-bomb", "endless",
)
BOMB_MIB = 1024
"""Mebibytes of zeros a bomb unpacks to."""
NS = "http://www.openarchives.org/OAI/2.0/"
SRU_1 = "http://www.loc.gov/zing/srw/"
SRU_2 = "http://docs.oasis-open.org/ns/search-ws/sruResponse"
SRU_1_DIAGNOSTIC = "http://www.loc.gov/zing/srw/diagnostic/"
SRU_2_DIAGNOSTIC = "http://docs.oasis-open.org/ns/search-ws/diagnostic"
START = datetime(2020, 1, 1, tzinfo=UTC)
PATIENCE = 60.0
"""Seconds a held request waits to be released, and a stopped run may take to end on a loaded
machine (it takes well under one)."""


@dataclass
class Item:
    identifier: str
    datestamp: datetime
    marcxml: bytes | None
    sets: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return self.marcxml is None


@dataclass
class Hold:
    """A provider hook that holds one request: as the ``at``-th arrives, ``held`` is set and the
    request waits until ``release`` is (at most ``patience`` seconds)."""

    at: int
    patience: float
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __call__(self, count: int) -> None:
        if count == self.at:
            self.held.set()
            self.release.wait(self.patience)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str, end: bool) -> datetime:
    if len(text) == 10:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        return day + timedelta(hours=23, minutes=59, seconds=59) if end else day
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class FaultProvider:
    """The provider's state: items in datestamp order, armed faults, and a request log."""

    def __init__(
        self,
        records: list[Record],
        *,
        page_size: int = 10,
        timeout_delay: float = 3.0,
        day_granularity: bool = False,
        sets: tuple[str, ...] = ("even", "odd"),
    ) -> None:
        self.items: list[Item] = []
        for n, record in enumerate(records):  # record n in the (n mod len(sets))-th set
            self.items.append(
                Item(f"oai:fault.test:{n}", START + timedelta(hours=n),
                     record_to_marcxml(record), [sets[n % len(sets)]] if sets else [])
            )
        self.sets = sets
        """The partner's sets; none: ListSets answers noSetHierarchy."""
        self.page_size = page_size
        self.timeout_delay = timeout_delay
        self.armed: dict[int, list[str]] = {}
        self.poisoned: set[str] = set()
        self.fired: list[tuple[str, int]] = []
        self.requests: list[dict[str, str]] = []
        self.broken_forever: set[str] = set()
        """Identifiers always served with a control character in them."""
        self.day_granularity = day_granularity
        self.on_list_request: Callable[[int], None] | None = None
        """Called with the number of ListRecords requests so far, as each one arrives."""
        self.on_list_sets: Callable[[int], None] | None = None
        """Called with the number of ListSets requests so far, as each one arrives."""
        self.on_search_request: Callable[[int], None] | None = None
        """Called with the number of SRU searchRetrieve requests so far, as each one arrives."""
        self.served: list[str] = []
        """Identifiers of the records (and deletions) sent, in order."""
        self.response_date: datetime | None = None
        """The responseDate to claim (None: the time now), e.g. a clock set to 2998."""
        self.looping_at: int | None = None
        """From this page on, every page repeats this page's records with a new token."""
        self.unavailable_after: int | None = None
        """When set, the ListRecords (or SRU searchRetrieve) requests answered before every
        further one is answered 503 with Retry-After: 0, as by a partner gone down (0: every
        one)."""
        self.list_ends_after: int | None = None
        """When set, a ListRecords list ends after this many pages: the last one's
        resumptionToken is empty, its cursor and completeListSize still the whole list's, as
        by a partner that loses the rest of a list."""
        self.sru_diagnostic: tuple[int, str] | None = None
        """When set, a non-surrogate diagnostic (its number and message) sent beside the
        records of every searchRetrieve page, as by a server that cannot sort them."""
        self.gzip_members = 0
        """When set, every ListRecords page without a fault is sent gzipped (announced) in this
        many members, as ``cat a.gz b.gz`` makes them."""

    # -- changes at the source --------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    def change(self, identifier: str, record: Record) -> None:
        item = self._item(identifier)
        self.items.remove(item)
        self.items.append(Item(identifier, self.now(), record_to_marcxml(record), item.sets))

    def delete(self, identifier: str) -> None:
        item = self._item(identifier)
        self.items.remove(item)
        self.items.append(Item(identifier, self.now(), None, item.sets))

    def add(self, identifier: str, record: Record) -> None:
        self.items.append(Item(identifier, self.now(), record_to_marcxml(record), ["even"]))

    def _item(self, identifier: str) -> Item:
        return next(i for i in self.items if i.identifier == identifier)

    def poison(self, identifier: str) -> Item:
        """Make every page holding ``identifier`` fail (HTTP 500); returns its item."""
        item = self._item(identifier)
        self.poisoned.add(item.identifier)
        return item

    def arm(self, kind: str, page: int) -> None:
        assert kind in FAULTS, kind
        self.armed.setdefault(page, []).append(kind)

    def list_requests(self) -> list[dict[str, str]]:
        return [r for r in self.requests if r.get("verb") == "ListRecords"]

    @staticmethod
    def set_of(request: dict[str, str]) -> str:
        """The set a ListRecords request asks for ('' for none): its ``set``, or its token's."""
        token = request.get("resumptionToken")
        return token.split("|")[0] if token is not None else request.get("set", "")

    def search_requests(self) -> list[dict[str, str]]:
        """The SRU searchRetrieve requests so far (explain has no query)."""
        return [r for r in self.requests if "query" in r]

    # -- serving ----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/oai", self._handle)
        app.router.add_get("/sru", self._handle_sru)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        self.requests.append(params)
        verb = params.get("verb")
        if verb == "Identify":
            return self._xml(self._identify())
        if verb == "ListMetadataFormats":
            return self._xml(self._envelope(
                "<ListMetadataFormats><metadataFormat><metadataPrefix>marc21</metadataPrefix>"
                "<schema>http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd</schema>"
                "<metadataNamespace>http://www.loc.gov/MARC21/slim</metadataNamespace>"
                "</metadataFormat></ListMetadataFormats>"))
        if verb == "ListSets":
            if self.on_list_sets is not None:
                self.on_list_sets(sum(r.get("verb") == "ListSets" for r in self.requests))
            listed = "".join(f"<set><setSpec>{spec}</setSpec><setName>{spec}</setName></set>"
                             for spec in self.sets)  # fmt: skip
            return self._xml(self._envelope(f"<ListSets>{listed}</ListSets>" if listed else
                                            '<error code="noSetHierarchy">no sets</error>'))
        if verb != "ListRecords":
            return self._xml(self._envelope('<error code="badVerb">unsupported</error>'))
        if self.on_list_request is not None:
            self.on_list_request(len(self.list_requests()))
        if self.unavailable_after is not None and (
                len(self.list_requests()) > self.unavailable_after):
            return web.Response(status=503, headers={"Retry-After": "0"})
        token = params.get("resumptionToken")
        if token is not None:
            try:
                spec, start, end, offset_text = token.split("|")
                offset = int(offset_text)
            except ValueError:
                return self._xml(self._envelope('<error code="badResumptionToken"/>'))
        else:
            spec, start, end, offset = params.get("set", ""), params.get("from", ""), \
                params.get("until", ""), 0
        page_number = offset // self.page_size
        kinds = self._fire(page_number)
        fault = await self._transport_fault(request, kinds, self._envelope("<ListRecords>"))
        if fault is not None:
            return fault
        if "bad-token" in kinds and token is not None:
            return self._xml(self._envelope('<error code="badResumptionToken">expired</error>'))
        if "oai-error" in kinds:
            return self._xml(self._envelope('<error code="badArgument">try later</error>'))
        chosen = [
            i for i in sorted(self.items, key=lambda i: (i.datestamp, i.identifier))
            if (not spec or spec in i.sets)
            and (not start or i.datestamp >= _parse(start, False))
            and (not end or i.datestamp <= _parse(end, True))
        ]
        if not chosen:
            return self._xml(self._envelope('<error code="noRecordsMatch"/>', params))
        batch = chosen[offset: offset + self.page_size]
        next_token = None
        if offset + self.page_size < len(chosen):
            next_token = f"{spec}|{start}|{end}|{offset + self.page_size}"
        if self.looping_at is not None and page_number >= self.looping_at:
            first = self.looping_at * self.page_size
            batch = chosen[first: first + self.page_size]
            next_token = f"{spec}|{start}|{end}|{offset + self.page_size}"
        if "token-loop" in kinds and token is not None:
            next_token = token
        cut_short = self.list_ends_after is not None and next_token is not None \
            and page_number + 1 >= self.list_ends_after
        if cut_short:
            next_token = None
        body = "".join(self._record(i, "forbidden-char" in kinds and n == 0)
                       for n, i in enumerate(batch))
        self.served += [i.identifier for i in batch]
        if next_token is not None:
            body += (f'<resumptionToken cursor="{offset}" completeListSize="{len(chosen)}">'
                     f"{escape(next_token)}</resumptionToken>")
        elif token is not None or cut_short:
            body += f'<resumptionToken cursor="{offset}" completeListSize="{len(chosen)}"/>'
        page = self._envelope(f"<ListRecords>{body}</ListRecords>", params)
        if self.gzip_members and not kinds:
            return web.Response(body=gzip_members(page, self.gzip_members),
                                content_type="text/xml", headers={"Content-Encoding": "gzip"})
        return self._encoded(page, kinds)

    def _fire(self, page_number: int) -> list[str]:
        """The faults armed for ``page_number``, now fired (each fires once)."""
        kinds = self.armed.pop(page_number, [])
        for kind in kinds:
            self.fired.append((kind, page_number))
        return kinds

    async def _transport_fault(
        self, request: web.Request, kinds: list[str], opening: bytes
    ) -> web.StreamResponse | None:
        """The answer of a fault below the protocol (time, connection, HTTP status, bodies no
        one should hold), if one of ``kinds`` is such a fault."""
        if "timeout" in kinds:
            await asyncio.sleep(self.timeout_delay)
        if "reset" in kinds:  # the connection drops in the middle of the body
            response = web.StreamResponse(headers={"Content-Type": "text/xml"})
            response.content_length = 100_000
            await response.prepare(request)
            await response.write(opening[:60])
            assert request.transport is not None
            request.transport.abort()
            return response
        for kind in ("gzip-bomb", "deflate-bomb", "hidden-bomb", "endless"):
            if kind in kinds:
                return await _hostile_body(request, kind, opening)
        if "http-500" in kinds:
            return web.Response(status=500, text="internal error")
        if "http-503" in kinds:
            return web.Response(status=503, headers={"Retry-After": "1"})
        if "http-429" in kinds:
            when = format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)
            return web.Response(status=429, headers={"Retry-After": when})
        return None

    @staticmethod
    def _encoded(data: bytes, kinds: list[str]) -> web.Response:
        """``data`` as sent: cut in half, gzipped unannounced, with a wrong charset, or as is."""
        if "malformed" in kinds:
            data = data[: len(data) // 2]
        if "gzip" in kinds:
            return web.Response(body=gzip.compress(data), content_type="text/xml")
        if "cut-gzip" in kinds:
            packed = gzip.compress(data)
            return web.Response(body=packed[: len(packed) // 2], content_type="text/xml",
                                headers={"Content-Encoding": "gzip"})
        if "charset" in kinds:
            return web.Response(body=data, headers={"Content-Type": "text/xml; charset=ISO-8859-1"})
        return web.Response(body=data, content_type="text/xml", charset="utf-8")

    # -- SRU --------------------------------------------------------------------------

    async def _handle_sru(self, request: web.Request) -> web.StreamResponse:
        """SRU 1.1, 1.2 or 2.0 (as asked) over the same records: explain, and searchRetrieve
        paged by startRecord, pages numbered as the OAI-PMH ones for arming faults."""
        params = dict(request.query)
        self.requests.append(params)
        version = params.get("version", "2.0")
        ns = SRU_2 if version == "2.0" else SRU_1
        head = '<?xml version="1.0" encoding="UTF-8"?>'
        said = "" if version == "2.0" else f"<version>{version}</version>"
        if "query" not in params:
            return self._encoded((
                f'{head}<explainResponse xmlns="{ns}">{said}<record>'
                "<recordSchema>http://explain.z3950.org/dtd/2.0/</recordSchema>"
                "<recordPacking>xml</recordPacking><recordData>"
                '<explain xmlns="http://explain.z3950.org/dtd/2.0/"><databaseInfo>'
                "<title>Fault provider</title></databaseInfo><schemaInfo>"
                '<schema name="marcxml" identifier="info:srw/schema/1/marcxml-v1.1"/>'
                "</schemaInfo></explain></recordData></record></explainResponse>"
            ).encode(), [])
        if self.on_search_request is not None:
            self.on_search_request(len(self.search_requests()))
        if self.unavailable_after is not None and (
                len(self.search_requests()) > self.unavailable_after):
            return web.Response(status=503, headers={"Retry-After": "0"})
        start = int(params.get("startRecord", "1"))
        maximum = min(int(params.get("maximumRecords", "10")), self.page_size)  # a server's cap
        kinds = self._fire((start - 1) // self.page_size)
        opening = f'{head}<searchRetrieveResponse xmlns="{ns}">{said}'.encode()
        fault = await self._transport_fault(request, kinds, opening)
        if fault is not None:
            return fault
        live = [i for i in sorted(self.items, key=lambda i: (i.datestamp, i.identifier))
                if not i.deleted]
        batch = live[start - 1: start - 1 + maximum]
        hits = len(live)
        if self.looping_at is not None and (start - 1) // self.page_size >= self.looping_at:
            first = self.looping_at * self.page_size  # the same records, for ever
            batch, hits = live[first: first + maximum], 10**6
        if any(i.identifier in self.poisoned for i in batch):
            raise RuntimeError("the server chokes on this record")
        if start > max(hits, 1):  # as YAZ's servers (Zebra) answer
            return self._encoded((
                f"{opening.decode()}<numberOfRecords>0</numberOfRecords><diagnostics>"
                f'<diagnostic xmlns="{SRU_1_DIAGNOSTIC}">'
                f"<uri>info:srw/diagnostic/1/61</uri><details>{start}</details>"
                "<message>First record position out of range</message></diagnostic>"
                "</diagnostics></searchRetrieveResponse>"
            ).encode(), kinds)
        self.served += [i.identifier for i in batch]
        packing = "<recordXMLEscaping>xml</recordXMLEscaping>" if version == "2.0" else \
            "<recordPacking>xml</recordPacking>"
        records = "".join(
            f"<record><recordSchema>info:srw/schema/1/marcxml-v1.1</recordSchema>{packing}"
            f"<recordData>{(i.marcxml or b'').decode()}</recordData>"
            f"<recordPosition>{start + n}</recordPosition></record>"
            for n, i in enumerate(batch)
        )
        following = start + len(batch)
        more = f"<nextRecordPosition>{following}</nextRecordPosition>" \
            if following <= hits else ""
        body = f"<numberOfRecords>{hits}</numberOfRecords><records>{records}</records>{more}"
        if self.sru_diagnostic is not None:
            body += _sru_diagnostic(version, *self.sru_diagnostic)
        return self._encoded(f"{opening.decode()}{body}</searchRetrieveResponse>".encode(), kinds)

    def _record(self, item: Item, break_it: bool) -> str:
        if item.identifier in self.poisoned:
            raise RuntimeError("the provider chokes on this record")
        header_status = ' status="deleted"' if item.deleted else ""
        sets = "".join(f"<setSpec>{s}</setSpec>" for s in item.sets)
        header = (f"<header{header_status}><identifier>{item.identifier}</identifier>"
                  f"<datestamp>{self._stamp(item.datestamp)}</datestamp>{sets}</header>")
        if item.deleted:
            return f"<record>{header}</record>"
        assert item.marcxml is not None
        metadata = item.marcxml.decode("utf-8")
        if break_it or item.identifier in self.broken_forever:
            metadata = metadata.replace("</leader>", "\x01</leader>", 1)
        return f"<record>{header}<metadata>{metadata}</metadata></record>"

    def _identify(self) -> bytes:
        return self._envelope(
            "<Identify><repositoryName>Fault provider</repositoryName>"
            "<baseURL>http://127.0.0.1/oai</baseURL><protocolVersion>2.0</protocolVersion>"
            "<adminEmail>a@b.example</adminEmail>"
            f"<earliestDatestamp>{self._stamp(START)}</earliestDatestamp>"
            "<deletedRecord>persistent</deletedRecord>"
            f"<granularity>{'YYYY-MM-DD' if self.day_granularity else 'YYYY-MM-DDThh:mm:ssZ'}"
            "</granularity></Identify>"
        )

    def _stamp(self, moment: datetime) -> str:
        return stamp(moment)[:10] if self.day_granularity else stamp(moment)

    def _envelope(self, inner: str, params: dict[str, str] | None = None) -> bytes:
        attributes = "".join(f' {k}="{escape(v)}"' for k, v in (params or {}).items())
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<OAI-PMH xmlns="{NS}"><responseDate>{stamp(self.response_date or self.now())}'
            "</responseDate>"
            f"<request{attributes}>http://127.0.0.1/oai</request>{inner}</OAI-PMH>"
        ).encode()

    @staticmethod
    def _xml(data: bytes) -> web.Response:
        return web.Response(body=data, content_type="text/xml", charset="utf-8")


def _sru_diagnostic(version: str, number: int, message: str) -> str:
    """``<diagnostics>`` holding diagnostic ``number`` in the namespace of SRU ``version``."""
    namespace = SRU_2_DIAGNOSTIC if version == "2.0" else SRU_1_DIAGNOSTIC
    return (f'<diagnostics><diagnostic xmlns="{namespace}"><uri>info:srw/diagnostic/1/{number}'
            f"</uri><message>{escape(message)}</message></diagnostic></diagnostics>")


@functools.cache
def bomb(wrapper: str) -> tuple[bytes, bytes, bytes, int]:
    """A valid ``gzip`` or ``zlib`` stream of :data:`BOMB_MIB` MiB of zeros, as its head, one
    segment (one MiB packed, sent :data:`BOMB_MIB` times) and its tail; and its packed size."""
    zeros = bytes(1024 * 1024)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    packer.compress(zeros)
    packer.flush(zlib.Z_FULL_FLUSH)
    segment = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    end = packer.flush(zlib.Z_FINISH)
    size = BOMB_MIB * len(zeros)
    if wrapper == "gzip":
        crc = functools.reduce(lambda value, _n: zlib.crc32(zeros, value), range(BOMB_MIB), 0)
        head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        tail = end + struct.pack("<II", crc, size & 0xFFFFFFFF)
    else:
        adler = functools.reduce(lambda value, _n: zlib.adler32(zeros, value), range(BOMB_MIB), 1)
        head, tail = b"\x78\xda", end + struct.pack(">I", adler)
    return head, segment, tail, len(head) + BOMB_MIB * len(segment) + len(tail)


async def _hostile_body(request: web.Request, kind: str, opening: bytes) -> web.StreamResponse:
    """Stream a bomb or an endless body until it is done or the client hangs up."""
    headers = {"Content-Type": "text/xml"}
    if kind == "gzip-bomb":
        headers["Content-Encoding"] = "gzip"
    elif kind == "deflate-bomb":
        headers["Content-Encoding"] = "deflate"
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    try:
        if kind == "endless":
            filler = b"<record><header><identifier>x</identifier></header></record>" * 1000
            await response.write(opening)
            while True:
                await response.write(filler)
        head, segment, tail, _size = bomb("zlib" if kind == "deflate-bomb" else "gzip")
        await response.write(head)
        for _ in range(BOMB_MIB):
            await response.write(segment)
        await response.write(tail)
        await response.write_eof()
    except ConnectionError:
        pass
    return response


@contextlib.contextmanager
def serve(app: web.Application, host: str = "127.0.0.1") -> Iterator[str]:
    """Run ``app`` on a free port of ``host`` (a loopback address) in a thread of its own;
    yields its /oai URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    ready.wait(10)
    try:
        yield f"http://{host}:{holder['port']}/oai"
    finally:
        runner = holder["runner"]
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def gzip_members(data: bytes, members: int) -> bytes:
    """``data`` gzipped in ``members`` members (nearly equal parts), one after another."""
    size = -(-len(data) // members)
    return b"".join(gzip.compress(data[i : i + size]) for i in range(0, len(data), size))


def catalogue_of(catalog, source: str) -> dict[str, tuple[bool, str]]:  # type: ignore[no-untyped-def]
    """``identifier -> (deleted, MARC digest)`` of every record harvested from ``source``."""
    r = models.records
    with catalog.engine.connect() as connection:
        rows = connection.execute(
            select(r.c.source_identifier, r.c.deleted, r.c.digest).where(r.c.source == source)
        ).all()
    return {row.source_identifier: (bool(row.deleted), row.digest) for row in rows}


FAST = Politeness(delay=0, timeout=1.0, retries=3, backoff=0.01, retry_after_max=1.5)
"""Politeness for harvesting the fault provider: no delay, a one-second timeout, quick retries."""

STEADY = dataclasses.replace(FAST, timeout=10.0)
"""FAST with a timeout no page of a run that injects none reaches: on a loaded machine (CI's two
cores) a page took more than FAST's second, and the run said a timeout where the test held its
errors to be exactly its own faults."""


def sqlite_catalog(directory, name: str) -> Catalog:  # type: ignore[no-untyped-def]
    """A new SQLite catalogue ``name``.sqlite3 in ``directory``."""
    url = f"sqlite:///{directory / (name + '.sqlite3')}"
    return Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url)))


def second_loopback() -> str:
    """127.0.0.2, another host to the harvester (Linux routes all of 127/8 to loopback); the
    test is skipped where it cannot be bound."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.2", 0))
        except OSError as error:
            pytest.skip(f"127.0.0.2 cannot be bound: {error}")
    return "127.0.0.2"


def harvest_with_errors(
    catalog: Catalog,
    provider: FaultProvider,
    source: Callable[[str], HarvestSource],
    politeness: Politeness = FAST,
) -> tuple[RunReport, str]:
    """Serve ``provider`` and harvest it into ``catalog`` as ``source(its /oai URL)``; the
    report and the faults the run recorded (``harvest_runs.errors``)."""
    with serve(provider.app()) as url:
        report = harvest(catalog, source(url), politeness=politeness)
    with catalog.engine.connect() as connection:
        errors = connection.execute(
            select(harvest_runs.c.errors).where(harvest_runs.c.id == report.run_id)
        ).scalar_one()
    return report, errors


@dataclass
class HeldRun:
    """A harvest run whose request is held at the provider (:func:`held_then_stopped`)."""

    request: dict[str, str]
    """The held request's parameters."""
    report: RunReport | None = None
    """The stopped run's report, once the ``with`` block has ended."""


@contextlib.contextmanager
def held_then_stopped(
    catalog: Catalog,
    provider: FaultProvider,
    source: HarvestSource,
    at: int,
    *,
    search: bool = False,
    patience: float = PATIENCE,
) -> Iterator[HeldRun]:
    """Harvest ``source`` (``provider`` served at its URL) in a thread, as the scheduler and
    the dashboard run it, and hold its ``at``-th ListRecords request from now (``search``: SRU
    searchRetrieve request) at the provider; enter once it is held. On leaving, the run is
    asked to stop (:class:`harvester.runs.Stop`) while the request is still held, so it ends
    without waiting for that answer (asserted), then the request is released. The pages before
    the held request are in (or being written: wait for them inside the block).

    >>> with held_then_stopped(catalog, provider, source, at=3) as held:
    ...     held.request                       # the third ListRecords request's parameters
    >>> held.report.status                     # 'interrupted'
    """
    before = provider.search_requests() if search else provider.list_requests()
    hold = Hold(len(before) + at, patience)
    hook = "on_search_request" if search else "on_list_request"
    setattr(provider, hook, hold)
    stop = Stop()
    reports: list[RunReport] = []
    run = threading.Thread(target=lambda: reports.append(
        harvest(catalog, source, politeness=Politeness(delay=0), stop=stop)))
    run.start()
    try:
        assert hold.held.wait(patience), f"the run never sent request {at}"
        held = HeldRun(provider.requests[-1])
        yield held
        stop.request()
        run.join(patience)  # the held request is abandoned: the run does not wait for it
        assert not run.is_alive(), "the run did not stop while its request was held"
    finally:
        stop.request()  # as well when the block failed: the thread must end
        hold.release.set()
        run.join(patience)
        setattr(provider, hook, None)
    (held.report,) = reports
