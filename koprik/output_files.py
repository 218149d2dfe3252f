"""Files a command writes are never files it reads, and can be written.

Opening an output for writing empties it at once: ``koprik crosswalk in.mrc -o in.mrc`` would
empty its own input before reading a record of it, and so would an import whose ``--rejects``
names the file being imported. A command checks its outputs against its inputs first, and that
each can be made (:func:`refuse_unwritable`) before the work whose result it holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

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


def refuse_unwritable(path: Path, option: str = "-o") -> None:
    """Raise UserError when the file ``path`` (named with ``option``) cannot be made: it is a
    folder, or its folder does not exist. Checked before the work: ``koprik z3950 -o`` and
    ``koprik sru -o`` fetched every record first, and then lost them to a raw OS error."""
    if path.is_dir():
        raise UserError(f"{path}: a folder; name a file to write")
    if not path.parent.is_dir():
        raise UserError(f"{option} {path}: no such folder {path.parent}")
