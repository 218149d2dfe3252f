"""The command line of ``koprik export`` (what it does: :mod:`koprik.commands.export`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from koprik.arguments import file_to_write

if TYPE_CHECKING:
    from catalog.export import Form

FORMATS: dict[str, Form] = {"marc21": "iso2709", "iso2709": "iso2709", "marcxml": "marcxml"}
"""``--format``: the form of the records written for each name."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("export", help="write records as ISO 2709 or MARCXML")
    parser.add_argument(
        "-o", "--output", type=_file_or_stdout, help="file to write (default, or -: stdout)"
    )
    parser.add_argument(
        "--format", choices=sorted(FORMATS),
        help="marc21 (ISO 2709, UTF-8) or marcxml (default: marcxml for a .xml or .XML file, "
        "else marc21)",
    )  # fmt: skip
    parser.add_argument("--set", dest="set_spec", help="only the records of this OAI set")
    parser.add_argument("--from", dest="from_", metavar="DATE", help="only records changed since")
    parser.add_argument("--until", metavar="DATE", help="only records changed until (inclusive)")
    parser.set_defaults(handler="run")


def _file_or_stdout(text: str) -> str | None:
    """``-o``'s file (:func:`~koprik.arguments.file_to_write`); None (standard output) for
    ``-``, as ``koprik crosswalk`` reads it (a file named ``-`` was written in the working
    folder)."""
    return None if text == "-" else file_to_write(text)
