"""SRU sources against a real Zebra (its SRU answers on its Z39.50 port): in each SRU version
the harvest brings Zebra's records into the catalogue unchanged, field by field, and a second
run finds them all unchanged; Dublin Core records come in through DC->MARC; ``koprik sources
add`` checks an SRU source by explain and the search of its query, and refuses one that does
not answer, with the reason in one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from catalog import Catalog
from config import HarvestSource, Settings
from harvester.http_fetch import Politeness
from harvester.ingest import Counts
from harvester.runs import SUCCEEDED, PageInfo, harvest
from harvester.sru_harvest import DEFAULT_PAGE
from tests.conftest import free_port
from tests.interop import test_z3950_harvest
from tests.interop.test_harvest_z3950_source import koprik
from tests.interop.test_z3950_harvest import Zebra, assert_same_record, rejects_of

pytestmark = pytest.mark.interop
zebra = test_z3950_harvest.zebra
"""A Zebra serving demo records and marccol1 (this module's own, started once)."""
EVERYTHING = "cql.allRecords=1"
QUICK = Politeness(delay=0, timeout=20, retries=1, backoff=0.1)


def sru_source(zebra: Zebra, version: str = "", **changes: object) -> HarvestSource:
    pinned = f"?version={version}" if version else ""
    source = HarvestSource(
        name="zebra-sru", url=f"http://127.0.0.1:{zebra.port}/Default{pinned}", protocol="sru",
        query=EVERYTHING, prefix="marcxml", timeout=20.0,
    )  # fmt: skip
    return dataclasses.replace(source, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["1.1", "1.2", "2.0", ""])
def test_each_version_harvests_zebras_records_unchanged_and_again_changes_nothing(
    version: str, zebra: Zebra, settings: Settings, catalog: Catalog
) -> None:
    source = sru_source(zebra, version)
    pages: list[PageInfo] = []
    first = harvest(catalog, source, politeness=QUICK, on_page=pages.append, settings=settings)
    total = len(zebra.records)
    assert first.status == SUCCEEDED, first.errors
    assert first.errors == [] and first.watermark is None
    assert first.counts == Counts(added=total)
    batches = -(-total // DEFAULT_PAGE)
    assert (first.pages, first.requests) == (batches, 1 + batches)  # explain, searchRetrieve
    assert pages[-1].records == total and pages[-1].complete_list_size == total
    for identifier, original in zebra.records.items():
        entry = catalog.get_entry(f"zebra-sru:{identifier}")
        assert entry is not None and entry.provenance is not None
        assert entry.provenance.base_url == source.url
        assert entry.provenance.metadata_namespace == "http://www.loc.gov/MARC21/slim"
        stored = catalog.marc_of(f"zebra-sru:{identifier}")
        assert stored is not None
        assert_same_record(stored, original)
    second = harvest(catalog, source, politeness=QUICK, settings=settings)
    assert second.status == SUCCEEDED
    assert second.counts == Counts(unchanged=total)
    assert rejects_of(catalog, "zebra-sru") == 0


def test_dublin_core_records_come_in_through_dc_to_marc(zebra: Zebra, catalog: Catalog) -> None:
    source = sru_source(zebra, "1.2", name="zebra-dc", prefix="dc")
    first = harvest(catalog, source, politeness=QUICK)
    total = len(zebra.records)
    assert first.status == SUCCEEDED, first.errors
    assert (first.counts.added, first.counts.rejected) == (total, 0)
    again = harvest(catalog, source, politeness=QUICK)
    assert again.counts.unchanged == total
    entries = [e for e in catalog.list_entries(None) if e.local_id.startswith("zebra-dc:")]
    assert len(entries) == total
    sample = next(iter(zebra.records.values()))
    title = sample["245"]["a"].rstrip(" /.:")
    found = [e for e in entries if title.encode() in (catalog.marc_of(e.local_id) or b"")]
    assert found, title


def test_sources_add_checks_an_sru_source_and_harvest_runs_it(
    zebra: Zebra, tmp_path: Path
) -> None:
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n')
    total = len(zebra.records)
    url = f"http://127.0.0.1:{zebra.port}/Default"

    down = koprik(config, "sources", "add", "down", "--protocol", "sru", "--url",
                  f"http://127.0.0.1:{free_port()}/Default", "--query", EVERYTHING)
    assert down.returncode == 2 and down.stdout == "" and len(down.stderr.splitlines()) == 1
    assert "source 'down' refused: http://127.0.0.1:" in down.stderr
    assert "/Default is unavailable: gave up after 1 attempt: connection: " in down.stderr
    unknown = koprik(config, "sources", "add", "bad", "--protocol", "sru", "--url", url,
                     "--query", "foo.bar=x")
    assert unknown.returncode == 2 and "SRU diagnostic 15: Unsupported context set" \
        in unknown.stderr
    schema = koprik(config, "sources", "add", "mods", "--protocol", "sru", "--url", url,
                    "--query", EVERYTHING, "--prefix", "mods")
    assert schema.returncode == 2 and "record schema 'mods': expected marcxml or dc" \
        in schema.stderr
    no_query = koprik(config, "sources", "add", "nq", "--protocol", "sru", "--url", url)
    assert no_query.returncode == 2 and "needs a query" in no_query.stderr

    added = koprik(config, "sources", "add", "zsru", "--protocol", "sru", "--url", url,
                   "--query", EVERYTHING, "--delay", "0")
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"added source zsru (SRU 2.0 server untitled, {total} hits, " \
        "record schema marcxml)\n"
    listed = koprik(config, "sources", "list").stdout.splitlines()
    assert listed[1].split()[:4] == ["zsru", "database", "yes", "marcxml"]
    run = koprik(config, "harvest", "zsru")
    assert run.returncode == 0, run.stderr
    assert "harvest zsru (run #1): succeeded" in run.stdout
    assert f"  {total} new, 0 updated, 0 deleted, 0 unchanged, 0 rejected" in run.stdout
