"""/metrics: Prometheus text that the reference parser reads, with counters that move."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from catalog.harvest_state import harvest_runs
from provider.keys import CATALOG
from tests.dashboard_fixtures import client  # noqa: F401


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
