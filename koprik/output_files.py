"""Files a command writes are never files it reads, can be written, and are written whole.

Opening an output for writing empties it at once: ``koprik crosswalk in.mrc -o in.mrc`` would
empty its own input before reading a record of it, and so would an import whose ``--rejects``
names the file being imported. A command checks its outputs against its inputs first, and that
each can be made (:func:`refuse_unwritable`) before the work whose result it holds.

An output file is then written beside itself (``FILE.part``) and renamed over ``FILE`` when
complete (:func:`written_whole`, :func:`working_copy`): a file of that name is always a whole
output, and one written before is not lost when a run fails, is interrupted (^C) or finds the
disk full midway (it was emptied at once and left half written). A file's name in a line of a
tab-separated side file (rejects, a report) is written escaped (:func:`escaped_name`): one not
UTF-8, or holding a tab, was a UnicodeEncodeError that lost the file, or a column too many.

>>> with written_whole(Path("records.mrc")) as out:    # None or "-": standard output
...     out.write(data)                                   # records.mrc.part until the end
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from koprik.errors import UserError


def refuse_overwriting(inputs: Iterable[str | os.PathLike[str]],
                       outputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """Raise UserError when an output (None: standard output) is one of the inputs (the same
    file, by whatever name or link; ``-`` is standard input or output, never a file)."""
    read = [path for path in inputs if os.fspath(path) != "-" and os.path.exists(path)]
    for output in outputs:
        if output is None or os.fspath(output) == "-" or not os.path.exists(output):
            continue
        for path in read:
            if os.path.samefile(path, output):
                raise UserError(f"{output} is also an input: writing it would empty {path} "
                                "before it is read")


_ESCAPED = {
    **{code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]},  # control characters
    **{0xDC00 + byte: f"\\x{byte:02x}" for byte in range(0x80, 0x100)},  # bytes not UTF-8
    ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r", ord("\\"): "\\\\",
}


def escaped_name(path: str | os.PathLike[str]) -> str:
    """The file name ``path`` as a field of a tab-separated line (a reject file, a report):
    UTF-8 text whatever its bytes. A byte that is not UTF-8 (which Python keeps as a
    surrogate) or a control character is written ``\\xNN``, a tab, newline or carriage return
    ``\\t``, ``\\n``, ``\\r``, and a backslash doubled, so that each escape gives the byte
    back: ``caf\\xe9.mrc`` is the Latin-1 name ``b'caf\\xe9.mrc'``."""
    return os.fspath(path).translate(_ESCAPED)


def refuse_unwritable(path: Path, option: str = "-o") -> None:
    """Raise UserError when the file ``path`` (named with ``option``) cannot be made: it is a
    folder, or its folder does not exist. Checked before the work: ``koprik z3950 -o`` and
    ``koprik sru -o`` fetched every record first, and then lost them to a raw OS error."""
    if path.is_dir():
        raise UserError(f"{path}: a folder; name a file to write")
    if not path.parent.is_dir():
        raise UserError(f"{option} {path}: no such folder {path.parent}")


PART = ".part"
"""The working copy's suffix: ``FILE.part`` beside ``FILE``."""


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
    regular file). The file replaced keeps its mode (the copy had the default one)."""
    named = path
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    partial = path.with_name(path.name + PART)
    try:
        yield partial
        if not kept():
            named.unlink(missing_ok=True)
            return
        with contextlib.suppress(FileNotFoundError):  # (none before: the copy's own mode)
            shutil.copymode(path, partial)
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            partial.unlink()  # (gone once renamed; a folder of that name is not ours)


@contextlib.contextmanager
def written_whole(
    path: str | os.PathLike[str] | None, kept: Callable[[], bool] = _always
) -> Iterator[BinaryIO]:
    """A binary stream for the output ``path``: standard output for None or ``-``; else a file
    put in place whole when the block ends (:func:`working_copy`, with ``kept``), or in place
    at once when ``path`` exists and is not a regular file (a device, a pipe: a copy renamed
    over it would replace it). A file that cannot be opened is a UserError naming ``path``."""
    if path is None or os.fspath(path) == "-":
        yield sys.stdout.buffer
        return
    path = Path(path)
    if path.exists() and not path.is_file():
        with _opened(path, path) as out:
            yield out
        return
    with working_copy(path, kept) as partial, _opened(partial, path) as out:
        yield out


def _opened(file: Path, path: Path) -> BinaryIO:
    """``file`` opened for writing, written as ``path`` (the name said when it cannot be)."""
    try:
        return file.open("wb")
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror}") from None
