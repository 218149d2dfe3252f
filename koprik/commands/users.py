"""``koprik users add|passwd|remove|list|token|revoke-token``: the operators who sign in to the
dashboard.

    koprik users add alice            # asks for the password twice (or reads it from stdin)
    koprik users token alice          # prints a new API token for /api (shown this once)
    koprik users revoke-token alice   # that token stops working; the password stays

Passwords are read from the terminal without echo, or as the one line of standard input when
it is not a terminal (for scripts; more than one line, or bytes that are not UTF-8, are
refused); they are never accepted as an argument, which would leave them in the shell history
and the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from catalog import Catalog
from catalog.db import refuse_missing_file
from config import load_settings
from koprik.dashboard.accounts import (
    MAX_PASSWORD,
    AccountError,
    add_user,
    list_users,
    new_token,
    remove_user,
    revoke_token,
    set_password,
    user_exists,
)
from koprik.errors import UserError

_PIPED_BYTES = 4 * MAX_PASSWORD + 2
"""The most read of a piped password: MAX_PASSWORD characters of four UTF-8 bytes each, and a
line end (``\r\n``). More is refused unread (1 MB of noise is no password)."""


def read_password() -> str:
    """The new password: typed twice without echo, or piped on standard input as one line.

    Piped, the whole input is read and must be one line of UTF-8 text (its line end optional):
    a second line is refused, not dropped, since the operator would not know which line became
    the password. Bytes that are not UTF-8 are refused here (they reached the hash as lone
    surrogates: a traceback), and so is a closed standard input (``<&-``)."""
    if sys.stdin is None:
        raise UserError("there is no standard input to read the password from (it is closed)")
    if not sys.stdin.isatty():
        data = sys.stdin.buffer.read(_PIPED_BYTES + 1)
        if len(data) > _PIPED_BYTES:
            raise UserError(f"the password on standard input is longer than {MAX_PASSWORD} "
                            "characters")  # fmt: skip
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError("the password on standard input is not UTF-8 text") from None
        password = text.removesuffix("\n").removesuffix("\r")
        if "\n" in password or "\r" in password:
            raise UserError("the password on standard input has more than one line: pipe the "
                            "password alone, as one line")  # fmt: skip
        return password
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    try:
        first.encode("utf-8")
    except UnicodeEncodeError:  # bytes the terminal's encoding could not decode
        raise UserError("the password typed is not UTF-8 text") from None
    return first


def _with_catalog(args: argparse.Namespace, action, *, make: bool = False) -> object:  # type: ignore[no-untyped-def]
    """``action(engine)`` on the catalogue; one that is not there is made only when ``make``
    (adding the first operator before the first ``koprik serve``), else refused in one line."""
    settings = load_settings(args.config)
    if not make:
        refuse_missing_file(settings.database.url, "it has no operators (koprik users add makes "
                            "it with the first)")  # fmt: skip
    catalog = Catalog.open(settings)
    try:
        return action(catalog.engine)
    except AccountError as error:
        raise UserError(str(error)) from None
    finally:
        catalog.close()


def add_command(args: argparse.Namespace) -> int:
    if _with_catalog(args, lambda engine: user_exists(engine, args.name), make=True):
        raise UserError(f"a user named {args.name!r} exists already")  # before the password
    password = read_password()
    _with_catalog(args, lambda engine: add_user(engine, args.name, password), make=True)
    print(f"added user {args.name}")
    return 0


def passwd_command(args: argparse.Namespace) -> int:
    if not _with_catalog(args, lambda engine: user_exists(engine, args.name)):
        raise UserError(f"no user named {args.name!r}")  # before asking for a password
    password = read_password()
    _with_catalog(args, lambda engine: set_password(engine, args.name, password))
    print(f"changed the password of {args.name}")
    return 0


def remove_command(args: argparse.Namespace) -> int:
    _with_catalog(args, lambda engine: remove_user(engine, args.name))
    print(f"removed user {args.name}")
    return 0


def token_command(args: argparse.Namespace) -> int:
    token = _with_catalog(args, lambda engine: new_token(engine, args.name))
    print(token)
    return 0


def revoke_token_command(args: argparse.Namespace) -> int:
    had = _with_catalog(args, lambda engine: revoke_token(engine, args.name))
    if had:
        print(f"revoked the API token of {args.name}")
    else:
        print(f"{args.name} had no API token: nothing to revoke")
    return 0


def list_command(args: argparse.Namespace) -> int:
    rows = _with_catalog(args, list_users)
    for name, created, has_token in rows:  # type: ignore[attr-defined]
        when = time.strftime("%Y-%m-%d", time.gmtime(created))
        print(f"{name:<24} added {when}  {'api token' if has_token else ''}")
    return 0
