"""The ``koprik`` command.

Each subcommand lives in its own module under :mod:`koprik.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` to a function taking the
parsed arguments and returning an exit status. Errors an operator can act on are raised as
:class:`koprik.errors.UserError` (or :class:`config.ConfigError`) and printed as one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

import koprik.commands
from config import ConfigError
from koprik.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="koprik",
        description="Metadata interoperability server: OAI-PMH, Z39.50, SRU and MARC crosswalks.",
    )
    parser.add_argument("--config", help="koprik.toml to read (default: $KOPRIK_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in sorted(pkgutil.iter_modules(koprik.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"koprik.commands.{module.name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except (UserError, ConfigError) as error:
        print(f"koprik: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("koprik: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (``koprik crosswalk ... | head``): stop quietly,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
