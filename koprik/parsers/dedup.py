"""The command line of ``koprik dedup`` (what it does: :mod:`koprik.commands.dedup`)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("dedup", help="group duplicates into union records")
    parser.add_argument("--all", action="store_true",
                        help="recompute every record's match keys and look at it again")
    parser.add_argument("--source", metavar="NAME",
                        help="with --all: only the records of source NAME")
    parser.set_defaults(handler="run", action="run")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    why = actions.add_parser("explain", help="why a record is where it is")
    why.add_argument("id", help="local identifier (as in OAI-PMH, after the prefix)")
    review = actions.add_parser("review", help="pairs waiting for an operator")
    review.add_argument("answer", nargs="?", choices=("list", "accept", "reject"), default="list")
    review.add_argument("ids", nargs="*", metavar="ID")
    joined = actions.add_parser("merge", help="merge the groups of these records")
    joined.add_argument("ids", nargs="+", metavar="ID")
    apart = actions.add_parser("split", help="take these members out of their union record")
    apart.add_argument("ids", nargs="+", metavar="ID")
