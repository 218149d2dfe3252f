"""koprik/output_files.py: an output is written whole, and one written before is not lost; the
commands that write a file with ``-o`` (``koprik z3950``, ``koprik sru``) run as an operator
runs them, against a real ``koprik serve``."""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymarc import MARCReader

from catalog import Catalog
from config import DatabaseSettings, Settings
from koprik import output_files, stopping
from koprik.cli import main
from koprik.errors import UserError
from koprik.output_files import (
    escaped_name,
    refuse_shared_outputs,
    working_copy,
    written_whole,
)
from tests.conftest import free_port, signalled
from tests.servers import RunningKoprik, koprik_serve, limit_files_to, stderr_after

EARLIER = b"the records of an earlier search\n"


def test_a_file_is_put_in_place_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "out.mrc"
    out.write_bytes(EARLIER)
    with written_whole(out) as stream:
        stream.write(b"half")
        assert out.read_bytes() == EARLIER and (tmp_path / "out.mrc.part").exists()
        stream.write(b" and the rest")
    assert out.read_bytes() == b"half and the rest"
    assert sorted(tmp_path.iterdir()) == [out]


def test_the_file_is_on_the_disk_before_it_replaces_the_earlier_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The working copy was renamed unsynced (a crash probe's strace showed the rename alone):
    after a power cut, the file system may have written the rename and not the data, an empty
    or short file in place of a good earlier one. The copy is synced, renamed, then its folder
    synced (each sync named by the file its descriptor is of)."""
    out = tmp_path / "out.mrc"
    out.write_bytes(EARLIER)
    done: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def synced(descriptor: int) -> None:
        done.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        fsync(descriptor)

    def replaced(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        done.append(("replace", os.fspath(target)))
        replace(source, target)

    monkeypatch.setattr(os, "fsync", synced)
    monkeypatch.setattr(os, "replace", replaced)
    with written_whole(out) as stream:
        stream.write(b"the new records")
    assert done == [("fsync", f"{out}.part"), ("replace", str(out)), ("fsync", str(tmp_path))]
    assert out.read_bytes() == b"the new records"


@pytest.mark.parametrize("stopped_by", [OSError, KeyboardInterrupt])
def test_a_run_stopped_midway_leaves_the_earlier_file_whole(tmp_path: Path, stopped_by) -> None:
    out = tmp_path / "out.mrc"
    out.write_bytes(EARLIER)
    with pytest.raises(stopped_by), written_whole(out) as stream:
        stream.write(b"half")
        raise stopped_by()
    assert out.read_bytes() == EARLIER
    assert sorted(tmp_path.iterdir()) == [out]


@pytest.fixture
def stop_signals_raised() -> Iterator[None]:
    """^C and SIGTERM raised in this process as a command's are (koprik.stopping)."""
    before = {signum: signal.getsignal(signum) for signum in stopping.SIGNALS}
    for signum in stopping.SIGNALS:
        signal.signal(signum, stopping._raise)
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_a_stop_as_the_working_copy_is_made_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_signals_raised: None
) -> None:
    """A ^C the moment ``OUT.part`` was made, before the run had noted it as its own, left it
    beside an interrupted crosswalk: seen once in a run of the suite, made certain here."""
    made = output_files.claimed

    def claimed_then_stopped(path: Path, shown: str, **how: bool) -> int:
        descriptor = made(path, shown, **how)
        signalled(signal.SIGINT)
        return descriptor

    monkeypatch.setattr(output_files, "claimed", claimed_then_stopped)
    out = tmp_path / "out.mrc"
    out.write_bytes(EARLIER)
    with pytest.raises(KeyboardInterrupt), written_whole(out) as stream:
        stream.write(b"never")
    assert out.read_bytes() == EARLIER
    assert sorted(tmp_path.iterdir()) == [out]


def test_standard_output_and_what_is_not_a_regular_file_are_written_in_place(
    tmp_path: Path,
) -> None:
    for stdout in (None, "-", Path("-")):
        with written_whole(stdout) as stream:
            assert stream is sys.stdout.buffer
    with written_whole(Path("/dev/null")) as stream:  # a copy renamed over it replaced it
        assert stream.name == "/dev/null"
    assert not Path("/dev/null.part").exists()


NOT_OURS = "and not a working copy of koprik's; remove it$"


def test_a_file_that_cannot_be_made_is_a_user_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "out.mrc.part").mkdir()
    with (pytest.raises(UserError, match=f"^cannot write {tmp_path}/out.mrc.part: it is a folder "
                        f"{NOT_OURS}"), written_whole(tmp_path / "out.mrc")):  # fmt: skip
        pass
    assert (tmp_path / "out.mrc.part").is_dir()  # not ours to remove


@pytest.mark.parametrize(
    ("planted", "said"),
    [(lambda partial, other: partial.symlink_to(other), "it is a symbolic link"),
     (lambda partial, other: os.link(other, partial), "it is a file of other names too")],
    ids=["symbolic link", "hard link"],
)
def test_a_working_copy_that_is_another_file_by_a_link_is_refused_and_nothing_is_emptied(
    tmp_path: Path, planted, said: str
) -> None:
    """``out.part`` a link to another file (a live catalogue, the settings file), left or
    planted: it was followed, the file emptied and written, and the link renamed to ``out``."""
    other = tmp_path / "live.sqlite3"
    other.write_bytes(EARLIER)
    partial = tmp_path / "out.part"
    planted(partial, other)
    open_before = len(os.listdir("/proc/self/fd"))
    with (pytest.raises(UserError, match=f"^cannot write {partial}: {said} {NOT_OURS}"),
          written_whole(tmp_path / "out")):  # fmt: skip
        pass
    assert len(os.listdir("/proc/self/fd")) == open_before
    assert other.read_bytes() == EARLIER
    assert not (tmp_path / "out").exists() and os.path.lexists(partial)  # not ours to remove


def test_a_working_copy_that_is_a_link_to_a_device_is_refused_and_no_descriptor_is_left(
    tmp_path: Path,
) -> None:
    """``out.mrc.part`` a link to a device, which cannot be emptied (EINVAL): its descriptor
    was left open."""
    (tmp_path / "out.mrc.part").symlink_to(os.devnull)
    open_before = len(os.listdir("/proc/self/fd"))
    with (pytest.raises(UserError, match=f"^cannot write {tmp_path}/out.mrc.part: it is a "
                                         f"symbolic link {NOT_OURS}"),
          written_whole(tmp_path / "out.mrc")):  # fmt: skip
        pass
    assert len(os.listdir("/proc/self/fd")) == open_before
    assert (tmp_path / "out.mrc.part").is_symlink()  # not ours to remove


@pytest.mark.parametrize("read", [False, True], ids=["no reader", "a reader"])
def test_a_working_copy_that_is_a_pipe_is_refused_without_waiting(
    tmp_path: Path, read: bool
) -> None:
    """``out.mrc.part`` a named pipe: opened for writing it waited for a reader, for ever."""
    partial = tmp_path / "out.mrc.part"
    os.mkfifo(partial)
    reader = os.open(partial, os.O_RDONLY | os.O_NONBLOCK) if read else -1

    def waited(signum: int, frame: object) -> None:
        raise TimeoutError("the open waited for a reader")

    before = signal.signal(signal.SIGALRM, waited)
    try:
        signal.alarm(10)  # a blocking open fails the test, not the run
        with (pytest.raises(UserError, match=f"^cannot write {partial}: it is not a regular "
                                             f"file {NOT_OURS}"),
              written_whole(tmp_path / "out.mrc")):  # fmt: skip
            pass
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
        if reader >= 0:
            os.close(reader)
    assert stat.S_ISFIFO(partial.lstat().st_mode) and not (tmp_path / "out.mrc").exists()


def test_a_working_copy_a_killed_run_left_is_used_again(tmp_path: Path) -> None:
    partial = tmp_path / "out.mrc.part"
    partial.write_bytes(b"half of a killed export, longer than the next")
    with written_whole(tmp_path / "out.mrc") as out:
        out.write(b"whole")
    assert (tmp_path / "out.mrc").read_bytes() == b"whole" and not partial.exists()


@pytest.mark.parametrize("command", [["export", "-o"], ["backup"]], ids=["export", "backup"])
def test_an_output_whose_working_copy_is_the_catalogue_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """A catalogue named ``c4.part`` was the working copy of ``koprik export -o c4`` and of
    ``koprik backup c4``: emptied, written, and renamed to ``c4``."""
    catalogue = tmp_path / "c4.part"
    url = f"sqlite:///{catalogue}"
    Catalog.open(dataclasses.replace(Settings(), database=DatabaseSettings(url=url))).close()
    before = catalogue.read_bytes()
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    assert main(["--config", str(config), *command, str(tmp_path / "c4")]) == 2
    err = capsys.readouterr().err
    assert err == (f"koprik: {tmp_path}/c4: its working copy {catalogue} is the catalogue's file "
                   f"{catalogue} (database.url); name another file to write\n")
    assert catalogue.read_bytes() == before
    assert sorted(tmp_path.iterdir()) == [catalogue, config]


def test_a_working_copy_another_run_is_writing_is_refused_and_left_to_it(
    tmp_path: Path,
) -> None:
    """``out.mrc.part`` held by another run (its lock taken here as that run's would be): a
    UserError naming ``out.mrc``, and the other run's copy neither emptied nor removed (it was
    emptied, and removed as the refused run ended, so the other's rename failed)."""
    import fcntl

    partial = tmp_path / "out.mrc.part"
    partial.write_bytes(b"half of another export")
    with partial.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with (pytest.raises(UserError, match=f"^{tmp_path}/out.mrc: being written by another "
                                             "koprik run now; wait for it to end, or name "
                                             "another file$"),
              written_whole(tmp_path / "out.mrc")):  # fmt: skip
            pass
    assert partial.read_bytes() == b"half of another export"
    with written_whole(tmp_path / "out.mrc") as out:  # the other run gone: its lock with it
        out.write(b"whole")
    assert (tmp_path / "out.mrc").read_bytes() == b"whole" and not partial.exists()


def test_a_working_copy_is_named_beside_its_file(tmp_path: Path) -> None:
    with working_copy(tmp_path / "copy.db") as partial:
        assert partial == tmp_path / "copy.db.part"
        partial.write_bytes(b"copy")
    assert (tmp_path / "copy.db").read_bytes() == b"copy" and not partial.exists()


def test_a_name_is_escaped_for_a_tab_separated_line_whatever_its_bytes() -> None:
    latin1 = os.fsdecode(b"caf\xe9.mrc")  # not UTF-8: Python keeps the byte as a surrogate
    assert escaped_name(Path("in") / latin1) == "in/caf\\xe9.mrc"
    assert escaped_name("a\tb\nc\rd\\e\x7f\x01.mrc") == "a\\tb\\nc\\rd\\\\e\\x7f\\x01.mrc"
    assert escaped_name("Навоий ‘asarlari’.mrc") == "Навоий ‘asarlari’.mrc"  # UTF-8 text stays
    written = escaped_name(os.fsdecode(b"\\x41\t\xff"))  # a name that looks like an escape
    assert written == "\\\\x41\\t\\xff"  # each escape one byte: the name can be read back


def test_outputs_of_one_file_by_any_name_are_refused_and_a_device_may_take_several(
    tmp_path: Path,
) -> None:
    (tmp_path / "rejects.txt").write_text("")
    os.link(tmp_path / "rejects.txt", tmp_path / "hard-link.txt")
    with pytest.raises(UserError, match=r"hard-link.txt: named for both --rejects and --report;"):
        refuse_shared_outputs({"--rejects": tmp_path / "rejects.txt",
                               "--report": tmp_path / "hard-link.txt"})
    refuse_shared_outputs({"-o": None, "--rejects": os.devnull, "--report": os.devnull})
    refuse_shared_outputs({"--rejects": tmp_path / "rejects.txt", "--report": tmp_path / "r"})


@pytest.fixture(scope="module")
def koprik(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningKoprik]:
    with koprik_serve(tmp_path_factory.mktemp("serve"), demo_records=40) as running:
        yield running


def _searching(koprik: RunningKoprik, command: str, port: int | None = None) -> list[str]:
    """The arguments of ``koprik z3950`` or ``koprik sru`` asking for every demo record."""
    if command == "z3950":
        target = f"127.0.0.1:{port or koprik.z3950_port}/Default"
        return koprik.command("z3950", target, "@attr 1=1016 @attr 5=1 a", "--max", "40")
    url = f"http://127.0.0.1:{port or koprik.http_port}/sru"
    return koprik.command("sru", url, "cql.anywhere=a*", "--max", "40")


@pytest.mark.parametrize("command", ["z3950", "sru"])
def test_an_output_that_cannot_be_written_whole_leaves_the_earlier_one(
    koprik: RunningKoprik, tmp_path: Path, command: str
) -> None:
    """-o OUT was opened in place: a write that failed midway (a full disk) left the earlier
    OUT emptied and half written."""
    out = tmp_path / "found.mrc"
    whole = subprocess.run([*_searching(koprik, command), "-o", str(out)], capture_output=True,
                           timeout=120)  # fmt: skip
    assert whole.returncode == 0, whole.stderr
    records = list(MARCReader(out.read_bytes()))
    assert len(records) > 10 and b".part" not in whole.stderr
    out.write_bytes(EARLIER)
    cut = subprocess.run([*_searching(koprik, command), "-o", str(out)], capture_output=True,
                         timeout=120, preexec_fn=lambda: limit_files_to(4096))  # fmt: skip
    assert cut.returncode == 2
    assert cut.stderr.splitlines()[-1] == (f"koprik: {out}: not written (File too large); the "
                                           "file of that name before the run is left "
                                           "unchanged").encode(), cut.stderr
    assert b"Traceback" not in cut.stderr
    assert out.read_bytes() == EARLIER
    assert sorted(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize("command", ["z3950", "sru"])
def test_a_search_that_fails_leaves_the_earlier_output(
    koprik: RunningKoprik, tmp_path: Path, command: str
) -> None:
    out = tmp_path / "found.mrc"
    out.write_bytes(EARLIER)
    failed = subprocess.run([*_searching(koprik, command, free_port()), "-o", str(out),
                             "--timeout", "5"], capture_output=True, timeout=120)  # fmt: skip
    assert failed.returncode == 2 and failed.stderr.count(b"\n") == 1, failed.stderr
    assert out.read_bytes() == EARLIER
    assert sorted(tmp_path.iterdir()) == [out]


def test_a_sigterm_midway_leaves_the_earlier_file_whole_in_one_line(tmp_path: Path) -> None:
    """A SIGTERM ended a command at once (its default action), leaving ``OUT.part`` beside
    ``OUT``: it stops it as a ^C does, in one line, with the status 128 + SIGTERM. The
    crosswalk reads its standard input, left open: it waits there, its output begun."""
    out = tmp_path / "out.xml"
    out.write_bytes(EARLIER)
    partial = tmp_path / "out.xml.part"
    command = [sys.executable, "-m", "koprik", "crosswalk", "--to", "marcxml", "-o", str(out)]
    started = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=tmp_path)  # fmt: skip
    deadline = time.monotonic() + 60
    while not partial.exists() and started.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    begun = partial.exists()
    err = stderr_after(started, signal.SIGTERM)
    assert begun, started.returncode
    unchanged = "not written; the file of that name before the run is left unchanged"
    assert (started.returncode, err.decode()) == (128 + signal.SIGTERM, (
        f"koprik: terminated after 0 records read, 0 converted: {out} {unchanged}; "
        f"{out}.rejects.txt not written; {out}.report.txt not written\n"))
    assert out.read_bytes() == EARLIER and not partial.exists()


def test_a_file_replaced_keeps_its_mode_and_a_link_to_it_stays_one(tmp_path: Path) -> None:
    """The copy renamed over ``OUT`` had the default mode (``OUT`` read-only to others became
    readable to them), and one renamed over a symbolic link replaced the link."""
    target = tmp_path / "kept" / "out.mrc"
    target.parent.mkdir()
    target.write_bytes(EARLIER)
    target.chmod(0o600)
    link = tmp_path / "out.mrc"
    link.symlink_to(target)
    with written_whole(link) as stream:
        stream.write(b"new")
    assert link.is_symlink() and link.resolve() == target
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert set(tmp_path.rglob("*")) == {target.parent, link, target}


def test_an_output_not_kept_removes_the_one_before_and_leaves_no_copy(tmp_path: Path) -> None:
    """A side file with no line (``kept`` false as the block ends) is not put in place, and
    the one an earlier run left goes too: beside the new output it would describe another."""
    out = tmp_path / "out.rejects.txt"
    out.write_bytes(EARLIER)
    with written_whole(out, kept=lambda: False) as stream:
        stream.write(b"")
    assert list(tmp_path.iterdir()) == []
