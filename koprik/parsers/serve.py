"""The command line of ``koprik serve`` (what it does: :mod:`koprik.commands.serve`)."""

from __future__ import annotations

import argparse

from koprik.arguments import whole_number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve the catalogue (OAI-PMH, SRU, Z39.50) and run harvest schedules"
    )
    parser.add_argument("--host", help="address to listen on (default from settings)")
    parser.add_argument("--port", type=whole_number(0, 65535),
                        help="HTTP port (default from settings; 0: any free port)")
    parser.add_argument(
        "--no-scheduler",
        action="store_true",
        help="do not run scheduled harvests here (when another node or `koprik scheduler` does)",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N",
        help="serving processes sharing the ports (default, or 0: one per core; 1: a single "
             "process)",
    )  # fmt: skip
    parser.set_defaults(handler="run")
