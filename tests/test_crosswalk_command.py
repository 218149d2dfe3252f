"""``koprik crosswalk`` run as the operator runs it: a subprocess, real files, exit statuses."""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from tests.authority_records import marc21_person, unimarc_book, unimarc_corporate, unimarc_person
from tests.books import book
from tests.conftest import DATA
from tests.servers import limit_files_to, stderr_after

ROOT = Path(__file__).resolve().parents[1]
MARC21 = DATA / "marc21"
BROKEN = sorted((MARC21 / "broken").iterdir())


def koprik(*args: str | Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "koprik", "crosswalk", *map(str, args)]
    return subprocess.run(command, input=stdin, capture_output=True, cwd=ROOT, timeout=120)


def assert_no_traceback(result: subprocess.CompletedProcess[bytes]) -> None:
    assert b"Traceback" not in result.stderr, result.stderr.decode()


def summary(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode().strip().splitlines()[-1]


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_broken_files_give_rejects_with_reasons_and_say_so(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.xml"
    result = koprik("--to", "marcxml", path, "-o", out)
    assert_no_traceback(result)
    assert result.returncode == 2  # nothing in these files is convertible
    rejects = (tmp_path / "out.xml.rejects.txt").read_text(encoding="utf-8").splitlines()
    assert rejects
    source = path.read_bytes()
    numbers = []
    for line in rejects:
        name, number, reason, raw = line.split("\t")
        assert name == str(path) and number.isdigit() and reason
        assert base64.b64decode(raw) in source
        numbers.append(int(number))
    assert numbers[0] == 1  # record numbers count from 1, as `koprik import` reports them
    assert "rejected" in summary(result)
    assert not out.exists()  # nothing converted, nothing written


@pytest.mark.parametrize("fmt", ["mods", "marcxml", "oai_dc", "marcjson", "marc21", "mrk"])
def test_a_run_that_converts_nothing_writes_no_output(tmp_path: Path, fmt: str) -> None:
    """Every record of the input rejected: no OUT (an empty ``modsCollection`` was written,
    which mods-3-7.xsd refuses: it must hold one ``mods``), the one an earlier run wrote
    removed as the side files are, and nothing on standard output."""
    data = (MARC21 / "broken" / "bad_records.mrc").read_bytes()
    out = tmp_path / "out.xml"
    out.write_bytes(b"an earlier run's output")
    result = koprik("--to", fmt, "-o", out, stdin=data)
    assert_no_traceback(result)
    assert result.returncode == 2
    assert summary(result).endswith(f"converted 0, rejected 8, {out} not written (rejects: "
                                    f"{out}.rejects.txt)")
    assert not out.exists() and not Path(f"{out}.part").exists()
    assert (tmp_path / "out.xml.rejects.txt").read_text().count("\n") == 8
    piped = koprik("--to", fmt, stdin=data)
    assert piped.returncode == 2 and piped.stdout == b""


def test_partly_convertible_run_exits_1_and_keeps_going(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.mrc"
    good = (MARC21 / "marc.dat").read_bytes()
    mixed.write_bytes(good + (MARC21 / "broken" / "bad_records.mrc").read_bytes() + good)
    out = tmp_path / "out.json"
    result = koprik("--to", "marcjson", mixed, "-o", out, "--rejects", tmp_path / "bad.tsv")
    assert_no_traceback(result)
    assert result.returncode == 1
    assert summary(result).startswith("crosswalk: read 48, converted 40, rejected 8")
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 40
    rejects = (tmp_path / "bad.tsv").read_text().splitlines()
    assert [int(line.split("\t")[1]) for line in rejects] == list(range(21, 29))


def test_clean_run_exits_0_through_stdin_and_stdout() -> None:
    data = (MARC21 / "yaz" / "marccol1.u8.marc").read_bytes()
    result = koprik("--to", "marcxml", stdin=data)
    assert result.returncode == 0, result.stderr
    root = etree.fromstring(result.stdout, etree.XMLParser(no_network=True))
    assert len(root) == 19
    assert "read 19, converted 19, rejected 0" in summary(result)


def test_several_inputs_of_different_formats_into_one_output(tmp_path: Path) -> None:
    out = tmp_path / "all.mrc"
    inputs = [MARC21 / "one.dat", MARC21 / "batch.xml", MARC21 / "batch.json"]
    result = koprik("--to", "marc21", *inputs, "-o", out)
    assert result.returncode == 0, result.stderr
    back = koprik("--to", "mrk", out)
    assert back.stdout.count(b"=LDR  ") == 5


def test_rejects_on_stdout_run_are_summarized_on_stderr() -> None:
    data = (MARC21 / "broken" / "bad_records.mrc").read_bytes()
    result = koprik("--to", "marcxml", stdin=data)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    shown = [line for line in lines if "rejected - record" in line]
    assert [line.split(": ")[1] for line in shown] == [
        f"rejected - record {number}" for number in range(1, 6)
    ]
    assert any("3 more rejects" in line for line in lines)


def test_output_to_dash_is_stdout_and_writes_no_reject_file(tmp_path: Path) -> None:
    data = (MARC21 / "broken" / "bad_records.mrc").read_bytes()
    command = [sys.executable, "-m", "koprik", "crosswalk", "--to", "marcxml", "-o", "-"]
    result = subprocess.run(command, input=data, capture_output=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert b"3 more rejects" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_output_to_a_device_writes_no_side_file_beside_it(tmp_path: Path) -> None:
    """``-o /dev/null`` wrote ``/dev/null.rejects.txt`` (a file among the devices, as root): a
    device has no side files beside it; its rejects are summarized on stderr, as on stdout."""
    null = tmp_path / "null"
    null.symlink_to(os.devnull)  # /dev/null by a name whose folder the test may write to
    result = koprik("--to", "marcxml", MARC21 / "broken" / "bad_records.mrc", MARC21 / "1251.dat",
                    "-o", null)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert b"3 more rejects (use --rejects FILE" in result.stderr
    assert b"1 more charset decisions and notes (use --report FILE" in result.stderr
    assert list(tmp_path.iterdir()) == [null]


def test_an_interrupted_run_leaves_the_output_it_would_replace_whole(tmp_path: Path) -> None:
    """-o OUT is written beside itself and renamed when complete: a ^C emptied an earlier OUT
    (opened for writing at once) and left it half written."""
    out = tmp_path / "out.xml"
    koprik("--to", "marcxml", MARC21 / "test.dat", "-o", out).check_returncode()
    before = out.read_bytes()
    command = [sys.executable, "-m", "koprik", "crosswalk", "--to", "marcxml", "-o", str(out)]
    # records come on a pipe kept open: the run is under way when it is interrupted
    running = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=tmp_path, start_new_session=True)  # fmt: skip
    assert running.stdin is not None
    running.stdin.write((MARC21 / "test.dat").read_bytes())
    running.stdin.flush()
    deadline = time.monotonic() + 60
    while not (tmp_path / "out.xml.part").exists() and out.read_bytes() == before:
        assert time.monotonic() < deadline and running.poll() is None
        time.sleep(0.05)
    os.killpg(running.pid, signal.SIGINT)
    _, err = running.communicate(timeout=60)
    unchanged = "not written; the file of that name before the run is left unchanged"
    assert running.returncode == 130, err
    assert re.fullmatch(
        rf"koprik: interrupted after (\d+) records read, \1 converted: {out} {unchanged}; "
        rf"{out}.rejects.txt not written; {out}.report.txt not written", err.decode().rstrip()
    ), err
    assert out.read_bytes() == before
    assert not (tmp_path / "out.xml.part").exists()
    result = koprik("--to", "marcxml", MARC21 / "test.dat", MARC21 / "test.dat", "-o", out)
    assert result.returncode == 0 and not (tmp_path / "out.xml.part").exists()
    assert out.read_bytes().count(b"<record") == 2 * before.count(b"<record")


def test_iso_2709_after_a_byte_order_mark_is_converted_as_without_it(tmp_path: Path) -> None:
    """A file saved "UTF-8 with BOM" (EF BB BF before the first leader): one record was said
    to be of no format known ("say which with --from"), and of more the first was rejected."""
    for name in ("one.dat", "marc.dat"):
        marked = tmp_path / name
        marked.write_bytes(b"\xef\xbb\xbf" + (MARC21 / name).read_bytes())
        plain, after_bom = tmp_path / "plain.xml", tmp_path / "after-bom.xml"
        koprik("--to", "marcxml", MARC21 / name, "-o", plain).check_returncode()
        result = koprik("--to", "marcxml", marked, "-o", after_bom)
        assert result.returncode == 0, result.stderr
        assert after_bom.read_bytes() == plain.read_bytes()


def test_the_rejects_of_junk_forced_as_iso2709_are_no_larger_than_the_junk(
    tmp_path: Path,
) -> None:
    """A binary file read --from marc21 was cut at each 0x1D byte (one in 256) into a reject
    each, written in base64 with its reason: the rejects were 1.6 times the file. A run of junk
    is one reject up to 200,000 bytes, of which the first 4096 are kept; its last bytes, fewer
    than a record can have, are kept whole (a damaged record may be mended from them)."""
    junk = tmp_path / "junk.bin"
    junk.write_bytes(random.Random(2709).randbytes(3_050_000))
    rejects = tmp_path / "rejects.txt"
    result = koprik("--from", "marc21", "--to", "marcxml", junk, "-o", tmp_path / "out.xml",
                    "--rejects", rejects)  # fmt: skip
    assert_no_traceback(result)
    assert summary(result).startswith("crosswalk: read 16, converted 0, rejected 16")
    assert rejects.stat().st_size <= junk.stat().st_size // 10
    lines = [line.split("\t") for line in rejects.read_text().splitlines()]
    assert [len(base64.b64decode(line[3])) for line in lines[:-1]] == [4096] * 15
    last = base64.b64decode(lines[-1][3])
    assert 49_000 < len(last) <= 50_000 and junk.read_bytes().endswith(last)


def test_an_output_whose_folder_is_removed_midway_is_named_as_asked(tmp_path: Path) -> None:
    """The folder of -o OUT removed while the run reads: OUT.part could not be renamed, and
    the line said "OUT.part -> OUT: No such file or directory", naming a file the operator
    never named. It names OUT, and says it was not written."""
    folder = tmp_path / "folder"
    folder.mkdir()
    out, rejects = folder / "out.xml", tmp_path / "rejects.txt"
    command = [sys.executable, "-m", "koprik", "crosswalk", "--to", "marcxml", "-o", str(out),
               "--rejects", str(rejects), "--report", "/dev/null"]  # fmt: skip
    running = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=tmp_path)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / "rejects.txt.part").exists():  # made once OUT.part is the run's
        assert time.monotonic() < deadline and running.poll() is None
        time.sleep(0.05)
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()
    _, err = running.communicate((MARC21 / "test.dat").read_bytes(), timeout=60)
    assert running.returncode == 2
    assert err.decode().splitlines() == [f"koprik: {out}: not written (No such file or directory)"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["-o", "--rejects"])
def test_an_output_cut_short_names_the_file_asked_for_and_leaves_the_earlier_one(
    tmp_path: Path, option: str
) -> None:
    """A write that fails midway (files limited to 4 KiB: as on a full disk) is one line naming
    the file the operator named, saying it was not written and that the earlier file of that
    name is left as it was."""
    earlier = b"the output of the run before\n"
    named = tmp_path / "named"
    named.write_bytes(earlier)
    outputs = {"-o": "/dev/null", "--report": "/dev/null", option: str(named)}
    broken = [str(path) for path in BROKEN] * 4  # rejects enough to outgrow 4 KiB
    result = subprocess.run(
        [sys.executable, "-m", "koprik", "crosswalk", "--to", "marcxml",
         *(MARC21 / "marc.dat", *broken),
         *[part for pair in outputs.items() for part in pair]],
        capture_output=True, cwd=tmp_path, timeout=120, preexec_fn=lambda: limit_files_to(4096),
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.returncode == 2
    assert result.stderr.decode().splitlines()[-1] == (
        f"koprik: {named}: not written (File too large); the file of that name before the run is "
        "left unchanged")
    assert named.read_bytes() == earlier
    assert sorted(tmp_path.iterdir()) == [named]


@pytest.mark.parametrize(("signum", "said"), [(signal.SIGINT, "interrupted"),
                                              (signal.SIGTERM, "terminated")])
def test_a_stopped_run_leaves_the_side_files_of_the_run_before(
    tmp_path: Path, signum: int, said: str
) -> None:
    """OUT.rejects.txt and OUT.report.txt were opened for writing at once: a ^C or a SIGTERM
    left them emptied (or half written) beside the earlier OUT kept whole. They are written
    whole as OUT is, and a stopped run leaves none of its own, and says so of each file (it
    said only "koprik: interrupted"). The crosswalk waits on its standard input, left open,
    its files begun."""
    earlier = {name: f"{name} of the run before\n"
               for name in ("out.xml", "out.xml.rejects.txt", "out.xml.report.txt")}  # fmt: skip
    for name, text in earlier.items():
        (tmp_path / name).write_text(text)
    report = tmp_path / "out.xml.report.txt"
    command = [sys.executable, "-m", "koprik", "crosswalk", "--to", "marcxml", "-o", "out.xml"]
    started = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=tmp_path)  # fmt: skip
    deadline = time.monotonic() + 60
    begun = False  # the report, opened last, is being written (emptied, before)
    while not begun and started.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        begun = report.with_name(report.name + ".part").exists() or report.stat().st_size == 0
    err = stderr_after(started, signum)
    assert begun, started.returncode
    unchanged = "not written; the file of that name before the run is left unchanged"
    assert (started.returncode, err.decode()) == (128 + signum, (
        f"koprik: {said} after 0 records read, 0 converted: out.xml {unchanged}; "
        f"out.xml.rejects.txt {unchanged}; out.xml.report.txt {unchanged}\n"))
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == earlier


def test_a_stream_of_nul_bytes_is_rejected_a_part_at_a_time_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """``--from marc21 /dev/zero`` skipped the NULs as padding in one compiled call that never
    returned: no record, no reject, and neither ^C nor SIGTERM stopped it (the process was
    killed). Each 200,000 bytes of padding is a reject, and a SIGTERM stops the run."""
    command = [sys.executable, "-m", "koprik", "crosswalk", "--from", "marc21", "--to",
               "marcxml", "/dev/zero", "-o", "out.xml"]
    started = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=tmp_path)  # fmt: skip
    begun = tmp_path / "out.xml.report.txt.part"  # the last output opened before reading
    deadline = time.monotonic() + 60
    while not begun.exists() and started.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    err = stderr_after(started, signal.SIGTERM).decode()
    assert started.returncode == 128 + signal.SIGTERM, err
    assert re.fullmatch(r"koprik: terminated after \d+ records read, 0 converted: out.xml not "
                        r"written; out.xml.rejects.txt not written; out.xml.report.txt not "
                        r"written\n", err), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kept", ["out.xml", "out.xml.rejects.txt"])
def test_a_read_only_output_is_not_replaced(tmp_path: Path, kept: str) -> None:
    """An output or side file whose mode forbids writing (made read-only to keep it) was
    replaced: the copy renamed over it needs only its folder writable. The run is refused
    before any work, in one line naming the file and its option."""
    out = tmp_path / "out.xml"
    (tmp_path / kept).write_bytes(b"kept")
    (tmp_path / kept).chmod(0o444)
    result = koprik("--to", "marcxml", "-o", out, MARC21 / "broken" / "bad_indicator.dat")
    assert_no_traceback(result)
    option = "-o" if kept == "out.xml" else "--rejects"
    assert (result.returncode, result.stderr.decode()) == (2, (
        f"koprik: {option} {tmp_path / kept}: read-only (mode 0444), not replaced; make it "
        "writable or name another file\n"))
    assert [path.name for path in tmp_path.iterdir()] == [kept]
    assert (tmp_path / kept).read_bytes() == b"kept"


def test_check_reports_each_problem_with_record_and_field() -> None:
    result = koprik("--check", MARC21 / "broken" / "bad_indicator.dat", MARC21 / "one.dat")
    assert_no_traceback(result)
    assert result.returncode == 1
    out = result.stdout.decode().splitlines()
    assert out and all(
        line.startswith(str(MARC21 / "broken" / "bad_indicator.dat"))
        for line in out
    )  # one.dat has 630 after 650: right (subjects go by importance), not a problem
    assert any(", field " in line for line in out)
    assert all(": record 1, " in line for line in out)  # the first records, counted from 1
    assert "records with problems" in summary(result)


def test_check_of_a_valid_file_exits_0(tmp_path: Path) -> None:
    from tests.test_check import rda_book

    path = tmp_path / "valid.mrc"
    path.write_bytes(rda_book().as_marc())
    result = koprik("--check", path)
    assert result.returncode == 0, result.stdout
    assert result.stdout == b""


def test_check_counts_problems_by_rule() -> None:
    result = koprik("--check", MARC21 / "yaz" / "marccol2.u8.marc")
    assert result.returncode == 1
    assert b"field 260 $a: leader/18 'i' says ISBD punctuation" in result.stdout
    assert "problems 2 (isbd-punctuation 2)" in summary(result)  # 010 after 040: both 0XX


@pytest.mark.parametrize(
    "args",
    [
        ("--to", "nonsense", "x"),
        ("--from", "nonsense", "--to", "marcxml"),
        (str(MARC21 / "one.dat"),),  # no --to
        ("--to", "marcxml", "/nonexistent/file.mrc"),
    ],
)
def test_bad_usage_exits_2_with_one_line(args: tuple[str, ...]) -> None:
    result = koprik(*args)
    assert_no_traceback(result)
    assert result.returncode == 2
    assert result.stderr.decode().startswith("koprik: ")


def test_undetectable_input_asks_for_from() -> None:
    result = koprik("--to", "marcxml", stdin=b"just some text\n")
    assert result.returncode == 2 and b"--from" in result.stderr


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b'<collection xmlns="http://www.loc.gov/MARC21/slim"><note/><note/></collection>',
         b"koprik: -: no marcxml records found\n"),
        (b"[" * 200_000, b"koprik: -: no marcjson records found\n"),
    ],
)
def test_input_without_records_is_a_one_line_error(stdin: bytes, message: bytes) -> None:
    result = koprik("--to", "marc21", stdin=stdin)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.startswith(message)
    assert "read 0, converted 0, rejected 0, unreadable inputs 1" in summary(result)


@pytest.mark.parametrize("args", [("--to", "mrk"), ("--check",)])
def test_an_empty_input_is_said_to_be_empty(tmp_path: Path, args: tuple[str, ...]) -> None:
    empty = tmp_path / "empty.mrc"
    empty.write_bytes(b"")
    for result, name in [(koprik(*args, empty), str(empty)), (koprik(*args), "-")]:
        assert_no_traceback(result)
        assert result.returncode == 2
        assert result.stderr.decode().splitlines()[0] == f"koprik: {name}: the file is empty"


def test_unreadable_inputs_are_said_and_counted_and_the_others_converted(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mrc"
    empty.write_bytes(b"")
    out = tmp_path / "multi.xml"
    inputs = [MARC21 / "one.dat", empty, tmp_path / "missing.mrc", tmp_path, MARC21 / "one.dat"]
    result = koprik("--to", "marcxml", *inputs, "-o", out)
    assert_no_traceback(result)
    assert result.returncode == 1  # something failed, something was converted
    lines = result.stderr.decode().splitlines()
    assert f"koprik: {empty}: the file is empty" in lines
    assert any(line.startswith(f"koprik: cannot read {tmp_path / 'missing.mrc'}: ")
               for line in lines)
    assert any(line.startswith(f"koprik: cannot read {tmp_path}: ") for line in lines)
    assert "read 2, converted 2, rejected 0, unreadable inputs 3" in summary(result)
    document = etree.parse(str(out), etree.XMLParser(no_network=True))  # complete
    assert len(document.getroot()) == 2


def test_unreadable_inputs_are_listed_in_the_reject_file_beside_rejected_records(
    tmp_path: Path,
) -> None:
    empty, text, missing = tmp_path / "empty.mrc", tmp_path / "notes.txt", tmp_path / "gone.mrc"
    empty.write_bytes(b"")
    text.write_text("a list of books, not MARC\n", encoding="utf-8")
    broken = MARC21 / "broken" / "bad_records.mrc"
    packed = tmp_path / "one.mrc.gz"  # read as one record, or as ISO 2709 fragments, it was not
    packed.write_bytes(gzip.compress((MARC21 / "one.dat").read_bytes()))
    inputs = [MARC21 / "one.dat", empty, text, missing, tmp_path, broken, packed]
    out, rejects = tmp_path / "out.xml", tmp_path / "rejects.tsv"
    result = koprik("--to", "marcxml", *inputs, "-o", out, "--rejects", rejects)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert "unreadable inputs 5" in summary(result) and f"(rejects: {rejects})" in summary(result)
    lines = [line.split("\t") for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert all(len(line) == 4 for line in lines)  # the reject file's four columns
    whole = {name: (number, reason, raw) for name, number, reason, raw in lines if not number}
    assert whole == {
        str(empty): ("", "the file is empty", ""),
        str(text): (
            "", "not ISO 2709, MARCXML, MARC-in-JSON or MarcEdit text; say which with --from", ""
        ),
        str(missing): ("", "cannot be read: No such file or directory", ""),
        str(tmp_path): ("", "cannot be read: Is a directory", ""),
        str(packed): ("", "compressed (gzip); decompress it first", ""),
    }
    records = [line for line in lines if line[1]]
    assert records and {line[0] for line in records} == {str(broken)}
    # said on stderr as before, once each
    assert result.stderr.decode().count(f"koprik: {empty}: the file is empty") == 1


def test_a_run_of_unreadable_inputs_only_still_writes_them_to_the_reject_file(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.mrc"
    empty.write_bytes(b"")
    rejects = tmp_path / "rejects.tsv"
    result = koprik("--to", "mrk", empty, "-o", tmp_path / "out.mrk", "--rejects", rejects)
    assert result.returncode == 2
    assert rejects.read_text(encoding="utf-8") == f"{empty}\t\tthe file is empty\t\n"


def test_check_goes_on_past_an_unreadable_input(tmp_path: Path) -> None:
    result = koprik("--check", tmp_path / "missing.mrc", MARC21 / "one.dat")
    assert_no_traceback(result)
    assert result.returncode == 1
    assert "check: read 1," in summary(result) and "unreadable inputs 1" in summary(result)


@pytest.mark.parametrize("to_format", ["marc21", "marcxml", "mrk", "marcjson"])
def test_every_utf8_output_says_utf8_in_leader_09_and_880s_add_no_066(
    tmp_path: Path, to_format: str
) -> None:
    source = tmp_path / "uzbek.mrk"
    fixed = "200101s2020" + "\\" * 4 + "uz\\" + "\\" * 17 + "uzb" + "\\d"
    source.write_text(
        f"=LDR  00000nam\\\\2200000\\i\\4500\n=008  {fixed}\n=245  10$aТошкент табиати\n",
        encoding="utf-8",
    )
    result = koprik("--to", to_format, "--add-script-880", source)
    assert result.returncode == 0, result.stderr
    back = koprik("--to", "mrk", "--from", to_format, stdin=result.stdout)
    text = back.stdout.decode()
    assert text.startswith("=LDR  ") and text[6 + 9] == "a", text
    assert "=880  " in text and "=066  " not in text


def test_marc8_output_keeps_leader_09_blank_and_marks_cyrillic_in_066(tmp_path: Path) -> None:
    source = tmp_path / "uzbek.mrk"
    source.write_text(
        "=LDR  00000nam\\\\2200000\\i\\4500\n=245  10$aТошкент табиати\n", encoding="utf-8"
    )
    result = koprik("--to", "mrk8", "--add-script-880", source)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert text[6 + 9] == "\\" and "=066  \\\\$c(N" in text, text


def test_list_names_every_format() -> None:
    result = koprik("--list")
    assert result.returncode == 0
    text = result.stdout.decode()
    for name in ("marc21", "marcxml", "marcjson", "mrk", "oai_dc", "mods", "unimarc", "rusmarc"):
        assert name in text


def test_dc_output_is_a_collection_of_oai_dc_records(tmp_path: Path) -> None:
    result = koprik("--to", "oai_dc", MARC21 / "marc.dat")
    assert result.returncode == 0, result.stderr
    root = etree.fromstring(result.stdout, etree.XMLParser(no_network=True))
    assert root.tag == "collection"
    dc = root.findall("{http://www.openarchives.org/OAI/2.0/oai_dc/}dc")
    assert len(dc) == 20


def test_mods_output_is_a_mods_collection() -> None:
    result = koprik("--to", "mods", MARC21 / "one.dat")
    assert result.returncode == 0, result.stderr
    root = etree.fromstring(result.stdout, etree.XMLParser(no_network=True))
    assert root.tag == "{http://www.loc.gov/mods/v3}modsCollection" and len(root) == 1


def test_oai_dc_response_converts_to_marc() -> None:
    result = koprik("--to", "marcjson", DATA / "oai" / "oai-caltech.xml")
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert summary(result) == "crosswalk: read 100, converted 100, rejected 0"
    assert len(json.loads(result.stdout)) == 100


def test_rusmarc_converts_with_the_charset_detected(tmp_path: Path) -> None:
    result = koprik(
        "--from", "rusmarc", "--to", "marcjson", DATA / "unimarc" / "TEST1.ISO"
    )
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert summary(result).startswith("crosswalk: read 81, converted 81, rejected 0")
    records = json.loads(result.stdout)
    assert len(records) == 81
    assert any("\u0400" <= ch <= "\u04ff" for ch in json.dumps(records, ensure_ascii=False))


def test_add_script_880_runs_per_record() -> None:
    result = koprik("--to", "marcjson", "--add-script-880", MARC21 / "one.dat")
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr


def test_a_closed_pipe_stops_quietly_without_rejecting_records(tmp_path: Path) -> None:
    from catalog.demo import demo_records
    from crosswalks.marc_io import record_to_iso2709

    big = tmp_path / "big.mrc"
    big.write_bytes(b"".join(record_to_iso2709(r) for r in demo_records(3000)))
    command = f"{sys.executable} -m koprik crosswalk --to mrk < {big} | head -n 1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.stdout.startswith("=LDR")
    assert result.returncode == 141  # the writer saw the closed pipe, and said nothing
    assert result.stderr == ""


def test_charset_decisions_are_reported_and_charset_can_be_given(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = koprik("--to", "marcjson", MARC21 / "1251.dat", "-o", out)
    assert_no_traceback(result)
    assert "charsets: cp1251 6" in summary(result)
    lines = (tmp_path / "out.json.report.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    name, number, charset, reason = lines[0].split("\t")
    assert (name, number, charset) == (str(MARC21 / "1251.dat"), "1", "cp1251")
    assert reason.startswith("plausibility")
    forced = koprik("--to", "marcjson", "--charset", "KOI8-R", MARC21 / "1251.dat", "-o", out)
    assert "charsets: koi8-r 6" in summary(forced)
    wrong = koprik("--to", "marcjson", "--charset", "utf-8", MARC21 / "1251.dat", "-o", out)
    assert wrong.returncode == 2 and "rejected 6" in summary(wrong)
    bad = koprik("--to", "marcjson", "--charset", "ebcdic", MARC21 / "1251.dat")
    assert bad.returncode == 2 and b"--charset: unknown character set 'ebcdic'" in bad.stderr
    xml = koprik("--to", "marcjson", "--charset", "cp1251", MARC21 / "batch.xml")
    assert xml.returncode == 2 and b"declares its own encoding" in xml.stderr


def test_names_not_utf8_or_holding_a_tab_are_escaped_in_the_reject_file_and_report(
    tmp_path: Path,
) -> None:
    """A name whose bytes are not UTF-8 (a Latin-1 ``café``) was a UnicodeEncodeError at its
    first reject, the output lost; a tab in a name made a column more."""
    latin1 = tmp_path / os.fsdecode(b"caf\xe9.mrc")
    latin1.write_bytes((MARC21 / "broken" / "bad_records.mrc").read_bytes())
    tabbed = tmp_path / "a\tb.mrc"
    tabbed.write_bytes((MARC21 / "1251.dat").read_bytes())  # 6 records read as CP1251
    out, rejects, report = tmp_path / "out.xml", tmp_path / "r.tsv", tmp_path / "p.tsv"
    result = koprik("--to", "marcxml", latin1, tabbed, "-o", out, "--rejects", rejects,
                    "--report", report)
    assert_no_traceback(result)
    assert result.returncode == 1  # some rejected, some converted
    assert "read 14, converted 6, rejected 8" in summary(result)
    rejected = [line.split("\t") for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert len(rejected) == 8 and all(len(line) == 4 for line in rejected)
    assert {line[0] for line in rejected} == {f"{tmp_path}/caf\\xe9.mrc"}
    reported = [line.split("\t") for line in report.read_text(encoding="utf-8").splitlines()]
    assert len(reported) == 6 and all(len(line) == 4 for line in reported)
    assert {line[0] for line in reported} == {f"{tmp_path}/a\\tb.mrc"}
    document = etree.parse(str(out), etree.XMLParser(no_network=True))
    assert len(document.getroot()) == 6


def test_unknown_mrk_mnemonics_are_listed_in_the_report(tmp_path: Path) -> None:
    source = tmp_path / "in.mrk"
    source.write_text("=LDR  00000nam\\a2200000\\a\\4500\n=245  10$aA {nosuch} b\n")
    result = koprik("--to", "marcjson", source, "-o", tmp_path / "out.json")
    assert result.returncode == 0 and "unmapped notes 1" in summary(result)
    report = (tmp_path / "out.json.report.txt").read_text(encoding="utf-8")
    assert report == f"{source}\t1\tnote\tfield 245: unknown mnemonic {{nosuch}}\n"


def test_repair_reads_damaged_records_and_lists_each_repair(tmp_path: Path) -> None:
    files = [MARC21 / "yaz" / f"marc{n}.marc" for n in (0, 1, 2, 3, 4, 5, 8, 12)]
    out = tmp_path / "out.xml"
    plain = koprik("--to", "marcxml", *files, "-o", out)
    assert plain.returncode == 2 and "rejected 8" in summary(plain)
    result = koprik("--to", "marcxml", "--repair", *files, "-o", out)
    assert_no_traceback(result)
    assert result.returncode == 0 and "converted 8, rejected 0, repaired 8" in summary(result)
    report = (tmp_path / "out.xml.report.txt").read_text(encoding="utf-8").splitlines()
    repairs = [line.split("\t") for line in report if line.split("\t")[2] == "repaired"]
    assert {name for name, *_ in repairs} == {str(path) for path in files}
    assert [str(MARC21 / "yaz" / "marc4.marc"), "1", "repaired",
            "5 bytes before the leader skipped"] in repairs
    checked = koprik("--check", "--repair", MARC21 / "yaz" / "marc5.marc")
    assert b"repaired: " not in checked.stdout
    assert b"field 250: '2\xce\xb7 \xce\xb5\xce\xba\xce\xb4.' before the first" in checked.stdout
    assert "(repaired 1)" in summary(checked)


BLANK_06 = "leader/06 (type of record) is blank: set it, e.g. 'a' for language material"


def test_a_blank_type_of_record_is_rejected_saying_what_to_set_with_or_without_repair(
    tmp_path: Path,
) -> None:
    """A book record built by hand whose leader/06 is blank: not guessed, even by --repair
    (it decides how 008 and every field are read), but the reason says what to do."""
    source = tmp_path / "blank06.mrc"
    source.write_bytes(book("blank06", "Sarlavha", type_of_record=" ").as_marc())
    leader = source.read_bytes()[:24].decode("ascii")
    reasons = {}
    for repair in ((), ("--repair",)):
        rejects = tmp_path / f"rejects{len(repair)}.tsv"
        result = koprik("--to", "mrk", *repair, source, "-o", tmp_path / "out.mrk",
                        "--rejects", rejects)
        assert_no_traceback(result)
        assert result.returncode == 2
        ((name, number, reasons[repair], raw),) = [
            line.split("\t") for line in rejects.read_text(encoding="utf-8").splitlines()
        ]
        assert (name, number, base64.b64decode(raw)) == (str(source), "1", source.read_bytes())
    assert reasons[()] == f"leader {leader!r}: {BLANK_06}"
    assert reasons[("--repair",)] == f"leader {leader!r}: {BLANK_06} (--repair does not guess this)"
    for repair in ((), ("--repair",)):
        check = koprik("--check", *repair, source)
        assert check.returncode == 1
        assert check.stdout.decode().splitlines() == [
            f"{source}: record 1: leader {leader!r}: {BLANK_06} [syntax]"
        ]


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (["-o", "{tmp}/out.xml", "--rejects", "{tmp}/out.xml"],
         "{tmp}/out.xml: named for both -o and --rejects"),
        (["-o", "{tmp}/out.xml", "--rejects", "{tmp}/r.tsv", "--report", "{tmp}/sub/../r.tsv"],
         "{tmp}/sub/../r.tsv: named for both --rejects and --report"),
        (["-o", "{tmp}/out.xml", "--report", "{tmp}/link.tsv"],  # to out.xml.rejects.txt
         "{tmp}/link.tsv: named for both the default of --rejects and --report"),
        (["--rejects", "-"], "-: named for both the default of -o and --rejects"),
    ],
    ids=["same-name", "other-spelling", "link-to-a-default", "standard-output"],
)
def test_two_outputs_of_one_file_are_refused_before_anything_is_read(
    outputs: list[str], message: str, tmp_path: Path
) -> None:
    """The same file, by any spelling or link, for two outputs: crosswalk converted every
    record, then failed; refused in one line naming it and both options, nothing written."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.tsv").symlink_to(tmp_path / "out.xml.rejects.txt")
    before = sorted(tmp_path.iterdir())
    result = koprik("--to", "marcxml", MARC21 / "broken" / "bad_records.mrc",
                    *(output.format(tmp=tmp_path) for output in outputs))
    assert_no_traceback(result)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode() == (
        f"koprik: {message.format(tmp=tmp_path)}; give each output a file of its own\n"
    )
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("option", ["-o", "--rejects", "--report"])
def test_an_output_that_is_an_input_is_refused_before_anything_is_written(
    option: str, tmp_path: Path
) -> None:
    """Writing an input would empty it before a record of it is read: the same file, also by
    another name (a symbolic link), is refused in one line and left as it was."""
    records = tmp_path / "records.mrc"
    records.write_bytes((MARC21 / "test.dat").read_bytes())
    (tmp_path / "link.mrc").symlink_to(records)
    before = records.read_bytes()
    result = koprik("--to", "marcxml", records, option, tmp_path / "link.mrc",
                    *(["-o", tmp_path / "out.xml"] if option != "-o" else []))
    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stderr.decode().strip() == (
        f"koprik: {tmp_path / 'link.mrc'} is also an input: writing it would empty {records}"
        " before it is read"
    )
    assert records.read_bytes() == before


@pytest.mark.parametrize("name", ["TEST1.ISO", "TEST2.ISO", "ur.iso", "testunimarc.dat"])
def test_unimarc_is_detected_without_from_and_converted(name: str) -> None:
    path = DATA / "unimarc" / name
    detected = koprik("--to", "mrk", path)
    given = koprik("--from", "unimarc", "--to", "mrk", path)
    assert_no_traceback(detected)
    assert detected.returncode == given.returncode
    assert detected.stdout == given.stdout  # the same crosswalk as --from unimarc
    assert f"{path}: UNIMARC/RUSMARC detected" in detected.stderr.decode()
    text = detected.stdout.decode()
    assert "=245  " in text and "=200  " not in text and "=801  " not in text


def test_unimarc_authority_records_are_rejected_and_the_bibliographic_ones_converted(
    tmp_path: Path,
) -> None:
    """Hand-built records (tests/authority_records.py): UNIMARC/Authorities entries for a
    person (200) and a corporate body (210), around a UNIMARC book."""
    source = tmp_path / "mixed.iso"
    source.write_bytes(unimarc_person() + unimarc_book() + unimarc_corporate())
    out, rejects = tmp_path / "out.mrk", tmp_path / "rejects.tsv"
    result = koprik("--to", "mrk", source, "-o", out, "--rejects", rejects)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert summary(result).startswith("crosswalk: read 3, converted 1, rejected 2")
    assert (  # the detection line says what becomes of each kind (it had said "converted")
        f"koprik: {source}: UNIMARC/RUSMARC detected (a 200 or an authority heading, 100 or "
        "801, no 245): bibliographic records converted to MARC21 as with --from unimarc, "
        "authority records rejected\n"
    ) in result.stderr.decode()
    text = out.read_text(encoding="utf-8")
    assert text.count("=LDR") == 1 and "=001  UZ-NLU-B-1" in text and "=245  00$aСтихи" in text
    lines = [line.split("\t") for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(name, number) for name, number, _, _ in lines] == [
        (str(source), "1"), (str(source), "3")
    ]
    for _, _, reason, raw in lines:
        assert reason == (
            "UNIMARC authority record (leader/06 'x': authority entry record): the crosswalk "
            "converts bibliographic records only"
        )
        assert base64.b64decode(raw) in source.read_bytes()
    given = koprik("--from", "rusmarc", "--to", "mrk", tmp_path / "mixed.iso")
    assert given.stdout == text.encode() and given.returncode == 1


def test_a_marc21_authority_record_is_not_taken_for_unimarc(tmp_path: Path) -> None:
    """A hand-built MARC21 authority record (leader/06 'z', 008, 100 heading)."""
    source = tmp_path / "names.mrc"
    source.write_bytes(marc21_person())
    result = koprik("--to", "mrk", source)
    assert result.returncode == 0, result.stderr
    assert b"UNIMARC" not in result.stderr
    assert b"=100  0\\$aNavoiy, Alisher,$d1441-1501" in result.stdout


def test_marc21_iso2709_stays_marc21() -> None:
    result = koprik("--to", "mrk", MARC21 / "test.dat")
    assert result.returncode == 0, result.stderr
    assert b"UNIMARC" not in result.stderr
    assert result.stdout == koprik("--from", "marc21", "--to", "mrk", MARC21 / "test.dat").stdout


@pytest.mark.parametrize("named", ["unimarc", "rusmarc"])
def test_marc21_named_unimarc_is_an_unreadable_input_and_the_others_converted(
    named: str, tmp_path: Path
) -> None:
    """Converted as UNIMARC, MARC21 records came out without a title, exit status 0."""
    unimarc = DATA / "unimarc" / "TEST1.ISO"
    out = tmp_path / "out.xml"
    result = koprik("--from", named, "--to", "marcxml", MARC21 / "test.dat", unimarc, "-o", out)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert result.stderr.decode().splitlines()[0] == (
        f"koprik: {MARC21 / 'test.dat'}: MARC21 records (a 245, or an 008 and no 200), not "
        f"UNIMARC; drop --from {named}"
    )
    assert "read 81, converted 81, rejected 0" in summary(result)
    assert "unreadable inputs 1" in summary(result)
    assert out.read_bytes().count(b"<record") == 81


def huge_mrk(path: Path) -> Path:
    """Three records: a plain one, one with a 500 of 20,000 bytes, one of 117 KB in 500s
    (each 500 field short enough; the record is not)."""
    head = "=LDR  00000nam a2200000 i 4500\n=001  {0}\n=245  10$aTitle {0}\n"
    path.write_text(
        head.format("small") + "\n"
        + head.format("long-field") + "=500  \\\\$a" + "x" * 20_000 + "\n\n"
        + head.format("long-record") + ("=500  \\\\$a" + "y" * 9_000 + "\n") * 13,
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("to_format", ["marc21", "marc8"])
def test_a_field_or_record_iso_2709_cannot_hold_is_rejected_with_its_size(
    tmp_path: Path, to_format: str
) -> None:
    out = tmp_path / "huge.mrc"
    result = koprik("--to", to_format, huge_mrk(tmp_path / "huge.mrk"), "-o", out)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert "converted 1, rejected 2" in summary(result)
    rejects = (tmp_path / "huge.mrc.rejects.txt").read_text(encoding="utf-8").splitlines()
    reasons = [line.split("\t")[2] for line in rejects]
    assert [line.split("\t")[1] for line in rejects] == ["2", "3"]
    assert "field 500: 20,005 bytes, longer than ISO 2709 allows a field" in reasons[0]
    assert "longer than ISO 2709 allows (99,999)" in reasons[1]
    # pymarc's "Attempt to force a RawField into encoding utf-8" came with MARC-8, 14 lines
    assert result.stderr.count(b"\n") == 1, result.stderr  # the summary alone
    back = koprik("--to", "mrk", out)  # what was written reads back
    assert back.returncode == 0 and back.stdout.count(b"=LDR") == 1


def test_other_serializations_carry_what_iso_2709_cannot(tmp_path: Path) -> None:
    out = tmp_path / "huge.xml"
    result = koprik("--to", "marcxml", huge_mrk(tmp_path / "huge.mrk"), "-o", out)
    assert result.returncode == 0, result.stderr
    assert "converted 3, rejected 0" in summary(result)


def test_check_reports_what_iso_2709_cannot_hold(tmp_path: Path) -> None:
    result = koprik("--check", huge_mrk(tmp_path / "huge.mrk"))
    assert_no_traceback(result)
    assert result.returncode == 1
    out = result.stdout.decode()
    assert ": record 2, field 500: 20,005 bytes, longer than ISO 2709 allows a field" in out
    assert ": record 3: record of " in out and "(99,999) [structure]" in out



def test_an_output_on_a_full_disk_is_one_line_naming_it(tmp_path: Path) -> None:
    """``-o /dev/full`` (every write fails as on a full disk, ENOSPC): exit 2 with one line
    naming the output; it said "[Errno 28] No space left on device", naming no file."""
    result = koprik("--to", "marcxml", MARC21 / "test.dat", "-o", "/dev/full",
                    "--rejects", tmp_path / "rejects.txt", "--report", tmp_path / "report.txt")
    assert_no_traceback(result)
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == [
        "koprik: /dev/full: No space left on device"]


@pytest.mark.parametrize("option", ["-o", "--rejects", "--report"])
def test_an_output_in_a_folder_that_does_not_exist_is_named_before_any_work(
    tmp_path: Path, option: str
) -> None:
    """It was said as its working copy's name ("cannot write /nodir/o.xml.part"), a file the
    operator never named, as the other commands' -o is not."""
    missing = tmp_path / "nodir" / "o.xml"
    outputs = {"-o": tmp_path / "out.xml", option: missing}
    result = koprik("--to", "marcxml", MARC21 / "1251.dat",
                    *[part for pair in outputs.items() for part in map(str, pair)])
    assert result.returncode == 2
    said = f"koprik: {option} {missing}: no such folder {missing.parent}\n"
    assert result.stderr.decode() == said
    assert list(tmp_path.iterdir()) == []


_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "' + b"ha" * 50 + b'">'
           + b"".join(b'<!ENTITY %c "%s">' % (ord("b") + i, b"&%c;" % (ord("a") + i) * 10)
                      for i in range(8))
           + b']><collection xmlns="http://www.loc.gov/MARC21/slim"><record><leader>'
           + b'00000nam a2200000 a 4500</leader><datafield tag="245" ind1="0" ind2="0">'
           + b'<subfield code="a">&i;</subfield></datafield></record></collection>')


@pytest.mark.parametrize(("data", "said"), [
    (b'<collection xmlns="http://www.loc.gov/MARC21/slim"><record><leader>00000nam a2200000 a '
     b'4500</leader><datafield tag="500" ind1=" " ind2=" "><subfield code="a">'
     + b"x" * 10_000_100 + b"</subfield></datafield></record></collection>",
     "a text longer than the 10,000,000 bytes libxml2 reads"),
    (_LAUGHS, "entities expanding far past the document's own size (refused)"),
])  # fmt: skip
def test_xml_past_libxml2s_limits_is_said_in_a_readers_words(
    tmp_path: Path, data: bytes, said: str
) -> None:
    """libxml2 named the parse option that lifts its limit ("try XML_PARSE_HUGE", "see
    xmlCtxtSetMaxAmplification"), which means nothing to a cataloguer and which Koprik never
    sets."""
    source = tmp_path / "in.xml"
    source.write_bytes(data)
    result = koprik("--to", "mrk", source)
    assert_no_traceback(result)
    assert result.returncode != 0
    err = result.stderr.decode()
    assert said in err and "XML_PARSE_HUGE" not in err and "xmlCtxt" not in err, err
