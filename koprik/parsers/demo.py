"""The command line of ``koprik demo`` (what it does: :mod:`koprik.commands.demo`)."""

from __future__ import annotations

import argparse

from koprik.arguments import whole_number

MAX_RECORDS = 10_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="load deterministic demo records")
    parser.add_argument("--records", type=whole_number(1, MAX_RECORDS), default=3000,
                        help="how many (default 3000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--if-empty", action="store_true", help="do nothing when the catalogue has records"
    )
    parser.set_defaults(handler="run", starts_workers=lambda args: True)
