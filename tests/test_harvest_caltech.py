"""A real OAI-PMH response (Caltech CS technical reports, 2005, oai_dc) served statically.

The file's resumptionToken is answered with a final empty page; its 100 records must arrive as
MARC21 through the DC -> MARC21 crosswalk, each with its provenance and original payload.
"""

from __future__ import annotations

import pymarc
from aiohttp import web
from lxml import etree
from sqlalchemy import select

from catalog import Catalog, models
from config import HarvestSource
from harvester.oai_client import Politeness
from harvester.runs import SUCCEEDED, harvest
from tests.conftest import DATA
from tests.fault_provider import catalogue_of, serve

CALTECH = DATA / "oai" / "oai-caltech.xml"
OAI = "http://www.openarchives.org/OAI/2.0/"
IDENTIFY = f"""<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="{OAI}"><responseDate>2005-12-20T08:40:19Z</responseDate>
<request verb="Identify">http://caltechcstr.library.caltech.edu/perl/oai2</request>
<Identify><repositoryName>Caltech CS Technical Reports</repositoryName>
<baseURL>http://caltechcstr.library.caltech.edu/perl/oai2</baseURL>
<protocolVersion>2.0</protocolVersion><adminEmail>x@caltech.edu</adminEmail>
<earliestDatestamp>2001-01-01</earliestDatestamp><deletedRecord>persistent</deletedRecord>
<granularity>YYYY-MM-DD</granularity></Identify></OAI-PMH>""".encode()
LAST_PAGE = f"""<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="{OAI}"><responseDate>2005-12-20T08:40:21Z</responseDate>
<request verb="ListRecords">http://caltechcstr.library.caltech.edu/perl/oai2</request>
<ListRecords><resumptionToken cursor="100" completeListSize="100"/></ListRecords>
</OAI-PMH>""".encode()


def static_caltech() -> tuple[web.Application, list[dict[str, str]]]:
    requests: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        requests.append(dict(request.query))
        verb = request.query.get("verb")
        if verb == "Identify":
            body = IDENTIFY
        elif "resumptionToken" in request.query:
            assert request.query["resumptionToken"] == "archive/100/1704605/oai_dc"
            body = LAST_PAGE
        else:
            assert verb == "ListRecords" and request.query["metadataPrefix"] == "oai_dc"
            body = CALTECH.read_bytes()
        return web.Response(body=body, content_type="text/xml")

    app = web.Application()
    app.router.add_get("/perl/oai2", handle)
    return app, requests


def test_caltech_records_arrive_as_marc21(catalog: Catalog) -> None:
    app, requests = static_caltech()
    with serve(app) as url:
        source = HarvestSource(name="caltech", url=url.replace("/oai", "/perl/oai2"),
                               prefix="oai_dc")
        report = harvest(catalog, source, politeness=Politeness(delay=0, retries=0))
    assert report.status == SUCCEEDED, report.errors
    assert report.counts.added == 100 and report.counts.rejected == 0
    assert [r.get("verb") for r in requests] == ["Identify", "ListRecords", "ListRecords"]
    assert report.watermark == "2005-12-19"  # the Identify responseDate, one day back

    harvested = catalogue_of(catalog, "caltech")
    assert len(harvested) == 100 and not any(deleted for deleted, _ in harvested.values())
    source_dc = etree.parse(str(CALTECH)).getroot()
    first = source_dc.find(f".//{{{OAI}}}record")
    assert first is not None
    identifier = first.findtext(f"{{{OAI}}}header/{{{OAI}}}identifier")
    assert identifier == "oai:caltechcstr.library.caltech.edu:4"
    marc = catalog.marc_of(f"caltech:{identifier}")
    assert marc is not None
    record = next(iter(pymarc.MARCReader(marc, to_unicode=True)))
    assert record["245"]["a"].startswith("A Language Processor and a Sample Language")
    assert record["100"]["a"].startswith("Ayres, Ronald")
    with catalog.engine.connect() as connection:
        row = connection.execute(select(models.provenance).limit(1)).one()
    assert row.metadata_namespace == "http://www.openarchives.org/OAI/2.0/oai_dc/"
    payload = etree.fromstring(row.payload)
    assert payload.tag == "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc"
    assert row.base_url == source.url and len(row.datestamp) == 10


def test_credentials_of_the_source_url_are_not_kept_in_provenance(catalog: Catalog) -> None:
    """A partner that wants a password is added with it in its URL (``http://user:pw@host/``);
    the provenance OAI-PMH serves to anyone in ``<about>`` names the partner without it (it
    published the password beside every record)."""
    app, _requests = static_caltech()
    with serve(app) as url:
        partner = url.replace("/oai", "/perl/oai2")
        with_password = partner.replace("http://", "http://harvester:s3cret@")
        source = HarvestSource(name="caltech", url=with_password, prefix="oai_dc")
        report = harvest(catalog, source, politeness=Politeness(delay=0, retries=0))
    assert report.status == SUCCEEDED, report.errors
    with catalog.engine.connect() as connection:
        kept = set(connection.execute(select(models.provenance.c.base_url)).scalars())
    assert kept == {partner}
