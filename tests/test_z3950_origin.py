"""harvester/z3950_origin.py against targets that answer what no target should (the real
targets, Zebra and yaz-ztest, are in tests/interop/test_z3950_origin.py)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymarc import Field, Subfield
from sqlalchemy import select

from catalog.demo import demo_records
from catalog.harvest_state import harvest_rejects
from config import HarvestSource
from config.settings import CopyTarget
from crosswalks.charsets import NAMED as CHARSETS
from harvester import z3950_origin
from harvester.http_fetch import Politeness
from harvester.runs import FAILED, SUCCEEDED, RunReport, harvest
from harvester.z3950_origin import (
    MAX_PDU_BYTES,
    MAX_PDU_VALUES,
    Z3950Client,
    Z3950Diagnostic,
    close_reason,
)
from harvester.z3950_records import expected_charset
from koprik.cli import main
from koprik.dashboard import copy_targets
from protocols.z3950 import charset as charneg
from protocols.z3950 import oids
from protocols.z3950.codec import (
    OPTION_BITS,
    bit_string,
    decode_pdu,
    encode_pdu,
    make_external,
)
from tests.conftest import DATA, free_port
from tests.fault_provider import sqlite_catalog
from tests.servers import scripted_server


@pytest.fixture
def lying_target() -> Iterator[int]:
    """Its answer starts a PDU of 3 GiB."""
    yield from scripted_server(bytes.fromhex("bf3584") + (3 << 30).to_bytes(4, "big") + b"\0" * 64)


@pytest.fixture
def silent_target() -> Iterator[int]:
    yield from scripted_server(b"")


@pytest.fixture
def web_server() -> Iterator[int]:
    """What a web server answers bytes that are not HTTP."""
    yield from scripted_server(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                       b"Content-Length: 11\r\nConnection: close\r\n\r\nBad Request")


def test_a_web_server_at_a_z3950_address_is_said_to_be_one(
    web_server: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was "undecodable answer to initRequest: PDU: Expected CHOICE(PDU) with tags [...] but
    got '48'", the codec's words."""
    assert main(["z3950", f"127.0.0.1:{web_server}/Default", "war", "--timeout", "5"]) == 2
    assert capsys.readouterr().err == (
        f"koprik: 127.0.0.1:{web_server}/Default: the target answered initRequest in HTTP, "
        "not in Z39.50: is the address a web server's?\n"
    )


def test_a_target_that_never_answers_is_a_one_line_error_with_the_time_waited(
    silent_target: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["z3950", f"127.0.0.1:{silent_target}/Default", "war", "--timeout", "0.5"]) == 2
    assert capsys.readouterr().err == (
        f"koprik: cannot talk to 127.0.0.1:{silent_target}: no answer within 0.5 s\n"
    )


@pytest.mark.parametrize("command", ["z3950", "sru"])
@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "soon"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(
    command: str, timeout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = "127.0.0.1:9/Default" if command == "z3950" else "http://127.0.0.1:9/sru"
    with pytest.raises(SystemExit) as stopped:
        main([command, target, "x", "--timeout", timeout])
    assert stopped.value.code == 2
    said = (f"expected a positive number of seconds, got {timeout!r}" if timeout != "soon"
            else "'soon' is not a number of seconds")  # fmt: skip
    assert capsys.readouterr().err == (
        f"koprik {command}: argument --timeout: {said} (see koprik {command} --help)\n")


def test_an_answer_too_large_to_read_is_a_one_line_error(
    lying_target: int, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["z3950", f"127.0.0.1:{lying_target}/Default", "war", "--timeout", "5"])
    assert status == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"koprik: 127.0.0.1:{lying_target}/Default: unreadable answer to ")
    assert "PDU larger than" in line


INIT_RESPONSE = encode_pdu("initResponse", {
    "protocolVersion": bit_string({0, 1, 2}), "options": bit_string(OPTION_BITS.values()),
    "preferredMessageSize": 1 << 20, "exceptionalRecordSize": 1 << 20, "result": True})  # fmt: skip


CLOSE = encode_pdu("close", {"closeReason": 0})


def _answers(present: bytes, hits: int) -> tuple[bytes, ...]:
    """A target's answers: Init, a search finding ``hits`` records, ``present``, Close."""
    return (
        INIT_RESPONSE,
        encode_pdu("searchResponse", {"resultCount": hits, "numberOfRecordsReturned": 0,
                                      "nextResultSetPosition": 1, "searchStatus": True}),
        present,
        CLOSE,
    )  # fmt: skip


def _harvest_one_present(
    tmp_path: Path, present: bytes, hits: int = 1
) -> tuple[int, RunReport]:
    """Harvest a target that finds ``hits`` records and answers the Present with ``present``:
    its port and the run's report."""
    answers = _answers(present, hits)
    catalog = sqlite_catalog(tmp_path, "target")
    for port in scripted_server(*answers):
        source = HarvestSource(name="target", url=f"127.0.0.1:{port}/Default", protocol="z3950",
                               query="@attr 1=4 war", timeout=30, retries=0,  # one association
                               delay=0)  # no pause between requests: politeness not tested
        report = harvest(catalog, source)
    catalog.close()
    return port, report


def _only_reject(tmp_path: Path) -> str:
    """The reason of the one record the harvest of ``tmp_path``'s catalogue rejected."""
    catalog = sqlite_catalog(tmp_path, "target")
    try:
        with catalog.engine.connect() as connection:
            (reason,) = connection.execute(select(harvest_rejects.c.reason)).scalars()
    finally:
        catalog.close()
    return reason


def test_a_record_that_cannot_be_decoded_is_rejected_alone(tmp_path: Path) -> None:
    """Asked for USMARC, the target sends an OPAC record whose bibliographic record says SUTRS
    but holds an INTEGER, then a good USMARC record: the first is rejected with the reason (it
    used to end the run, and every run after it, at the same record), the second stored."""
    opac = make_external(oids.OPAC, {"bibliographicRecord": {
        "direct-reference": oids.SUTRS, "encoding": ("single-ASN1-type", b"\x02\x01\x05")}})
    good = make_external(oids.USMARC, next(demo_records(1)).as_marc())
    records = [{"record": ("retrievalRecord", opac)}, {"record": ("retrievalRecord", good)}]
    _, report = _harvest_one_present(tmp_path, encode_pdu("presentResponse", {
        "numberOfRecordsReturned": 2, "nextResultSetPosition": 3, "presentStatus": 0,
        "records": ("responseRecords", records)}), hits=2)  # fmt: skip
    assert report.status == SUCCEEDED, report.errors
    assert (report.counts.added, report.counts.rejected) == (1, 1)
    assert _only_reject(tmp_path) == (
        "record 1: undecodable bibliographic record of an OPAC record: not a valid SutrsRecord: "
        "SutrsRecord: Expected InternationalString(SutrsRecord) with tag '1b', but got '02'. "
        "(At offset: 0)"
    )


def test_a_present_answer_of_too_many_values_is_refused_before_it_is_decoded(
    tmp_path: Path,
) -> None:
    """Asked for 1 record, the target sends 200,000 (4 MB, 1.4 million BER values): decoded,
    each of 64 MiB of them would cost about 700 bytes of memory. Refused, the record asked
    for alone is a reject, and the run goes on (it failed)."""
    one = encode_pdu("presentResponse", {
        "numberOfRecordsReturned": 1, "nextResultSetPosition": 2, "presentStatus": 0,
        "records": ("responseRecords", [{"record": ("retrievalRecord",
                                                    make_external(oids.USMARC, b"x"))}])})
    record = one[one.index(b"\x30"):]  # the NamePlusRecord, after the responseRecords tag
    records = record * 200_000
    body = one[2:11] + b"\xbc\x83" + len(records).to_bytes(3, "big") + records
    present = b"\xb9\x83" + len(body).to_bytes(3, "big") + body
    _, report = _harvest_one_present(tmp_path, present)
    assert report.status == SUCCEEDED, report.errors
    assert (report.counts.added, report.counts.rejected) == (0, 1)
    assert report.errors == []
    assert _only_reject(tmp_path) == (
        f"record 1: presented alone, its answer is of more than {MAX_PDU_VALUES} BER values "
        "(the most decoded)")


def test_a_diagnostics_long_addinfo_is_quoted_in_part(tmp_path: Path) -> None:
    port, report = _harvest_one_present(tmp_path, encode_pdu("presentResponse", {
        "numberOfRecordsReturned": 0, "nextResultSetPosition": 1, "presentStatus": 5,
        "records": ("nonSurrogateDiagnostic", {
            "diagnosticSetId": oids.BIB1_DIAGNOSTIC_SET, "condition": 2,
            "addinfo": ("v2Addinfo", "a" * 1_000_000)})}))  # fmt: skip
    assert report.status == FAILED
    assert report.errors == [
        f"run failed: 127.0.0.1:{port}/Default: diagnostic 2: Temporary system error "
        f"({'a' * 500}... (999500 more characters))"
    ]


def test_a_diagnostics_control_characters_are_quoted_escaped(tmp_path: Path) -> None:
    """A target's own text reached the run's errors, ``koprik runs`` and the terminal as it
    came: an escape sequence (``ESC [ 2 J`` clears an operator's screen), a carriage return
    over the line, a newline splitting one error into two."""
    port, report = _harvest_one_present(tmp_path, encode_pdu("presentResponse", {
        "numberOfRecordsReturned": 0, "nextResultSetPosition": 1, "presentStatus": 5,
        "records": ("nonSurrogateDiagnostic", {
            "diagnosticSetId": oids.BIB1_DIAGNOSTIC_SET, "condition": 2,
            "addinfo": ("v2Addinfo", "x\x1b[2J\rall fine\nrun 2\x9b1m")})}))  # fmt: skip
    assert report.status == FAILED
    assert report.errors == [
        f"run failed: 127.0.0.1:{port}/Default: diagnostic 2: Temporary system error "
        "(x\\x1b[2J\\rall fine\\nrun 2\\x9b1m)"
    ]


def test_a_diagnostics_bytes_not_in_the_set_agreed_are_read_as_replacement_characters(
    tmp_path: Path,
) -> None:
    """An addinfo not in UTF-8 (a Latin-1 ``ü``) made the whole answer "undecodable": the
    diagnostic is now said, that byte as U+FFFD."""
    present = encode_pdu("presentResponse", {
        "numberOfRecordsReturned": 0, "nextResultSetPosition": 1, "presentStatus": 5,
        "records": ("nonSurrogateDiagnostic", {
            "diagnosticSetId": oids.BIB1_DIAGNOSTIC_SET, "condition": 2,
            "addinfo": ("v2Addinfo", "sü")})})  # fmt: skip
    port, report = _harvest_one_present(tmp_path, present.replace("ü".encode(), b"\xfc!"))
    assert report.status == FAILED
    assert report.errors == [
        f"run failed: 127.0.0.1:{port}/Default: diagnostic 2: Temporary system error (s\ufffd!)"
    ]


@pytest.mark.parametrize(
    ("close", "said"),
    [({"closeReason": 2, "diagnosticInformation": "1Unknown Error"},
      'system problem (reason 2), saying "1Unknown Error"'),
     ({"closeReason": 7}, "lack of activity (reason 7)"),
     ({"closeReason": 42, "diagnosticInformation": "bye\n"}, 'reason 42, saying "bye\\n"')],
)  # fmt: skip
def test_a_close_says_its_reason_apart_from_the_targets_text(close: dict, said: str) -> None:
    # Zebra's "1Unknown Error" read as a reason number glued to a message
    assert close_reason(close) == said


def test_a_close_with_a_long_reason_is_quoted_in_part(tmp_path: Path) -> None:
    port, report = _harvest_one_present(tmp_path, encode_pdu("close", {
        "closeReason": 2, "diagnosticInformation": "c" * 1_000_000}))  # fmt: skip
    assert report.status == FAILED
    assert report.errors == [
        f"run failed: 127.0.0.1:{port}/Default: target closed the association: "
        f"system problem (reason 2), saying \"{'c' * 500}... (999500 more characters)\""
    ]


@pytest.mark.parametrize("command", ["z3950", "sru"])
@pytest.mark.parametrize(
    ("output", "message"),
    [("no-folder/records.mrc", "-o {tmp}/no-folder/records.mrc: no such folder {tmp}/no-folder"),
     ("folder", "{tmp}/folder: a folder; name a file to write")],
)  # fmt: skip
def test_an_output_that_cannot_be_written_is_refused_before_the_target_is_asked(
    command: str, output: str, message: str, silent_target: int, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the target never answers: asked first, the command would end on its timeout instead
    (tmp_path / "folder").mkdir()
    target = (f"127.0.0.1:{silent_target}/Default" if command == "z3950"
              else f"http://127.0.0.1:{silent_target}/sru")  # fmt: skip
    status = main([command, target, "war", "--timeout", "0.5", "-o", str(tmp_path / output)])
    assert status == 2
    assert capsys.readouterr().err == f"koprik: {message.format(tmp=tmp_path)}\n"


@pytest.mark.parametrize(
    "options", [[], ["-o", "{tmp}/records.mrc"], ["--format", "xml"], ["--import"]],
    ids=["printed", "written", "xml", "imported"],
)
def test_an_unknown_charset_is_refused_before_the_target_is_asked_whatever_the_options(
    options: list[str], silent_target: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only ``--import`` refused it; otherwise it was proposed to the target as it was (asked
    first, this one never answering, the command would end on its timeout instead)."""
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "catalog.sqlite3"}"\n')
    status = main(["--config", str(config), "z3950", f"127.0.0.1:{silent_target}/Default", "war",
                   "--timeout", "0.5", "--charset", "nosuch",
                   *(option.format(tmp=tmp_path) for option in options)])
    assert status == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"koprik: --charset: unknown character set 'nosuch'; one of {', '.join(CHARSETS)}"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["koprik.toml"]


def _command(
    tmp_path: Path, present: bytes, *options: str, hits: int = 1, config: str = ""
) -> tuple[int, int]:
    """``koprik z3950`` against a target that finds ``hits`` records and answers the first
    Present with ``present``: its status and the target's port."""
    answers = _answers(present, hits)
    settings = tmp_path / "koprik.toml"
    settings.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n{config}')
    for port in scripted_server(*answers):
        status = main(["--config", str(settings), "z3950", f"127.0.0.1:{port}/Default", "war",
                       "--timeout", "2", *options])  # fmt: skip
    return status, port


def _present(*records: dict[str, object]) -> bytes:
    listed = [{"record": ("retrievalRecord", record)} for record in records]
    return encode_pdu("presentResponse", {
        "numberOfRecordsReturned": len(listed), "nextResultSetPosition": len(listed) + 1,
        "presentStatus": 0, "records": ("responseRecords", listed)})  # fmt: skip


GOOD = next(demo_records(1)).as_marc()


def test_output_holds_only_the_records_that_printing_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asked for USMARC, the target sends SUTRS, a record whose field terminators are broken,
    then a good record: -o wrote all three with exit 0; printing said the first two cannot be
    read (exit 1). Now -o says the same lines and writes only the third."""
    out = tmp_path / "out.mrc"
    present = _present(make_external(oids.SUTRS, "plain text"),
                       make_external(oids.USMARC, GOOD.replace(b"\x1e", b"x")),
                       make_external(oids.USMARC, GOOD))  # fmt: skip
    status, _ = _command(tmp_path, present, "-o", str(out), hits=3)
    written = capsys.readouterr().err.splitlines()
    assert status == 1 and out.read_bytes() == GOOD
    status, _ = _command(tmp_path, present, hits=3)
    printed = capsys.readouterr()
    assert status == 1 and printed.out.count("=LDR  ") == 1
    assert written == printed.err.splitlines() == [
        "record 1: cannot read MARC: record of 10 bytes is shorter than a leader",
        f"record 2: cannot read MARC: base address {GOOD[12:17].decode().lstrip('0')} does not "
        "end the directory",
        "z3950: 3 hits, 3 records retrieved",
    ]


def test_records_past_those_asked_for_are_dropped_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asked for 2 records (all there are), the target sends 7: they were all kept, "2 hits,
    7 records retrieved"."""
    out = tmp_path / "out.mrc"
    present = _present(*[make_external(oids.USMARC, GOOD)] * 7)
    status, _ = _command(tmp_path, present, "--max", "25", "-o", str(out), hits=2)
    assert status == 0
    assert capsys.readouterr().err.splitlines() == [
        "z3950: the target sent 5 records more than asked for; they were dropped",
        "z3950: 2 hits, 2 records retrieved",
    ]
    assert out.read_bytes() == GOOD * 2


def test_a_record_past_max_record_bytes_is_rejected_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """limits.max_record_bytes was not applied by the command (import and harvest apply it)."""
    out = tmp_path / "out.mrc"
    big = next(demo_records(1))
    big.add_field(Field("500", [" ", " "], [Subfield("a", "a" * 2000)]))
    present = _present(make_external(oids.USMARC, GOOD),
                       make_external(oids.USMARC, big.as_marc()))  # fmt: skip
    status, _ = _command(tmp_path, present, "-o", str(out), hits=2,
                         config="[limits]\nmax_record_bytes = 1024\n")  # fmt: skip
    assert status == 1
    assert capsys.readouterr().err.splitlines() == [
        f"record 2: record of {len(big.as_marc())} bytes, larger than max_record_bytes (1024)",
        "z3950: 2 hits, 2 records retrieved",
    ]
    assert out.read_bytes() == GOOD


def test_a_present_answer_past_the_message_size_proposed_is_refused_as_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Init proposes 16 MiB messages, but answers of up to 64 MiB were read: a Present answer
    said to be of 20 MiB is now refused at its header (it was waited for), its one record
    said unread."""
    header = b"\xb9\x84" + (20 << 20).to_bytes(4, "big")
    status, _ = _command(tmp_path, header + b"\0" * 64)
    assert status == 1
    assert capsys.readouterr().err.splitlines() == [
        f"record 1: presented alone, its answer is larger than {MAX_PDU_BYTES} bytes "
        "(the most read)",
        "z3950: 1 hits, 1 records retrieved",
    ]


def test_a_target_silent_after_the_search_is_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was "cannot talk to 127.0.0.1:PORT: no answer within 2 s", as if no association had
    been made."""
    status, port = _command(tmp_path, b"")
    assert status == 2
    assert capsys.readouterr().err == (
        f"koprik: 127.0.0.1:{port}/Default: no answer to the present within 2 s\n"
    )


def test_a_refused_connection_is_said_as_sru_says_it(capsys: pytest.CaptureFixture[str]) -> None:
    """It was "cannot talk to 127.0.0.1:PORT: [Errno 111] Connect call failed (...)"."""
    port = free_port()
    assert main(["z3950", f"127.0.0.1:{port}/Default", "war", "--timeout", "5"]) == 2
    assert capsys.readouterr().err == (
        f"koprik: 127.0.0.1:{port} refused the connection (nothing listens there)\n"
    )


async def test_records_past_those_asked_for_are_said_once_an_association(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each Present holding more than asked for was a warning: 20 lines for a --max 1000, and
    one a batch in a harvest's log."""
    three = _present(*[make_external(oids.USMARC, GOOD)] * 3)
    caplog.set_level(logging.INFO, logger="harvester.z3950_origin")
    for port in scripted_server(INIT_RESPONSE, three, three, CLOSE):  # Close answered at once
        async with await Z3950Client.connect("127.0.0.1", port, "Default", None) as client:
            for start in (1, 2):
                assert len(await client.present(start, 1)) == 1
            assert client.surplus == 4
    said = [r.getMessage() for r in caplog.records if "more than the" in r.getMessage()]
    assert said == ["127.0.0.1 sent 2 records more than the 1 asked for; they are dropped "
                    "(and any more it sends)"]


def _presenting_target(records: list[bytes], presents: list[tuple[int, int]]) -> Iterator[int]:
    """A target whose result set is ``records`` (USMARC), answering each Present with the
    records asked for, however large, and noting its (start, count) in ``presents``."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer(name: str, request: dict) -> bytes:
        if name == "searchRequest":
            return _answers(b"", len(records))[1]
        if name == "presentRequest":
            start, count = request["resultSetStartPoint"], request["numberOfRecordsRequested"]
            presents.append((start, count))
            return _present(*[make_external(oids.USMARC, record)
                              for record in records[start - 1 : start - 1 + count]])
        return INIT_RESPONSE if name == "initRequest" else CLOSE

    def serve(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError), connection.makefile("rb") as stream:
            while tag := stream.read(1):
                while tag[0] & 0x1F == 0x1F and (len(tag) == 1 or tag[-1] & 0x80):
                    tag += stream.read(1)  # Close's tag is [48], of two octets
                length = stream.read(1)  # the requests are small: short-form lengths
                name, request = decode_pdu(tag + length + stream.read(length[0]))
                connection.sendall(answer(name, request))

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def _one_too_large(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Four records, the third too large to be presented within the size the origin reads,
    made 4 KB (17 MiB in earnest)."""
    monkeypatch.setattr(z3950_origin, "MAX_PDU_BYTES", 4096)
    small = [record.as_marc() for record in demo_records(4)]
    big = next(demo_records(1))
    big.add_field(Field("500", [" ", " "], [Subfield("a", "a" * 5000)]))
    return [small[0], small[1], big.as_marc(), small[3]]


HALVED = [(1, 4), (1, 2), (3, 2), (3, 1), (4, 1)]
"""The Presents of :func:`_one_too_large`'s records asked for together, then in halves."""


def _harvested(
    tmp_path: Path, records: list[bytes], presents: list[tuple[int, int]]
) -> tuple[int, RunReport]:
    """A harvest of :func:`_presenting_target`'s ``records`` into a new catalogue, with no
    retry of a lost association: the target's port and the run's report."""
    catalog = sqlite_catalog(tmp_path, "target")
    for port in _presenting_target(records, presents):
        source = HarvestSource(name="target", url=f"127.0.0.1:{port}/Default", protocol="z3950",
                               query="@attr 1=4 war", timeout=30)
        report = harvest(catalog, source, politeness=Politeness(delay=0, retries=0))
    catalog.close()
    return port, report


def _koprik_z3950(
    tmp_path: Path, records: list[bytes], presents: list[tuple[int, int]], *options: str
) -> tuple[int, int]:
    """``koprik z3950`` of :func:`_presenting_target`'s ``records`` into ``out.mrc``: its
    status and the target's port."""
    settings = tmp_path / "koprik.toml"
    settings.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n')
    for port in _presenting_target(records, presents):
        status = main(["--config", str(settings), "z3950", f"127.0.0.1:{port}/Default", "war",
                       "--timeout", "5", "-o", str(tmp_path / "out.mrc"), *options])
    return status, port


def test_a_present_answer_too_large_is_asked_again_in_halves_and_a_record_too_large_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Present answer over the size the origin reads failed the whole harvest. Now the range
    is presented again in halves, each on a new association, down to the one record too large
    alone, which is rejected; the others are stored."""
    presents: list[tuple[int, int]] = []
    _, report = _harvested(tmp_path, _one_too_large(monkeypatch), presents)
    assert report.status == SUCCEEDED, report.errors
    assert (report.counts.added, report.counts.rejected) == (3, 1)
    assert _only_reject(tmp_path) == (
        "record 3: presented alone, its answer is larger than 4096 bytes (the most read)")
    assert presents == HALVED
    said = "unreadable answer to presentRequest: PDU larger than 4096 bytes"
    assert report.errors == [  # the run's record
        f"z3950-retry: present of 4 at 1: {said}; asked again in halves",
        f"z3950-retry: present of 2 at 3: {said}; asked again in halves",
    ]


def test_koprik_z3950_presents_an_answer_too_large_again_in_halves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As a harvest does: the record too large alone is one line, the others written."""
    records = _one_too_large(monkeypatch)
    presents: list[tuple[int, int]] = []
    status, _ = _koprik_z3950(tmp_path, records, presents)
    assert status == 1
    assert capsys.readouterr().err.splitlines() == [
        "record 3: presented alone, its answer is larger than 4096 bytes (the most read)",
        "z3950: 4 hits, 4 records retrieved",
    ]
    assert (tmp_path / "out.mrc").read_bytes() == records[0] + records[1] + records[3]
    assert presents == HALVED


def _init_agreeing(charset: str, records: bool | None = True) -> bytes:
    """An Init answer selecting ``charset`` (for records too, unless ``records`` says)."""
    _, init = decode_pdu(INIT_RESPONSE)
    init["otherInfo"] = charneg.response_other_info(charset, records)
    return encode_pdu("initResponse", init)


@pytest.mark.parametrize("charset", ["base64", "UTF-16"])
async def test_a_set_selected_that_strings_cannot_be_read_in_is_said_and_utf8_read(
    charset: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A target selecting base64 (any codec's name) made an XML record a LookupError, a crash;
    one selecting UTF-16 had ``abcü`` read as ``扡썣``: both read strings and records in UTF-8,
    as under no agreement, and the set is said once."""
    sutrs, xml = "abcü", "<a>abcü</a>".encode()
    diagnostic = encode_pdu("presentResponse", {
        "numberOfRecordsReturned": 0, "nextResultSetPosition": 1, "presentStatus": 5,
        "records": ("nonSurrogateDiagnostic", {
            "diagnosticSetId": oids.BIB1_DIAGNOSTIC_SET, "condition": 2,
            "addinfo": ("v2Addinfo", "sü")})})  # fmt: skip
    caplog.set_level(logging.WARNING, logger="harvester.z3950_origin")
    records = _present(make_external(oids.SUTRS, sutrs), make_external(oids.XML, xml))
    for port in scripted_server(_init_agreeing(charset), records, diagnostic, CLOSE):
        async with await Z3950Client.connect("127.0.0.1", port, "Default", None) as client:
            read = await client.present(1, 2, "xml")
            with pytest.raises(Z3950Diagnostic) as raised:
                await client.present(1, 1, "xml")
    assert [(record.text, record.data, record.problem) for record in read] == [
        (sutrs, sutrs.encode(), None), (xml.decode(), xml, None)]
    assert raised.value.addinfo == "sü"
    assert [record.getMessage() for record in caplog.records] == [
        f'127.0.0.1:{port} agreed to the character set "{charset}", not one Koprik reads (a '
        "text encoding in which ASCII is ASCII): its strings are read as UTF-8, and its "
        "records as without an agreement"]


@pytest.mark.parametrize(("charset", "said"), [
    ("UTF-16", "not one Koprik reads (a text encoding in which ASCII is ASCII): its strings are "
               "read as UTF-8, and its records as without an agreement"),
    ("x-nosuch", "not one Koprik reads (a text encoding in which ASCII is ASCII): its strings "
                 "are read as UTF-8, and its records as without an agreement"),
    ("ISO-8859-2", "which Koprik reads no MARC records in: they are read as their bytes and "
                   "leader/09 say"),
])  # fmt: skip
def test_a_set_agreed_that_records_cannot_be_read_in_is_said_and_the_harvest_goes_on(
    charset: str, said: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A target agreeing to send records in a set Koprik does not read MARC records in failed
    the harvest ("agreed character set: unknown character set 'UTF-16'; one of ..."): its
    records are now read as if no set were agreed (the source's charset, else leader/09 and
    the bytes, as YAZ reads them), and one line says so. (Zebra agrees only to the set
    proposed, and Koprik proposes only sets it reads: no real target answers so.)"""
    caplog.set_level(logging.WARNING)
    records = [record.as_marc() for record in demo_records(4)][2:]  # Cyrillic, in UTF-8
    answers = _answers(_present(*(make_external(oids.USMARC, data) for data in records)), 2)
    catalog = sqlite_catalog(tmp_path, "target")
    for port in scripted_server(_init_agreeing(charset), *answers[1:]):
        source = HarvestSource(name="target", url=f"127.0.0.1:{port}/Default", protocol="z3950",
                               query="@attr 1=4 war", timeout=30, retries=0, delay=0)  # fmt: skip
        report = harvest(catalog, source)
    catalog.close()
    assert report.status == SUCCEEDED, report.errors
    assert (report.counts.added, report.counts.rejected) == (2, 0)
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("WARNING", f'127.0.0.1:{port} agreed to the character set "{charset}", {said}')]


@pytest.mark.parametrize("charset", ["UTF-16", "ISO-8859-2"])
async def test_a_copy_target_agreeing_to_a_set_records_cannot_be_read_in_is_previewed(
    charset: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The dashboard's copy cataloguing read the set agreed in a home of its own, which
    refused it ("unknown character set 'UTF-16'; one of ...": the target's only result) and
    took records in the set when the target did not say they were: it reads them as the
    harvest does now (as without an agreement, in one warning line)."""
    caplog.set_level(logging.WARNING)
    records = [record.as_marc() for record in demo_records(4)][2:]  # Cyrillic, in UTF-8
    answers = _answers(_present(*(make_external(oids.USMARC, data) for data in records)), 2)
    for port in scripted_server(_init_agreeing(charset), *answers[1:]):
        target = CopyTarget("far", f"z3950://127.0.0.1:{port}/Default")
        result = await copy_targets.search_target(target, {"title": "war"}, 10.0)
    assert (result.error, result.hits) == (None, 2)
    assert [found.title for found in result.records] == [
        "Преступление и наказание.", "Ўзбек тилининг изоҳли луғати."]
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert caplog.records[0].getMessage().startswith(
        f'127.0.0.1:{port} agreed to the character set "{charset}", ')


async def test_a_copy_target_not_saying_its_records_are_in_the_set_agreed_is_read_without(
) -> None:
    """A target agreeing to KOI8-R without saying its records are in it had its CP1251 record
    read in KOI8-R by copy cataloguing ("нЯМНБШ ЦХДПЮБКХВЕЯЙНЦН"), where the harvest reads it
    as without an agreement (not said is not in it, as YAZ reads it): now both do."""
    record = (DATA / "marc21" / "1251.dat").read_bytes()[:875]  # leader/09 blank
    answers = _answers(_present(make_external(oids.USMARC, record)), 1)
    for port in scripted_server(_init_agreeing("KOI8-R", records=None), *answers[1:]):
        target = CopyTarget("far", f"z3950://127.0.0.1:{port}/Default")
        result = await copy_targets.search_target(target, {"title": "war"}, 10.0)
    assert result.error is None
    assert [found.title for found in result.records] == [
        "Основы гидравлического расчета инженерных сетей [учеб. пособие для вузов по "
        "специальностям <Теплогазоснабжение и вентиляция>, <Водоснабжение и водоотведение>]"]


def _all_too_large(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """40 records, each too large to be presented within the size the origin reads (made
    256 bytes: an Init's and a Search's answers are smaller)."""
    monkeypatch.setattr(z3950_origin, "MAX_PDU_BYTES", 256)
    return [record.as_marc() for record in demo_records(40)]


GIVEN_UP = [(1, 40), (1, 20), (1, 10), (1, 5), (1, 2), (1, 1), (2, 1), (3, 3), (3, 1), (4, 2),
            (4, 1), (5, 1), (6, 5), (6, 2), (6, 1), (7, 1), (8, 3), (8, 1), (9, 2), (9, 1),
            (10, 1)]  # fmt: skip
"""The Presents of :func:`_all_too_large`'s records, halved down to the tenth alone."""


def test_a_harvest_gives_up_after_ten_records_in_a_row_too_large_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target whose every answer is too large cost 2N - 1 Presents for N records (79 for 40),
    each on a new association, kept open until the run ended: now the run fails after ten
    records in a row too large alone, each association closed as it is replaced."""
    records = _all_too_large(monkeypatch)
    said: list[object] = []
    close = z3950_origin.Z3950Client.close

    async def closing(client: z3950_origin.Z3950Client) -> None:
        said.append("close")
        await close(client)

    monkeypatch.setattr(z3950_origin.Z3950Client, "close", closing)
    port, report = _harvested(tmp_path, records, said)  # type: ignore[arg-type]
    assert report.status == FAILED
    assert report.errors[-1] == (
        f"run failed: 127.0.0.1:{port}/Default: records 1 to 10: each presented alone, its "
        "answer is larger than 256 bytes (the most read); given up after 10 in a row")
    presents = [present for present in said if present != "close"]
    assert presents == GIVEN_UP
    last = len(said) - said[::-1].index(GIVEN_UP[-1]) - 1
    assert said[:last].count("close") == len(GIVEN_UP) - 1  # each closed when replaced


def test_koprik_z3950_gives_up_after_ten_records_in_a_row_too_large_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    presents: list[tuple[int, int]] = []
    status, port = _koprik_z3950(tmp_path, _all_too_large(monkeypatch), presents, "--max", "40")
    assert status == 2
    assert capsys.readouterr().err.splitlines() == [
        f"koprik: 127.0.0.1:{port}/Default: records 1 to 10: each presented alone, its answer "
        "is larger than 256 bytes (the most read); given up after 10 in a row"]
    assert presents == GIVEN_UP


def test_a_present_answer_of_too_many_values_is_asked_again_in_halves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer of more BER values than the origin decodes (many OPAC records of many
    holdings) failed the whole harvest, where fewer records a Present mend it: it is asked
    again in halves, as an answer too large in bytes is."""
    monkeypatch.setattr(z3950_origin, "MAX_PDU_VALUES", 16)  # one record's answer: 11
    records = [record.as_marc() for record in demo_records(4)]
    presents: list[tuple[int, int]] = []
    _, report = _harvested(tmp_path, records, presents)
    assert report.status == SUCCEEDED, report.errors
    assert (report.counts.added, report.counts.rejected) == (4, 0)
    assert presents == [(1, 4), (1, 2), (1, 1), (2, 1), (3, 2), (3, 1), (4, 1)]
    said = "unreadable answer to presentRequest: more than 16 BER values"
    assert report.errors == [
        f"z3950-retry: present of 4 at 1: {said}; asked again in halves",
        f"z3950-retry: present of 2 at 1: {said}; asked again in halves",
        f"z3950-retry: present of 2 at 3: {said}; asked again in halves",
    ]


async def test_a_scan_answer_is_read_in_the_set_agreed() -> None:
    """Under an agreed ISO 8859-1, Zebra sends its display terms in it: the whole Scan answer
    was refused, "undecodable answer to scanRequest: ... can't decode byte 0xfc"."""
    scan = encode_pdu("scanResponse", {
        "stepSize": 0, "scanStatus": 0, "numberOfEntriesReturned": 1, "positionOfTerm": 1,
        "entries": {"entries": [("termInfo", {
            "term": ("general", "hsüan".encode("iso8859-1")), "globalOccurrences": 2,
            "displayTerm": "hs_an"})]}})  # fmt: skip
    scan = scan.replace(b"hs_an", "hsüan".encode("iso8859-1"))
    for port in scripted_server(_init_agreeing("ISO-8859-1"), scan, CLOSE):
        async with await Z3950Client.connect("127.0.0.1", port, "Default", None) as client:
            assert client.charset == charneg.Agreement("ISO-8859-1", True)
            entries = await client.scan("@attr 1=4 hsüan", count=1)
    assert entries == [z3950_origin.ScanEntry("hsüan", 2, "hsüan")]


@pytest.mark.parametrize(("records", "expected"), [(True, "iso-8859-1"), (None, None),
                                                   (False, None)])  # fmt: skip
async def test_records_are_in_the_set_agreed_only_when_the_target_says_so(
    records: bool | None, expected: str | None
) -> None:
    """A target not saying whether its records are in the set agreed had its MARC records read
    in it by a harvest, and their text (XML, SUTRS, OPAC holdings) in UTF-8 by the origin: not
    said is now not in it for both, as YAZ reads it."""
    for port in scripted_server(_init_agreeing("ISO-8859-1", records), CLOSE):
        async with await Z3950Client.connect("127.0.0.1", port, "Default", None) as client:
            assert expected_charset(client, None) == expected
            assert client.records_charset == ("ISO-8859-1" if records else None)


def test_koprik_z3950_fails_in_one_line_when_the_result_set_changed_on_a_new_association(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Searched again after an answer too large, the target finds one record more: said as a
    harvest says it (one home, Z3950Client.searched_again)."""
    records = _one_too_large(monkeypatch)

    class Growing(list[tuple[int, int]]):
        def append(self, present: tuple[int, int]) -> None:  # the result set grows at once
            super().append(present)
            records.append(records[0])

    status, port = _koprik_z3950(tmp_path, records, Growing(), "--max", "4")
    assert status == 2
    assert capsys.readouterr().err.splitlines() == [
        f"koprik: 127.0.0.1:{port}/Default: searched again on a new association, the target "
        "reports 5 hits, not 4: the result set changed"]


EMPTY_PRESENT = _present()
"""A Present answered with success and no records (nor any diagnostic)."""
REFUSED_ANSWERS = [
    (_present(make_external(oids.USMARC, GOOD)), -5,
     "the target answered the search with a negative hit count (-5)"),
    (EMPTY_PRESENT, 3, "the target answered a Present of 3 records from 1 with none and no "
                       "diagnostic"),
]  # fmt: skip
"""(Present answer, hit count, what is said): the answers a client refuses."""


@pytest.mark.parametrize(("present", "hits", "said"), REFUSED_ANSWERS)
def test_koprik_z3950_refuses_a_negative_hit_count_and_a_present_answered_with_no_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], present: bytes, hits: int, said: str
) -> None:
    """Both ended "z3950: -5 hits, 0 records retrieved" or "z3950: 3 hits, 0 records
    retrieved" with exit 0, as if the target had answered."""
    status, port = _command(tmp_path, present, hits=hits)
    assert status == 2
    assert capsys.readouterr().err == f"koprik: 127.0.0.1:{port}/Default: {said}\n"


@pytest.mark.parametrize(("present", "hits", "said"), REFUSED_ANSWERS)
def test_a_harvest_fails_on_a_negative_hit_count_and_a_present_answered_with_no_records(
    tmp_path: Path, present: bytes, hits: int, said: str
) -> None:
    """A negative hit count made a run that succeeded with nothing presented; a Present with
    no records failed it as "present at 1 returned no records" (the harvest's own check, now
    the origin's, which every caller shares)."""
    port, report = _harvest_one_present(tmp_path, present, hits)
    assert report.status == FAILED
    assert report.errors == [f"run failed: 127.0.0.1:{port}/Default: {said}"]
