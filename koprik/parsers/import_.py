"""The command line of ``koprik import`` (what it does: :mod:`koprik.commands.import_`)."""

from __future__ import annotations

import argparse
from pathlib import Path

IMPORTABLE = ("marc21", "marcxml", "marcjson", "mrk", "unimarc")
"""Formats read; UNIMARC (detected, or ``--format unimarc``/``rusmarc``) is converted to
MARC21 by the crosswalk ``koprik crosswalk --from unimarc`` uses."""
FORMAT_ALIASES = {"rusmarc": "unimarc"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("import", help="load MARC21 files into the catalogue")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--format", choices=(*IMPORTABLE, *FORMAT_ALIASES), help="skip detection"
    )
    parser.add_argument(
        "--rejects", type=Path, help="where rejected records go (default: var/import-rejects.txt)"
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
        "--report",
        type=Path,
        help="charset decisions and warnings per record (default: var/import-report.txt)",
    )
    parser.set_defaults(handler="run", starts_workers=lambda args: True)

