"""The command line of ``koprik harvest`` (what it does: :mod:`koprik.commands.harvest`)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("harvest", help="harvest one source now")
    parser.add_argument("source", help="source name (see `koprik sources list`)")
    parser.add_argument("--full", action="store_true", help="ignore the watermark: everything")
    parser.add_argument("--from", dest="from_", metavar="DATE", help="YYYY-MM-DD[Thh:mm:ssZ]")
    parser.add_argument("--until", metavar="DATE", help="YYYY-MM-DD[Thh:mm:ssZ], inclusive")
    parser.set_defaults(handler="run", starts_workers=lambda args: True)
