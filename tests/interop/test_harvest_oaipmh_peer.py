"""Harvesting a third-party OAI-PMH provider: the ``oaipmh`` 4.0.0 BatchingServer on 127.0.0.1.

The peer serves ``marc21`` and ``oai_dc`` with sets and persistent deletions over a small
backend of ours. After a first harvest, the peer changes, deletes and adds records; after the
second, incremental harvest our catalogue must hold exactly the peer's live records, and the
peer's deletions as deletions.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pymarc
import pytest
from aiohttp import web
from lxml import etree
from oaipmh import common, error, metadata, server

from catalog import Catalog
from catalog.demo import demo_records
from config import HarvestSource
from crosswalks.dublin_core import marc_to_dc
from crosswalks.marcxml import record_to_marcxml
from harvester.oai_client import Politeness
from harvester.runs import SUCCEEDED, harvest
from tests.fault_provider import catalogue_of, serve

pytestmark = pytest.mark.interop

DC = "{http://purl.org/dc/elements/1.1/}"
START = datetime(2021, 6, 1)
FAST = Politeness(delay=0, timeout=5, retries=2, backoff=0.01)


@dataclasses.dataclass
class PeerRecord:
    identifier: str
    datestamp: datetime
    record: pymarc.Record | None
    sets: list[str]


class PeerBackend:
    """An IBatchingOAI implementation over a list of MARC records (naive UTC datetimes)."""

    def __init__(self, records: list[pymarc.Record]) -> None:
        self.items = [
            PeerRecord(f"oai:peer.test:{n}", START + timedelta(minutes=n), record,
                       ["even" if n % 2 == 0 else "odd"])
            for n, record in enumerate(records)
        ]

    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    def change(self, n: int, record: pymarc.Record | None) -> None:
        item = self.items[n]
        item.record, item.datestamp = record, self.now()

    def identify(self) -> common.Identify:
        return common.Identify(
            repositoryName="oaipmh peer", baseURL="http://127.0.0.1/oai", protocolVersion="2.0",
            adminEmails=["peer@example.org"], earliestDatestamp=START,
            deletedRecord="persistent", granularity="YYYY-MM-DDThh:mm:ssZ",
            compression=["identity"],
        )

    def listMetadataFormats(self, identifier: str | None = None) -> list[tuple[str, str, str]]:
        return [
            ("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
             "http://www.openarchives.org/OAI/2.0/oai_dc/"),
            ("marc21", "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd",
             "http://www.loc.gov/MARC21/slim"),
        ]

    def listSets(self, cursor: int = 0, batch_size: int = 10) -> list[tuple[str, str, None]]:
        return [("even", "Even records", None), ("odd", "Odd records", None)][
            cursor: cursor + batch_size]

    def _select(self, set: str | None, from_: datetime | None, until: datetime | None):  # type: ignore[no-untyped-def]
        items = sorted(self.items, key=lambda i: (i.datestamp, i.identifier))
        return [
            i for i in items
            if (set is None or set in i.sets)
            and (from_ is None or i.datestamp >= from_)
            and (until is None or i.datestamp <= until)
        ]

    def _header(self, item: PeerRecord) -> common.Header:
        return common.Header(None, item.identifier, item.datestamp, item.sets, item.record is None)

    def _metadata(self, item: PeerRecord) -> common.Metadata | None:
        if item.record is None:
            return None
        dc = etree.fromstring(marc_to_dc(item.record))
        values: dict[str, list[str]] = {}
        for element in dc:
            values.setdefault(etree.QName(element).localname, []).append(element.text or "")
        values["_marcxml"] = [record_to_marcxml(item.record).decode()]
        return common.Metadata(None, values)

    def listIdentifiers(self, metadataPrefix: str, set: str | None = None, from_=None,  # type: ignore[no-untyped-def]
                        until=None, cursor: int = 0, batch_size: int = 10):
        chosen = self._select(set, from_, until)[cursor: cursor + batch_size]
        return [self._header(i) for i in chosen]

    def listRecords(self, metadataPrefix: str, set: str | None = None, from_=None,  # type: ignore[no-untyped-def]
                    until=None, cursor: int = 0, batch_size: int = 10):
        chosen = self._select(set, from_, until)[cursor: cursor + batch_size]
        return [(self._header(i), self._metadata(i), None) for i in chosen]

    def getRecord(self, metadataPrefix: str, identifier: str):  # type: ignore[no-untyped-def]
        for item in self.items:
            if item.identifier == identifier:
                return self._header(item), self._metadata(item), None
        raise error.IdDoesNotExistError(identifier)


def _marc21_writer(element: etree._Element, data: common.Metadata) -> None:
    element.append(etree.fromstring(data.getMap()["_marcxml"][0]))


def peer_app(backend: PeerBackend) -> web.Application:
    registry = metadata.MetadataRegistry()
    registry.registerWriter("oai_dc", server.oai_dc_writer)
    registry.registerWriter("marc21", _marc21_writer)
    peer = server.BatchingServer(backend, metadata_registry=registry, resumption_batch_size=7)

    async def handle(request: web.Request) -> web.Response:
        body = peer.handleRequest(dict(request.query))
        return web.Response(body=body, content_type="text/xml", charset="utf-8")

    app = web.Application()
    app.router.add_get("/oai", handle)
    return app


def _fields(record: pymarc.Record) -> list[object]:
    """What must survive harvesting: every field (control data, indicators, subfields)."""
    return [
        (f.tag, f.data) if f.is_control_field()
        else (f.tag, tuple(f.indicators), [(s.code, s.value) for s in f.subfields])
        for f in record.fields
    ]


def _harvested(catalog: Catalog, source: str) -> dict[str, pymarc.Record | None]:
    found: dict[str, pymarc.Record | None] = {}
    for identifier, (deleted, _digest) in catalogue_of(catalog, source).items():
        if deleted:
            found[identifier] = None
            continue
        marc = catalog.marc_of(f"{source}:{identifier}")
        assert marc is not None
        found[identifier] = next(iter(pymarc.MARCReader(marc, to_unicode=True)))
    return found


@pytest.fixture
def backend() -> PeerBackend:
    backend = PeerBackend(list(demo_records(40)))
    backend.items[5].record = None  # deleted long before we harvest: it never reaches us
    return backend


def test_marc21_with_sets_and_deletions(backend: PeerBackend, catalog: Catalog) -> None:
    with serve(peer_app(backend)) as url:
        source = HarvestSource(name="peer", url=url, prefix="marc21", sets=["even", "odd"])
        first = harvest(catalog, source, politeness=FAST)
        assert first.status == SUCCEEDED, first.errors
        assert first.counts.added == 39
        backend.change(8, None)
        backend.change(9, None)
        backend.change(12, next(demo_records(1, seed=99)))
        backend.items.append(PeerRecord("oai:peer.test:new", backend.now(),
                                        next(demo_records(1, seed=98)), ["odd"]))
        second = harvest(catalog, source, politeness=FAST)
    assert second.status == SUCCEEDED, second.errors
    assert second.counts.as_dict() == {
        "added": 1, "updated": 1, "deleted": 2, "unchanged": 0, "gone": 0, "rejected": 0}
    harvested = _harvested(catalog, "peer")
    live = {i.identifier: i.record for i in backend.items if i.record is not None}
    assert {k for k, v in harvested.items() if v is not None} == set(live)
    for identifier, record in live.items():
        assert _fields(harvested[identifier]) == _fields(record), identifier  # type: ignore[arg-type]
    assert {k for k, v in harvested.items() if v is None} == {"oai:peer.test:8", "oai:peer.test:9"}
    entry = catalog.get_entry("peer:oai:peer.test:12", "marc21")
    assert entry is not None and entry.provenance is not None
    assert entry.provenance.metadata_namespace == "http://www.loc.gov/MARC21/slim"
    assert entry.provenance.base_url == url


def test_oai_dc_through_the_dc_crosswalk(backend: PeerBackend, catalog: Catalog) -> None:
    with serve(peer_app(backend)) as url:
        source = HarvestSource(name="peerdc", url=url, prefix="oai_dc")
        first = harvest(catalog, source, politeness=FAST)
        backend.change(20, None)
        second = harvest(catalog, source, politeness=FAST)
    assert (first.status, first.counts.added) == (SUCCEEDED, 39)
    assert second.counts.deleted == 1 and second.counts.total == 1
    harvested = _harvested(catalog, "peerdc")
    assert len([v for v in harvested.values() if v is not None]) == 38
    for item in backend.items:
        if item.record is None:
            assert harvested.get(item.identifier) is None
            continue
        entry = catalog.get_entry(f"peerdc:{item.identifier}", "oai_dc")
        assert entry is not None and entry.data is not None
        theirs, ours = etree.fromstring(marc_to_dc(item.record)), etree.fromstring(entry.data)
        for name in ("title", "creator", "date", "language", "publisher"):
            # a second title (parallel script) becomes a 246, which MARC -> DC leaves out
            mine, peer = _values(ours, name), _values(theirs, name)
            assert set(mine) <= set(peer), (item.identifier, name, mine, peer)
            assert mine or not peer, (item.identifier, name)  # serials have no creator


def _values(dc: etree._Element, name: str) -> list[str]:
    return sorted(e.text or "" for e in dc.iter(DC + name))
