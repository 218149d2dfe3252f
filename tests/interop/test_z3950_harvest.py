"""Z39.50 as a harvesting protocol, against a real Zebra: a ``z3950`` source harvest and
``koprik z3950 --import`` bring Zebra's records into the catalogue unchanged, a second run
changes nothing, and a target that is down is a clear one-line error."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymarc
import pytest
from sqlalchemy import func, select

from catalog import Catalog, CatalogWriter
from catalog.demo import demo_records
from catalog.harvest_state import harvest_rejects
from config import DatabaseSettings, HarvestSource, Settings
from crosswalks.marc_io import record_to_iso2709
from harvester.ingest import Counts
from harvester.z3950_harvest import Z3950HarvestError, harvest_z3950
from koprik.cli import build_parser, handler_of
from koprik.errors import UserError
from protocols.z3950 import oids
from tests.conftest import DATA, ROOT, free_port
from tests.peers import running_zebra

pytestmark = pytest.mark.interop

MARCCOL = DATA / "marc21" / "yaz" / "marccol1.u8.marc"
EVERYTHING = '@attr 1=1016 @attr 2=103 ""'  # Zebra: relation AlwaysMatches
DEMO_RECORDS = 40


@dataclasses.dataclass(frozen=True)
class Zebra:
    port: int
    records: dict[str, pymarc.Record]
    """The records Zebra indexed, as read from its input files, by 001 (spaces removed)."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}/Default"


def read_records(path: Path) -> list[pymarc.Record]:
    with path.open("rb") as stream:
        return list(pymarc.MARCReader(stream, to_unicode=True, force_utf8=True))


@contextmanager
def demo_zebra(base: Path, count: int, *others: Path) -> Iterator[Zebra]:
    """A Zebra serving ``count`` demo records and the records of the ISO 2709 files ``others``
    (their 001s all different), from folders below ``base``."""
    folder = base / "records"
    folder.mkdir()
    demo = folder / "demo.mrc"
    demo.write_bytes(b"".join(record_to_iso2709(record) for record in demo_records(count)))
    for other in others:
        shutil.copy(other, folder / other.name)
    indexed = [record for path in (demo, *others) for record in read_records(path)]
    records = {"".join(record["001"].data.split()): record for record in indexed}
    assert len(records) == len(indexed)
    with running_zebra(folder, base / "work") as port:
        yield Zebra(port, records)


@pytest.fixture(scope="module")
def zebra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zebra]:
    with demo_zebra(tmp_path_factory.mktemp("zebra-harvest"), DEMO_RECORDS, MARCCOL) as served:
        yield served


def source_for(zebra: Zebra, **changes: object) -> HarvestSource:
    source = HarvestSource(
        name="zebra", url=f"z3950://{zebra.address}", protocol="z3950", query=EVERYTHING,
        timeout=10.0,
    )  # fmt: skip
    return dataclasses.replace(source, **changes)


def assert_same_record(stored: bytes, original: pymarc.Record) -> None:
    """Field by field, in order, with indicators and subfield codes; the leader may differ only
    in what the catalogue recomputes (length, base address) and sets (leader/09 'a')."""
    record = pymarc.Record(stored)
    assert record.as_dict()["fields"] == original.as_dict()["fields"]
    ours, theirs = str(record.leader), str(original.leader)
    assert ours[9] == "a"
    assert (ours[5:9], ours[10:12], ours[17:]) == (theirs[5:9], theirs[10:12], theirs[17:])


def rejects_of(catalog: Catalog, source: str) -> int:
    query = select(func.count()).where(harvest_rejects.c.source == source)
    with catalog.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


async def test_harvest_brings_zebras_records_unchanged_and_again_changes_nothing(
    zebra: Zebra, catalog: Catalog
) -> None:
    source = source_for(zebra)
    seen: list[tuple[int, int]] = []
    batches: list[tuple[int, int]] = []

    def on_batch(writer: CatalogWriter, counts: Counts) -> None:
        assert writer.connection.in_transaction()
        batches.append((counts.added, counts.rejected))

    first = await harvest_z3950(
        source, catalog, batch=20, progress=lambda *a: seen.append(a), on_batch=on_batch
    )
    total = len(zebra.records)
    assert first.hits == total and first.charset == "UTF-8"
    assert first.counts == Counts(added=total)
    assert first.requests == 2 + math.ceil(total / 20)  # Init, Search, Presents
    assert seen == [(min(n, total), total) for n in range(20, total + 20, 20)]
    assert batches == [(min(20, total - n), 0) for n in range(0, total, 20)]
    for identifier, original in zebra.records.items():
        entry = catalog.get_entry(f"zebra:{identifier}")
        assert entry is not None and entry.provenance is not None
        assert entry.provenance.base_url == f"z3950://{zebra.address}"
        assert entry.provenance.identifier == identifier
        assert entry.provenance.metadata_namespace == oids.USMARC
        stored = catalog.marc_of(f"zebra:{identifier}")
        assert stored is not None
        assert_same_record(stored, original)
    stamps = {entry.local_id: entry.datestamp for entry in catalog.list_entries(None)}

    second = await harvest_z3950(source, catalog, batch=20)
    assert second.counts == Counts(unchanged=total)
    assert {entry.local_id: entry.datestamp for entry in catalog.list_entries(None)} == stamps
    assert rejects_of(catalog, "zebra") == 0


async def test_harvest_limit_and_a_narrow_query(zebra: Zebra, catalog: Catalog) -> None:
    source = source_for(zebra, name="handa", query='@attr 1=4 @attr 4=1 "Handa shishi"')
    result = await harvest_z3950(source, catalog)
    assert (result.hits, result.counts.added) == (1, 1)
    (entry,) = catalog.list_entries(None)
    assert pymarc.Record(catalog.marc_of(entry.local_id))["245"]["a"] == "Handa shishi."
    capped = await harvest_z3950(source_for(zebra, name="capped"), catalog, limit=7, batch=3)
    assert capped.hits == len(zebra.records) and capped.counts.added == 7
    assert capped.requests == 2 + 3


async def test_a_marc8_source_is_harvested_without_proposing_marc8(
    zebra: Zebra, catalog: Catalog
) -> None:
    """Zebra selects a proposed MARC-8 and then closes (it cannot encode its Init response in
    it): MARC-8 is expected in the records, not proposed; these ones read as the UTF-8 they are."""
    result = await harvest_z3950(source_for(zebra, charset="marc-8"), catalog)
    total = len(zebra.records)
    assert result.hits == total and result.charset is None
    assert result.counts == Counts(added=total)
    for identifier, original in zebra.records.items():
        stored = catalog.marc_of(f"zebra:{identifier}")
        assert stored is not None
        assert_same_record(stored, original)


async def test_target_down_or_refusing_is_a_clear_error(zebra: Zebra, catalog: Catalog) -> None:
    down = source_for(zebra, url=f"127.0.0.1:{free_port()}/Default")
    with pytest.raises(Z3950HarvestError, match="connection refused"):
        await harvest_z3950(down, catalog)
    unsupported = source_for(zebra, query="@attr 1=9999 x")
    with pytest.raises(Z3950HarvestError, match="diagnostic 114"):
        await harvest_z3950(unsupported, catalog)
    with pytest.raises(Z3950HarvestError, match="source zebra: query ends"):
        await harvest_z3950(source_for(zebra, query="@and x"), catalog)
    assert catalog.is_empty()


async def test_a_target_that_never_answers_times_out(catalog: Catalog) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes the Init request, answers nothing
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = HarvestSource(
        name="silent", url=f"127.0.0.1:{port}/Default", protocol="z3950", query="x", timeout=0.3
    )
    async with server:
        with pytest.raises(
            Z3950HarvestError, match=f"cannot open 127.0.0.1:{port}/Default: timed out"
        ):
            await harvest_z3950(source, catalog)


def koprik(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "koprik", "--config", str(config), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip


def run_in_process(config: Path, *argv: str) -> int:
    args = build_parser().parse_args(["--config", str(config), "z3950", *argv])
    return int(handler_of(args)(args))


def test_import_command_puts_the_records_in_the_catalogue(
    zebra: Zebra, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "catalog.sqlite3"
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n', encoding="utf-8")
    total = len(zebra.records)
    first = koprik(config, "z3950", zebra.address, EVERYTHING, "--max", "1000", "--import")
    assert first.returncode == 0, first.stderr
    assert f"{total} hits; {total} added, 0 updated, 0 unchanged, 0 rejected" in first.stdout
    again = run_in_process(config, zebra.address, EVERYTHING, "--max", "1000", "--import")
    assert again == 0
    assert f"0 added, 0 updated, {total} unchanged, 0 rejected" in capsys.readouterr().out

    catalog = Catalog.open(Settings(database=DatabaseSettings(url=f"sqlite:///{database}")))
    try:
        source = f"z3950:{zebra.address}"
        for identifier, original in zebra.records.items():
            stored = catalog.marc_of(f"{source}:{identifier}")
            assert stored is not None, identifier
            assert_same_record(stored, original)
        entry = catalog.get_entry(f"{source}:demo0000001")
        assert entry is not None and entry.provenance is not None
        assert entry.provenance.source == source
        assert entry.provenance.base_url == f"z3950://{zebra.address}"
    finally:
        catalog.close()

    with pytest.raises(UserError, match="USMARC or UNIMARC records only"):
        run_in_process(config, zebra.address, "x", "--format", "xml", "--import")


def test_import_from_a_target_that_is_down_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n')
    down = koprik(config, "z3950", f"127.0.0.1:{free_port()}/Default", "x", "--import")
    assert down.returncode != 0 and down.stdout == ""
    assert down.stderr.strip().count("\n") == 0, down.stderr
    assert "connection refused" in down.stderr and "Traceback" not in down.stderr
