"""Three harvesters written by others harvest our OAI-PMH provider over real HTTP.

Sickle, oaipmh-scythe and the Perl ``oai_pmh`` (Debian libhttp-oai-perl) each harvest the whole
demo collection in every format, and every set in oai_dc, from a server on 127.0.0.1, and must
get exactly the catalogue's records (deleted ones included) once each. Runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from oaipmh_scythe import Scythe
from sickle import Sickle

from catalog import Catalog
from catalog.demo import DemoPlan, demo_records
from catalog.renditions import FORMATS
from config import Settings
from provider.app import init_app
from provider.background import serve_in_thread

pytestmark = pytest.mark.interop

PLAN = DemoPlan(records=260, seed=3, delete_every=29)
PAGE = 40
Harvest = Callable[[str, str, str | None], list[str]]
"""(base URL, metadataPrefix, set or None) -> every identifier harvested, in order."""


@pytest.fixture
def server(settings: Settings, catalog: Catalog) -> Iterator[tuple[str, Catalog]]:
    with catalog.writer() as writer:
        for record in demo_records(PLAN.records, PLAN.seed):
            writer.put(record)
    with catalog.writer() as writer:
        for local_id in PLAN.deleted_ids():
            writer.delete(local_id)
    settings = dataclasses.replace(settings, oai=dataclasses.replace(settings.oai, page_size=PAGE))
    with serve_in_thread(init_app(settings, Catalog.open(settings))) as base:
        yield base + "/oai", catalog


def sickle(url: str, prefix: str, set_spec: str | None) -> list[str]:
    arguments = {"metadataPrefix": prefix, **({"set": set_spec} if set_spec else {})}
    records = Sickle(url, max_retries=0).ListRecords(**arguments)
    return [record.header.identifier for record in records]


def scythe(url: str, prefix: str, set_spec: str | None) -> list[str]:
    with Scythe(url) as client:
        records = client.list_records(metadata_prefix=prefix, set_=set_spec)
        return [record.header.identifier for record in records]  # type: ignore[union-attr]


def perl_oai_pmh(url: str, prefix: str, set_spec: str | None) -> list[str]:
    command = ["oai_pmh", "-X", "ListRecords", "--metadataPrefix", prefix]
    if set_spec:
        command += ["--set", set_spec]
    output = subprocess.run(
        [*command, url], check=True, capture_output=True, timeout=300
    ).stdout.decode("utf-8")
    identifiers = []
    for chunk in output.split("\f"):
        match = re.match(r"\s*identifier: (\S+)\n", chunk)
        if match:
            identifiers.append(match.group(1))
    return identifiers


HARVESTERS: list[Harvest] = [sickle, scythe, perl_oai_pmh]


def test_harvesters_get_every_record_once(server: tuple[str, Catalog]) -> None:
    """One server per engine, harvested by each harvester in turn (filling is the slow part)."""
    url, catalog = server
    prefix = "oai:natlib.uz:"
    scopes = [(prefix_, None) for prefix_ in FORMATS]
    scopes += [("oai_dc", spec) for spec, _ in catalog.list_sets()]
    assert len(scopes) > 10
    for metadata_prefix, set_spec in scopes:
        expected = Counter(
            prefix + entry.local_id
            for entry in catalog.list_entries(
                metadata_prefix, set_spec=set_spec, limit=10**6, with_data=False
            )
        )
        for harvest in HARVESTERS:
            got = Counter(harvest(url, metadata_prefix, set_spec))
            assert got == expected, (harvest.__name__, metadata_prefix, set_spec)
            assert set(got.values()) == {1}
    assert len(catalog.list_entries("oai_dc", limit=10**6, with_data=False)) == PLAN.records
