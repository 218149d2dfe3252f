"""The command line of ``koprik import`` (what it does: :mod:`koprik.commands.import_`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from koprik.arguments import file_to_write

IMPORTABLE = ("marc21", "marcxml", "marcjson", "mrk", "unimarc")
"""Formats read; UNIMARC (detected, or ``--format unimarc``/``rusmarc``) is converted to
MARC21 by the crosswalk ``koprik crosswalk --from unimarc`` uses."""
FORMAT_ALIASES = {"rusmarc": "unimarc"}
LARGE_BYTES = 32 * 1024
"""Files that are together this large or larger are imported with the fork server of the worker
processes started before the command's modules load. Smaller files hold a few dozen records of
a usual size: too few to be derived in worker processes (from 200 at once,
:data:`catalog.store.PARALLEL_BATCH`), or read in a process of their own (from 1 MB,
:data:`koprik.file_reading.OWN_PROCESS_BYTES`); should they need one all the same (records of
under 160 bytes), it is started then."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("import", help="load MARC21 files into the catalogue")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--format", choices=(*IMPORTABLE, *FORMAT_ALIASES), help="skip detection"
    )
    parser.add_argument(
        "--rejects",
        type=file_to_write,
        help="where rejected records go (default: var/import-rejects.txt)",
    )
    parser.add_argument(
        "--charset",
        metavar="NAME",
        help="what ISO 2709 or .mrk files are in: utf-8, marc-8, cp1251, koi8-r, cp866, "
        "iso-8859-5, iso-8859-1 (default: judged per record)",
    )
    parser.add_argument(
        "--repair",
        action="store_true",
        help="read damaged ISO 2709 records as yaz-marcdump would (repairs in the report)",
    )
    parser.add_argument(
        "--source", metavar="NAME", help="the file source the records belong to ([[file_sources]])"
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="the files are the --source's whole catalogue: its records not in them are "
        "deleted (unless a record is rejected)",
    )
    parser.add_argument(
        "--report",
        type=file_to_write,
        help="charset decisions and warnings per record (default: var/import-report.txt)",
    )
    parser.set_defaults(handler="run", starts_workers=_large)


def _large(args: argparse.Namespace) -> bool:
    """Whether the files to import are :data:`LARGE_BYTES` together or more (what is not a
    file counts for nothing: the command says so)."""
    return sum(_size(path) for path in args.files) >= LARGE_BYTES


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0
