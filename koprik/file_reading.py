"""Reading a file for ``koprik import``: its records in batches, each made ready for writing.

Reading a record (ISO 2709 or XML, charset judged per record, perhaps repaired) and making its
canonical MARC cost about 30 µs of CPU for a plain UTF-8 ISO 2709 record, which is never built
but read straight into its canonical bytes (:func:`crosswalks.iso2709.read_record_or_canonical`),
and 110 µs or more for any other; the process that writes the catalogue is the one a large
import waits for, so a file of :data:`OWN_PROCESS_BYTES` or more is read in a process of its own, a
few batches ahead of the writer (:class:`ReadAhead`). A smaller one is read in the writing
process, where starting another process would cost more than it saves. Either way
:func:`read_batches` does the reading, so what becomes of a record is the same.

>>> with ReadAhead(spec, catalog.preparer()) as batches:
...     for batch in batches:              # [(item, prepared or None when unreadable), ...]
...         ...
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from catalog import RecordError
from catalog.store import Incoming, PreparedRecord, Preparer
from catalog.workers import start_worker
from config.runtime import start_fork_server
from crosswalks import registry
from crosswalks.marc_io import NoRecords, ReadItem, iter_records, peekable
from crosswalks.repair import repair_item
from koprik.errors import UserError

OWN_PROCESS_BYTES = 1 << 20
"""Files from this size on are read in a process of their own."""


RAMP = 8
"""The first batch of a file, and the smallest part of its last, is this fraction of a full
one."""

POLL_SECONDS = 1.0
"""How often the writer waiting for a batch checks that the reading process still runs."""

Read = tuple[ReadItem, PreparedRecord | RecordError | None]
"""One record of a file: what was read (without the record: ``prepared`` stands for it), and
the record prepared for writing, or why it cannot be written; None when it could not be read."""


@dataclass(frozen=True)
class ReadSpec:
    """One file to read, and how."""

    path: Path
    fmt: str
    charset: str | None
    max_record_bytes: int
    repair: bool
    source: str | None
    batch: int
    """Records in a full batch."""
    batch_bytes: int
    """A batch ends before ``batch`` records once its records' raw bytes reach this: records
    up to ``max_record_bytes`` each, 2,000 of them held 2 GB in one batch."""


def read_batches(spec: ReadSpec, preparer: Preparer) -> Iterator[list[Read]]:
    """The records of ``spec.path`` in batches (:func:`batch_sizes`), each record numbered as
    its position in the file (1-based, in the validator's findings) and prepared by
    ``preparer``.

    Raises :class:`UserError` for a file in which nothing looks like a record.
    """
    with spec.path.open("rb") as raw:
        if spec.fmt == "unimarc":  # converted to MARC21 as ``koprik crosswalk`` converts it
            read = registry.input_format("unimarc").read
            items: Iterator[ReadItem] = read(
                peekable(raw), spec.max_record_bytes, charset=spec.charset
            )
        else:
            items = iter_records(
                peekable(raw), spec.fmt, charset=spec.charset,
                max_record_bytes=spec.max_record_bytes, canonical=True,
            )
        if spec.repair and spec.fmt == "marc21":
            items = (
                repair_item(item, spec.charset) if item.error is not None and item.raw else item
                for item in items
            )
        pending: list[ReadItem] = []  # read, and held until the next batch shows it is not the end
        for size in batch_sizes(spec.batch):
            try:
                batch, ended = _taken(items, size, spec.batch_bytes)
            except NoRecords as error:
                raise UserError(f"{spec.path}: {error}") from None
            if ended:
                for part in _tapered(pending + batch, spec.batch):
                    yield [_ready(item, spec.source, preparer) for item in part]
                return
            if pending:
                yield [_ready(item, spec.source, preparer) for item in pending]
            pending = batch


def _taken(items: Iterator[ReadItem], size: int, max_bytes: int) -> tuple[list[ReadItem], bool]:
    """The next ``size`` items, or fewer once their raw bytes reach ``max_bytes``; and whether
    ``items`` ran out. The raw bytes stand for the record read from them, which holds as many
    or a few times more (built, canonical, pickled to be sent)."""
    batch: list[ReadItem] = []
    held = 0
    for item in items:
        batch.append(item)
        held += len(item.raw)
        if len(batch) >= size or held >= max_bytes:
            return batch, False
    return batch, True


def batch_sizes(full: int) -> Iterator[int]:
    """Batch sizes: ``full``, after smaller ones, so that the worker processes have the first
    records to derive, and the writer the first ones to write, sooner."""
    size = max(1, full // RAMP)
    while size < full:
        yield size
        size *= 2
    yield from itertools.repeat(full)


def _tapered(last: list[ReadItem], full: int) -> Iterator[list[ReadItem]]:
    """The file's last records (one batch or more) in parts, each half of what is left, down to
    ``full / RAMP``; nothing when ``last`` is empty.

    The writer writes the last batch after the worker processes have derived it, with nothing
    else to do on the other cores: in smaller parts, all but the last part are written while
    the workers derive the next one."""
    if not last:
        return
    while len(last) > 2 * max(1, full // RAMP):
        half = len(last) // 2
        yield last[:half]
        last = last[half:]
    yield last


def _ready(item: ReadItem, source: str | None, preparer: Preparer) -> Read:
    read = item.record if item.record is not None else item.canonical
    if read is None:
        return item, None
    prepared = preparer(Incoming(read, source=source, check_as=item.index + 1, deletes=True))
    item.record = item.canonical = None  # the item is ours, and ``prepared`` stands for them
    return item, prepared


class ReadAhead:
    """The batches of :func:`read_batches`, read in a process of its own for a large file.

    The process is started by the catalogue workers' fork server and ends with this one however
    it ends (:mod:`catalog.workers`); leaving the ``with`` block early stops it. It sends each
    batch through a pipe as soon as it may (:func:`read_batches` holds one back until the next
    is read), and waits while the pipe is full: at most about three batches are on their way
    (the one in the pipe, the one held back, the one being read). An error it meets
    is raised here, where the batch it stopped would have been taken; if it dies, the pipe's end
    says so.
    """

    def __init__(self, spec: ReadSpec, preparer: Preparer) -> None:
        self.spec = spec
        self.preparer = preparer
        self._process: Any = None
        self._batches: Any = None

    def __enter__(self) -> Iterator[list[Read]]:
        if self.spec.path.stat().st_size < OWN_PROCESS_BYTES:
            return read_batches(self.spec, self.preparer)
        context = start_fork_server()
        self._batches, sending = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_read_into, args=(self.spec, self.preparer, sending), daemon=True,
            name="koprik-import-reader",
        )
        self._process.start()
        sending.close()  # the reading process holds the only sending end: its end is an EOF
        return self._taken()

    def _taken(self) -> Iterator[list[Read]]:
        while True:
            try:
                while not self._batches.poll(POLL_SECONDS):
                    if not self._process.is_alive():
                        raise EOFError
                kind, payload = self._batches.recv()
            except (EOFError, OSError):  # gone; OSError: as it sent ("end of file during message")
                self._process.join(POLL_SECONDS)
                raise UserError(
                    f"{self.spec.path}: the process reading it ended unexpectedly "
                    f"(exit status {self._process.exitcode})"
                ) from None
            if kind == "end":
                return
            if kind == "error":
                raise payload
            yield payload

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is None:
            return
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._batches.close()


def _read_into(spec: ReadSpec, preparer: Preparer, batches: Any) -> None:
    """The reading process: every batch, then ``("end", None)``, or ``("error", UserError)``.

    It ignores SIGINT: a Ctrl-C reaches the whole process group, and the importing process,
    which reports it, stops this one.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    start_worker()
    try:
        _send_batches(spec, preparer, batches)
    except BrokenPipeError:
        # the importing process is gone (killed: it would have stopped this one otherwise),
        # and so is the pipe's reading end: nobody to tell; this one ends without a word (it
        # printed two tracebacks, the BrokenPipeError of a batch and that of its error after it)
        pass
    finally:
        batches.close()


def _send_batches(spec: ReadSpec, preparer: Preparer, batches: Any) -> None:
    """What :func:`_read_into` sends; a BrokenPipeError sending any of it is raised."""
    try:
        for batch in read_batches(spec, preparer):
            batches.send(("batch", batch))
    except BrokenPipeError:
        raise
    except UserError as error:
        batches.send(("error", error))
    except OSError as error:
        batches.send(("error", UserError(f"{spec.path}: {error.strerror or error}")))
    except Exception as error:  # a reader or a repair failing on input no test foresaw
        batches.send(("error", UserError(f"{spec.path}: cannot be read: {error}")))
    else:
        batches.send(("end", None))
