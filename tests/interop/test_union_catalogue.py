"""The union catalogue end to end: two Koprik partners that share books are harvested; the hub
serves one union record per book with both holdings over OAI-PMH, SRU and Z39.50 (yaz-client); a
member's deletion keeps its union record with one holding; an operator's merge leaves one
union record and a deletion that a downstream harvester sees."""

from __future__ import annotations

import dataclasses
import re
import urllib.request

import pytest
from lxml import etree

from catalog import Catalog
from catalog.dedup_operators import explain, merge
from config import DatabaseSettings, HarvestSource, Settings
from config.settings import UnionSettings
from harvester.oai_client import Politeness
from harvester.runs import SUCCEEDED, harvest
from provider.app import init_app
from tests.books import book
from tests.fault_provider import serve
from tests.z3950_target_fixtures import running_target, yaz_client

pytestmark = pytest.mark.interop
FAST = Politeness(delay=0, timeout=10, retries=2, backoff=0.01)
NS = {"oai": "http://www.openarchives.org/OAI/2.0/", "m": "http://www.loc.gov/MARC21/slim"}


def _partner(folder, code, records):
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=f"sqlite:///{folder / f'{code}.sqlite3'}"),
        union=UnionSettings(institution_code=code))
    catalog = Catalog.open(settings)
    with catalog.writer() as writer:
        for record in records:
            writer.put(record)
    return settings, catalog


def _oai(url: str) -> etree._Element:
    with urllib.request.urlopen(url, timeout=30) as response:
        return etree.fromstring(response.read())


def _holdings(record: etree._Element) -> list[str]:
    return sorted(record.xpath(".//m:datafield[@tag='852']/m:subfield[@code='a']/text()",
                               namespaces=NS))


def test_two_partners_sharing_books_become_union_records(tmp_path) -> None:
    sam_settings, sam = _partner(tmp_path, "UzSaRL", [
        book("P1", "Paxta dalalari", author="Rahimov, Botir", organization="UzSaRL",
             isbn="978-9943-01-234-9", call_number="84(5U)"),
        book("Q1", "Qoraqum sirlari", author="Olimov, Salim", year=2003, organization="UzSaRL"),
        book("R1", "Qoraqum sirlari", author="Olimov, Salim", year=2004, organization="UzSaRL"),
    ])
    bux_settings, bux = _partner(tmp_path, "UzBuRL", [
        book("7", "Пахта далалари", author="Раҳимов, Ботир", organization="UzBuRL",
             sublocation="Abonement"),
        book("8", "Қорақум сирлари", author="Олимов, Салим", year=2003, organization="UzBuRL"),
        book("9", "Kimyo", author="Karimov, Aziz", organization="UzBuRL"),
    ])
    hub_folder = tmp_path / "hub"
    hub_folder.mkdir()
    with serve(init_app(sam_settings, Catalog.open(sam_settings))) as sam_url, \
            serve(init_app(bux_settings, Catalog.open(bux_settings))) as bux_url:
        sources = [HarvestSource(name="sam", url=sam_url, institution_code="UzSaRL"),
                   HarvestSource(name="bux", url=bux_url, institution_code="UzBuRL")]
        hub_settings = dataclasses.replace(
            Settings(), sources=sources,
            database=DatabaseSettings(url=f"sqlite:///{hub_folder / 'catalog.sqlite3'}"))
        hub = Catalog.open(hub_settings)
        with hub.writer() as writer:  # the hub's own copy of the 2004 reprint
            writer.put(book("R", "Qoraqum sirlari", author="Olimov, Salim", year=2004,
                            organization="UzNL"))
        for source in sources:
            assert harvest(hub, source, politeness=FAST).status == SUCCEEDED
        paxta = explain(hub, "bux:oai:natlib.uz:7").union
        qoraqum = explain(hub, "bux:oai:natlib.uz:8").union
        reprint = explain(hub, "R").union
        assert None not in (paxta, qoraqum, reprint) and len({paxta, qoraqum, reprint}) == 3

        with serve(init_app(hub_settings, hub)) as hub_url:
            listed = _oai(f"{hub_url}?verb=ListRecords&metadataPrefix=marc21")
            live = {r.findtext("oai:header/oai:identifier", namespaces=NS): r
                    for r in listed.iterfind(".//oai:record", NS)
                    if r.find("oai:header", NS).get("status") != "deleted"}
            assert set(live) == {f"oai:natlib.uz:{u}" for u in (paxta, qoraqum, reprint)} | {
                "oai:natlib.uz:bux:oai:natlib.uz:9"}
            union = live[f"oai:natlib.uz:{paxta}"]
            assert _holdings(union) == ["UzBuRL", "UzSaRL"]
            assert "(UzBuRL)oai:natlib.uz:7" in union.xpath(
                ".//m:datafield[@tag='035']/m:subfield/text()", namespaces=NS)

            sru_url = hub_url.replace("/oai", "/sru")
            sru = _oai(f"{sru_url}?operation=searchRetrieve&version=1.2&query=dc.title%3Dpaxta"
                       "&recordSchema=marcxml")
            srw = {"srw": "http://www.loc.gov/zing/srw/"}
            assert sru.findtext(".//srw:numberOfRecords", namespaces=srw) == "1"
            assert _holdings(sru) == ["UzBuRL", "UzSaRL"]

            with running_target(hub_folder, []) as target:
                found = yaz_client(target.port, ["find @attr 1=4 paxta", "format sutrs",
                                                 "show 1"], folder=tmp_path)
            assert re.findall(r"Number of hits: (\d+)", found) == ["1"]
            assert "=852  \\\\$aUzSaRL$h84(5U)" in found and "$aUzBuRL$bAbonement" in found

            # A member deleted at its source: the union record keeps the other holding.
            with sam.writer() as writer:
                writer.delete("Q1")
            assert harvest(hub, sources[0], politeness=FAST).counts.deleted == 1
            kept = _oai(f"{hub_url}?verb=GetRecord&metadataPrefix=marc21"
                        f"&identifier=oai:natlib.uz:{qoraqum}")
            assert _holdings(kept) == ["UzBuRL"]

            # A downstream harvester of the hub, then an operator's merge of two groups.
            downstream = Catalog.open(dataclasses.replace(
                Settings(), database=DatabaseSettings(
                    url=f"sqlite:///{tmp_path / 'downstream.sqlite3'}")))
            hub_source = HarvestSource(name="hub", url=hub_url)
            assert harvest(downstream, hub_source, politeness=FAST).counts.added == 4
            survivor = merge(hub, [qoraqum, reprint])
            assert survivor == min(qoraqum, reprint, key=lambda u: int(u.split(":")[1]))
            loser = reprint if survivor == qoraqum else qoraqum
            merged = _oai(f"{hub_url}?verb=GetRecord&metadataPrefix=marc21"
                          f"&identifier=oai:natlib.uz:{survivor}")
            assert _holdings(merged) == ["UzBuRL", "UzNL", "UzSaRL"]
            second = harvest(downstream, hub_source, politeness=FAST, options=None)
            assert second.status == SUCCEEDED and second.counts.deleted >= 1
            gone = downstream.get_entry(f"hub:oai:natlib.uz:{loser}", None)
            assert gone is not None and gone.deleted
            downstream.close()
        hub.close()
    sam.close()
    bux.close()
