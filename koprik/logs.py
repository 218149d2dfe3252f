"""Logging as ``[log]`` in the settings asks: to a file or standard error, plain or JSON.

Every event is one line. A part of Koprik that logs an event with data an operator may want to
filter on (an HTTP request, a Z39.50 search) passes it as ``extra={"fields": {...}}``; the plain
format shows only the message (which already says it in words), the JSON format adds the fields
to the object, beside ``time``, ``level``, ``logger`` and ``message``.

A log file is a :class:`logging.handlers.WatchedFileHandler`: when logrotate moves it, the next
line goes to a new file of the same name. A line it cannot write (a full disk) is lost, and said
on standard error in one line (:class:`_LogFile`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import re
import sys
import time
from typing import Any

from config import LogSettings
from koprik.errors import UserError
from protocols.shown import one_line

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SURROGATE = re.compile("[\ud800-\udfff]")


def not_a_stop(record: logging.LogRecord) -> bool:
    """A handler's filter: whether ``record`` is not an exception a ^C or SIGTERM raised (a
    KeyboardInterrupt, :class:`koprik.stopping.Terminated` too), which the command says in one
    line as it stops. A library logging it with its traceback on the way out (SQLAlchemy's
    pool, a ^C landing as it closed a connection: "Exception closing connection", 1 in about
    60 tries of a ^C as ``koprik serve`` starts) printed that traceback before the line."""
    return not (record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, process id (which of
    ``koprik serve --workers`` wrote it), message, and the fields of the event."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        event: dict[str, Any] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            event.update(fields)
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # written out already: a worker process's record
            event["exception"] = record.exc_text
        line = json.dumps(event, ensure_ascii=False, default=str)
        # A client's bytes that are no UTF-8 reach a line as lone surrogates (aiohttp's
        # reading of a header): written as the text \udce9, its backslash escaped, so that the
        # line is UTF-8 and JSON that any parser reads alike (JSON's escape of a lone
        # surrogate, jq reads as U+FFFD: which byte it was is lost).
        return _SURROGATE.sub(lambda found: f"\\\\u{ord(found.group()):04x}", line)


class _LogFile(logging.handlers.WatchedFileHandler):
    """The log file. A line that cannot be written (a full disk, a quota; the file reopened
    after logrotate moved it, too) is said on standard error in one line, once until a line is
    written again (once by each process of ``koprik serve --workers N``): logging printed a
    traceback of some 40 lines for each, into the journal of a service whose disk was full, and
    a failed reopening raised into the code that logged. Any other failure (a line that cannot
    be formatted: a fault of Koprik's log call) gets logging's traceback, which points at it."""

    def __init__(self, file: str) -> None:
        # backslashreplace, as stderr writes: a client's header bytes that are no UTF-8
        # reach the access log as surrogates, which strict UTF-8 refuses (line lost)
        super().__init__(file, encoding="utf-8", errors="backslashreplace")
        self._failing = False
        self._failed_now = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False  # (the handler's lock is held)
        try:
            super().emit(record)
        except OSError:  # opening the file again or anew: outside logging's own try
            self.handleError(record)
        if not self._failed_now:
            self._failing = False

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the lines it held are lost, as said already
            super().close()

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        self._failed_now = True
        if self._failing:
            return
        self._failing = True
        reason = error.strerror or one_line(error)
        with contextlib.suppress(Exception):  # standard error gone too: nothing to say it on
            print(f"koprik: log.file {self.baseFilename}: a line could not be written "
                  f"({reason}); lines are lost until one can be", file=sys.stderr, flush=True)


def configure_logging(
    settings: LogSettings, verbose: int = 0, config: str | os.PathLike[str] | None = None,
    database: str = "",
) -> None:
    """Send every log line where ``settings`` say (``-v`` on the command line lowers the level).

    Raises UserError naming the log file and the key (of the settings file ``config`` names:
    :attr:`UserError.of_settings_file`) when it cannot be opened for appending, or
    when it is the settings file or a file of the SQLite catalogue at ``database``: lines
    were appended to them, and the next start found the settings no TOML.
    """
    if settings.file:
        # (here: it loads the catalogue's modules, which the command line alone must not)
        from koprik.output_files import refuse_own_files

        try:
            refuse_own_files([settings.file], config, database)
        except UserError as error:
            raise UserError(f"log.file: {error}", of_settings_file=True) from None
        try:
            handler: logging.Handler = _LogFile(settings.file)
        except OSError as error:
            raise UserError(f"log.file: cannot open {settings.file} for appending: "
                            f"{error.strerror}", of_settings_file=True) from None
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else logging.Formatter(PLAIN))
    handler.addFilter(not_a_stop)
    level = getattr(logging, settings.level.upper())
    if verbose:
        level = min(level, logging.INFO if verbose == 1 else logging.DEBUG)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.WARNING if level > logging.DEBUG else level
    # Alembic says at INFO which database dialect it found, each time the schema is checked.
    logging.getLogger("alembic").setLevel(quiet)
    # APScheduler says at INFO that each job runs and ran, every 30 s for the deduplication
    # queue's; the jobs log what they did themselves (and APScheduler their failures, at ERROR).
    logging.getLogger("apscheduler.executors").setLevel(quiet)


UNEXPECTED = "stopped by an unexpected error (a fault of Koprik's own)"
"""The line of a fault of Koprik's own in the log file, before its traceback
(:func:`into_log_file`)."""


def into_log_file(line: str, fault: BaseException | None = None) -> None:
    """Write ``line``, which a command that failed or was stopped said on standard error, to the
    log file too when ``[log]`` sends the log to one (:func:`configure_logging`): ``koprik
    serve`` run as a service, its catalogue database down, said why it stopped on standard
    error only, and an operator reading its log file found nothing there. Nothing when the log
    is standard error: the line is there already.

    ``fault``: an exception no line was made for (a fault of Koprik's own), whose traceback
    Python prints on standard error; the line (:data:`UNEXPECTED`) is followed by it, as
    :meth:`logging.Logger.exception` writes one."""
    if any(isinstance(handler, logging.FileHandler) for handler in logging.getLogger().handlers):
        logging.getLogger("koprik").error("%s", line, exc_info=fault)
