"""The ``koprik`` command.

Each command has its command line (arguments, help) in a module under :mod:`koprik.parsers` and
its work in the module of the same name under :mod:`koprik.commands` (``import_`` serves
``import``). The parser of every command is built from the former, which import next to
nothing; the latter, and all it needs (the catalogue, aiohttp...), is imported only for the
command that runs: ``koprik --version`` and ``--help`` took 1.2 s of CPU and 170 MB when
building the parser imported every command's work. The command's function (``handler``)
returns an exit status; errors an operator can act on are raised as
:class:`koprik.errors.UserError` (or :class:`config.ConfigError`) and printed as one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import koprik.parsers
from config import ConfigError, koprik_version, load_settings
from config.runtime import start_fork_server
from config.settings import settings_file
from koprik.errors import UserError, one_line
from koprik.logs import PLAIN, UNEXPECTED, into_log_file, not_a_stop
from koprik.stopping import interrupted


def command_modules() -> dict[str, str]:
    """Command name -> module name (``import_`` serves ``import``), without importing them."""
    names = (m.name for m in pkgutil.iter_modules(koprik.parsers.__path__))
    return {name.rstrip("_"): name for name in sorted(names)}


class _Version(argparse._VersionAction):
    """``--version``, Koprik's version looked up only when it is asked for (reading the
    installed distribution's metadata is no part of any other command)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        self.version = f"koprik {koprik_version()}"
        super().__call__(parser, *args, **kwargs)


class _OneLineErrors(argparse.ArgumentParser):
    """A command line refused in one line, as koprik says every other error: argparse printed
    its usage block first (five lines for ``koprik import``), the error last. The parsers of
    the commands are of this class too (``add_subparsers`` makes its own kind)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (:mod:`koprik.parsers`; none of their work is imported)."""
    parser = _OneLineErrors(
        prog="koprik",
        description="Metadata interoperability server: OAI-PMH, SRU, Z39.50 and MARC crosswalks.",
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument(
        "--config", metavar="FILE",
        help="the settings file to read (default: the one $KOPRIK_CONFIG names, else "
             "./koprik.toml if there is one, else the built-in defaults)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.set_defaults(starts_workers=lambda args: False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules().values():
        importlib.import_module(f"koprik.parsers.{module}").register(subparsers)
    return parser


def handler_of(args: argparse.Namespace) -> Callable[[argparse.Namespace], int | None]:
    """The function of :mod:`koprik.commands` that runs the command ``args`` name (its module,
    and what that imports, loaded now)."""
    module = importlib.import_module(f"koprik.commands.{command_modules()[args.command]}")
    handler: Callable[[argparse.Namespace], int | None] = getattr(module, args.handler)
    return handler


def _loaded_errors() -> tuple[type[Exception], ...]:
    """One-line errors of modules the command loaded (not imported here: a command that does
    not open the catalogue does not pay for importing it and Alembic)."""
    errors: list[type[Exception]] = []
    if (schema := sys.modules.get("catalog.schema")) is not None:
        errors.append(schema.SchemaError)
    if (set_rules := sys.modules.get("catalog.set_rules")) is not None:
        errors.append(set_rules.SetRulesError)
    if (db := sys.modules.get("catalog.db")) is not None:
        errors.extend((db.DatabaseFileError, db.DatabaseUrlError))
    return tuple(errors)


def _database_errors() -> tuple[type[Exception], ...]:
    """SQLAlchemy's error for a database that cannot be used, once SQLAlchemy is loaded."""
    exc = sys.modules.get("sqlalchemy.exc")
    return () if exc is None else (exc.DBAPIError,)


def _catalogue_named(args: argparse.Namespace) -> str:
    """The URL of the catalogue database the command's settings name, without its password
    ("" when they cannot be read): a full disk or a refused login said which database only
    when the driver's words did."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = load_settings(getattr(args, "config", None)).database.url
        return make_url(url).render_as_string(hide_password=True)
    except (ConfigError, OSError, ArgumentError):
        return ""


def _undecodable(argv: list[str]) -> str | None:
    """The first argument holding bytes that are not UTF-8 (Python keeps them as surrogates,
    which neither the catalogue nor a peer takes), unless it names an existing file."""
    for argument in argv:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            if not os.path.lexists(argument):
                return argument
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if sys.stderr is None:
        # Started with standard error closed (``2>&-``): Python left it None, and every
        # ``print(..., file=sys.stderr)`` then wrote to standard output (into the records of
        # ``koprik export > out.mrc``), and a progress bar's isatty() stopped the command.
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for as long as the process runs)
    if (undecodable := _undecodable(argv)) is not None:
        print(f"koprik: argument {undecodable!r} is not UTF-8 text", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    if args.starts_workers(args):
        # before the command's modules load: the fork server preloads on another core meanwhile
        start_fork_server()
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), format=PLAIN)
    for handler in logging.getLogger().handlers:
        handler.addFilter(not_a_stop)
    run_command = handler_of(args)
    try:
        status = int(run_command(args) or 0)
        _flush_standard_output()
        return status
    except KeyboardInterrupt as stop:  # a SIGTERM too (koprik.stopping.Terminated)
        return interrupted(stop)
    except BrokenPipeError:
        # The reader of our output went away (``koprik crosswalk ... | head``): stop quietly,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as error:
        said = failure(error, args)
        if said is None:  # a fault of Koprik's own: its traceback, in the log file too
            into_log_file(UNEXPECTED, error)
            raise
        status, line = said
        line = one_line(line)
        print(f"koprik: {line}", file=sys.stderr)
        into_log_file(line)
        return status


WORKER_LOST = ("a worker process ended unexpectedly (killed, or out of memory); the batch it "
               "was making was not stored")


def failure(error: Exception, args: argparse.Namespace) -> tuple[int, str] | None:
    """The exit status of a command that ``error`` ended and the line saying why (to follow
    "koprik: "); None when the error is no user's, a database's or a file's but a fault of
    Koprik's own."""
    if isinstance(error, (UserError, ConfigError, *_loaded_errors())):
        return (error.status if isinstance(error, UserError) else 2), _in_file(error, args)
    notes = "".join(f"; {note}" for note in getattr(error, "__notes__", ()))
    if isinstance(error, _database_errors()):  # with what the command kept (its notes)
        return 2, database_line(error, _catalogue_named(args)) + notes
    pools = sys.modules.get("concurrent.futures.process")  # (loaded by a command that has them)
    if pools is not None and isinstance(error, pools.BrokenProcessPool):
        # killed by an operator or the out-of-memory killer: it was BrokenProcessPool's traceback
        return 2, f"{WORKER_LOST}{notes}"
    if isinstance(error, OSError):  # a file that cannot be opened or written, a port in use
        return 2, os_error_line(error)
    return None


def _in_file(error: Exception, args: argparse.Namespace) -> str:
    """The line of ``error``, preceded by the settings file it concerns when it names a key of
    that file refused after the file was read (:attr:`UserError.of_settings_file`; and
    ``database.url``, checked as the catalogue is opened): "database.url 'nosuch://x' is not
    a database URL..." and "server.host 'x': not an address to listen on" did not say which
    file to mend, where every error the loader finds does. Nothing is put in front when no file
    was read (the defaults)."""
    line = str(error)
    db = sys.modules.get("catalog.db")
    about_a_key = isinstance(error, UserError) and error.of_settings_file
    if not (about_a_key or (db is not None and isinstance(error, db.DatabaseUrlError))):
        return line
    try:
        file, _ = settings_file(getattr(args, "config", None))
    except ConfigError:
        return line
    return line if file is None else f"{os.fspath(file)}: {line}"


def database_line(error: Exception, named: str) -> str:
    """The line saying that the catalogue database ``named`` (its URL without its password;
    "" when not known) cannot be used, and why (SQLAlchemy's ``error``): unreachable or refused
    (a wrong URL, a server that is down, a full disk)."""
    orig = getattr(error, "orig", None)
    reason = " ".join(str(orig).split()) if orig else type(error).__name__
    return f"the catalogue database {named}{' ' if named else ''}cannot be used: {reason}"


def _flush_standard_output() -> None:
    """Write what the command left in standard output's buffer now, where an error is said in
    one line naming it: ``koprik backup copy.sqlite3 > /dev/full`` made the copy, then Python,
    flushing at exit, printed "Exception ignored ... No space left on device" and ended with
    status 120 (:func:`koprik.output_files.standard_output_failed`). A closed pipe stays a
    BrokenPipeError (a reader that went away)."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        from koprik.output_files import standard_output_failed

        raise standard_output_failed(error) from None


def os_error_line(error: OSError) -> str:
    """``FILE: reason`` for an error that names its file (``FILE -> OTHER: reason`` for two),
    else Python's words (which put the file last, quoted: "[Errno 2] No such file or
    directory: 'FILE'"). An error writing a file names it only when the command opened it so
    (:func:`koprik.output_files.opened_for_writing`): a full disk named none."""
    if error.filename is None or error.strerror is None:
        return str(error)
    files = f"{error.filename}" if error.filename2 is None else (
        f"{error.filename} -> {error.filename2}")
    return f"{files}: {error.strerror}"
