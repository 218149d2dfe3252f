"""The command line of ``koprik sru`` (what it does: :mod:`koprik.commands.sru`)."""

from __future__ import annotations

import argparse

from config.settings import MARC_CROSSWALKS
from koprik.arguments import add_fetching
from protocols.sru import VERSIONS

SCHEMAS = ("marcxml", "dc")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sru", help="search an SRU server and print or save its records"
    )
    parser.add_argument("url", help="the server's base URL, e.g. http://HOST:PORT/DATABASE")
    parser.add_argument("query", help="CQL query, e.g. 'dc.title=\"war and peace\"'")
    parser.add_argument("--version", choices=VERSIONS, help="SRU version (default: the server's)")
    parser.add_argument("--schema", choices=SCHEMAS, default="marcxml", help="record schema")
    parser.add_argument(
        "--crosswalk", choices=MARC_CROSSWALKS,
        help="the MARCXML records are UNIMARC (or RUSMARC): convert them to MARC21",
    )  # fmt: skip
    parser.add_argument("--max", type=int, default=10, help="records to fetch (default 10)")
    add_fetching(parser, "put the records into the catalogue (see --config) instead")
    parser.add_argument(
        "--source", help="with --import: the source name (default sru:HOST[:PORT]/PATH)"
    )
    parser.set_defaults(handler="run")
