"""The command line of ``koprik z3950`` (what it does: :mod:`koprik.commands.z3950`)."""

from __future__ import annotations

import argparse

from koprik.arguments import add_fetching

FORMATS = ("usmarc", "unimarc", "xml", "sutrs", "opac")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "z3950", help="search a Z39.50 target and print or save its records"
    )
    parser.add_argument("target", help="HOST:PORT/DATABASE (port 210, database Default if omitted)")
    parser.add_argument("query", help="PQF query, e.g. '@attr 1=4 \"war and peace\"'")
    parser.add_argument("--format", choices=FORMATS, default="usmarc", help="record syntax")
    parser.add_argument(
        "--elements", default="F", help="element set name (default F; '' for the target's)"
    )
    parser.add_argument("--max", type=int, default=10, help="records to fetch (default 10)")
    parser.add_argument(
        "--charset",
        help="character set to negotiate: utf-8, marc-8, cp1251, koi8-r, cp866, iso-8859-5, "
        "iso-8859-1 (default UTF-8; marc-8 is not proposed, only read from the records); with "
        "--import also the one records are read in when the target does not agree to it "
        "(default: detected)",
    )
    add_fetching(parser, "put the USMARC records (UNIMARC ones converted to MARC21) into the "
                 "catalogue (see --config) instead")
    parser.set_defaults(handler="run")
