"""The command line of ``koprik runs`` (what it does: :mod:`koprik.commands.runs`)."""

from __future__ import annotations

import argparse

from koprik.arguments import name, whole_number


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("runs", help="list harvest runs with their counts and errors")
    parser.add_argument("source", nargs="?", type=name, help="only the runs of this source")
    parser.add_argument("--limit", type=whole_number(1, 100_000), default=20,
                        help="how many runs (default 20)")
    parser.add_argument("--errors", action="store_true", help="print every error of each run")
    parser.set_defaults(handler="run")
