"""The command line of ``koprik sources`` (what it does: :mod:`koprik.commands.sources`)."""

from __future__ import annotations

import argparse

from config.settings import HARVEST_PROTOCOLS


def _definition_options(parser: argparse.ArgumentParser, *, adding: bool) -> None:
    parser.add_argument("--url", required=adding,
                        help="OAI-PMH or SRU base URL, or z3950://HOST:PORT/DATABASE")
    parser.add_argument("--prefix", default="" if adding else None,
                        help="metadataPrefix (default: MARCXML if offered, else MODS, else "
                             "oai_dc); SRU: the record schema, marcxml or dc")
    parser.add_argument("--set", dest="sets", action="append",
                        help="a set to harvest (repeat for several; default: everything)")
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument("--every", help="interval: 90s, 15min, 6h, 1d, 1w")
    schedule.add_argument("--cron", help="crontab expression in UTC, e.g. '0 3 * * *'")
    if not adding:
        schedule.add_argument("--no-schedule", action="store_true", help="remove the schedule")
    parser.add_argument("--delay", type=float, help="seconds between requests (default 1)")
    parser.add_argument("--timeout", type=float, help="seconds per request (default 60)")
    parser.add_argument("--retries", type=int, help="retries after a fault (default 5)")
    parser.add_argument("--query", help="the query whose results are harvested: PQF for "
                        "Z39.50, CQL for SRU")
    parser.add_argument("--charset",
                        help="Z39.50: character set to negotiate and to expect in records")
    parser.add_argument("--crosswalk", help="unimarc (or rusmarc): the source's MARC records "
                        "are UNIMARC, converted to MARC21; '' for none")
    parser.add_argument("--institution-code",
                        help="the holding institution's code in union records (default: the name)")
    parser.add_argument("--institution-name", help="the holding institution's name")
    parser.add_argument("--holdings", help="source (default): every copy is the institution's; "
                        "named: the records name the library holding each copy (852 $a, Koha "
                        "952 $a or $b)")
    parser.add_argument("--tolerated-shortfall", type=int, metavar="N",
                        help="OAI-PMH: records a list may end short of its completeListSize "
                        "and still be whole (default 0), for a partner that counts records it "
                        "never serves, such as hidden ones")
    parser.add_argument("--no-check", action="store_true",
                        help="store without contacting the address")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("sources", help="list and manage harvest sources")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="list sources").set_defaults(handler="list_sources")
    add = actions.add_parser("add", help="add a source (checked by contacting it)")
    add.add_argument("name")
    add.add_argument("--protocol", choices=HARVEST_PROTOCOLS, default=HARVEST_PROTOCOLS[0],
                     help=f"default {HARVEST_PROTOCOLS[0]}")
    _definition_options(add, adding=True)
    add.add_argument("--disabled", action="store_true", help="add it disabled")
    add.set_defaults(handler="add_command")
    edit = actions.add_parser("edit", help="change a source added here")
    edit.add_argument("name")
    _definition_options(edit, adding=False)
    edit.set_defaults(handler="edit_command")
    for action, handler, text in (
        ("remove", "remove_command",
         "forget a source and its watermark (its records and runs stay)"),
        ("enable", "enable_command", "enable a source"),
        ("disable", "disable_command", "disable a source (no scheduled runs)"),
        ("forget", "forget_command",
         "forget the harvest state (watermark, where a run stood) of a source no longer "
         "configured"),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("name")
        sub.set_defaults(handler=handler)
