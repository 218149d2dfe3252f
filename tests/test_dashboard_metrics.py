"""/metrics: Prometheus text that the reference parser reads, with counters that move."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from catalog.harvest_state import harvest_runs
from harvester.z3950_origin import Z3950Client
from koprik.dashboard.keys import METRICS
from provider.keys import CATALOG, SERVICE, SETTINGS
from provider.z3950.server import start_target
from tests.dashboard_fixtures import client  # noqa: F401

SOAP = b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"/>'
SOAP_TYPE = {"Content-Type": "text/xml; charset=utf-8"}


async def _samples(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # noqa: F811
    response = await client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_metrics_parse_and_move(client: Any) -> None:  # noqa: F811
    before = await _samples(client)
    assert before[("koprik_catalogue_records", (("state", "live"),))] == 0
    with client.app[CATALOG].engine.begin() as connection:
        connection.execute(insert(harvest_runs).values(
            source="p", status="partial", started=1, finished=2, added=7, updated=1, deleted=0,
            unchanged=0, rejected=2, requests=3, pages=1, errors="x"))
    assert (await client.get("/oai?verb=Identify")).status == 200
    assert (await client.get("/oai?verb=junk")).status == 200
    after = await _samples(client)
    assert after[("koprik_harvest_records_total", (("outcome", "added"), ("source", "p")))] == 7
    assert after[("koprik_harvest_errors_total", (("kind", "rejected_record"), ("source", "p")))] \
        == 2
    assert after[("koprik_harvest_errors_total", (("kind", "failed_run"), ("source", "p")))] == 1
    assert after[("koprik_harvest_runs_total", (("source", "p"), ("status", "partial")))] == 1
    count = "koprik_protocol_request_seconds_count"
    assert after[(count, (("operation", "Identify"), ("protocol", "oai-pmh")))] == 1
    assert after[(count, (("operation", "other"), ("protocol", "oai-pmh")))] == 1  # bounded labels


async def test_sru_requests_are_counted_as_what_they_were_answered_as(client: Any) -> None:  # noqa: F811
    """SRU 2.0 needs no ``operation=``: such requests (answered as searchRetrieve, scan or
    explain) were counted as ``other``, and every POST as ``post``."""
    for query in ("query=dc.title%3Dnavoiy", "version=2.0&query=navoiy",
                  "operation=searchRetrieve&version=1.2&query=navoiy", "scanClause=dc.title%3Dn",
                  "", "operation=explain", "operation=junk", "version=1.1&query=navoiy"):
        answer = await client.get(f"/sru?{query}")
        assert answer.status == 200, query
    posted = await client.post("/sru", data={"query": "navoiy", "maximumRecords": "0"})
    assert posted.status == 200
    assert (await client.post("/sru", data=SOAP, headers=SOAP_TYPE)).status == 500
    samples = await _samples(client)
    counts = {dict(labels)["operation"]: value for (name, labels), value in samples.items()
              if name == "koprik_protocol_request_seconds_count"
              and dict(labels)["protocol"] == "sru"}
    # 1.1 without operation= is refused (diagnostic 7) in a searchRetrieve response; an
    # unknown operation (diagnostic 4) in an explain response
    assert counts == {"searchRetrieve": 5, "scan": 1, "explain": 3, "other": 1}  # other: SOAP


async def test_z3950_and_sru_on_its_port_are_counted_by_operation(client: Any) -> None:  # noqa: F811
    settings = dataclasses.replace(
        client.app[SETTINGS],
        server=dataclasses.replace(client.app[SETTINGS].server, host="127.0.0.1", z3950_port=0))
    target = await start_target(settings, client.app[CATALOG], client.app[SERVICE],
                                observe=client.app[METRICS].observe_z3950,
                                observe_sru=client.app[METRICS].observe_sru)
    port = target.port
    try:
        origin = await Z3950Client.connect("127.0.0.1", port, "Default", "UTF-8", 30.0)
        try:
            assert await origin.search("@attr 1=4 navoiy") == 0
            await origin.search("@attr 1=4 toshkent")
        finally:
            await origin.close()
        # SRU on the same port: an SRU 2.0 search (no operation=) and an explain
        async with aiohttp.ClientSession() as session:
            for query in ("query=title%3Dnavoiy", ""):
                async with session.get(f"http://127.0.0.1:{port}/Default?{query}") as answer:
                    assert answer.status == 200
                    await answer.read()
            # a SOAP request, answered with a fault: counted on this port as on the HTTP port
            async with session.post(f"http://127.0.0.1:{port}/Default", data=SOAP,
                                    headers=SOAP_TYPE) as answer:  # fmt: skip
                assert answer.status == 500
                await answer.read()
    finally:
        await target.stop(1.0)
    samples = await _samples(client)
    count = "koprik_protocol_request_seconds_count"
    assert samples[(count, (("operation", "init"), ("protocol", "z39.50")))] == 1
    assert samples[(count, (("operation", "search"), ("protocol", "z39.50")))] == 2
    assert samples[(count, (("operation", "searchRetrieve"), ("protocol", "sru")))] == 1
    assert samples[(count, (("operation", "explain"), ("protocol", "sru")))] == 1
    assert samples[(count, (("operation", "other"), ("protocol", "sru")))] == 1
