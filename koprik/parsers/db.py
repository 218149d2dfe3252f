"""The command line of ``koprik db`` (what it does: :mod:`koprik.commands.db`)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "db", help="the catalogue's schema: upgrade, current, reindex, renditions, sets"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("upgrade", help="upgrade the catalogue to this Koprik's schema revision")
    actions.add_parser("current", help="print the catalogue's schema revision and the needed one")
    actions.add_parser("reindex", help="make every record's search terms again (progress bar)")
    actions.add_parser(
        "renditions", help="make every record's served formats again after crosswalks changed; "
        "the records changed get new datestamps (progress bar)"
    )
    actions.add_parser(
        "sets", help="place every record in the sets the [[sets]] rules say (progress bar)"
    )
    revision = actions.add_parser(
        "revision", help="(developers) write the next revision from the changed table definitions"
    )
    revision.add_argument("message", help="what the revision changes, in a few words")
    parser.set_defaults(handler="run")
