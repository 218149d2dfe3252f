"""``koprik export``: write the catalogue's live records as ISO 2709 or MARCXML.

All of them, those of one OAI set (``--set lang:uzb``), or those changed within a date range
(``--from 2025-01-01``, ``--until``; UTC, a day or ``YYYY-MM-DDThh:mm:ssZ``). Records stream from
the catalogue a page at a time, with a progress bar on a terminal. A file named with ``-o`` is
written beside itself first (``FILE.part``) and renamed when complete
(:func:`koprik.output_files.written_whole`), so a file of that name is always a whole export;
without ``-o`` (or with ``-o -``) the records go to standard output, and a device or a pipe
named with ``-o`` (``/dev/null``, a FIFO) is written in place, as ``koprik crosswalk`` writes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import BinaryIO

from catalog import Catalog
from catalog.db import refuse_missing_file
from catalog.export import Form, count_live, live_records
from config import load_settings
from crosswalks import registry
from koprik.errors import UserError
from koprik.option_checks import checked_date_range
from koprik.output_files import (
    left_when_stopped,
    refuse_own_files,
    refuse_unwritable,
    written_whole,
)
from koprik.parsers.export import FORMATS
from koprik.progress import Progress
from koprik.stopping import noted_when_stopped

COLLECTION_START = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                    b'<collection xmlns="http://www.loc.gov/MARC21/slim">\n')  # fmt: skip
COLLECTION_END = b"</collection>\n"


def run(args: argparse.Namespace) -> int:
    from_, until = checked_date_range(args.from_, args.until)
    if args.output is not None:
        refuse_unwritable(args.output)
    name = args.format or _format_named(args.output)
    form = FORMATS[name]
    settings = load_settings(args.config)
    refuse_own_files([args.output], args.config, settings.database.url)
    refuse_missing_file(settings.database.url, "nothing to export")
    catalog = Catalog.open(settings)
    try:
        if args.set_spec is not None and args.set_spec not in dict(catalog.list_sets()):
            raise UserError(f"no set {args.set_spec!r} in the catalogue (`koprik export` "
                            "takes the setSpec of ListSets)")  # fmt: skip
        selection = {"set_spec": args.set_spec, "from_": from_, "until": until}
        total = count_live(catalog, form, **selection)
        left = left_when_stopped(args.output, "an export")  # (before: whether it is there)
        with (
            Progress("export", total=total) as progress,
            noted_when_stopped(lambda: f"after {progress.count} of {total} records: {left}"),
            written_whole(args.output) as out,
        ):
            _write(catalog, form, selection, out, progress)
        written = progress.count
    finally:
        catalog.close()
    where = f" to {args.output}" if args.output else ""
    records = "1 record" if written == 1 else f"{written} records"
    print(f"export: {records} as {name}{where}", file=sys.stderr)
    return 0


def _format_named(output: str | None) -> str:
    """The format the name of the file ``output`` asks for: marcxml for ``*.xml`` in any case
    (``UP.XML`` was written as ISO 2709), else marc21; a name of another format's extension is
    refused (``x.mrk`` was written as ISO 2709 without a word)."""
    suffix = Path(output).suffix.lower().lstrip(".") if output is not None else ""
    if suffix == "xml":
        return "marcxml"
    written = {registry.output_format(name).extension for name in FORMATS
               if name in registry.OUTPUTS}  # fmt: skip
    other = sorted(f.name for f in registry.OUTPUTS.values()
                   if f.extension == suffix and suffix not in written)  # fmt: skip
    if other:
        raise UserError(
            f"{output}: named as {' or '.join(other)}, which koprik export does not write (it "
            f"writes marc21 or marcxml, --format says which; `koprik crosswalk --to {other[0]}` "
            "converts what it writes)"
        )
    return "marc21"


def _write(
    catalog: Catalog, form: Form, selection: dict[str, object], out: BinaryIO, progress: Progress
) -> None:
    """Write the records of ``selection`` to ``out`` as ``form``, each counted in ``progress``
    once written (what a line saying the export stopped counts)."""
    if form == "marcxml":
        out.write(COLLECTION_START)
    for data in live_records(catalog, form, **selection):  # type: ignore[arg-type]
        out.write(data)
        if form == "marcxml":
            out.write(b"\n")
        progress.advance()
    if form == "marcxml":
        out.write(COLLECTION_END)
    out.flush()
