"""``koprik sru`` against a real Zebra (its SRU answers on its Z39.50 port): a search by ISBN and
by title prints the record as ``.mrk`` in each SRU version, ``-o`` writes ISO 2709 that
yaz-marcdump and our reader read back field for field, ``--import`` puts the records into the
catalogue (again: unchanged), and an unreachable server or a CQL query Zebra refuses is one
line on stderr with a non-zero exit, as is a response past `[harvest] max_response_bytes`."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pymarc
import pytest

from catalog import Catalog
from config import load_settings
from koprik.cli import main
from koprik.commands.sru import sru_source_name
from tests.conftest import DATA, free_port
from tests.interop.test_harvest_z3950_source import koprik
from tests.interop.test_z3950_harvest import assert_same_record, read_records
from tests.peers import running_zebra

pytestmark = pytest.mark.interop
MARC = DATA / "marc21" / "marc.dat"
ISBN = "0596000855"
PROGRAMMING_PYTHON = "12515882"
LEARNING_PYTHON = "13610512"


@pytest.fixture(scope="module")
def zebra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Zebra serving marc.dat (20 records); yields its SRU base URL."""
    base = tmp_path_factory.mktemp("zebra-sru-command")
    (base / "records").mkdir()
    shutil.copy(MARC, base / "records" / MARC.name)
    with running_zebra(base / "records", base / "work") as port:
        yield f"http://127.0.0.1:{port}/Default"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "koprik.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n')
    return path


def originals() -> dict[str, pymarc.Record]:
    return {record["001"].data: record for record in read_records(MARC)}


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("koprik: ")
    return result.stderr


@pytest.mark.parametrize("version", ["1.1", "1.2", "2.0", None])
def test_search_by_isbn_prints_the_record_as_mrk(zebra: str, config: Path,
                                                 version: str | None) -> None:
    pinned = ["--version", version] if version else []
    result = koprik(config, "sru", zebra, f"bath.isbn={ISBN}", *pinned)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "sru: 1 hits, 1 records retrieved\n"
    assert f"=001  {PROGRAMMING_PYTHON}\n" in result.stdout
    assert f"=020  \\\\$a{ISBN}" in result.stdout
    assert "=245  10$aProgramming Python /" in result.stdout
    assert result.stdout.count("=LDR  ") == 1


def test_search_by_title_and_max(zebra: str, config: Path) -> None:
    found = koprik(config, "sru", zebra, 'dc.title="learning python"')
    assert found.returncode == 0, found.stderr
    assert f"=001  {LEARNING_PYTHON}\n" in found.stdout
    assert "$aLearning Python /" in found.stdout
    many = koprik(config, "sru", zebra, "dc.title=python", "--max", "3", "--version", "1.1")
    assert many.returncode == 0, many.stderr
    hits = int(many.stderr.split()[1])
    assert hits > 3 and many.stderr == f"sru: {hits} hits, 3 records retrieved\n"
    assert many.stdout.count("=LDR  ") == 3


def test_dublin_core_records_are_crosswalked_to_marc(zebra: str, config: Path) -> None:
    result = koprik(config, "sru", zebra, f"bath.isbn={ISBN}", "--schema", "dc")
    assert result.returncode == 0, result.stderr
    assert "$aProgramming Python" in result.stdout and "=245  " in result.stdout


def test_output_is_iso2709_read_back_field_for_field(zebra: str, config: Path,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "found.mrc"
    result = koprik(config, "sru", zebra, "dc.title=python", "--max", "50", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    ours = read_records(out)
    assert len(ours) == int(result.stderr.split()[1]) > 5
    expected = originals()
    for record in ours:
        assert_same_record(record.as_marc(), expected[record["001"].data])
    if shutil.which("yaz-marcdump") is None:
        pytest.skip("yaz-marcdump not installed")
    dump = subprocess.run(["yaz-marcdump", "-i", "marc", "-o", "line", str(out)],
                          capture_output=True, text=True, check=True, timeout=60)
    assert dump.stderr == ""
    assert dump.stdout.count("\n001 ") == len(ours)
    assert "245 10 $a Programming Python /" in dump.stdout


def test_import_puts_the_records_into_the_catalogue(zebra: str, config: Path) -> None:
    source = "sru:" + zebra.removeprefix("http://")
    first = koprik(config, "sru", zebra, f"bath.isbn={ISBN}", "--import")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"sru import into {source}: 1 hits; 1 added, 0 updated, 0 unchanged, 0 rejected",
        "dedup: 1 records looked at; 0 records put in a group (those looked at, and the ungrouped "
        "records they matched), 0 taken out of one, 0 groups merged into another, 0 pairs for "
        "review; 0 union records written, 0 deleted"
        + first.stdout.split("0 deleted", 1)[1].rstrip("\n")]
    again = koprik(config, "sru", zebra, f"bath.isbn={ISBN}", "--import")
    assert again.returncode == 0 and "0 added, 0 updated, 1 unchanged" in again.stdout
    catalog = Catalog.open(load_settings(config))
    try:
        (mine,) = [e.local_id for e in catalog.list_entries(None) if e.local_id.startswith(source)]
        stored = catalog.marc_of(mine)
        assert stored is not None
        assert_same_record(stored, originals()[PROGRAMMING_PYTHON])
    finally:
        catalog.close()

    capped = koprik(config, "sru", zebra, "cql.allRecords=1", "--import", "--max", "7",
                    "--source", "abroad", "--version", "2.0")
    assert capped.returncode == 0, capped.stderr
    assert capped.stdout.startswith("sru import into abroad: 20 hits; 7 added, 0 updated")
    # the book imported first is among the seven: the two copies are one union record at once
    assert "\ndedup: 7 records looked at; 2 records put in a group" in capped.stdout, capped.stdout
    catalog = Catalog.open(load_settings(config))
    try:
        entries = catalog.list_entries(None)
        abroad = [e.local_id for e in entries if e.local_id.startswith("abroad:")]
        assert len(abroad) == 7
        assert catalog.marc_of(mine) is None and catalog.marc_of("union:1") is not None
    finally:
        catalog.close()


def test_unreachable_server_is_one_line(config: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/Default"
    error = one_line_error(koprik(config, "sru", url, "dc.title=x", "--timeout", "5"))
    assert url in error
    imported = one_line_error(koprik(config, "sru", url, "dc.title=x", "--import"))
    assert url in imported


def test_malformed_cql_is_the_servers_diagnostic_in_one_line(zebra: str, config: Path) -> None:
    error = one_line_error(koprik(config, "sru", zebra, "dc.title=(python"))
    assert "SRU diagnostic 10" in error
    imported = one_line_error(koprik(config, "sru", zebra, "dc.title=(python", "--import"))
    assert "SRU diagnostic 10" in imported


def test_bad_arguments_are_one_line(config: Path) -> None:
    assert "not an SRU base URL" in one_line_error(koprik(config, "sru", "ftp://x/y", "a=b"))
    assert one_line_error(koprik(config, "sru", "http://[::1/db", "a=b")).endswith(
        "is not an SRU base URL (http://HOST[:PORT]/PATH): Invalid IPv6 URL\n"
    )
    assert one_line_error(koprik(config, "sru", "http://a..bücher.example/db", "a=b")).endswith(
        "is not an SRU base URL (http://HOST[:PORT]/PATH): host 'a..bücher.example' is not a "
        "valid internationalized domain name (IDNA: label empty or too long)\n")
    url = f"http://127.0.0.1:{free_port()}/Default"
    secret = url.replace("//", "//reader:s3cret@")
    refused = one_line_error(koprik(config, "sru", secret, "a=b"))
    assert "reader:***@127.0.0.1" in refused and "s3cret" not in refused
    assert "--max cannot be negative" in one_line_error(
        koprik(config, "sru", url, "a=b", "--max", "-1"))
    assert "--source goes with --import" in one_line_error(
        koprik(config, "sru", url, "a=b", "--source", "x"))
    latin = "use Latin letters (A-Z, a-z), digits, '.', '_' or '-'"
    for odd, rule in (("my source", f"'my source': {latin}"),
                      ("a/b;DROP", f"'a/b;DROP': {latin}"),
                      ("", "'': start with a letter or a digit"),
                      ("x" * 101, f"'{'x' * 20}'...: at most 100 characters, got 101")):
        assert one_line_error(koprik(config, "sru", url, "a=b", "--import", "--source", odd)) \
            == f"koprik: --source: source name {rule}\n"  # (in record identifiers)


def test_responses_are_read_within_the_harvest_body_bound(zebra: str, tmp_path: Path) -> None:
    """``[harvest] max_response_bytes`` bounds what the server may send: 20 MARCXML records
    do not fit in 4 KiB (one line, with --import too), explain and one record do."""
    config = tmp_path / "small.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n'
                      "[harvest]\nmax_response_bytes = 4096\n")
    everything = ("sru", zebra, "cql.allRecords=1", "--max", "20")
    error = one_line_error(koprik(config, *everything))
    assert "past max_response_bytes (4096)" in error
    assert one_line_error(koprik(config, *everything, "--import")) == error
    one = koprik(config, "sru", zebra, f"bath.isbn={ISBN}")
    assert one.returncode == 0 and f"=001  {PROGRAMMING_PYTHON}\n" in one.stdout


def test_the_source_of_imported_records_names_no_user_nor_password() -> None:
    assert sru_source_name("http://reader:s3cret@127.0.0.1:2100/Default") == (
        "sru:127.0.0.1:2100/Default"
    )


SRW = "http://www.loc.gov/zing/srw/"
Page = Callable[[int, int], tuple[int, list[tuple[int, str]]]]
"""A fake server's answer to startRecord and maximumRecords: its hits and its records, each
its recordPosition and its MARCXML."""


def marcxml(number: int, padding: int = 0) -> str:
    """A MARCXML record whose 001 is ``number``, with a 500 of ``padding`` letters."""
    note = f'<datafield tag="500" ind1=" " ind2=" "><subfield code="a">{"a" * padding}' \
        "</subfield></datafield>" if padding else ""
    return ('<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500'
            f'</leader><controlfield tag="001">{number}</controlfield><datafield tag="245" '
            f'ind1="0" ind2="0"><subfield code="a">Title {number}</subfield></datafield>'
            f"{note}</record>")


def _answer(query: dict[str, list[str]], page: Page,
            following: Callable[[int], int] | None = None) -> bytes:
    if query.get("operation", ["explain"])[0] == "explain" and "query" not in query:
        return (f'<explainResponse xmlns="{SRW}"><version>1.2</version></explainResponse>'
                ).encode()
    hits, records = page(int(query["startRecord"][0]), int(query["maximumRecords"][0]))
    listed = "".join(
        f"<record><recordSchema>marcxml</recordSchema><recordPacking>xml</recordPacking>"
        f"<recordData>{data}</recordData><recordPosition>{position}</recordPosition></record>"
        for position, data in records)
    start = int(query["startRecord"][0])
    said = "" if following is None else \
        f"<nextRecordPosition>{following(start)}</nextRecordPosition>"
    return (f'<searchRetrieveResponse xmlns="{SRW}"><version>1.2</version><numberOfRecords>'
            f"{hits}</numberOfRecords><records>{listed}</records>{said}"
            "</searchRetrieveResponse>").encode()


@contextmanager
def fake_sru(page: Page, following: Callable[[int], int] | None = None) -> Iterator[str]:
    """An SRU 1.2 server on loopback answering searchRetrieve with ``page`` (and the
    nextRecordPosition ``following`` gives for a startRecord); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = _answer(parse_qs(urlsplit(self.path).query), page, following)
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/Default"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_record_too_long_for_iso2709_is_rejected_in_one_line_the_others_written(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Record 2 has a field of 12,000 bytes, more than ISO 2709's four digits say: -o ended in
    a traceback (crosswalks.iso2709.TooLong) and wrote nothing."""
    records = [(1, marcxml(1)), (2, marcxml(2, 12_000)), (3, marcxml(3))]
    out = tmp_path / "out.mrc"
    with fake_sru(lambda start, most: (3, records[start - 1:start - 1 + most])) as url:
        status = main(["--config", str(config), "sru", url, "x=y", "-o", str(out)])
    err = capsys.readouterr().err.splitlines()
    assert status == 1
    assert err[0] == ("record 2: field 500: 12,005 bytes, longer than ISO 2709 allows a field "
                      "(9,999 with its terminator)")
    assert err[1:] == ["sru: 3 hits, 3 records retrieved"]
    assert [record["001"].data for record in read_records(out)] == ["1", "3"]


def test_a_server_that_ignores_start_record_is_one_error_line_and_no_file(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server sends records 1 and 2 on every page and claims 10^12 hits: --max 1000 wrote
    500 copies of each. The retrieval stops at the second page; the earlier file is kept."""
    out = tmp_path / "out.mrc"
    out.write_bytes(b"earlier")
    first = [(1, marcxml(1)), (2, marcxml(2))]
    with fake_sru(lambda start, most: (10**12, first)) as url:
        status = main(["--config", str(config), "sru", url, "x=y", "--max", "1000",
                       "-o", str(out)])  # fmt: skip
    assert status == 2
    assert capsys.readouterr().err == (
        f"koprik: {url}: asked for the records from 3, the server sent record 1 (does it "
        "ignore startRecord?)\n"
    )
    assert out.read_bytes() == b"earlier"
    assert not list(tmp_path.glob("out.mrc?*"))


def test_records_a_server_leaves_out_keep_the_others_positions(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server may leave out a record it cannot render, the others keeping their true
    positions (1, 2, 4, 5): taken, as the harvest takes them; a position that does not rise
    (a repeat) is refused."""
    out = tmp_path / "out.mrc"
    kept = [(1, marcxml(1)), (2, marcxml(2)), (4, marcxml(4)), (5, marcxml(5))]
    with fake_sru(lambda start, most: (5, kept[:most] if start == 1 else [])) as url:
        assert main(["--config", str(config), "sru", url, "x=y", "-o", str(out)]) == 0
    assert [r["001"].data for r in read_records(out)] == ["1", "2", "4", "5"]
    capsys.readouterr()
    again = [(1, marcxml(1)), (2, marcxml(2)), (2, marcxml(2))]
    with fake_sru(lambda start, most: (3, again)) as url:
        assert main(["--config", str(config), "sru", url, "x=y", "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"koprik: {url}: asked for the records from 1, the server sent record 2 after record "
        "2 (does it ignore startRecord?)\n")


def test_records_past_max_record_bytes_are_rejected_and_pages_not_all_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """limits.max_record_bytes was not applied: a record past it is rejected in one line as
    import rejects it. Each page is written as it comes: while page 2 is asked for, page 1's
    records are already out of memory, in the working copy."""
    config = tmp_path / "k.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n'
                      "[limits]\nmax_record_bytes = 2000\n")  # fmt: skip
    out = tmp_path / "out.mrc"
    written: list[int] = []

    def page(start: int, most: int) -> tuple[int, list[tuple[int, str]]]:
        partial = [path for path in tmp_path.iterdir() if path.name.startswith("out.mrc")]
        written.append(sum(path.stat().st_size for path in partial))
        return 60, [(n, marcxml(n, 3000 if n == 7 else 200)) for n in range(start, start + most)]

    with fake_sru(page) as url:
        status = main(["--config", str(config), "sru", url, "x=y", "--max", "60", "-o", str(out)])
    err = capsys.readouterr().err.splitlines()
    assert status == 1
    assert err[0].startswith("record 7: record of ") and err[0].endswith(
        " bytes, larger than max_record_bytes (2000)")
    assert err[1:] == ["sru: 60 hits, 60 records retrieved"]
    assert len(read_records(out)) == 59
    assert written[0] == 0 and written[1] > 0


def test_records_a_server_sends_past_those_asked_for_are_dropped_and_said(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that ignores maximumRecords sends 2,000 records for --max 3: every one was
    read (1.4 million cost 51 s and 1.36 GB); the first 3 are taken, the others dropped
    unread and counted in one line."""
    records = [(n, marcxml(n)) for n in range(1, 2001)]
    with fake_sru(lambda start, most: (2000, records)) as url:
        assert main(["--config", str(config), "sru", url, "x=y", "--max", "3"]) == 0
    out, err = capsys.readouterr()
    assert out.count("=001  ") == 3
    assert err.splitlines() == [
        "sru: the server sent 1997 records more than asked for; they were dropped",
        "sru: 2000 hits, 3 records retrieved",
    ]


def test_a_next_record_position_that_does_not_move_on_is_one_error_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Page 2 (from 3) says the next is 1 again: koprik sru stopped there, silent, exit 0
    (a harvest fails it as a loop); it is now one line and exit 2."""
    records = [(n, marcxml(n)) for n in range(1, 11)]
    with fake_sru(lambda start, most: (10, records[start - 1:start + 1]),
                  lambda start: 3 if start == 1 else 1) as url:
        assert main(["--config", str(config), "sru", url, "x=y"]) == 2
    out, err = capsys.readouterr()
    assert out.count("=001  ") == 4
    assert err == f"koprik: {url}: nextRecordPosition 1 does not move on from 3\n"
