"""Files a command writes are never files it reads.

Opening an output for writing empties it at once: ``koprik crosswalk in.mrc -o in.mrc`` would
empty its own input before reading a record of it, and so would an import whose ``--rejects``
names the file being imported. A command checks its outputs against its inputs first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

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
