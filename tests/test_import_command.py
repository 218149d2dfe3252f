"""``koprik import`` on real files, as an operator runs it (a subprocess, no traceback)."""

import base64
import bz2
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from catalog import Catalog
from config import load_settings
from tests.authority_records import unimarc_book, unimarc_person
from tests.books import write_marc
from tests.conftest import DATA
from tests.servers import limit_files_to, run_script, stderr_after

ROOT = Path(__file__).resolve().parents[1]
MARC21 = DATA / "marc21"


def koprik(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "koprik.toml"
    if not config.exists():
        config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n')
    return subprocess.run(
        [sys.executable, "-m", "koprik", "--config", str(config), *args],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )


def open_catalog(tmp_path: Path) -> Catalog:
    return Catalog.open(load_settings(tmp_path / "koprik.toml"))


@pytest.mark.parametrize("name", ["test.dat", "batch.xml", "test.json", "marc8.dat", "1251.dat"])
def test_each_serialization_imports_then_reimport_changes_nothing(tmp_path, name):
    first = koprik(tmp_path, "import", str(MARC21 / name))
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    added = int(first.stdout.split("import: ")[1].split(" added")[0])
    assert added > 0
    catalog = open_catalog(tmp_path)
    listed = catalog.list_entries("marc21", limit=1000)
    catalog.close()
    assert len(listed) == added
    again = koprik(tmp_path, "import", str(MARC21 / name))
    assert f"0 added, 0 updated, {added} unchanged, 0 rejected" in again.stdout


def test_an_edited_record_is_updated_with_a_new_datestamp(tmp_path):
    from crosswalks.marc_io import iter_records, open_writer

    records = [item.record for item in iter_records(MARC21 / "test.dat")]
    original = tmp_path / "one.mrc"
    write_marc(original, records[:1])
    assert koprik(tmp_path, "import", str(original)).returncode == 0
    catalog = open_catalog(tmp_path)
    (before,) = catalog.list_entries("marc21", limit=10)

    records[0]["245"]["a"] = "An edited title"
    edited = tmp_path / "one.mrk"
    with edited.open("wb") as out:
        writer = open_writer("mrk", out)
        writer.write(records[0])
        writer.close()
    import time

    time.sleep(1.1)
    result = koprik(tmp_path, "import", str(edited))
    assert "0 added, 1 updated" in result.stdout
    (after,) = catalog.list_entries("marc21", limit=10)
    catalog.close()
    assert after.local_id == before.local_id
    assert after.datestamp > before.datestamp
    assert b"An edited title" in after.data


def test_broken_records_go_to_the_rejects_file_and_the_run_goes_on(tmp_path):
    rejects = tmp_path / "rejects.txt"
    files = [str(MARC21 / "broken" / "bad_records.mrc"), str(MARC21 / "test.dat")]
    result = koprik(tmp_path, "import", "--rejects", str(rejects), *files)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "rejected" in result.stdout and " 0 rejected" not in result.stdout
    lines = rejects.read_text().splitlines()
    assert lines and all("bad_records.mrc\trecord " in line for line in lines)
    assert "test.dat" not in rejects.read_text()
    # One line a reject: file, record N, reason, the raw bytes in base64 (as crosswalk writes
    # them), which give the record back exactly; it was a Python bytes repr on a line of its own.
    broken = (MARC21 / "broken" / "bad_records.mrc").read_bytes()
    for line in lines:
        _file, _position, _reason, raw = line.split("\t")
        assert base64.b64decode(raw, validate=True) in broken


def test_a_source_not_in_the_settings_file_names_the_file_read(tmp_path, capsys):
    """It said "define it in koprik.toml" whichever file --config named."""
    from koprik.cli import main

    config = tmp_path / "other.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n')
    status = main(["--config", str(config), "import", "--source", "nowhere",
                   str(MARC21 / "test.dat")])
    assert status == 2
    assert capsys.readouterr().err == (
        f"koprik: --source 'nowhere': no such file source; define it in {config} as "
        '[[file_sources]] name = "nowhere" with its institution_code and name\n')


def test_missing_file_is_one_line(tmp_path):
    result = koprik(tmp_path, "import", str(tmp_path / "nope.mrc"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"koprik: {tmp_path / 'nope.mrc'}: no such file"
    folder = koprik(tmp_path, "import", str(tmp_path))
    assert folder.returncode == 2
    assert folder.stderr.strip() == f"koprik: {tmp_path}: a folder, not a file of records"
    pipe = tmp_path / "fifo"
    os.mkfifo(pipe)
    for special in (pipe, Path("/dev/zero")):
        refused = koprik(tmp_path, "import", str(special))
        assert refused.returncode == 2
        assert refused.stderr.strip() == f"koprik: {special}: not a regular file"
    dash = koprik(tmp_path, "import", "-")  # standard input elsewhere; here no file of that name
    assert (dash.returncode, dash.stderr) == (2, "koprik: -: koprik import reads files, not "
                                              "standard input; save the records to a file and "
                                              "name it\n")


def test_a_file_name_with_controls_or_a_link_loop_is_said_in_one_line(tmp_path):
    """A name holding a newline and an escape sequence is said with them written \\xNN: it
    broke the one line about it in two, and drove the terminal (probe). A loop of symbolic
    links is said to be one; ``import`` called it "no such file"."""
    named = tmp_path / "x\n\x1b[31my.mrc"
    result = koprik(tmp_path, "import", str(named))
    assert (result.returncode, result.stderr) == (
        2, f"koprik: {tmp_path}/x\\x0a\\x1b[31my.mrc: no such file\n")
    walked = koprik(tmp_path, "crosswalk", "--to", "mrk", str(named))
    assert walked.stderr.splitlines()[0] == (
        f"koprik: cannot read {tmp_path}/x\\x0a\\x1b[31my.mrc: No such file or directory")
    loop = tmp_path / "loop.mrc"
    loop.symlink_to(loop)
    looped = koprik(tmp_path, "import", str(loop))
    assert (looped.returncode, looped.stderr) == (
        2, f"koprik: {loop}: cannot be read (Too many levels of symbolic links)\n")


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: [str(_junk(tmp))], "not ISO 2709, MARCXML, MARC-in-JSON or MarcEdit text"),
        (lambda tmp: [str(DATA / "oai/oai-caltech.xml")],
         "oai_dc records, not MARC21; convert them first"),
        (lambda tmp: ["--rejects", str(tmp / "no/such/dir/r.txt"), str(MARC21 / "test.dat")],
         "koprik: --rejects {tmp}/no/such/dir/r.txt: no such folder {tmp}/no/such/dir\n"),
        (lambda tmp: ["--report", str(tmp / "no/r.txt"), str(MARC21 / "test.dat")],
         "koprik: --report {tmp}/no/r.txt: no such folder {tmp}/no\n"),
        (lambda tmp: [str(_empty(tmp, b""))], "koprik: {tmp}/empty.mrc: the file is empty\n"),
        (lambda tmp: [str(_empty(tmp, b"\n \r\n"))],
         "koprik: {tmp}/empty.mrc: the file holds only blanks, no records\n"),
        (lambda tmp: [str(_packed(tmp))],
         "koprik: {tmp}/books.mrc.bz2: compressed (bzip2); decompress it first\n"),
    ],
)
def test_operator_mistakes_are_one_line(tmp_path, make_args, message):
    result = koprik(tmp_path, "import", *make_args(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message.format(tmp=tmp_path) in result.stderr


def test_a_file_that_cannot_be_imported_is_refused_before_any_is_imported(tmp_path):
    """An empty file after a good one: refused in one line before the good one is stored (it
    had been stored, left without deduplication, and the run ended with no summary)."""
    result = koprik(tmp_path, "import", str(MARC21 / "test.dat"), str(_empty(tmp_path, b"")))
    assert result.returncode == 2
    assert result.stderr == f"koprik: {tmp_path}/empty.mrc: the file is empty\n"
    assert result.stdout == ""
    catalog = open_catalog(tmp_path)
    try:
        assert catalog.is_empty()
    finally:
        catalog.close()


def test_a_file_named_twice_is_refused_before_any_work(tmp_path):
    """``import a.mrc a.mrc`` (or ``a.mrc ./a.mrc``, or a link to it) read it twice: each
    record was rejected the second time as having the id of one stored earlier in the run, and
    the run ended with status 1. Now it is one line naming the file, status 2, nothing stored."""
    books = tmp_path / "a.mrc"
    books.write_bytes((MARC21 / "test.dat").read_bytes())
    (tmp_path / "b.mrc").hardlink_to(books)
    for names, line in (
        (["a.mrc", "a.mrc"], "koprik: a.mrc: named twice; name each file once\n"),
        (["a.mrc", "./a.mrc"], "koprik: a.mrc: named twice; name each file once\n"),
        ([str(books), "a.mrc"],
         f"koprik: a.mrc: named twice (as {books} too); name each file once\n"),
        ([str(books), "b.mrc"],
         f"koprik: b.mrc: named twice (as {books} too); name each file once\n"),
    ):
        result = koprik(tmp_path, "import", *names)
        assert (result.returncode, result.stderr, result.stdout) == (2, line, "")
    assert not (tmp_path / "c.sqlite3").exists() or _stored_count(tmp_path / "c.sqlite3") == 0


def _packed(folder: Path) -> Path:
    """Records as they come from a partner's archive: compressed (they were read as junk)."""
    path = folder / "books.mrc.bz2"
    path.write_bytes(bz2.compress((MARC21 / "test.dat").read_bytes()))
    return path


def _empty(folder: Path, content: bytes) -> Path:
    path = folder / "empty.mrc"
    path.write_bytes(content)
    return path


def test_an_unreachable_database_is_one_line(tmp_path):
    from tests.conftest import free_port

    port = free_port()
    (tmp_path / "koprik.toml").write_text(
        f'[database]\nurl = "postgresql+psycopg://koprik:secret@127.0.0.1:{port}/x"\n'
    )
    result = koprik(tmp_path, "import", str(MARC21 / "test.dat"))
    assert result.returncode == 2
    assert result.stderr.startswith(  # which database, its password hidden
        f"koprik: the catalogue database postgresql+psycopg://koprik:***@127.0.0.1:{port}/x "
        "cannot be used:")  # fmt: skip
    assert result.stderr.count("\n") == 1


def _junk(folder: Path) -> Path:
    path = folder / "junk.txt"
    path.write_text("garbage\n")
    return path


def _import_under_way(
    folder: Path, count: int, also: Callable[[int], object] = bool
) -> tuple[subprocess.Popen[str], Path, Path]:
    """``koprik import`` of ``count`` demo records into a new catalogue in ``folder``, started
    in a session of its own and returned once its first batch is stored and ``also(pid)`` is
    true: the process, the file it imports and the catalogue's database."""
    import time

    from catalog.demo import demo_records

    source = folder / "many.mrc"
    write_marc(source, demo_records(count, seed=5))
    database = folder / "c.sqlite3"
    (folder / "koprik.toml").write_text(f'[database]\nurl = "sqlite:///{database}"\n')
    command = [sys.executable, "-m", "koprik", "--config", str(folder / "koprik.toml"),
               "import", str(source)]  # fmt: skip
    running = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while not (_stored_count(database) and also(running.pid)):  # the first batch
        assert time.monotonic() < deadline and running.poll() is None
        time.sleep(0.05)
    return running, source, database


@pytest.mark.parametrize(("signum", "word"), [(signal.SIGINT, "interrupted"),
                                              (signal.SIGTERM, "terminated")])
def test_an_interrupted_import_says_what_it_kept_and_the_next_goes_on(tmp_path, signum, word):
    """A ^C (to the terminal's process group) or a SIGTERM (to the command) after the first
    batch: the batches stored stay, said with their counts in one line (two were said, the
    counts then "koprik: interrupted" or "koprik: terminated"), and the next import adds the
    rest, none twice."""
    running, source, database = _import_under_way(tmp_path, 6000)
    if signum == signal.SIGINT:
        os.killpg(running.pid, signum)
        _, err = running.communicate(timeout=120)
    else:
        err = stderr_after(running, signum, timeout=120)
    assert running.returncode == 128 + signum, err
    stored = _stored_count(database)
    assert 0 < stored < 6000
    assert err.splitlines()[-1] == (
        f"koprik: {word} after {stored} added, 0 updated, 0 unchanged, 0 rejected: "
        "those stay stored; import the files again to go on (they are found unchanged)"
    )
    assert err.count(word) == 1, err
    again = koprik(tmp_path, "import", str(source))
    assert again.returncode == 0, again.stderr
    assert f"import: {6000 - stored} added, 0 updated, {stored} unchanged, 0 rejected" in (
        again.stdout
    )


def _grandchildren(pid: int) -> list[int]:
    """The processes the fork server of the command ``pid`` started: its workers and its
    reading process."""
    def children(of: int) -> list[int]:
        try:
            return [int(c) for c in Path(f"/proc/{of}/task/{of}/children").read_text().split()]
        except FileNotFoundError:
            return []

    return [process for child in children(pid) for process in children(child)]


def test_an_import_whose_processes_are_killed_midway_ends_in_one_line_and_goes_on(tmp_path):
    """Its worker and reading processes SIGKILLed after the first batch (by an operator, or
    the out-of-memory killer): the import ended with BrokenProcessPool's traceback, or "got end
    of file during message", or hung for ever in its pool's shutdown (crash probe); it ends in
    one line, and an import again adds the rest."""
    running, source, database = _import_under_way(tmp_path, 8000, _grandchildren)
    for process in _grandchildren(running.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGKILL)
    try:
        _, err = running.communicate(timeout=120)
    finally:
        os.killpg(running.pid, signal.SIGKILL)  # (none left, unless it hung)
    assert running.returncode == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("koprik: "), err
    stored = _stored_count(database)
    again = koprik(tmp_path, "import", str(source))
    assert again.returncode == 0, again.stderr
    assert f"import: {8000 - stored} added, 0 updated, {stored} unchanged, 0 rejected" in (
        again.stdout
    )


def test_a_catalogue_that_fails_midway_says_what_was_stored_before(tmp_path):
    """The catalogue's file cannot grow past 3 MiB (as on a full disk; files limited so, SQLite
    says "disk I/O error", a full disk "database or disk is full": both seen): one line naming
    the catalogue, and the counts of the batches committed before, as a ^C says them. It said
    "cannot be used" without a word of the records stored; an import again goes on."""
    from catalog.demo import demo_records

    source = tmp_path / "many.mrc"
    write_marc(source, demo_records(1500, seed=5))
    database = tmp_path / "c.sqlite3"
    (tmp_path / "koprik.toml").write_text(f'[database]\nurl = "sqlite:///{database}"\n')
    failed = subprocess.run(
        [sys.executable, "-m", "koprik", "--config", str(tmp_path / "koprik.toml"), "import",
         str(source)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        preexec_fn=lambda: limit_files_to(3 << 20),
    )  # fmt: skip
    assert failed.returncode == 2, failed.stderr
    stored = _stored_count(database)
    assert 0 < stored < 1500
    assert failed.stderr.splitlines() == [
        f"koprik: the catalogue database sqlite:///{database} cannot be used: disk I/O error; "
        f"after {stored} added, 0 updated, 0 unchanged, 0 rejected: those stay stored; import "
        "the files again to go on (they are found unchanged)"]
    again = koprik(tmp_path, "import", str(source))
    assert again.returncode == 0, again.stderr
    assert f"import: {1500 - stored} added, 0 updated, {stored} unchanged, 0 rejected" in (
        again.stdout
    )


@pytest.mark.parametrize(("signum", "word"), [(signal.SIGINT, "interrupted"),
                                              (signal.SIGTERM, "terminated")])
def test_a_stop_signal_just_after_a_batch_commits_counts_that_batch(tmp_path, signum, word):
    """A ^C or SIGTERM arriving as a batch's COMMIT returns, before the import counted it:
    the batch is counted all the same (koprik.stopping.stop_held, around the commit and its
    bookkeeping in Catalog.write), the line says every record stored. It said the first
    batch's 3 with 9 stored; seen once in a run of the test above as "after 0 added" with 250
    stored, the ^C sent as soon as the first batch was seen stored."""
    from catalog.demo import demo_records

    source = tmp_path / "many.mrc"
    write_marc(source, demo_records(100, seed=5))
    database = tmp_path / "c.sqlite3"
    (tmp_path / "koprik.toml").write_text(f'[database]\nurl = "sqlite:///{database}"\n')
    stopped = run_script(tmp_path, (
        "import os, signal, sys\n"
        "from sqlalchemy.engine.default import DefaultDialect\n"
        "import catalog.store as store\n"
        "import koprik.commands.import_ as import_\n"
        "from koprik.program import run\n"
        "import_.BATCH = 25\n"
        "batches = []\n"
        "put_prepared, do_commit = store.CatalogWriter.put_prepared, DefaultDialect.do_commit\n"
        "def put(self, prepared, once=None):\n"
        "    batches.append(len(prepared.items))\n"
        "    return put_prepared(self, prepared, once)\n"
        "def commit(self, connection):\n"
        "    do_commit(self, connection)\n"
        "    if len(batches) == 2:  # the second batch's COMMIT has returned: the signal now\n"
        "        batches.append(0)\n"
        f"        os.kill(os.getpid(), {int(signum)})\n"
        "store.CatalogWriter.put_prepared, DefaultDialect.do_commit = put, commit\n"
        f"sys.argv = ['koprik', '--config', {str(tmp_path / 'koprik.toml')!r}, 'import', "
        f"{str(source)!r}]\n"
        "run()\n"
    ))
    assert stopped.returncode == 128 + signum, stopped.stderr
    stored = _stored_count(database)  # two batches (the first ones are small: batch_sizes)
    assert 0 < stored < 100
    assert stopped.stderr.splitlines()[-1] == (
        f"koprik: {word} after {stored} added, 0 updated, 0 unchanged, 0 rejected: "
        "those stay stored; import the files again to go on (they are found unchanged)"
    ), stopped.stderr



def _stored_count(database: Path) -> int:
    """How many records the catalogue ``database`` holds (0 before it is made)."""
    try:
        with contextlib.closing(sqlite3.connect(database)) as watch:
            return watch.execute("SELECT count(*) FROM records").fetchone()[0]
    except sqlite3.OperationalError:  # not made yet
        return 0


def test_a_file_source_whose_001s_equal_ours_adds_and_never_overwrites(tmp_path):
    from tests.books import book

    (tmp_path / "koprik.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n'
        '[[file_sources]]\nname = "samarqand"\ninstitution_code = "UzSaRL"\n'
        'institution_name = "Samarqand regional library"\n'
    )
    ours = [book("1", "Kimyo", author="Rahimov, Botir", organization="UzNL"),
            book("2", "Fizika", author="Olimov, Salim")]
    theirs = [book("1", "Tarix", author="Karimov, Aziz"), book("2", "Geografiya")]
    write_marc(tmp_path / "ours.mrc", ours)
    write_marc(tmp_path / "theirs.mrc", theirs)
    assert "2 added" in koprik(tmp_path, "import", "ours.mrc").stdout
    result = koprik(tmp_path, "import", "--source", "samarqand", "theirs.mrc")
    assert "import: 2 added, 0 updated, 0 unchanged" in result.stdout, result.stderr
    catalog = open_catalog(tmp_path)
    try:
        assert b"Kimyo" in catalog.marc_of("1")
        assert b"Tarix" in catalog.marc_of("samarqand:1")
        assert catalog.count(None) == 4
    finally:
        catalog.close()
    unknown = koprik(tmp_path, "import", "--source", "nowhere", "theirs.mrc")
    assert unknown.returncode == 2 and "no such file source" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_a_second_record_under_one_001_is_rejected_and_the_first_kept_at_every_import(
    tmp_path,
):
    """Two books under one 001, in one file and across two files of one run: the first is
    stored, the later ones rejected with the reason (the later one replaced the first, unsaid,
    and each import again wrote both, one over the other, with new datestamps)."""
    from tests.books import book

    write_marc(tmp_path / "one.mrc", [book("7", "Kimyo"), book("8", "Fizika"),
                                      book("7", "Tarix")])  # fmt: skip
    write_marc(tmp_path / "two.mrc", [book("8", "Geografiya"), book("9", "Adabiyot")])
    rejects = tmp_path / "rejects.txt"
    for run in range(2):
        result = koprik(tmp_path, "import", "--rejects", str(rejects), "one.mrc", "two.mrc")
        assert result.returncode == 1, result.stderr
        expected = "3 added, 0 updated, 0 unchanged" if run == 0 else (
            "0 added, 0 updated, 3 unchanged")
        assert f"import: {expected}, 2 rejected" in result.stdout, result.stdout
        lines = [line.split("\t")[:3] for line in rejects.read_text().splitlines()]
        assert lines == [
            ["one.mrc", "record 3", "its id 7 is that of a record stored earlier in this run, "
                                    "which is kept"],
            ["two.mrc", "record 1", "its id 8 is that of a record stored earlier in this run, "
                                    "which is kept"],
        ]
    catalog = open_catalog(tmp_path)
    try:
        assert b"Kimyo" in catalog.marc_of("7") and b"Fizika" in catalog.marc_of("8")
        assert catalog.count(None) == 3
    finally:
        catalog.close()


def test_a_record_marked_deleted_deletes_the_stored_one_and_leaves_its_union_record(tmp_path):
    """A regional centre's export carries its deletions as records with leader/05 ``d``: the
    record stored under that key is deleted (and leaves its union record, whose holdings lose
    that centre's), one never held is counted as such, and nothing is stored for either (they
    were stored live, a deleted book served on as the centre's holding)."""
    from tests.books import book

    (tmp_path / "koprik.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n'
        '[union]\ninstitution_code = "UzNL"\n'
        + "".join(f'[[file_sources]]\nname = "{name}"\ninstitution_code = "{code}"\n'
                  f'institution_name = "{name}"\n'
                  for name, code in (("samarqand", "UzSaRL"), ("buxoro", "UzBuRL")))
    )
    isbn = "9789943001234"
    copies = {"ours": book("1", "Kimyo", author="Rahimov, Botir", isbn=isbn),
              "samarqand": book("s1", "Kimyo", author="Rahimov, Botir", isbn=isbn),
              "buxoro": book("b1", "Kimyo", author="Rahimov, Botir", isbn=isbn)}
    for name, record in copies.items():
        write_marc(tmp_path / f"{name}.mrc", [record])
        source = [] if name == "ours" else ["--source", name]
        assert koprik(tmp_path, "import", *source, f"{name}.mrc").returncode == 0
    gone = copies["samarqand"]
    gone.leader = gone.leader[:5] + "d" + gone.leader[6:]
    never = book("s9", "Fizika")
    never.leader = never.leader[:5] + "d" + never.leader[6:]
    write_marc(tmp_path / "deleted.mrc", [gone, never])
    for run in range(2):
        result = koprik(tmp_path, "import", "--source", "samarqand", "deleted.mrc")
        assert result.returncode == 0, result.stderr
        said = ("1 deleted, 1 deletions of records not held" if run == 0
                else "0 deleted, 2 deletions of records not held")
        assert f"import: 0 added, 0 updated, 0 unchanged, {said}, 0 rejected" in result.stdout
    with contextlib.closing(sqlite3.connect(tmp_path / "c.sqlite3")) as db:
        rows = {local_id: (deleted, union_id) for local_id, deleted, union_id in db.execute(
            "SELECT local_id, deleted, union_id FROM records")}
        ((union_id, marc),) = db.execute("SELECT id, marc FROM records WHERE is_union = 1"
                                         " AND deleted = 0")
    assert rows["samarqand:s1"] == (1, None)
    assert rows["1"] == (0, union_id) and rows["buxoro:b1"] == (0, union_id)
    assert "samarqand:s9" not in rows
    assert b"UzBuRL" in marc and b"UzSaRL" not in marc


def test_a_deletion_of_a_record_stored_earlier_in_the_run_is_rejected(tmp_path):
    """A book and its deletion under one 001 in one run say two things of one record: as for
    two books under one 001, the first is kept and the later rejected with the reason."""
    from tests.books import book

    deleted = book("7", "Kimyo")
    deleted.leader = deleted.leader[:5] + "d" + deleted.leader[6:]
    write_marc(tmp_path / "both.mrc", [book("7", "Kimyo"), deleted])
    rejects = tmp_path / "rejects.txt"
    result = koprik(tmp_path, "import", "--rejects", str(rejects), "both.mrc")
    assert result.returncode == 1
    assert "import: 1 added, 0 updated, 0 unchanged, 1 rejected" in result.stdout
    assert rejects.read_text().split("\t")[1:3] == [
        "record 2", "its id 7 is that of a record stored earlier in this run, which is kept"]


def test_a_deletion_met_again_in_the_run_changes_nothing_and_a_book_after_it_is_rejected(
    tmp_path,
):
    """A deletion sent twice is harmless (the second was rejected, and blocked --replace); a
    book under the id of a record the run deleted is rejected saying so (it was said to be "a
    record stored earlier in this run, which is kept"); a deletion without a 001 is rejected
    (it was counted as a deletion of a record not held: it can name none)."""
    from tests.books import book

    deleted = book("8", "Kimyo")
    deleted.leader = deleted.leader[:5] + "d" + deleted.leader[6:]
    write_marc(tmp_path / "held.mrc", [book("8", "Kimyo")])
    nameless = book("9", "Fizika")
    nameless.remove_fields("001")
    nameless.leader = deleted.leader
    write_marc(tmp_path / "log.mrc", [deleted, deleted, book("8", "Kimyo"), nameless])
    assert koprik(tmp_path, "import", "held.mrc").returncode == 0
    rejects = tmp_path / "rejects.txt"
    result = koprik(tmp_path, "import", "--rejects", str(rejects), "log.mrc")
    assert result.returncode == 1
    assert ("import: 0 added, 0 updated, 0 unchanged, 1 deleted, 1 deletions of records not "
            "held, 2 rejected") in result.stdout
    reasons = [line.split("\t")[1:3] for line in rejects.read_text().splitlines()]
    assert reasons == [
        ["record 3",
         "its id 8 is that of a record deleted earlier in this run, which stays deleted"],
        ["record 4", "a deletion (leader/05 d) without a 001 names no record"]]


def test_replace_deletes_the_sources_records_its_whole_catalogue_no_longer_holds(tmp_path):
    """A centre sending its whole catalogue each time sends no deletions: a withdrawn book is
    just absent. With --replace the source's records not in the files are deleted (and leave
    their union record); nothing is deleted when a record was rejected, nor of other
    sources; --replace without --source is refused."""
    from tests.books import book

    (tmp_path / "koprik.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n'
        '[union]\ninstitution_code = "UzNL"\n'
        '[[file_sources]]\nname = "samarqand"\ninstitution_code = "UzSaRL"\n'
        'institution_name = "Samarqand"\n'
    )
    isbn = "9789943001234"
    write_marc(tmp_path / "ours.mrc", [book("1", "Kimyo", author="Rahimov, Botir", isbn=isbn),
                                       book("2", "Tarix")])  # fmt: skip
    theirs = [book("s1", "Kimyo", author="Rahimov, Botir", isbn=isbn), book("s2", "Fizika"),
              book("s3", "Geografiya")]
    write_marc(tmp_path / "all.mrc", theirs)
    assert koprik(tmp_path, "import", "ours.mrc").returncode == 0
    assert koprik(tmp_path, "import", "--source", "samarqand", "all.mrc").returncode == 0
    with contextlib.closing(sqlite3.connect(tmp_path / "c.sqlite3")) as db:
        ((union,),) = db.execute("SELECT marc FROM records WHERE is_union AND NOT deleted")
    assert b"UzSaRL" in union

    write_marc(tmp_path / "later.mrc", [theirs[1], book("s4", "Adabiyot")])  # s1, s3 gone
    write_marc(tmp_path / "broken.mrc", [theirs[1], theirs[1], book("s4", "Kimyo")])
    refused = koprik(tmp_path, "import", "--replace", "later.mrc")
    assert refused.returncode == 2 and refused.stderr.startswith("koprik: --replace needs")
    kept = koprik(tmp_path, "import", "--source", "samarqand", "--replace", "broken.mrc")
    assert kept.returncode == 1
    assert "replace: nothing deleted: the run rejected records (1)" in kept.stdout
    result = koprik(tmp_path, "import", "--source", "samarqand", "--replace", "later.mrc")
    assert result.returncode == 0, result.stderr
    assert "import: 0 added, 1 updated, 1 unchanged, 0 rejected" in result.stdout
    assert "replace: records of samarqand that the files do not hold: 2 deleted" in result.stdout
    with contextlib.closing(sqlite3.connect(tmp_path / "c.sqlite3")) as db:
        rows = dict(db.execute("SELECT local_id, deleted FROM records WHERE NOT is_union"))
        ((union,),) = db.execute("SELECT marc FROM records WHERE is_union AND NOT deleted")
    assert b"UzNL" in union and b"UzSaRL" not in union  # samarqand:s1 left it
    assert rows == {"1": 0, "2": 0, "samarqand:s1": 1, "samarqand:s2": 0, "samarqand:s3": 1,
                    "samarqand:s4": 0}
    again = koprik(tmp_path, "import", "--source", "samarqand", "--replace", "later.mrc")
    assert "replace: records of samarqand that the files do not hold: 0 deleted" in again.stdout


def _samarqand(tmp_path: Path) -> None:
    (tmp_path / "koprik.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n'
        '[[file_sources]]\nname = "samarqand"\ninstitution_code = "UzSaRL"\n'
        'institution_name = "Samarqand"\n'
    )


def test_replace_deletes_what_the_files_no_longer_hold_even_if_stored_the_same_second(tmp_path):
    """Records stored by an import in the second the --replace run begins are the source's
    earlier records, not another run's: it deleted none of them (it told them by datestamp)."""
    from tests.books import book

    _samarqand(tmp_path)
    write_marc(tmp_path / "all.mrc", [book(f"s{n}", f"Kitob {n}") for n in range(1, 6)])
    write_marc(tmp_path / "later.mrc", [book(f"s{n}", f"Kitob {n}") for n in range(1, 4)])
    config = str(tmp_path / "koprik.toml")
    (tmp_path / "twice.py").write_text(
        "from koprik.cli import main\n"
        f"base = ['--config', {config!r}, 'import', '--source', 'samarqand']\n"
        "assert main([*base, 'all.mrc']) == 0\n"
        "assert main([*base, '--replace', 'later.mrc']) == 0\n"
    )
    done = subprocess.run([sys.executable, "twice.py"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "replace: records of samarqand that the files do not hold: 2 deleted" in done.stdout
    with contextlib.closing(sqlite3.connect(tmp_path / "c.sqlite3")) as db:
        live = {row[0] for row in db.execute("SELECT local_id FROM records WHERE NOT deleted")}
    assert live == {"samarqand:s1", "samarqand:s2", "samarqand:s3"}


def test_an_interrupted_replace_says_how_many_it_had_deleted(tmp_path):
    """A ^C while --replace deletes: the chunks deleted stay deleted, and the line says so (it
    gave the import's counts alone, as if nothing had been deleted); a run again goes on."""
    from tests.books import book

    _samarqand(tmp_path)
    write_marc(tmp_path / "all.mrc", [book(f"s{n}", f"Kitob {n}") for n in range(1, 8)])
    write_marc(tmp_path / "later.mrc", [book("s1", "Kitob 1")])
    assert koprik(tmp_path, "import", "--source", "samarqand", "all.mrc").returncode == 0
    stopped = run_script(tmp_path, (
        "import os, signal, sys\n"
        "import catalog.replace\n"
        "import koprik.commands.import_ as import_\n"
        "from koprik.program import run\n"
        "catalog.replace.CHUNK = 2\n"
        "delete_unmet = import_.delete_unmet\n"
        "def stopping(catalog, source, met, after_change, progress):\n"
        "    def then(looked_at, deleted):\n"
        "        progress(looked_at, deleted)\n"
        "        if deleted:  # a chunk's deletions are committed: ^C now\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "    return delete_unmet(catalog, source, met, after_change, then)\n"
        "import_.delete_unmet = stopping\n"
        f"sys.argv = ['koprik', '--config', {str(tmp_path / 'koprik.toml')!r}, 'import', "
        "'--source', 'samarqand', '--replace', 'later.mrc']\n"
        "run()\n"
    ))
    assert stopped.returncode == 128 + signal.SIGINT, stopped.stderr
    assert stopped.stderr.splitlines()[-1] == (
        "koprik: interrupted after 0 added, 0 updated, 1 unchanged, 0 rejected, and deleted 1 of "
        "the source's records the files do not hold (`koprik dedup` takes them out of their "
        "union records): "
        "those stay stored; import the files again to go on (they are found unchanged)"
    ), stopped.stderr
    again = koprik(tmp_path, "import", "--source", "samarqand", "--replace", "later.mrc")
    assert "replace: records of samarqand that the files do not hold: 5 deleted" in again.stdout


def test_a_record_whose_003_names_another_organization_never_overwrites_ours(tmp_path):
    from tests.books import book

    write_marc(tmp_path / "ours.mrc", [book("5", "Kimyo", organization="UzNL")])
    write_marc(tmp_path / "loc.mrc", [book("5", "Chemistry", organization="DLC")])
    koprik(tmp_path, "import", "ours.mrc")
    assert "1 added" in koprik(tmp_path, "import", "loc.mrc").stdout
    catalog = open_catalog(tmp_path)
    try:
        assert b"Kimyo" in catalog.marc_of("5")
        assert b"Chemistry" in catalog.marc_of("003:DLC:5")
    finally:
        catalog.close()


def test_charset_decisions_and_validator_warnings_go_to_the_report(tmp_path):
    report = tmp_path / "report.txt"
    result = koprik(tmp_path, "import", "--report", str(report), str(MARC21 / "1251.dat"))
    assert result.returncode == 0, result.stderr
    assert "6 added" in result.stdout and "charsets: cp1251 6" in result.stdout
    assert "validator warnings" in result.stdout
    lines = report.read_text(encoding="utf-8").splitlines()
    assert f"{MARC21 / '1251.dat'}\trecord 1\tread as cp1251 (plausibility" in lines[0]
    assert any("\twarning: record 1, field " in line for line in lines)
    forced = koprik(tmp_path, "import", "--charset", "utf-8", str(MARC21 / "1251.dat"))
    assert "6 rejected" in forced.stdout
    bad = koprik(tmp_path, "import", "--charset", "nope", str(MARC21 / "1251.dat"))
    assert bad.returncode == 2 and "--charset: unknown character set 'nope'" in bad.stderr


def test_names_not_utf8_or_holding_a_tab_are_escaped_in_the_rejects_and_report(tmp_path):
    """A name whose bytes are not UTF-8 (a Latin-1 ``café``) was a UnicodeEncodeError as its
    first reject was written, the rejects lost; a tab in a name made a column more."""
    latin1 = tmp_path / os.fsdecode(b"caf\xe9.mrc")
    latin1.write_bytes((MARC21 / "broken" / "bad_records.mrc").read_bytes())
    tabbed = tmp_path / "a\tb.mrc"
    tabbed.write_bytes((MARC21 / "1251.dat").read_bytes())  # 6 records read as CP1251
    rejects, report = tmp_path / "rejects.txt", tmp_path / "report.txt"
    result = koprik(tmp_path, "import", "--rejects", str(rejects), "--report", str(report),
                    str(latin1), str(tabbed))
    assert "Traceback" not in result.stderr
    assert result.returncode == 1 and "6 added, 0 updated, 0 unchanged, 8 rejected" in result.stdout
    rejected = [line.split("\t") for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert len(rejected) == 8 and all(len(line) == 4 for line in rejected)
    assert {line[0] for line in rejected} == {f"{tmp_path}/caf\\xe9.mrc"}
    reported = [line.split("\t") for line in report.read_text(encoding="utf-8").splitlines()]
    assert reported and all(len(line) == 3 for line in reported)
    assert {line[0] for line in reported} == {f"{tmp_path}/a\\tb.mrc"}


def test_repair_imports_damaged_records_and_reports_the_repairs(tmp_path):
    damaged = [str(MARC21 / "yaz" / f"marc{n}.marc") for n in (4, 5)]
    plain = koprik(tmp_path, "import", *damaged)
    assert "0 added" in plain.stdout and "2 rejected" in plain.stdout
    report = tmp_path / "report.txt"
    result = koprik(tmp_path, "import", "--repair", "--report", str(report), *damaged)
    assert result.returncode == 0, result.stderr
    assert "2 added" in result.stdout and "repaired 2" in result.stdout
    lines = report.read_text(encoding="utf-8").splitlines()
    assert f"{damaged[0]}\trecord 1\trepaired: 5 bytes before the leader skipped" in lines


def test_a_rejects_or_report_file_that_is_being_imported_is_refused(tmp_path):
    records = tmp_path / "records.mrc"
    records.write_bytes((MARC21 / "test.dat").read_bytes())
    before = records.read_bytes()
    for option in ("--rejects", "--report"):
        result = koprik(tmp_path, "import", option, str(records), str(records))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip() == (
            f"koprik: {records} is also an input: writing it would empty {records} before it is"
            " read"
        )
    assert records.read_bytes() == before


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (["--rejects", "{tmp}/out.txt", "--report", "{tmp}/sub/../out.txt"],
         "{tmp}/sub/../out.txt: named for both --rejects and --report"),
        (["--rejects", "var/import-report.txt"],
         "var/import-report.txt: named for both --rejects and the default of --report"),
    ],
    ids=["other-spelling", "a-default"],
)
def test_one_file_for_the_rejects_and_the_report_is_refused_before_any_import(
    tmp_path, outputs, message
):
    """Both written in one file were interleaved in it: refused in one line naming the file
    (by any spelling) and both options, before the catalogue is opened."""
    (tmp_path / "sub").mkdir()
    result = koprik(tmp_path, "import", *(output.format(tmp=tmp_path) for output in outputs),
                    str(MARC21 / "test.dat"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (
        f"koprik: {message.format(tmp=tmp_path)}; give each output a file of its own\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["koprik.toml", "sub"]


def test_a_rejects_file_another_run_is_writing_is_refused_and_left_whole(tmp_path):
    """Another run holds ``var/import-rejects.txt`` (the default of two imports started in one
    folder; the test holds its lock as that run would): the import is refused in one line
    naming it, before opening the catalogue, and the other run's lines stay. Both wrote it at
    once before, each emptying it and then writing over the other's lines."""
    import fcntl

    rejects = tmp_path / "var" / "import-rejects.txt"
    rejects.parent.mkdir()
    rejects.write_text("other.mrc\trecord 1\tleader too short\tAAAA\n")
    with rejects.open("r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = koprik(tmp_path, "import", str(MARC21 / "test.dat"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (
        "koprik: var/import-rejects.txt (the default of --rejects): being written by another "
        "koprik run now; wait for it to end, or name another file\n")
    assert rejects.read_text() == "other.mrc\trecord 1\tleader too short\tAAAA\n"
    assert not (tmp_path / "c.sqlite3").exists()
    with open("/dev/null", "rb") as device:  # a device is written in place, never held
        fcntl.flock(device, fcntl.LOCK_EX)
        quiet = koprik(tmp_path, "import", "--rejects", "/dev/null", "--report", "/dev/null",
                       str(MARC21 / "test.dat"))
    assert quiet.returncode == 0, quiet.stderr


def test_unimarc_is_detected_and_imported_as_marc21(tmp_path):
    report = tmp_path / "report.txt"
    path = DATA / "unimarc" / "TEST1.ISO"
    result = koprik(tmp_path, "import", "--report", str(report), str(path))
    assert result.returncode == 0, result.stderr
    assert f"{path}: UNIMARC/RUSMARC detected" in result.stderr
    assert "81 added" in result.stdout and "UNIMARC converted to MARC21 81" in result.stdout
    catalog = open_catalog(tmp_path)
    try:
        marc = [entry.data or b"" for entry in catalog.list_entries("marc21", limit=1000)]
    finally:
        catalog.close()
    assert len(marc) == 81 and all(b'tag="245"' in record for record in marc), marc[0]
    again = koprik(tmp_path, "import", "--format", "rusmarc", str(path))
    assert "0 added, 0 updated, 81 unchanged, 0 rejected" in again.stdout, again.stderr
    assert "detected" not in again.stderr


def test_unimarc_authority_records_are_rejected_not_imported(tmp_path):
    """Hand-built records (tests/authority_records.py): a UNIMARC/Authorities entry for a
    person (leader/06 'x', heading 200) and a UNIMARC book."""
    source = tmp_path / "mixed.iso"
    source.write_bytes(unimarc_person() + unimarc_book())
    rejects = tmp_path / "rejects.txt"
    result = koprik(tmp_path, "import", "--rejects", str(rejects), str(source))
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert "1 added, 0 updated, 0 unchanged, 1 rejected" in result.stdout
    assert f"{source}: UNIMARC/RUSMARC detected" in result.stderr
    assert "authority records rejected" in result.stderr
    (line,) = rejects.read_text(encoding="utf-8").splitlines()
    name, number, reason, raw = line.split("\t")
    assert (name, number) == (str(source), "record 1")
    assert reason == (
        "UNIMARC authority record (leader/06 'x': authority entry record): the crosswalk "
        "converts bibliographic records only"
    )
    assert base64.b64decode(raw) == unimarc_person()


def test_marc21_file_is_not_taken_for_unimarc(tmp_path):
    result = koprik(tmp_path, "import", str(MARC21 / "test.dat"))
    assert result.returncode == 0 and "UNIMARC" not in result.stdout + result.stderr


@pytest.mark.parametrize("named", ["unimarc", "rusmarc"])
def test_marc21_named_unimarc_is_refused_and_the_stored_records_kept(tmp_path, named):
    """Converted as UNIMARC, MARC21 records had no title: a second import of the catalogue's
    own file with --format unimarc replaced all of them ("0 added, N updated")."""
    path = MARC21 / "test.dat"
    assert koprik(tmp_path, "import", str(path)).returncode == 0
    catalog = open_catalog(tmp_path)
    try:
        before = [entry.data for entry in catalog.list_entries("marc21", limit=1000)]
    finally:
        catalog.close()
    result = koprik(tmp_path, "import", "--format", named, str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"koprik: {path}: MARC21 records (a 245, or an 008 and no 200), "
                             f"not UNIMARC; drop --format {named}\n")  # fmt: skip
    catalog = open_catalog(tmp_path)
    try:
        assert [entry.data for entry in catalog.list_entries("marc21", limit=1000)] == before
    finally:
        catalog.close()
    assert before and all(b'tag="245"' in (data or b"") for data in before)


def test_a_field_longer_than_iso_2709_allows_is_rejected_naming_its_tag(tmp_path):
    source = tmp_path / "huge.mrk"
    source.write_text(
        "=LDR  00000nam a2200000 i 4500\n=001  huge1\n=245  10$aBig\n"
        "=500  \\\\$a" + "x" * 20_000 + "\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.txt"
    result = koprik(tmp_path, "import", "--rejects", str(rejects), str(source))
    assert "Traceback" not in result.stderr
    assert result.returncode != 0
    (line,) = rejects.read_text().splitlines()
    reason = line.split("\t")[2]
    assert "field 500: 20,005 bytes, longer than ISO 2709 allows a field" in reason, reason
    assert "derivations failed" not in reason


def test_two_imports_of_the_same_records_at_once_both_succeed_and_store_each_once(
    tmp_path, catalog_url
):
    """Two ``koprik import`` runs of one file into one catalogue, started together: both end
    0, and the catalogue holds each record once, the records one run added found by the other
    (unchanged). Each writer transaction holds the catalogue's write lock from its start
    (:func:`catalog.transactions.hold_writes`); before, both looked for the records before
    either had stored them, and the second to insert them stopped: on SQLite with "the
    catalogue database cannot be used: UNIQUE constraint failed", on PostgreSQL with a
    UniqueViolation traceback."""
    from catalog.demo import demo_records

    records = 1500
    source = tmp_path / "many.mrc"
    write_marc(source, demo_records(records, seed=11))
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{catalog_url}"\n')
    settings = load_settings(config)
    Catalog.open(settings).close()  # the schema made first: the runs race on records only
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "koprik", "--config", str(config), "import",
             "--rejects", str(tmp_path / f"rejects{n}.txt"),
             "--report", str(tmp_path / f"report{n}.txt"), str(source)],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n in (1, 2)
    ]  # fmt: skip
    ended = [run.communicate(timeout=300) for run in runs]
    for run, (_, err) in zip(runs, ended, strict=True):
        assert run.returncode == 0, err
        assert "Traceback" not in err
    counts = [out.split("import: ")[1].split(",")[:3] for out, _ in ended]
    added = [int(run[0].split()[0]) for run in counts]
    found = [int(run[1].split()[0]) + int(run[2].split()[0]) for run in counts]
    assert sum(added) == records and [a + f for a, f in zip(added, found, strict=True)] == [
        records, records]
    catalog = Catalog.open(settings)
    try:
        with catalog.engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT count(*), count(DISTINCT local_id) "
                                                "FROM records").one()  # fmt: skip
        assert tuple(stored) == (records, records)
    finally:
        catalog.close()


def test_the_rejects_of_junk_forced_as_iso2709_are_no_larger_than_the_junk(tmp_path):
    """A binary file imported with --format marc21 was cut at each 0x1D byte (one in 256) into
    a reject each, written in base64 with its reason: the rejects were 1.6 times the file. A
    run of junk is one reject up to 200,000 bytes, of which the first 4096 are kept."""
    junk = tmp_path / "junk.bin"
    junk.write_bytes(random.Random(2709).randbytes(3_050_000))
    result = koprik(tmp_path, "import", "--format", "marc21", str(junk), "--rejects", "rejects")
    assert result.returncode == 1, result.stderr
    assert "0 added, 0 updated, 0 unchanged, 16 rejected" in result.stdout
    rejects = tmp_path / "rejects"
    assert rejects.stat().st_size <= junk.stat().st_size // 10
    first = rejects.read_text().splitlines()[0].split("\t")
    assert first[2].endswith("(200000 bytes, more than a record can have: the first 4096 are "
                             "kept, 195904 left out)")
    assert base64.b64decode(first[3]) == junk.read_bytes()[:4096]


@pytest.mark.parametrize("option", ["--rejects", "--report"])
def test_a_side_file_on_a_full_disk_is_one_line_naming_it(tmp_path, option):
    """A rejects or report file every write of which fails as on a full disk (``/dev/full``,
    ENOSPC), as it is closed at the end: one line naming the option and the file, no traceback,
    and what stays stored. It said "[Errno 28] No space left on device", then only
    "/dev/full: No space left on device", nothing of the records stored."""
    broken = MARC21 / "broken" / "bad_indicator.dat"
    result = koprik(tmp_path, "import", option, "/dev/full", str(broken), str(MARC21 / "1251.dat"))
    assert "Traceback" not in result.stderr
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"koprik: {option} /dev/full: cannot be written (No space left on device); after 6 "
        "added, 0 updated, 0 unchanged, 1 rejected: those stay stored, deduplicated; import the "
        "files again with a file that can be written to have it written (the records are found "
        "unchanged)"]


def test_a_rejects_file_that_cannot_be_written_says_what_was_stored_and_the_next_run_writes_it(
    tmp_path,
):
    """An ISO 2709 file cut short (its records before, then one truncated) imported with
    ``--rejects /dev/full``: one line naming ``--rejects /dev/full`` and saying the 82 records
    stored stay (it said only "FILE: No space left on device", status 2); an import again with
    a rejects file that can be written finds them unchanged and writes the reject."""
    from catalog.demo import demo_records

    whole = tmp_path / "whole.mrc"
    write_marc(whole, demo_records(200, seed=3))
    raw = whole.read_bytes()
    ends = [at + 1 for at, byte in enumerate(raw) if byte == 0x1D]  # each record's end
    cut = tmp_path / "cut.mrc"
    cut.write_bytes(raw[:ends[82] - 100])  # 82 whole records, then the 83rd cut short
    failed = koprik(tmp_path, "import", "--rejects", "/dev/full", str(cut))
    assert failed.returncode == 2, failed.stderr
    assert failed.stderr.splitlines() == [
        "koprik: --rejects /dev/full: cannot be written (No space left on device); after 82 "
        "added, 0 updated, 0 unchanged, 1 rejected: those stay stored, deduplicated; import the "
        "files again with a file that can be written to have it written (the records are found "
        "unchanged)"]
    assert _stored_count(tmp_path / "c.sqlite3") == 82
    again = koprik(tmp_path, "import", "--rejects", "rejects.txt", str(cut))
    assert again.returncode == 1, again.stderr
    assert "import: 0 added, 0 updated, 82 unchanged, 1 rejected" in again.stdout
    assert (tmp_path / "rejects.txt").read_text().count("\n") == 1


def test_the_reader_of_an_import_killed_ends_quietly(tmp_path):
    """``koprik import`` of a large file killed (SIGKILL) while it reads: the reading process
    (koprik-import-reader), its pipe's reader gone, printed two tracebacks of BrokenPipeError,
    and multiprocessing's resource tracker "There appear to be 6 leaked semaphore objects".
    Now every process it left ends without a word: standard error, which they share, closes
    with nothing written."""
    import time

    from catalog.demo import demo_records

    source = tmp_path / "many.mrc"
    write_marc(source, demo_records(20000, seed=5))
    assert source.stat().st_size > 2 << 20  # read in a process of its own
    database = tmp_path / "c.sqlite3"
    (tmp_path / "koprik.toml").write_text(f'[database]\nurl = "sqlite:///{database}"\n')
    command = [sys.executable, "-m", "koprik", "--config", str(tmp_path / "koprik.toml"),
               "import", str(source)]  # fmt: skip
    running = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 240
    while not _stored_count(database):  # reading (and the reader sending batches)
        assert time.monotonic() < deadline and running.poll() is None
        time.sleep(0.05)
    running.kill()
    said = running.stderr.read()  # to its end: every process holding it has ended
    running.wait(timeout=60)
    assert said == b"", said.decode(errors="replace")


def test_two_sources_imported_at_once_into_a_new_sqlite_catalogue_both_succeed(tmp_path):
    """Two ``koprik import --source`` runs started together on a SQLite catalogue not yet
    made: both make it or find it made, write in turns, end 0, and each source's records are
    stored once. One of two such runs of 20,000 records failed with "the catalogue database
    ... cannot be used: database is locked": the other took the write lock again within
    milliseconds of each COMMIT, and SQLite's wait, asking every 100 ms, missed the gaps until
    its busy timeout (:func:`catalog.transactions.hold_writes` asks every millisecond)."""
    from catalog.demo import demo_records

    records = 1500
    source = tmp_path / "many.mrc"
    write_marc(source, demo_records(records, seed=12))
    config = tmp_path / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n'
        + "".join(f'[[file_sources]]\nname = "{name}"\ninstitution_code = "Uz{name}"\n'
                  f'institution_name = "{name} library"\n' for name in ("sa", "bu"))
    )  # fmt: skip
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "koprik", "--config", str(config), "import",
             "--source", name, "--rejects", str(tmp_path / f"rejects-{name}.txt"),
             "--report", str(tmp_path / f"report-{name}.txt"), str(source)],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in ("sa", "bu")
    ]  # fmt: skip
    ended = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, ended, strict=True):
        assert run.returncode == 0, err
        assert "Traceback" not in err
        assert f"import: {records} added, 0 updated, 0 unchanged, 0 rejected" in out, out
    with sqlite3.connect(tmp_path / "c.sqlite3") as connection:
        stored = connection.execute(
            "SELECT source, count(*), count(DISTINCT local_id) FROM records "
            "WHERE source IN ('sa', 'bu') GROUP BY source ORDER BY source").fetchall()  # not union
    assert stored == [("bu", records, records), ("sa", records, records)]
