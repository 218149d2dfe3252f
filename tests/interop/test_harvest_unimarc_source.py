"""Sources whose MARC records are UNIMARC (``crosswalk = "unimarc"`` or ``"rusmarc"``): a Z39.50
target serving RUSMARC (a real Zebra, record syntax UNIMARC, over the National Library of
Russia's CP1251 records), and an OAI-PMH and SRU partner serving UNIMARC in MARCXML (as Koha
does in a UNIMARC installation). Their records reach the catalogue as MARC21, converted as
``koprik import --format unimarc`` converts the same records from a file."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pymarc
import pytest
from sqlalchemy import select

from catalog import Catalog, models
from catalog.harvest_state import harvest_rejects
from config import HarvestSource
from crosswalks import marc_io, registry
from harvester.run_log import first_error
from harvester.runs import FAILED, SUCCEEDED, harvest
from harvester.sources import SourceError, validate
from tests.conftest import DATA, ROOT
from tests.fault_provider import FAST, FaultProvider, serve, sqlite_catalog
from tests.interop.test_z3950_harvest import EVERYTHING, run_in_process
from tests.peers import running_zebra

pytestmark = pytest.mark.interop

RUSMARC = DATA / "unimarc" / "TEST1.ISO"
"""81 RUSMARC records of the National Library of Russia, in CP1251 (tests/data/README.md)."""


def unimarc_records() -> list[pymarc.Record]:
    """The records of :data:`RUSMARC` as UNIMARC, decoded (what a partner holds)."""
    with RUSMARC.open("rb") as stream:
        return [item.record for item in marc_io.iter_records(stream, "unimarc")
                if item.record is not None]  # fmt: skip


def converted_by_file() -> dict[str, pymarc.Record]:
    """The records of :data:`RUSMARC` as ``koprik import`` converts them, by 001."""
    with RUSMARC.open("rb") as stream:
        items = registry.input_format("unimarc").read(stream, 1 << 20)
        return {item.record["001"].data: item.record for item in items if item.record is not None}


def unmapped_by_import(directory: Path) -> str:
    """How many records of :data:`RUSMARC` ``koprik import --format unimarc`` reports data
    with no place in MARC21 for (lines of its report other than a charset decision, a repair
    or a warning), and in how many lines, as a run's record says them; imported into a
    catalogue of their own in ``directory``."""
    directory.mkdir()
    report = directory / "report.txt"
    done = koprik(config_of(directory), "import", "--format", "unimarc", "--report", str(report),
                  "--rejects", str(directory / "rejects.txt"), str(RUSMARC))  # fmt: skip
    assert done.returncode == 0, done.stderr
    noted = [record for _, record, line in (row.split("\t", 2) for row in
                                             report.read_text("utf-8").splitlines())
             if not line.startswith(("read as ", "repaired: ", "warning: "))]  # fmt: skip
    return (f"{len(set(noted))} record(s) had UNIMARC data with no place in MARC21, left out "
            f"({len(noted)} field(s) or subfield(s); first: ")


def unmapped_line(errors: list[str]) -> str:
    """The one line of a run's record about UNIMARC data with no place in MARC21."""
    (line,) = [error for error in errors if "no place in MARC21" in error]
    return line


def stored(catalog: Catalog, source: str) -> dict[str, pymarc.Record]:
    """The MARC21 records the catalogue holds from ``source``, by 001."""
    with catalog.engine.connect() as connection:
        rows = connection.execute(
            select(models.records.c.marc).where(models.records.c.source == source)
        ).scalars()
        records = [pymarc.Record(data=marc, force_utf8=True) for marc in rows]
    return {record["001"].data: record for record in records}


def assert_same(harvested: dict[str, pymarc.Record], expected: dict[str, pymarc.Record]) -> None:
    """The same records, field by field (the leader's lengths are the catalogue's)."""
    assert harvested.keys() == expected.keys()
    for key, record in harvested.items():
        ours, theirs = record.as_dict(), expected[key].as_dict()
        assert ours.pop("leader")[5:12] == theirs.pop("leader")[5:12], key
        assert ours == theirs, key


@pytest.fixture(scope="module")
def rusmarc_zebra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Zebra serving :data:`RUSMARC` in record syntax UNIMARC only; yields its port."""
    work = tmp_path_factory.mktemp("zebra-unimarc")
    (work / "records").mkdir()
    shutil.copy(RUSMARC, work / "records" / RUSMARC.name)
    with running_zebra(work / "records", work / "run", "unimarc") as port:
        yield port


def koprik(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "koprik", "--config", str(config), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def test_a_z3950_target_of_rusmarc_is_added_and_harvested_as_marc21(
    rusmarc_zebra: int, tmp_path: Path
) -> None:
    database = tmp_path / "catalog.sqlite3"
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n')
    url = f"z3950://127.0.0.1:{rusmarc_zebra}/Default"
    wrong = koprik(config, "sources", "add", "nlr", "--protocol", "z3950", "--url", url,
                   "--query", EVERYTHING, "--crosswalk", "marc8")
    assert wrong.returncode == 2 and len(wrong.stderr.splitlines()) == 1
    assert "crosswalk 'marc8': expected unimarc or rusmarc" in wrong.stderr

    added = koprik(config, "sources", "add", "nlr", "--protocol", "z3950", "--url", url,
                   "--query", EVERYTHING, "--crosswalk", "rusmarc", "--delay", "0")
    assert added.returncode == 0, added.stderr
    run = koprik(config, "harvest", "nlr")
    assert run.returncode == 0, run.stderr
    again = koprik(config, "harvest", "nlr")  # the same conversion: nothing changes
    assert again.returncode == 0 and "0 new, 0 updated, 0 deleted, 81 unchanged" in again.stdout
    expected = converted_by_file()
    assert len(expected) == 81
    catalog = sqlite_catalog(tmp_path, "catalog")  # the one koprik.toml names
    try:
        harvested = stored(catalog, "nlr")
        with catalog.engine.connect() as connection:
            rejects = connection.execute(select(harvest_rejects.c.reason)).scalars().all()
    finally:
        catalog.close()
    assert rejects == []
    assert_same(harvested, expected)
    assert any("ю" in str(record["245"]) for record in harvested.values())  # CP1251 read
    noted = unmapped_by_import(tmp_path / "import")
    assert noted.startswith("76 record(s)")  # 010 $9, 686 $v... (801 $a $c are not reported)
    recorded = koprik(config, "runs", "nlr", "--errors").stdout.splitlines()
    lines = [line for line in recorded if line.startswith("      ! ")]  # each run's, in full
    assert len(lines) == 2  # one line each run, not one a record
    for shown in ([lines[0]], [lines[1]], run.stdout.splitlines(), again.stdout.splitlines()):
        line = unmapped_line(shown).removeprefix("      ! ").removeprefix("  ! ")
        assert line.startswith(noted + "RU\\NLR\\bibl\\") and line.count("RU\\NLR") == 3

    plain = koprik(config, "sources", "add", "nlr-as-marc21", "--protocol", "z3950", "--url",
                   url, "--query", EVERYTHING, "--no-check")
    assert plain.returncode == 0, plain.stderr
    listed = koprik(config, "sources", "list").stdout.splitlines()
    assert [line.split()[3] for line in listed[1:3]] == ["rusmarc", "-"]  # no prefix in Z39.50
    refused = koprik(config, "harvest", "nlr-as-marc21")  # asks for USMARC, which is not served
    assert refused.returncode == 1
    assert "diagnostic 239: Record syntax not supported (1.2.840.10003.5.10)" in refused.stdout


def test_an_oai_and_an_sru_partner_of_unimarc_in_marcxml_are_harvested_as_marc21(
    tmp_path: Path,
) -> None:
    provider = FaultProvider(unimarc_records(), page_size=25)
    expected = converted_by_file()
    catalog = sqlite_catalog(tmp_path, "catalog")
    try:
        with serve(provider.app()) as url:
            oai = HarvestSource(name="koha", url=url, prefix="marc21", delay=0, timeout=5,
                                crosswalk="unimarc")
            sru = HarvestSource(name="koha-sru", url=url.replace("/oai", "/sru"),
                                protocol="sru", prefix="marcxml", query="cql.allRecords=1",
                                delay=0, timeout=5, crosswalk="rusmarc")
            noted = unmapped_by_import(tmp_path / "import")
            for source in (oai, sru):
                validate(source)
                report = harvest(catalog, source, politeness=FAST)
                assert report.status == SUCCEEDED, report.errors
                assert report.counts.added == len(expected) and report.counts.rejected == 0
                assert_same(stored(catalog, source.name), expected)
                assert unmapped_line(report.errors).startswith(noted)
            unconverted = dataclasses.replace(oai, name="koha-as-marc21", crosswalk="")
            report = harvest(catalog, unconverted, politeness=FAST)  # UNIMARC taken for MARC21
            assert report.counts.rejected == len(expected) and report.counts.added == 0
        with catalog.engine.connect() as connection:
            reasons = set(connection.execute(select(harvest_rejects.c.reason).where(
                harvest_rejects.c.source == "koha-as-marc21")).scalars())  # fmt: skip
        assert {reason.split(": leader ")[0] for reason in reasons} == {"not valid MARC21"}
    finally:
        catalog.close()


def test_a_failed_run_says_what_its_stored_records_left_out_after_why_it_failed(
    tmp_path: Path,
) -> None:
    """A run that fails after a page of UNIMARC records counts that page's records; the line
    comes after the line saying why the run failed, which the run's log line quotes."""
    provider = FaultProvider(unimarc_records(), page_size=25)
    provider.unavailable_after = 1  # the first page, then 503 to every request
    catalog = sqlite_catalog(tmp_path, "catalog")
    try:
        with serve(provider.app()) as url:
            source = HarvestSource(name="koha", url=url, prefix="marc21", delay=0, timeout=5,
                                   crosswalk="unimarc")  # fmt: skip
            report = harvest(catalog, source, politeness=FAST)
    finally:
        catalog.close()
    assert report.status == FAILED and report.counts.added == 25
    assert report.errors[-2].startswith("run failed: koha (")
    assert report.errors[-1] == unmapped_line(report.errors)
    assert report.errors[-1].startswith("25 record(s) had UNIMARC data with no place in MARC21")
    assert "UNIMARC" not in first_error(report)


def test_a_crosswalk_is_refused_where_it_cannot_apply() -> None:
    oai = HarvestSource(name="p", url="http://127.0.0.1:1/oai", crosswalk="unimarc")
    validate(oai)
    for source, reason in (
        (dataclasses.replace(oai, crosswalk="danmarc"),
         "crosswalk 'danmarc': expected unimarc or rusmarc"),
        (HarvestSource(name="s", url="http://127.0.0.1:1/sru", protocol="sru", query="x",
                       prefix="dc", crosswalk="unimarc"),
         "it needs the record schema marcxml, not 'dc'"),
    ):
        with pytest.raises(SourceError, match=reason) as refused:
            validate(source)
        assert refused.value.key == "crosswalk"


def config_of(directory: Path) -> Path:
    """A koprik.toml naming the catalogue :func:`sqlite_catalog` opens as "catalog"."""
    config = directory / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{directory / "catalog.sqlite3"}"\n')
    return config


def test_the_z3950_command_shows_saves_and_imports_unimarc_records(
    rusmarc_zebra: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_of(tmp_path)
    target = f"127.0.0.1:{rusmarc_zebra}/Default"
    unimarc = ("--format", "unimarc", "--max", "100")
    assert run_in_process(config, target, EVERYTHING, *unimarc[:2], "--max", "1") == 0
    printed = capsys.readouterr().out
    assert printed.startswith("=LDR  ") and "=001  RU{bsol}NLR{bsol}bibl{bsol}" in printed
    assert "=200  " in printed and "=801  " in printed and "=245  " not in printed  # UNIMARC

    output = tmp_path / "nlr.iso"
    assert run_in_process(config, target, EVERYTHING, *unimarc, "-o", str(output)) == 0
    written = [item.record for item in marc_io.iter_records(BytesIO(output.read_bytes()),
                                                            "unimarc")]  # fmt: skip
    originals = {record["001"].data: record.as_dict()["fields"] for record in unimarc_records()}
    assert {r["001"].data: r.as_dict()["fields"] for r in written if r is not None} == originals

    assert run_in_process(config, target, EVERYTHING, *unimarc, "--import") == 0
    said = capsys.readouterr()
    assert f"z3950 import from {target}: 81 hits; 81 added, 0 updated, 0 unchanged, 0 " \
        "rejected" in said.out  # fmt: skip
    assert f"z3950: {unmapped_by_import(tmp_path / 'import')}" in said.err
    catalog = sqlite_catalog(tmp_path, "catalog")
    try:
        assert_same(stored(catalog, f"z3950:{target}"), converted_by_file())
    finally:
        catalog.close()


def test_the_sru_command_converts_and_imports_unimarc_in_marcxml(tmp_path: Path) -> None:
    config = config_of(tmp_path)
    expected = converted_by_file()
    with serve(FaultProvider(unimarc_records(), page_size=25).app()) as url:
        sru = url.replace("/oai", "/sru")
        shown = koprik(config, "sru", sru, "cql.allRecords=1", "--crosswalk", "unimarc", "--max",
                       "1")  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert "=245  " in shown.stdout and "=200  " not in shown.stdout  # MARC21
        imported = koprik(config, "sru", sru, "cql.allRecords=1", "--crosswalk", "rusmarc",
                          "--max", "100", "--import", "--source", "koha")  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        assert "sru import into koha: 81 hits; 81 added, 0 updated, 0 unchanged, 0 rejected" \
            in imported.stdout  # fmt: skip
        assert f"sru: {unmapped_by_import(tmp_path / 'import')}" in imported.stderr
        refused = koprik(config, "sru", sru, "x", "--schema", "dc", "--crosswalk", "unimarc",
                         "--import")  # fmt: skip
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == "koprik: --crosswalk: crosswalk 'unimarc' reads MARC " \
        "records: it needs the record schema marcxml, not 'dc'"  # fmt: skip
    catalog = sqlite_catalog(tmp_path, "catalog")
    try:
        assert_same(stored(catalog, "koha"), expected)
    finally:
        catalog.close()
