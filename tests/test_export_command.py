"""``koprik export`` (koprik/commands/export.py, catalog/export.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree
from pymarc import MARCReader

from catalog import Catalog
from catalog import export as catalog_export
from catalog.dedup import run_dedup
from catalog.demo import demo_records
from catalog.store import Incoming
from config import Settings, load_settings
from koprik.cli import main
from protocols.oaipmh import format_datestamp
from tests.conftest import DATA
from tests.servers import run_script

ROOT = Path(__file__).resolve().parents[1]
DAY = 86_400
START = 1_700_000_000 - 1_700_000_000 % DAY  # a midnight (UTC)


@pytest.fixture
def exported(settings: Settings, catalog: Catalog, tmp_path: Path) -> tuple[Path, Catalog]:
    """25 records written on three days (one deleted on the last); a koprik.toml naming them."""
    records = list(demo_records(25, seed=3))
    for day, part in enumerate((records[:10], records[10:20], records[20:])):
        with catalog.writer() as writer:
            writer.now = START + day * DAY
            for record in part:
                writer.put(record)
    with catalog.writer() as writer:
        writer.now = START + 2 * DAY
        writer.delete(records[0]["001"].data)
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n')
    return config, catalog


def _ids_of_marc(data: bytes) -> list[str]:
    return [record["001"].data for record in MARCReader(io.BytesIO(data), to_unicode=True)]


def _live(catalog: Catalog, **filters: object) -> list[str]:
    entries = catalog.list_entries(None, limit=1000, **filters)  # type: ignore[arg-type]
    return [entry.local_id for entry in entries if not entry.deleted]


def test_all_live_records_as_iso2709_in_datestamp_order(exported, tmp_path, capsys):
    config, catalog = exported
    out = tmp_path / "all.mrc"
    assert main(["--config", str(config), "export", "-o", str(out)]) == 0
    assert capsys.readouterr().err == f"export: 24 records as marc21 to {out}\n"
    data = out.read_bytes()
    assert _ids_of_marc(data) == _live(catalog)
    assert data == b"".join(catalog.marc_of(local_id) or b"" for local_id in _live(catalog))
    assert not (tmp_path / "all.mrc.part").exists()


def test_marcxml_of_one_set_is_valid_against_the_marcxml_schema(exported, tmp_path):
    config, catalog = exported
    out = tmp_path / "uzb.xml"
    assert main(["--config", str(config), "export", "--set", "lang:uzb", "-o", str(out)]) == 0
    document = etree.parse(str(out))
    schema = etree.XMLSchema(etree.parse(str(DATA / "schemas" / "MARC21slim.xsd")))
    assert schema.validate(document), schema.error_log
    ns = {"m": "http://www.loc.gov/MARC21/slim"}
    ids = document.xpath("/m:collection/m:record/m:controlfield[@tag='001']/text()",
                         namespaces=ns)  # fmt: skip
    expected = _live(catalog, set_spec="lang:uzb")
    assert ids == expected and 0 < len(expected) < 24


def test_records_changed_since_a_date_to_standard_output(
    exported, capfdbinary, tmp_path, monkeypatch
):
    config, catalog = exported
    since = format_datestamp(START + DAY)[:10]
    assert main(["--config", str(config), "export", "--from", since]) == 0
    ids = _ids_of_marc(capfdbinary.readouterr().out)
    assert ids == _live(catalog, from_=START + DAY)
    assert len(ids) == 15  # days two and three (the record deleted then is not exported)
    assert main(["--config", str(config), "export", "--from", since, "--until", since]) == 0
    assert len(_ids_of_marc(capfdbinary.readouterr().out)) == 10
    # -o - is standard output, as for koprik crosswalk (a file named "-" was written)
    monkeypatch.chdir(tmp_path)
    assert main(["--config", str(config), "export", "-o", "-", "--from", since]) == 0
    assert _ids_of_marc(capfdbinary.readouterr().out) == ids and not Path("-").exists()


def test_pages_follow_each_other_without_loss(exported):
    _config, catalog = exported
    small_pages = list(catalog_export.live_records(catalog, "iso2709", batch=3))
    assert _ids_of_marc(b"".join(small_pages)) == _live(catalog)
    assert catalog_export.count_live(catalog, "marcxml") == 24


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "2024-13-01"], "--from='2024-13-01' is not a valid date"),
        (["--from", "yesterday"], "--from='yesterday' is not a datestamp"),
        # the range's problems were said in OAI-PMH's words alone: "from is later than until"
        (["--from", "2026-01-02", "--until", "2026-01-01"],
         "koprik: --from 2026-01-02 --until 2026-01-01: from is later than until\n"),
        (["--from", "2026-01-01", "--until", "2026-01-02T00:00:00Z"],
         "koprik: --from 2026-01-01 --until 2026-01-02T00:00:00Z: from and until must have the "
         "same granularity\n"),
        (["--set", "nonesuch"], "no set 'nonesuch' in the catalogue"),
        # the path given and its folder, not the working copy beside it (x.mrc.part)
        (["-o", "/nonexistent-folder/dir/x.mrc"],
         "koprik: -o /nonexistent-folder/dir/x.mrc: no such folder /nonexistent-folder/dir\n"),
        # the copy written beside it could not replace a folder
        (["-o", "/tmp"], "koprik: /tmp: a folder; name a file to write"),
        # another format's extension: x.mrk was written as ISO 2709 without a word
        (["-o", "x.mrk"], "koprik: x.mrk: named as mrk or mrk8, which koprik export does not "
                          "write (it writes marc21 or marcxml, --format says which; `koprik "
                          "crosswalk --to mrk` converts what it writes)"),
        (["-o", "x.JSON"], "koprik: x.JSON: named as marcjson"),
    ],
)
def test_bad_arguments_are_one_line(exported, capsys, arguments, message):
    config, _catalog = exported
    assert main(["--config", str(config), "export", *arguments]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


@pytest.mark.parametrize("name", ["up.XML", "mixed.Xml", "plain.xml"])
def test_a_file_named_xml_in_any_case_gets_marcxml(exported, tmp_path, capsys, name):
    """``-o UP.XML`` was written as ISO 2709: only a lower-case ``.xml`` made MARCXML."""
    config, _catalog = exported
    out = tmp_path / name
    assert main(["--config", str(config), "export", "-o", str(out)]) == 0
    assert capsys.readouterr().err == f"export: 24 records as marcxml to {out}\n"
    assert etree.parse(str(out)).getroot().tag == "{http://www.loc.gov/MARC21/slim}collection"


def test_a_device_is_written_in_place(exported, capsys):
    """``-o /dev/null`` (a trial run, as ``koprik crosswalk`` takes it) is written, not
    refused, and nothing is made beside it (its working copy replaced the device, as root)."""
    config, catalog = exported
    assert main(["--config", str(config), "export", "-o", "/dev/null"]) == 0
    assert capsys.readouterr().err.endswith(
        f"export: {len(_live(catalog))} records as marc21 to /dev/null\n")
    assert Path("/dev/null").is_char_device() and not Path("/dev/null.part").exists()


@pytest.mark.parametrize("serve_members", [False, True])
def test_members_of_union_records_are_left_out_as_oai_pmh_serves_them(
    settings: Settings, catalog: Catalog, tmp_path: Path, serve_members: bool
) -> None:
    """The same six books from two sources make six union records: those are exported, not
    their twelve members (each book was written three times), unless the members set is asked
    for (served only with ``union.serve_members``); what is exported is what OAI-PMH serves
    live, in either case."""
    with catalog.writer() as writer:
        writer.put_many([Incoming(record, source=source) for source in ("aa", "bb")
                         for record in demo_records(6, seed=4)])  # fmt: skip
    run_dedup(catalog)
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n'
                      f"[union]\nserve_members = {str(serve_members).lower()}\n")  # fmt: skip
    served = Catalog.open(load_settings(config))
    try:
        out = tmp_path / "all.mrc"
        assert main(["--config", str(config), "export", "-o", str(out)]) == 0
        live = _live(served)
        assert len(live) == 6 and all(not local_id.startswith(("aa:", "bb:")) for local_id in live)
        assert out.read_bytes() == b"".join(served.marc_of(local_id) or b"" for local_id in live)
        if serve_members:
            arguments = ["--config", str(config), "export", "--set", "members", "-o", str(out)]
            assert main(arguments) == 0
            members = _live(served, set_spec="members")
            assert len(members) == 12
            assert len(_ids_of_marc(out.read_bytes())) == 12
    finally:
        served.close()


@pytest.mark.parametrize("command", [
    ["export", "-o"],
    ["import", "{records}", "--rejects"],
    ["crosswalk", "{records}", "--to", "marcxml", "-o"],
])  # fmt: skip
def test_the_catalogue_and_the_settings_file_are_never_written_as_an_output(
    exported, tmp_path, capsys, command
):
    """``koprik export -o catalog.sqlite3`` replaced the catalogue with its own records (and
    said it had exported them); an import's rejects or a crosswalk's output could do the same,
    to the catalogue or to the settings file."""
    config, catalog = exported
    records = tmp_path / "records.mrc"
    assert main(["--config", str(config), "export", "-o", str(records)]) == 0
    capsys.readouterr()
    database = catalog.engine.url.database
    own = [(config, "the settings file (--config)")]
    if catalog.engine.dialect.name == "sqlite":  # (on PostgreSQL the catalogue is no file)
        own += [(Path(database), "the catalogue's file"),
                (Path(database + "-wal"), "the catalogue's file")]  # fmt: skip
    settings_text, live = config.read_text(), _live(catalog)
    for path, said in own:
        before = path.read_bytes() if path.exists() else None
        arguments = [part.format(records=records) for part in command]
        assert main(["--config", str(config), *arguments, str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"koprik: {path}: {said}") and err.count("\n") == 1, err
        assert (path.read_bytes() if path.exists() else None) == before
    assert config.read_text() == settings_text and _live(catalog) == live


def test_a_device_is_written_though_it_is_the_settings_file(tmp_path, monkeypatch, capsys):
    """``koprik --config /dev/null export -o /dev/null`` (the defaults, the records thrown
    away: how operators try it out) was refused as writing the settings file; /dev/null is
    written in place, neither emptied nor replaced."""
    monkeypatch.delenv("KOPRIK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    Path("var").mkdir()  # the default catalogue's folder (database.url)
    catalog = Catalog.open(Settings())
    with catalog.writer() as writer:
        writer.put(next(demo_records(1)))
    catalog.close()
    assert main(["--config", os.devnull, "export", "-o", os.devnull]) == 0
    assert capsys.readouterr().err == f"export: 1 record as marc21 to {os.devnull}\n"


def test_one_record_exported_is_said_in_the_singular(settings, catalog, tmp_path, capsys):
    with catalog.writer() as writer:
        writer.put(next(demo_records(1)))
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n')
    out = tmp_path / "one.mrc"
    assert main(["--config", str(config), "export", "-o", str(out)]) == 0
    assert capsys.readouterr().err == f"export: 1 record as marc21 to {out}\n"  # "1 records"


def _koprik_toml(settings: Settings, tmp_path: Path) -> Path:
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{settings.database.url}"\n')
    return config


def _stored(catalog: Catalog, count: int) -> None:
    with catalog.writer() as writer:
        for record in demo_records(count, seed=4):
            writer.put(record)


def test_an_export_to_standard_output_interrupted_says_it_is_incomplete(
    settings, catalog, tmp_path
):
    """A ^C (to the process group, as a terminal sends it) while ``koprik export --format
    marcxml > out.xml`` writes: one line saying how many records were written and that
    standard output is incomplete. It said only "koprik: interrupted", the document left
    without its ``</collection>`` unsaid. The export is held in its loop by a pipe nobody
    reads once its first bytes came."""
    _stored(catalog, 300)
    command = [sys.executable, "-m", "koprik", "--config", str(_koprik_toml(settings, tmp_path)),
               "export", "--format", "marcxml"]  # fmt: skip
    running = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert running.stdout is not None
        assert running.stdout.read(1) == b"<"  # written: it is in its loop, and stays there
        time.sleep(0.3)  # (until its pipe is full: 300 records are 570 kB)
        os.killpg(running.pid, signal.SIGINT)
        out, err = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
    assert running.returncode == 128 + signal.SIGINT, err
    said = re.fullmatch(rb"koprik: interrupted after (\d+) of 300 records: standard output is "
                        rb"incomplete \(an export cut short\)\n", err)  # fmt: skip
    assert said is not None, err
    assert 0 < int(said[1]) < 300
    assert b"</collection>" not in out


@pytest.mark.parametrize(("signum", "word", "earlier"), [
    (signal.SIGINT, "interrupted", True), (signal.SIGTERM, "terminated", False)])
def test_an_export_to_a_file_stopped_says_the_file_is_not_written(
    settings, catalog, tmp_path, signum, word, earlier
):
    """A ^C or SIGTERM after 10 records of ``koprik export -o FILE``: one line saying so, that
    FILE was not written and, when there was one, that the file of that name is left as it
    was (as a full disk says it); it said only "koprik: interrupted"."""
    _stored(catalog, 300)
    out = tmp_path / "all.mrc"
    if earlier:
        out.write_bytes(b"an earlier export\n")
    stopped = run_script(tmp_path, (
        "import os, sys\n"
        "import koprik.commands.export as export\n"
        "from koprik.program import run\n"
        "records = export.live_records\n"
        "def stopping(*args, **kwargs):\n"
        "    for n, data in enumerate(records(*args, **kwargs)):\n"
        "        if n == 10:\n"
        f"            os.kill(os.getpid(), {int(signum)})\n"
        "        yield data\n"
        "export.live_records = stopping\n"
        f"sys.argv = ['koprik', '--config', {str(_koprik_toml(settings, tmp_path))!r}, "
        f"'export', '-o', {str(out)!r}]\n"
        "run()\n"
    ))
    assert stopped.returncode == 128 + signum, stopped.stderr
    left = "; the file of that name before the run is left unchanged" if earlier else ""
    assert stopped.stderr.splitlines() == [
        f"koprik: {word} after 10 of 300 records: {out} not written{left}"]
    assert not (tmp_path / "all.mrc.part").exists()
    assert out.exists() == earlier
    if earlier:
        assert out.read_bytes() == b"an earlier export\n"

