"""Files a command writes are never files it reads, can be written, and are written whole.

Opening an output for writing empties it at once: ``koprik crosswalk in.mrc -o in.mrc`` would
empty its own input before reading a record of it, and so would an import whose ``--rejects``
names the file being imported; two outputs of one file would leave it holding one of them, or
both interleaved. A command checks its outputs against its inputs (:func:`refuse_overwriting`),
against the settings file and the catalogue (:func:`refuse_own_files`), and against each
other (:func:`refuse_shared_outputs`) first, and that each can be made
(:func:`refuse_unwritable`), before the work whose result it holds.

An output file is then written beside itself (``FILE.part``) and renamed over ``FILE`` when
complete (:func:`written_whole`, :func:`working_copy`): a file of that name is always a whole
output, and one written before is not lost when a run fails, is interrupted (^C) or finds the
disk full midway (it was emptied at once and left half written). A file's name in a line of a
tab-separated side file (rejects, a report) is written escaped (:func:`escaped_name`): one not
UTF-8, or holding a tab, was a UnicodeEncodeError that lost the file, or a column too many.

A file being written is locked (:func:`claimed`) while it is: a second run naming the same
output at the same time (two imports started in one folder, each with the default rejects
file) is refused in one line, where both wrote it at once, or one renamed the other's working
copy away.

>>> with written_whole(Path("records.mrc")) as out:    # None or "-": standard output
...     out.write(data)                                   # records.mrc.part until the end
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from catalog.db import sqlite_files
from catalog.transactions import uninterrupted
from config import settings_file
from koprik.errors import CONTROLS_AND_UNDECODED, UserError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

STDIO = "-"
"""The name of standard input as an input, and of standard output as an output."""


def refuse_overwriting(inputs: Iterable[str | os.PathLike[str]],
                       outputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """Raise UserError when an output (None: standard output) is one of the inputs (the same
    file, by whatever name or link; ``-`` is standard input or output, never a file)."""
    read = [path for path in inputs if os.fspath(path) != STDIO and os.path.exists(path)]
    for output in outputs:
        if output is None or os.fspath(output) == STDIO or not os.path.exists(output):
            continue
        for path in read:
            if os.path.samefile(path, output):
                raise UserError(f"{output} is also an input: writing it would empty {path} "
                                "before it is read")


def refuse_own_files(outputs: Iterable[str | os.PathLike[str] | None],
                     config: str | os.PathLike[str] | None, database: str) -> None:
    """Raise UserError when an output (None: standard output) is the settings file ``config``
    names (:func:`config.settings_file`) or a file of the SQLite catalogue at ``database``
    (its ``-wal`` and ``-shm`` included), or has one as its working copy (:func:`working_copy`):
    ``koprik export -o catalogue.sqlite3`` replaced the catalogue with its own records, and
    said it had exported them, and ``koprik export -o c4`` or ``koprik backup c4`` did so to
    a catalogue named ``c4.part``. A device or a pipe is written in place, never emptied nor
    replaced: ``koprik --config /dev/null export -o /dev/null``, how operators try a command
    out, was refused as writing the settings file."""
    settings, named_by = settings_file(config)
    own = [(f"the settings file ({named_by})", path) for path in [settings] if path is not None]
    own += [(f"the catalogue's file {path} (database.url)", path)
            for path in sqlite_files(database)]  # fmt: skip
    for output in outputs:
        if output is None or os.fspath(output) == STDIO or _written_in_place(output):
            continue
        partial = _working_copy_of(Path(output))
        for said, path in own:
            if _same_file(path, output):
                raise UserError(f"{output}: {said}; name another file to write")
            if _same_file(path, partial):
                raise UserError(f"{output}: its working copy {partial} is {said}; name another "
                                "file to write")


def refuse_shared_outputs(outputs: Mapping[str, str | os.PathLike[str] | None]) -> None:
    """Raise UserError when two of ``outputs`` (what names each, such as ``--rejects``, ->
    its path; None: not written) are one file, by whatever name or link (``-`` twice: standard
    output twice). A device or a pipe may take several (``/dev/null`` as the place of both):
    it is written in place, not replaced."""
    files = [
        (named, path)
        for named, path in outputs.items()
        if path is not None and not _written_in_place(path)
    ]
    for index, (named, path) in enumerate(files):
        for earlier, earlier_path in files[:index]:
            if _same_file(earlier_path, path):
                raise UserError(
                    f"{path}: named for both {earlier} and {named}; give each output a file of "
                    "its own"
                )


def option_named(option: str, given: object) -> str:
    """How an output is named in a message of :func:`refuse_shared_outputs`: ``option`` when it
    was ``given`` (not None), else ``the default of OPTION``."""
    return option if given is not None else f"the default of {option}"


def _same_file(one: str | os.PathLike[str], other: str | os.PathLike[str]) -> bool:
    """Whether the outputs ``one`` and ``other`` are one file: the same path once links and
    ``..`` are resolved (neither need exist yet), or hard links of one file."""
    if STDIO in (os.fspath(one), os.fspath(other)):
        return os.fspath(one) == os.fspath(other)
    if os.path.realpath(one) == os.path.realpath(other):
        return True
    return os.path.exists(one) and os.path.exists(other) and os.path.samefile(one, other)


def _written_in_place(path: str | os.PathLike[str]) -> bool:
    """Whether the output ``path`` exists and is not a regular file (a device, a pipe): it is
    written as it is, not replaced by a file written beside it (:func:`written_whole`)."""
    return os.fspath(path) != STDIO and os.path.exists(path) and not os.path.isfile(path)


def is_regular_output(path: str | os.PathLike[str] | None) -> bool:
    """Whether the output ``path`` is a regular file, made or replaced (:func:`written_whole`):
    not standard output (None or ``-``), nor a device or a pipe (``/dev/null``)."""
    return path is not None and os.fspath(path) != STDIO and not _written_in_place(path)


_ESCAPED = {
    **CONTROLS_AND_UNDECODED,
    ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r", ord("\\"): "\\\\",
}


def escaped_name(path: str | os.PathLike[str]) -> str:
    """The file name ``path`` as a field of a tab-separated line (a reject file, a report):
    UTF-8 text whatever its bytes. A byte that is not UTF-8 (which Python keeps as a
    surrogate) or a control character is written ``\\xNN``, a tab, newline or carriage return
    ``\\t``, ``\\n``, ``\\r``, and a backslash doubled, so that each escape gives the byte
    back: ``caf\\xe9.mrc`` is the Latin-1 name ``b'caf\\xe9.mrc'``."""
    return os.fspath(path).translate(_ESCAPED)


def refuse_unwritable(named: str | os.PathLike[str], option: str = "-o") -> None:
    """Raise UserError when the file ``named`` (with ``option``) cannot be made: it is a
    folder, or its folder does not exist. Checked before the work: ``koprik z3950 -o`` and
    ``koprik sru -o`` fetched every record first, and then lost them to a raw OS error.

    A file there that no one may write (its mode has no write bit) is not replaced either:
    the copy renamed over it (:func:`working_copy`) needs only its folder writable, so a file
    an operator made read-only to keep it was replaced without a word. Root is refused too,
    as an editor asks it to confirm: a mode is how the file's owner said to keep it."""
    path = Path(named)
    if path.is_dir():
        raise UserError(f"{path}: a folder; name a file to write")
    if not path.parent.is_dir():
        raise UserError(f"{option} {path}: {no_folder(path.parent)}")
    with contextlib.suppress(OSError):  # (none there, or not to be seen: said when written)
        mode = path.stat().st_mode
        if stat.S_ISREG(mode) and not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise UserError(f"{option} {path}: read-only (mode {stat.S_IMODE(mode):04o}), "
                            "not replaced; make it writable or name another file")


def no_folder(folder: Path) -> str:
    """Why ``folder`` (not a folder) cannot hold a new file: ``no such folder FOLDER``, or
    ``FILE is a file, not a folder`` when the nearest part of it that exists is a file
    (``koprik backup copy.mrc/x.db`` said "copy.mrc: no such folder" of a file that is there)."""
    there = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if there is not None and not there.is_dir():
        return f"{there} is a file, not a folder"
    return f"no such folder {folder}"


PART = ".part"
"""The working copy's suffix: ``FILE.part`` beside ``FILE``."""


def _written(path: Path) -> Path:
    """The file an output ``path`` puts in place: ``path``, or its target when it is a symbolic
    link (:func:`working_copy`)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _working_copy_of(path: Path) -> Path:
    """The working copy ``path`` is written as: ``FILE.part`` beside the file it puts in place."""
    written = _written(path)
    return written.with_name(written.name + PART)


def _always() -> bool:
    """:func:`working_copy`'s default ``kept``: every output is kept."""
    return True


@contextlib.contextmanager
def working_copy(path: Path, kept: Callable[[], bool] = _always) -> Iterator[Path]:
    """``path`` with :data:`PART` added, for the block to write ``path``'s content to: renamed
    over ``path`` when the block ends, removed (if it was made) when it raises, ^C included.
    When ``kept()`` is false as the block ends, the copy is removed and so is ``path``: an
    output with nothing in it (a side file without a line) is not kept, nor one before it.

    A ``path`` that is a symbolic link is written through: the copy is made beside its target
    and renamed over that, and the link stays (renamed over the link, it replaced it with a
    regular file). The file replaced keeps its mode (the copy had the default one).

    The copy is made empty and locked (:func:`claimed`) before the block: one that another run
    is writing is a UserError, and is left to it. One that is not a regular file of that one
    name (a folder, a symbolic link, a hard link of another file, a pipe, left or planted
    there) is a UserError naming it, and it is left as it is: one was followed, and the file it
    named (a live catalogue, the settings file) emptied and written.

    A copy that cannot be made, written (an OSError of the block naming ``path`` or the copy:
    a full disk), or put in place (its folder removed meanwhile) is a UserError naming
    ``path`` (:func:`not_written`): such lines named ``FILE.part``, a file the operator never
    named, and did not say that ``FILE`` was not written. The copy is synced to the disk before
    it is renamed, and the rename after (:func:`_synced`)."""
    named, path, partial = path, _written(path), _working_copy_of(path)
    existed = path.exists()
    lock = -1  # the copy is this run's to remove once it holds its lock
    renamed = False
    try:
        with uninterrupted():  # a ^C as the copy is made is raised once it is ours
            try:
                lock = claimed(partial, str(named), own=True)
            except OSError as error:
                said = _NOT_OURS.get(error.errno)
                if said is None:
                    raise not_written(named, existed, error) from None
                raise UserError(f"cannot write {partial}: {said} and not a working copy of "
                                "koprik's; remove it") from None
        try:
            yield partial
        except OSError as error:
            if error.filename not in (os.fspath(named), os.fspath(partial)):
                raise  # not this output's (an input that cannot be read)
            raise not_written(named, existed, error) from None
        if not kept():
            named.unlink(missing_ok=True)
            return
        try:
            with contextlib.suppress(FileNotFoundError):  # (none before: the copy's own mode)
                shutil.copymode(path, partial)
            _synced(lock)
            os.replace(partial, path)
        except OSError as error:
            raise not_written(named, existed, error) from None
        renamed = True  # a copy of that name now is another run's
        _synced_folder(path.parent)
    finally:
        if lock >= 0:
            if not renamed:
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()
            os.close(lock)


def _synced(descriptor: int) -> None:
    """Have what was written to the file of ``descriptor`` on the disk before it replaces an
    earlier output: renamed unsynced, a power cut could leave an empty or short file in place
    of a good one (the file system may write the rename before the data). A file system that
    cannot sync (EINVAL) has nothing to wait for."""
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise


def _synced_folder(folder: Path) -> None:
    """Have a rename in ``folder`` on the disk (the output in place, the earlier one gone): a
    folder that cannot be opened or synced is let be, the file itself being written."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def not_written(named: str | os.PathLike[str], existed: bool, error: OSError | str) -> UserError:
    """The UserError saying that the output ``named`` was not written, because of ``error``
    (its words), and, when it ``existed`` before the run, that the file of that name is left as
    it was (an output is put in place only whole: :func:`working_copy`)."""
    reason = error if isinstance(error, str) else error.strerror or str(error)
    left = "; the file of that name before the run is left unchanged" if existed else ""
    return UserError(f"{os.fspath(named)}: not written ({reason}){left}")


_NOT_OURS = {
    errno.EISDIR: "it is a folder",
    errno.ELOOP: "it is a symbolic link",
    errno.ENXIO: "it is not a regular file",  # a pipe no one reads (opened without waiting)
    errno.EMLINK: "it is a file of other names too",
}
"""What a working copy :func:`claimed` with ``own`` refuses is, by the error it is refused with."""


def claimed(path: Path, shown: str, *, own: bool = False) -> int:
    """A descriptor of the file ``path``, made if need be and emptied, opened for writing and
    locked (``flock``) for as long as it is open; a UserError naming ``shown`` when another
    run holds the lock. The lock goes with its process: a run killed leaves none behind.

    With ``own`` (a working copy), ``path`` must be a regular file of that one name: a symbolic
    link is not followed (ELOOP), a pipe not waited on, and one that is not a regular file, or
    has other names (hard links), an OSError (ENXIO, EMLINK), each before anything is emptied.
    Without it, a symbolic link is written through (an output written in place)."""
    how = os.O_NOFOLLOW | os.O_NONBLOCK if own else 0
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | how, 0o666)
    try:
        if own:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise OSError(errno.ENXIO, os.strerror(errno.ENXIO), os.fspath(path))
            if status.st_nlink != 1:
                raise OSError(errno.EMLINK, os.strerror(errno.EMLINK), os.fspath(path))
            os.set_blocking(descriptor, True)
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(descriptor, 0)  # (a device cannot be: EINVAL)
    except BlockingIOError:
        os.close(descriptor)
        raise UserError(f"{shown}: being written by another koprik run now; wait for it to end, "
                        "or name another file") from None
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def refuse_closed_standard_output(advice: str | None = None) -> None:
    """A UserError when the command was started with standard output closed (``>&-``: Python
    makes ``sys.stdout`` None, and ``print`` then writes nothing, silently), with ``advice``
    after the message when given. The one home of that message for every command."""
    if sys.stdout is None:
        raise UserError("standard output is closed" + (f": {advice}" if advice else ""))


@contextlib.contextmanager
def written_whole(
    path: str | os.PathLike[str] | None, kept: Callable[[], bool] = _always
) -> Iterator[BinaryIO]:
    """A binary stream for the output ``path``: standard output for None or ``-``; else a file
    put in place whole when the block ends (:func:`working_copy`, with ``kept``), or in place
    at once when ``path`` exists and is not a regular file (a device, a pipe: a copy renamed
    over it would replace it). A file that cannot be opened is a UserError naming ``path``."""
    if path is None or os.fspath(path) == STDIO:
        refuse_closed_standard_output("name a file to write with -o")
        try:
            yield sys.stdout.buffer
        except BrokenPipeError:  # a reader that went away: said by the command line as such
            raise
        except OSError as error:
            if error.filename is None:  # a write to it failed ("No space left on device")
                raise standard_output_failed(error) from None
            raise
        return
    path = Path(path)
    if _written_in_place(path):
        with _opened(path, path) as out:
            yield out
        return
    with working_copy(path, kept) as partial, _opened(partial, path) as out:
        yield out


def left_when_stopped(output: str | os.PathLike[str] | None, run: str) -> str:
    """What a ^C or SIGTERM midway through ``run`` ("an export") leaves of its output
    ``output`` (None or ``-``: standard output) written by :func:`written_whole`, for the line
    saying it stopped; asked before the run (whether a file of that name was there). Said only
    "interrupted", ``koprik export > out.xml`` left a MARCXML document without its
    ``</collection>`` unsaid."""
    if output is None or os.fspath(output) == STDIO:
        return f"standard output is incomplete ({run} cut short)"
    if not is_regular_output(output):  # a device or a pipe, written in place
        return f"{output} is incomplete (written in place: {run} cut short)"
    if os.path.exists(output):  # the working copy removed, the file left (written_whole)
        return f"{output} not written; the file of that name before the run is left unchanged"
    return f"{output} not written"


def standard_output_failed(error: OSError) -> OSError:
    """``error``, met writing standard output, named so (the command line says it as
    ``standard output: No space left on device``; it named no file), with standard output
    pointed at /dev/null: what stays in its buffer would fail again as Python flushes it at
    exit ("Exception ignored ...", status 120)."""
    error.filename = "standard output"
    if sys.stdout is not None:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return error


def _opened(file: Path, path: Path) -> BinaryIO:
    """``file`` opened for writing, written as ``path`` (the name said when it cannot be)."""
    try:
        return opened_for_writing(file, path)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror}") from None


def opened_for_writing(file: Path, shown: Path | None = None, *, claim: str = "") -> BinaryIO:
    """``file`` opened for writing (emptied), buffered; an error writing it, the disk full,
    names ``shown`` (by default ``file``) as its ``filename``, which the command line says
    (:func:`koprik.cli.os_error_line`): it said "[Errno 28] No space left on device", naming
    no file. The error keeps its type: a closed pipe is still a BrokenPipeError.

    With ``claim`` (how a refusal names the file), a regular file written in place is locked
    while it is open (:func:`claimed`); a device or a pipe (``/dev/null``) is not."""
    shown = file if shown is None else shown
    if claim and not _written_in_place(file):
        return io.BufferedWriter(_NamedFile(claimed(file, claim), shown))
    return io.BufferedWriter(_NamedFile(file, shown))


class _NamedFile(io.FileIO):
    """A file written whose write errors name ``shown`` (given by path, or as a descriptor
    opened for writing, which it then owns)."""

    def __init__(self, file: Path | int, shown: Path) -> None:
        super().__init__(file if isinstance(file, int) else os.fspath(file), "wb")
        self.shown = os.fspath(shown)
        if isinstance(file, int):
            self.name = self.shown

    def write(self, data: ReadableBuffer, /) -> int:
        try:
            return super().write(data)
        except OSError as error:
            error.filename = self.shown
            raise
