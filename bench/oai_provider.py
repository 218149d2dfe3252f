"""Benchmark: Koprik's OAI-PMH provider beside the ``oaipmh`` 4.0.0 server, same catalogue.

    python bench/oai_provider.py              # 100,000 demo records
    python bench/oai_provider.py --large      # and 1,000,000

Each server runs in a process of its own (so its peak memory is its own) behind the same aiohttp
HTTP layer on 127.0.0.1; one client harvests ListRecords in oai_dc and in marc21 from start to
end with the same page size, without compression, over one keep-alive connection. Besides
records per second of wall time, the table gives records per CPU-second of the server process,
which does not depend on what else the machine is doing. The peer is
``oaipmh.server.BatchingServer`` over a small backend class of ours that reads the same
catalogue with the cursor the peer hands it (OFFSET paging, which is how that interface pages)
and puts the stored rendition into the peer's tree. Prints a table; asserts nothing.

The catalogues are filled once (``koprik demo``'s loader) into ``--folder`` and reused.
The peer is measured only up to ``--peer-max`` records (default 100,000): its OFFSET paging
reads every record before a page again for each page, so a full harvest of 1,000,000 records
through it takes hours (quadratic); above that size only Koprik's provider is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import html
import http.client
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from lxml import etree
from oaipmh import common, error, metadata, server
from sqlalchemy import and_, or_, select

from catalog import Catalog, models
from catalog.db import open_engine
from catalog.demo import DemoPlan
from catalog.renditions import FORMATS
from catalog.schema import upgrade
from config import DatabaseSettings, Settings
from crosswalks.xmltext import safe_parser
from koprik.commands.demo import load_demo
from provider.app import init_app

FORMATS_MEASURED = ("oai_dc", "marc21")
HEADER = re.compile(rb"<header[ >]")
TOKEN = re.compile(rb"<resumptionToken[^>]*?(?:/>|>([^<]*)</resumptionToken>)")
LATENCY_REPEATS = 5


# -- the catalogue -----------------------------------------------------------------------------


def bench_settings(folder: Path, records: int, page_size: int) -> Settings:
    url = f"sqlite:///{folder / f'demo-{records}.sqlite3'}"
    settings = dataclasses.replace(Settings(), database=DatabaseSettings(url=url))
    return dataclasses.replace(settings, oai=dataclasses.replace(settings.oai, page_size=page_size))


def ensure_catalogue(settings: Settings, records: int) -> None:
    """The cached demo catalogue of ``records`` records, made (or upgraded to this schema)."""
    engine = open_engine(settings.database.url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    catalog = Catalog.open(settings)
    try:
        if catalog.count(None) != records:
            if not catalog.is_empty():
                sys.exit(f"{settings.database.url} holds another collection; remove it first")
            print(f"filling {settings.database.url} with {records:,} demo records ...", flush=True)
            load_demo(catalog, DemoPlan(records=records))
    finally:
        catalog.close()


# -- the peer: oaipmh 4.0.0 over our catalogue ---------------------------------------------------


def _datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _seconds(value: datetime | None) -> int | None:
    return None if value is None else int(value.replace(tzinfo=UTC).timestamp())


class CatalogBackend:
    """An ``IBatchingOAIPMH`` backend for ``oaipmh.server.BatchingServer`` over our catalogue.

    The camelCase method and argument names are the peer's interface.
    """

    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.settings = settings
        self.prefix = settings.repository.identifier_prefix

    def identify(self) -> common.Identify:
        return common.Identify(
            repositoryName=self.settings.repository.name,
            baseURL=self.settings.repository.base_url,
            protocolVersion="2.0",
            adminEmails=self.settings.repository.admin_email,
            earliestDatestamp=_datetime(self.catalog.earliest_datestamp() or 0),
            deletedRecord="persistent",
            granularity="YYYY-MM-DDThh:mm:ssZ",
            compression=["identity"],
        )

    def listMetadataFormats(self, identifier: str | None = None) -> list[tuple[str, str, str]]:
        return [(p, f.schema, f.namespace) for p, f in FORMATS.items()]

    def listSets(self, cursor: int = 0, batch_size: int = 10) -> list[tuple[str, str, None]]:
        sets = self.catalog.list_sets()[cursor : cursor + batch_size]
        return [(spec, name, None) for spec, name in sets]

    def getRecord(self, metadataPrefix: str, identifier: str) -> tuple:
        entry = self.catalog.get_entry(identifier.removeprefix(self.prefix), metadataPrefix)
        if entry is None:
            raise error.IdDoesNotExistError(identifier)
        return self._item(entry.local_id, entry.datestamp, entry.deleted,
                          " ".join(entry.set_specs), entry.data)

    def listIdentifiers(self, metadataPrefix: str, set: str | None = None, from_=None,
                        until=None, cursor: int = 0, batch_size: int = 10) -> list:
        rows = self._page(metadataPrefix, set, from_, until, cursor, batch_size)
        return [self._item(*row)[0] for row in rows]

    def listRecords(self, metadataPrefix: str, set: str | None = None, from_=None,
                    until=None, cursor: int = 0, batch_size: int = 10) -> list:
        rows = self._page(metadataPrefix, set, from_, until, cursor, batch_size)
        return [self._item(*row) for row in rows]

    def _item(self, local_id: str, datestamp: int, deleted: bool, specs: str,
              data: bytes | None) -> tuple:
        header = common.Header(None, self.prefix + local_id, _datetime(datestamp),
                               specs.split(), bool(deleted))
        meta = None if deleted or data is None else common.Metadata(None, {"xml": data})
        return header, meta, None

    def _page(self, prefix: str, set_spec: str | None, from_: datetime | None,
              until: datetime | None, cursor: int, batch_size: int) -> list:
        r, rend = models.records, models.renditions
        query = (
            select(r.c.local_id, r.c.datestamp, r.c.deleted, r.c.set_specs, rend.c.data)
            .select_from(r.outerjoin(rend, and_(rend.c.record_id == r.c.id,
                                                rend.c.format == prefix)))
            .where(or_(r.c.deleted, rend.c.record_id.is_not(None)))
        )
        if set_spec is not None:
            rs = models.record_sets
            query = query.join(rs, rs.c.record_id == r.c.id).where(rs.c.set_spec == set_spec)
        if from_ is not None:
            query = query.where(r.c.datestamp >= _seconds(from_))
        if until is not None:
            query = query.where(r.c.datestamp <= _seconds(until))
        query = query.order_by(r.c.datestamp, r.c.id).offset(cursor).limit(batch_size)
        with self.catalog.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(query)]


def _stored_xml_writer(element: etree._Element, meta: common.Metadata) -> None:
    element.append(etree.fromstring(meta.getMap()["xml"], safe_parser()))


def peer_app(settings: Settings, catalog: Catalog) -> web.Application:
    registry = metadata.MetadataRegistry()
    for prefix in FORMATS:
        registry.registerWriter(prefix, _stored_xml_writer)
    peer = server.BatchingServer(CatalogBackend(catalog, settings), registry,
                                 resumption_batch_size=settings.oai.page_size)

    async def handle(request: web.Request) -> web.Response:
        arguments = dict(request.query)
        body = await asyncio.to_thread(peer.handleRequest, arguments)
        return web.Response(body=body, content_type="text/xml", charset="utf-8")

    app = web.Application()
    app.router.add_get("/oai", handle)
    return app


# -- serving and harvesting ------------------------------------------------------------------------


def serve(kind: str, settings: Settings, port: int) -> None:
    catalog = Catalog.open(settings)
    app = init_app(settings, catalog) if kind == "koprik" else peer_app(settings, catalog)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None,
                print=lambda _message: print("ready", flush=True))


@dataclasses.dataclass
class Harvest:
    records: int
    seconds: float
    tokens: list[str]


class Client:
    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)

    def get(self, query: str) -> bytes:
        self.connection.request("GET", "/oai?" + query, headers={"Accept-Encoding": "identity"})
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status} for {query}")
        return body

    def harvest(self, prefix: str) -> Harvest:
        query = f"verb=ListRecords&metadataPrefix={prefix}"
        records, tokens = 0, []
        start = time.perf_counter()
        while True:
            body = self.get(query)
            records += len(HEADER.findall(body))
            match = TOKEN.search(body, max(0, body.rfind(b"<resumptionToken")))  # at the end
            token = html.unescape(match.group(1).decode()) if match and match.group(1) else ""
            if not token:
                return Harvest(records, time.perf_counter() - start, tokens)
            tokens.append(token)
            query = "verb=ListRecords&resumptionToken=" + quote(token, safe="")

    def latency(self, query: str) -> float:
        times = []
        for _ in range(LATENCY_REPEATS):
            start = time.perf_counter()
            self.get(query)
            times.append(time.perf_counter() - start)
        return statistics.median(times)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(kind: str, settings: Settings, records: int, port: int) -> list[list[str]]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--records", str(records),
         "--page-size", str(settings.oai.page_size), "--port", str(port),
         "--folder", str(Path(settings.database.url.removeprefix("sqlite:///")).parent)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {kind} server did not start")
        client = Client(port)
        rows = []
        for prefix in FORMATS_MEASURED:
            cpu_before = cpu_seconds(process.pid)
            harvest = client.harvest(prefix)
            server_cpu = cpu_seconds(process.pid) - cpu_before
            first = client.latency(f"verb=ListRecords&metadataPrefix={prefix}")
            deep_token = harvest.tokens[max(0, int(len(harvest.tokens) * 0.9) - 1)]
            deep = client.latency("verb=ListRecords&resumptionToken=" + quote(deep_token, safe=""))
            rows.append([
                f"{records:,}", kind, prefix, f"{harvest.records:,}",
                f"{harvest.records / harvest.seconds:,.0f}",
                f"{harvest.records / server_cpu:,.0f}", f"{first * 1000:.1f}",
                f"{deep * 1000:.1f}", f"{deep / first:.2f}", "",
            ])
        memory = f"{peak_memory_mb(process.pid):.0f}"
        for row in rows:
            row[-1] = memory
        return rows
    finally:
        process.terminate()
        process.wait(timeout=30)


def print_table(rows: list[list[str]]) -> None:
    head = ["records", "server", "format", "harvested", "records/s", "rec/server CPU-s",
            "page 1 ms", "page @90% ms", "deep/first", "peak RSS MB"]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also 1,000,000 records")
    parser.add_argument("--records", type=int, help="one collection size instead of the default")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/koprik-oai-bench"))
    parser.add_argument("--port", type=int, default=18_480)
    parser.add_argument("--peer-max", type=int, default=100_000,
                        help="largest collection the OFFSET-paging peer is measured on")
    parser.add_argument("--serve", choices=["koprik", "oaipmh"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [args.records] if args.records else [100_000, *([1_000_000] if args.large else [])]
    if args.serve:
        serve(args.serve, bench_settings(args.folder, sizes[0], args.page_size), args.port)
        return 0
    args.folder.mkdir(parents=True, exist_ok=True)
    rows: list[list[str]] = []
    for size in sizes:
        settings = bench_settings(args.folder, size, args.page_size)
        ensure_catalogue(settings, size)
        for kind in ("koprik", "oaipmh") if size <= args.peer_max else ("koprik",):
            rows += measure(kind, settings, size, args.port)
            print(f"  measured {kind} over {size:,} records", file=sys.stderr, flush=True)
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
