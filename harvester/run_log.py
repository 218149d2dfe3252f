"""The one line logged as a harvest run ends, whoever started it (the scheduler, the dashboard,
the API).

An operator watching the log sees every run that ended: info when it succeeded or was
interrupted, a warning when it ended ``partial``, an error when it ``failed``, with its first
error on one line of bounded length (every error is in the run's record: ``koprik runs SOURCE
--errors``)::

    log_end(log, report, SCHEDULED)     # scheduled harvest of partner: failed (run #7), ...

``koprik harvest`` does not log it: it prints its own summary of the run.
"""

from __future__ import annotations

import logging

from harvester.runs import FAILED, INTERRUPTED, SUCCEEDED, RunReport

SCHEDULED = "scheduled harvest of {source}"
"""How a scheduled run is named in its line (``{source}``: the source's name)."""
ERROR_CHARS = 300
"""The most characters of a run's first error that its log line quotes."""


def counted(number: int, noun: str) -> str:
    """``number`` and ``noun``, plural unless one: "1 page", "5 pages"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def log_end(log: logging.Logger, report: RunReport, started: str) -> None:
    """Log the end of the run of ``report`` on ``log`` (the caller's, beside its other lines
    about the runs it starts), named by ``started`` (:data:`SCHEDULED`, or ``harvest of {source}
    started from the dashboard``)."""
    run = started.format(source=report.source)
    counts = report.counts.line()
    if report.status == INTERRUPTED:
        log.info("%s: %s (run #%d) after %s, %s; %s", run, report.status, report.run_id,
                 counted(report.pages, "page"), counts, report.errors[-1])  # fmt: skip
    elif report.status == SUCCEEDED:
        log.info("%s: %s, %s, %s", run, report.status, counts, counted(report.requests, "request"))
    else:  # partial or failed: say why, in one line
        log.log(
            logging.ERROR if report.status == FAILED else logging.WARNING,
            "%s: %s (run #%d), %s, %s; %s",
            run, report.status, report.run_id, counts, counted(report.requests, "request"),
            first_error(report),
        )


RESUMES = "the source's next run resumes it"


def log_lost(
    log: logging.Logger, work: str, reason: str, after: str, ended: str = "stopped"
) -> None:
    """Log in one line that ``work`` (``scheduled harvest of p``) ``ended`` (``stopped``, ``not
    started``) because the catalogue database is unavailable (``reason``:
    :func:`catalog.db.unavailable`'s), and what comes ``after`` (:data:`RESUMES`)."""
    log.error("%s %s: the catalogue database is unavailable (%s); %s", work, ended, reason, after)


def first_error(report: RunReport) -> str:
    """The first error of a run that did not succeed, on one line of bounded length, and how
    many more it had (``koprik runs SOURCE --errors`` shows them all)."""
    if not report.errors:
        return "no error recorded"
    first = " ".join(report.errors[0].split())
    if len(first) > ERROR_CHARS:
        first = first[: ERROR_CHARS - 3] + "..."
    if len(report.errors) == 1:
        return f"error: {first}"
    return (f"first of {len(report.errors)} errors: {first} "
            f"(see koprik runs {report.source} --errors)")
