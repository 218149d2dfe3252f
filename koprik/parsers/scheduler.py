"""The command line of ``koprik scheduler`` (what it does: :mod:`koprik.commands.scheduler`)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("scheduler", help="run scheduled harvests until stopped")
    parser.set_defaults(handler="run")
