"""``koprik harvest SOURCE [--full] [--from DATE] [--until DATE]``: harvest one source now.

Shows a progress line (records, rate, pages, and as the total the completeListSize when an
OAI-PMH source gives it, or the hits of a Z39.50 or SRU source's query) and ends with a summary
of the run, which is also recorded (see ``koprik runs``). ``--from``/``--until`` apply to OAI-PMH
sources only; a date that is not one, a day beside a time, or a ``--from`` later than
``--until`` is refused before the partner is asked, as ``koprik export`` refuses them
(:func:`koprik.option_checks.checked_date_range`), and so are a ``--from`` later than now
and an ``--until`` before the watermark a run without ``--from`` or ``--full`` asks from.
Exit status 0 when the run succeeded, 1 when it was partial or failed, 2 for bad usage.

SIGTERM or ^C stops the run after the pages it is writing (recorded ``interrupted``; the next
run resumes it) with one line and the status 128 + the signal's number (130 for ^C); a second
one exits at once (:mod:`koprik.stopping`). A stop the catalogue database, gone meanwhile,
cannot record ends so too, with a second line saying why it is not recorded. The run goes on in
a thread of its own, so that this thread, not a signal handler, asks it to stop.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from catalog import Catalog
from catalog.db import refuse_missing_file, unavailable
from config import load_settings
from harvester.locks import SourceBusy
from harvester.run_log import counted
from harvester.runs import INTERRUPTED, SUCCEEDED, PageInfo, RunOptions, RunReport, Stop, harvest
from harvester.sources import SourceError, find_source
from koprik.errors import NotNow, UserError
from koprik.option_checks import checked_date_range
from koprik.progress import Progress
from koprik.stopping import StopSignals

SHOWN_ERRORS = 20


def run(args: argparse.Namespace) -> int:
    start, _end = checked_date_range(args.from_, args.until)  # refused here, not by the partner
    if start is not None and start > time.time():  # a year mistyped: the run found nothing new
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        raise UserError(f"--from {args.from_} is later than now ({now}): no record can have "
                        "changed since")
    options = RunOptions(full=args.full, from_=args.from_, until=args.until)
    settings = load_settings(args.config)
    if all(source.name != args.source for source in settings.sources):  # one the file defines
        refuse_missing_file(settings.database.url, f"no source {args.source} added there")
    catalog = Catalog.open(settings)  # made for its first harvest
    try:
        try:
            entry = find_source(settings, catalog, args.source)
        except SourceError as error:
            raise UserError(str(error)) from None
        source = entry.source
        with Progress(f"harvest {source.name}", unit="records") as bar:

            def on_page(info: PageInfo) -> None:
                if info.expected is not None:
                    bar.total = info.expected
                bar.advance(info.records - bar.count, extra=f"page {info.pages}")

            try:
                with StopSignals() as signals:
                    report = _until_signalled(
                        lambda stop: harvest(catalog, source, options, on_page=on_page,
                                             settings=settings, stop=stop,
                                             added=entry.added),
                        signals,
                    )  # fmt: skip
            except SourceBusy as error:
                raise UserError(str(error)) from None
            except SourceError as error:  # a definition that cannot be harvested
                raise UserError(f"source {source.name!r} not harvested: {error}") from None
            except SQLAlchemyError as error:  # the database went away under the run
                if (reason := unavailable(error)) is None:
                    raise
                if signals.signum:  # a stop signal's status, as any command it stops
                    _say_stopped_unrecorded(source.name, reason)
                    return 128 + signals.signum
                raise NotNow(f"harvest {source.name} stopped: the catalogue database is "
                             f"unavailable ({reason}); the next run resumes it") from None
        if report.status == INTERRUPTED:
            print(f"koprik: harvest {source.name} (run #{report.run_id}) {report.errors[-1]}",
                  file=sys.stderr)  # fmt: skip
        else:
            print(summary(report))
        if signals.signum:
            return 128 + signals.signum
        return 0 if report.status == SUCCEEDED else 1
    finally:
        catalog.close()


def _say_stopped_unrecorded(source: str, reason: str) -> None:
    """Say that the harvest of ``source`` was stopped by a signal, and in a line of its own
    that its stop could not be recorded, the catalogue database being unavailable
    (``reason``): the run stays recorded as running, and the next run, finding it abandoned,
    resumes it from its last committed page."""
    print(f"koprik: harvest {source} stopped by the operator; the next run resumes it\n"
          f"koprik: its stop could not be recorded: the catalogue database is unavailable "
          f"({reason})", file=sys.stderr)  # fmt: skip


def _until_signalled(run: Callable[[Stop], RunReport], signals: StopSignals) -> RunReport:
    """``run(stop)`` in a thread; the first of ``signals`` requests ``stop``. Returns its
    report, or raises what it raised."""
    stop = Stop()
    ended: list[RunReport | BaseException] = []

    def work() -> None:
        try:
            ended.append(run(stop))
        except BaseException as error:  # raised again in the command's thread
            ended.append(error)
        finally:
            signals.woken.set()

    thread = threading.Thread(target=work, name="harvest")
    thread.start()
    signals.woken.wait()
    if signals.first.is_set():
        stop.request()
    thread.join()
    (outcome,) = ended
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def summary(report: RunReport) -> str:
    """The lines printed at the end of a run."""
    lines = [
        f"harvest {report.source} (run #{report.run_id}): {report.status} "
        f"in {report.seconds:.1f} s",
        f"  {report.counts.line()}; {counted(report.pages, 'page')}, "
        f"{counted(report.requests, 'request')}",
        f"  watermark: {report.watermark or 'none'}",
    ]
    for error in report.errors[:SHOWN_ERRORS]:
        lines.append(f"  ! {error}")
    if len(report.errors) > SHOWN_ERRORS:
        lines.append(f"  ... {len(report.errors) - SHOWN_ERRORS} more (koprik runs --errors)")
    return "\n".join(lines)
