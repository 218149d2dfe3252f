"""A SQLite catalogue file found damaged, for ``/health`` (:func:`check`).

SQLite sees a damaged page (SQLITE_CORRUPT, "database disk image is malformed"; SQLITE_NOTADB)
only when a statement reads it, and a connection may go on reading the page from its cache. No
check that reads every page is cheap enough for a probe a load balancer polls every few seconds
(``PRAGMA quick_check`` reads the whole file: 54 ms for 24 MB, some 2 s a gigabyte). So:

- the catalogue's engine remembers the first statement that found its file damaged
  (:func:`watch`; :class:`catalog.prepared.Prepared`, which runs on the DBAPI cursor, tells it
  too), whichever part of this process ran it, and logs it once, naming the file;
- :func:`check` adds what can be seen at once, a few stats and 100 bytes read: a file that does
  not begin as a SQLite database, or one shorter than the pages its header counts (truncated).

A damaged file stays so until a copy is put in its place, which needs Koprik stopped (README,
"Backups"): what was found is remembered for the life of the process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from catalog.db import SQLITE_DAMAGED, DamagedFile, sqlite_code, sqlite_file

log = logging.getLogger(__name__)

MAGIC = b"SQLite format 3\0"
"""How every SQLite database file begins."""
LOOK_AGAIN = 0.05
"""Seconds before a file that looks cut short is looked at again: it is reported only when it
looks so twice the same (a look between a checkpoint's steps is not believed alone)."""
_found: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def watch(engine: Engine) -> None:
    """Have ``engine`` remember a statement finding its SQLite file damaged (:func:`noticed`)."""
    if sqlite_file(engine.url) is not None:
        event.listen(engine, "handle_error", _on_error)


def _on_error(context: ExceptionContext) -> None:
    if context.engine is not None:
        noticed(context.engine, context.original_exception)


def noticed(engine: Engine, error: BaseException) -> None:
    """Remember ``error`` if it says ``engine``'s SQLite file is damaged; the first is logged."""
    if sqlite_code(error) not in SQLITE_DAMAGED:
        return
    reason = " ".join(str(error).split())
    with _kept_lock:  # two threads finding it at once: the first only
        if engine in _found:
            return
        _found[engine] = reason
    log.error("the catalogue database file %s is damaged (%s): no request it cannot read will "
              "be answered; stop Koprik and restore a copy", sqlite_file(engine.url), reason)


def check(engine: Engine) -> None:
    """Raise :class:`DamagedFile` when ``engine``'s SQLite file was found damaged by a statement,
    does not begin as a SQLite database, or is shorter than its header says. Nothing for
    PostgreSQL."""
    file = sqlite_file(engine.url)
    if file is None:
        return
    if (reason := _found.get(engine)) is not None:
        raise DamagedFile(f"database file damaged: {reason}")
    if (short := _cut_short(file)) is not None:
        time.sleep(LOOK_AGAIN)
        if _cut_short(file) == short:
            raise DamagedFile(f"database file damaged: {short}")


def _cut_short(file: str) -> str | None:
    """How ``file`` is not a whole SQLite database, as its first 100 bytes and its size and its
    WAL's tell (None: it may be). A checkpoint that grows the file writes the first page, with
    the new count of pages, before the pages that lengthen the file, which are in the WAL till
    it ends: the WAL is counted, at its largest of before and after."""
    try:
        wal = _size(file + "-wal")
        kept = _kept_open(file)
        header = os.pread(kept, 100, 0)
        size = os.fstat(kept).st_size
        wal = max(wal, _size(file + "-wal"))
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if not header:
        return None  # SQLite's empty database, as it is created
    if len(header) < 100 or not header.startswith(MAGIC):
        return "not a SQLite database"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96]  # else SQLite ignores the count (an old writer's)
    if counted and pages * page_size > size + wal:
        return f"cut short to {size} bytes, its header counts {pages} pages of {page_size}"
    return None


def _kept_open(file: str) -> int:
    """A descriptor of ``file``, opened once and kept open for the life of the process.

    Closing a descriptor of a file drops every POSIX lock the process holds on it, its SQLite
    connections' among them (SQLite's "How To Corrupt", 2.2): a file opened and closed at each
    look left this process's connections without their shared lock, and another process
    closing its last connection would take itself for the last one, checkpoint, and remove the
    WAL this process still used."""
    with _kept_lock:
        if (kept := _kept.get(file)) is None:
            kept = _kept[file] = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
        return kept


_kept: dict[str, int] = {}
_kept_lock = threading.Lock()


def _size(file: str) -> int:
    """The size of ``file``, 0 when there is none (a WAL is removed with the last connection)."""
    try:
        return os.stat(file).st_size
    except FileNotFoundError:
        return 0
