"""What worker processes log, handled by the logging of the process that owns them.

A worker process starts from the fork server, not from its owner: it has none of the logging
that ``[log]`` set up there (a file, JSON lines, a level), and Python would print its warnings
bare on standard error. Yet the warnings an operator most needs come from workers: a record
whose derivations failed, a crosswalk that failed for one record. So a pool of workers comes
with a :class:`LogRelay`: each worker's root logger gets a handler that sends every record at
the owner's level or above through one pipe (a lock keeps two workers' records whole), and a
thread of the owner hands each to the logger of the same name there, as if logged there: its
handlers, format and fields apply; the record keeps the worker's process id.

A record travels as its attributes, its message made and its exception written out as text
(``exc_text``, which formatters print as they would the exception); an extra attribute that
cannot be pickled is dropped, never the record.
"""

from __future__ import annotations

import logging
import pickle
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

POLL_SECONDS = 0.2
"""How often the relaying thread looks whether it is to stop."""
CLOSE_SECONDS = 2.0
"""How long closing waits for the relaying thread to end."""


class LogRelay:
    """The owner's end: a thread handing on what the workers send, until :meth:`close`."""

    def __init__(self, context: BaseContext) -> None:
        self._received, sending = context.Pipe(duplex=False)
        self.sender = RelaySender(sending, context.Lock(), logging.getLogger().getEffectiveLevel())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._hand_on, name="koprik-worker-logs",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _hand_on(self) -> None:
        try:
            while not self._stop.is_set():
                if self._received.poll(POLL_SECONDS):
                    _handle_sent(self._received.recv_bytes())
        except (EOFError, OSError):
            pass  # every sending end is closed, and all they sent is read
        finally:
            self._received.close()

    def close(self, *, drain: bool = True) -> None:
        """Stop handing on: after every record the workers sent (``drain``, when they have
        ended), or at once (the thread then ends by itself in a moment).

        Draining waits a moment only: a worker still running holds the pipe open, and one
        killed while it sent a record leaves part of it, whose rest is then awaited until
        every worker holding the pipe has ended (the thread closes the pipe as it ends).
        Closing again does nothing more."""
        self.sender.connection.close()
        if drain:
            self._thread.join(CLOSE_SECONDS)
        self._stop.set()


def _handle_sent(data: bytes) -> None:
    """Handle a worker's record as the logger of its name here would (its level, filters and
    handlers); one that cannot be read or handled is reported as logging reports a handler's
    error, and the next is read."""
    try:
        record = logging.makeLogRecord(pickle.loads(data))
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
    except Exception:  # an attribute that pickles but does not unpickle, a failing filter...
        if logging.raiseExceptions:
            traceback.print_exc(file=sys.stderr)


class RelaySender:
    """The workers' end, sent to each as it starts (:meth:`install` there)."""

    def __init__(self, connection: Connection, lock: Any, level: int) -> None:
        self.connection = connection
        self.lock = lock
        self.level = level

    def install(self) -> None:
        """Send this process's log records (the owner's level and above) to the owner."""
        root = logging.getLogger()
        for old in root.handlers[:]:
            root.removeHandler(old)
        root.addHandler(_RelayHandler(self))
        root.setLevel(self.level)


class _RelayHandler(logging.Handler):
    def __init__(self, sender: RelaySender) -> None:
        super().__init__()
        self.sender = sender

    def emit(self, record: logging.LogRecord) -> None:
        try:
            attributes = _sendable(record, self)
            with self.sender.lock:
                self.sender.connection.send(attributes)
        except Exception:
            self.handleError(record)


def _sendable(record: logging.LogRecord, handler: logging.Handler) -> dict[str, Any]:
    """The record's attributes, all picklable: the message made, the exception as text."""
    attributes = dict(record.__dict__)
    attributes["msg"] = record.getMessage()
    attributes["args"] = None
    if record.exc_info:
        attributes["exc_text"] = record.exc_text or (handler.formatter or _TEXT).formatException(
            record.exc_info
        )
    attributes["exc_info"] = None
    for name, value in list(attributes.items()):
        try:
            pickle.dumps(value)
        except Exception:  # an extra attribute of any kind may be passed to a log call
            del attributes[name]
    return attributes


_TEXT = logging.Formatter()
