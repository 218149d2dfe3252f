"""The command line of ``koprik users`` (what it does: :mod:`koprik.commands.users`)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("users", help="dashboard operators and their API tokens")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, handler, text in (
        ("add", "add_command", "add an operator (password from a prompt or stdin)"),
        ("passwd", "passwd_command",
         "change an operator's password (ends their sessions; their API token stays)"),
        ("remove", "remove_command", "remove an operator"),
        ("token", "token_command", "make a new API token for an operator and print it"),
        ("revoke-token", "revoke_token_command",
         "revoke an operator's API token (their password and sessions stay)"),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("name")
        sub.set_defaults(handler=handler)
    actions.add_parser("list", help="list operators").set_defaults(handler="list_command")
