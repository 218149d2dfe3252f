"""The command line of ``koprik backup`` (what it does: :mod:`koprik.commands.backup`)."""

from __future__ import annotations

import argparse

from koprik.arguments import file_to_write


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("backup", help="copy a SQLite catalogue while it is in use")
    parser.add_argument(
        "file", metavar="FILE", type=file_to_write, help="the copy to write (a new file)"
    )
    parser.set_defaults(handler="run")
