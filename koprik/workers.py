"""Several serving processes sharing the ports: ``koprik serve --workers N``.

The parent forks ``N`` workers before it has opened anything a fork could break (no thread, no
database connection, no socket), then only supervises: each worker opens the catalogue and binds
the HTTP and Z39.50 ports itself with ``SO_REUSEPORT``, and the kernel spreads new connections
among them. Nothing a client depends on lives in one worker: OAI resumption tokens are signed
with the catalogue's shared key and carry their position, and SRU result set ids are signed and
carry the query they stand for (:mod:`provider.sru.set_ids`), so any worker answers any token
or result set; a Z39.50 association, with its named result sets, stays on the connection (and
so the worker) that holds it, so those need nothing shared.

Worker 0 alone runs the harvest schedules. A worker that dies is started again (worker 0 with
the scheduler), after a pause of :data:`STARTUP` seconds when it died within as many of starting
(killed as it starts, it is not started again in a tight loop, and :data:`QUICK_DEATHS` such
deaths in a row stop them all); one that fails within them by itself, saying why (a port in use,
a catalogue that cannot be opened or is gone), stops them all, with the worker's exit status.
One that dies later but within :data:`SHORT_LIFE` seconds of starting (a fault that strikes on
the first request, or a minute in) is started again after a pause that each such death doubles,
from :data:`FIRST_PAUSE` to :data:`LONGEST_PAUSE` seconds, said in its warning: it is not forked
again every few seconds for ever. One that lived longer is started again at once, and its next
pause is the first again.
A worker that gives no sign of life for ``server.worker_timeout`` seconds is killed and so
started again: each writes the time into memory it shares with the parent every
:data:`HEARTBEAT` seconds from its event loop (:func:`signs_of_life`), from the moment its
ports listen (``koprik serve``) until it has stopped, so a worker stopped
(SIGSTOP), swapped out for good or stuck in its loop, which kept the connections the kernel
gave it unanswered, is told apart from one that is merely busy (its loop turns between requests).
One whose ports do not listen ``server.worker_start_timeout`` seconds after it was started
(stopped or stuck as it starts: it takes no connection, but the node serves with a worker less,
and without the harvest schedules when it is worker 0) is killed and started again alike.
SIGTERM or SIGINT to the parent stops every worker the way SIGTERM stops one ``koprik serve``
(the parent sends each a SIGTERM); a second one while they stop is relayed too, which ends them
at once (:mod:`koprik.stopping`). The workers ignore SIGINT: a ^C in a terminal reaches the
whole process group, and a worker taking it besides its parent's SIGTERM would count two
signals. A parent that is killed outright (SIGKILL, the OOM killer) takes its workers with it
the same way, so no orphan keeps the ports (Linux: ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from multiprocessing.process import BaseProcess
from typing import Any

from catalog.workers import PR_SET_PDEATHSIG
from config import ServerSettings
from koprik.logs import UNEXPECTED, into_log_file
from koprik.stopping import raised_before, say_at_once

log = logging.getLogger("koprik.workers")

STARTUP = 5.0
"""A worker that exits with an error sooner than this after starting is failing, not crashing
by chance; one killed sooner is started again this much later."""
QUICK_DEATHS = 3
"""A worker that dies within :data:`STARTUP` seconds of starting this many times in a row stops
them all (status 1): one that crashes as it starts (a fault in a library) is not started again
for ever, with no one told."""
SHORT_LIFE = 60.0
"""A worker that dies past :data:`STARTUP` but sooner than this after starting is started again
after a pause (:data:`FIRST_PAUSE`, doubled by each such death in a row); one that lived longer,
at once."""
FIRST_PAUSE = 1.0
"""Seconds before a worker that died within :data:`SHORT_LIFE` the first time is started again."""
LONGEST_PAUSE = 60.0
"""Seconds the pause after deaths within :data:`SHORT_LIFE` in a row grows to, and no further."""
STOP_GRACE = 30.0
"""Seconds the workers get to stop on SIGTERM before they are killed."""
HEARTBEAT = 1.0
"""Seconds between a worker's signs of life (:func:`signs_of_life`)."""
PAUSED = 5.0
"""Seconds between two looks of the parent (every half second) past which it was stopped
itself, and so were its workers: their silence then is not theirs."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
HELD_SIGNALS = (*STOP_SIGNALS, signal.SIGHUP)
"""Held from a worker's fork until it has its own handlers (a SIGHUP between would run the
parent's, :func:`koprik.stopping.take_hangups`, and be said twice)."""


def default_count() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_beat: Any = None
"""This worker's clock shared with the parent (None outside a worker of :func:`run_workers`)."""


@contextlib.asynccontextmanager
async def signs_of_life() -> AsyncIterator[None]:
    """In a worker of :func:`run_workers`, for the block: write the time where the parent looks
    at once, which starts the parent's watch, then every :data:`HEARTBEAT` seconds from the
    event loop (outside a worker: nothing).

    The first is written here, not by the loop: ``koprik serve`` enters the block as its ports
    start to listen, and a worker stopped between then and its loop's first turn would not be
    watched, the connections the kernel gave it unanswered for good."""
    if _beat is None:
        yield
        return
    _beat.value = time.monotonic()
    beating = asyncio.create_task(_beat_on(_beat))
    try:
        yield
    finally:
        beating.cancel()


async def _beat_on(beat: Any) -> None:
    while True:
        beat.value = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
        await asyncio.sleep(HEARTBEAT)


def run_workers(
    count: int,
    work: Callable[[int], int],
    timeout: float = ServerSettings.worker_timeout,
    start_timeout: float = ServerSettings.worker_start_timeout,
) -> int:
    """Run ``work(index)`` in ``count`` forked processes until SIGTERM/SIGINT; the exit status.

    ``work`` returns the worker's exit status (0 after a clean stop). A worker that has given
    a first sign of life (:func:`signs_of_life`) and then none for ``timeout`` seconds is
    killed, and so is one that gave none ``start_timeout`` seconds after it was started.
    """
    context = multiprocessing.get_context("fork")
    stopping = raised_before()  # a ^C raised before, and lost on its way
    signals: list[int] = []
    told: list[BaseProcess] = []
    """Workers sent the first SIGTERM."""

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        signals.append(signum)
        if len(signals) == 2:  # while stopping: the workers stop at once, and say so once
            say_at_once(signum)
            _relay(told)

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}

    beats: dict[int, Any] = {}
    """Each watched worker's last sign of life (0.0: none yet); one killed for want of one is
    watched again once it is started again."""

    def start(index: int) -> tuple[BaseProcess, float]:
        beats[index] = context.RawValue("d", 0.0)
        process = context.Process(target=_worker, args=(work, index, os.getpid(), beats[index]),
                                  name=f"koprik-worker-{index}")  # fmt: skip
        # Held until the worker has its own handlers (and here until it is started): a SIGTERM
        # between its fork and them ran this process's handler in it, and it served on until
        # killed STOP_GRACE later (a ^C as serve --workers 2 started took 30 s to end).
        signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)
        log.info("worker %d started (pid %d)", index, process.pid)
        return process, time.monotonic()

    workers = {index: start(index) for index in range(count)}
    due: dict[int, float] = {}
    """Workers that died as they started, or soon after, and when they are started again."""
    quick = dict.fromkeys(workers, 0)
    """How many times in a row each worker died as it started."""
    pauses = dict.fromkeys(workers, FIRST_PAUSE)
    """The pause before each worker is started again if it dies within :data:`SHORT_LIFE`."""
    status = 0
    looked = resumed = time.monotonic()
    try:
        while not stopping:
            for index, when in list(due.items()):
                if when <= time.monotonic():
                    del due[index]
                    workers[index] = start(index)
            sentinels = {process.sentinel: index for index, (process, _) in workers.items()
                         if index not in due}  # fmt: skip
            now = time.monotonic()
            if now - looked > PAUSED:  # this process too was stopped (^Z, a frozen cgroup)
                resumed = now  # every worker gets the timeout afresh to beat again
            looked = now
            _kill_the_silent(workers, beats, timeout, start_timeout, resumed)
            for sentinel in multiprocessing.connection.wait(list(sentinels), timeout=0.5):
                index = sentinels[sentinel]  # type: ignore[index]
                process, started = workers[index]
                process.join()
                code = process.exitcode or 0
                if stopping:
                    break
                lived = time.monotonic() - started
                starting = lived < STARTUP
                if starting and code > 0:
                    log.error("worker %d exited with status %d while starting; stopping",
                              index, code)  # fmt: skip
                    stopping, status = True, code
                    break
                quick[index] = quick[index] + 1 if starting else 0
                if quick[index] >= QUICK_DEATHS:
                    log.error("worker %d died as it started %d times in a row; stopping",
                              index, QUICK_DEATHS)  # fmt: skip
                    stopping, status = True, 1
                    break
                if starting:  # killed by a signal (a negative code), or stopped from outside
                    log.warning("worker %d (pid %d) exited with status %d while starting; "
                                "starting it again in %g s", index, process.pid, code, STARTUP)
                    due[index] = time.monotonic() + STARTUP
                    continue
                if lived < SHORT_LIFE:  # crashing soon after each start: not forked for ever
                    log.warning("worker %d (pid %d) exited with status %d, %.0f s after starting; "
                                "starting it again in %g s", index, process.pid, code, lived,
                                pauses[index])  # fmt: skip
                    due[index] = time.monotonic() + pauses[index]
                    pauses[index] = min(2 * pauses[index], LONGEST_PAUSE)
                    continue
                pauses[index] = FIRST_PAUSE
                log.warning("worker %d (pid %d) exited with status %d; starting it again",
                            index, process.pid, code)  # fmt: skip
                workers[index] = start(index)
    finally:
        asked = time.monotonic()
        if signals:  # (said here, not in the handler: logging there could deadlock)
            log.info("%s: stopping the workers; each ends the requests it is answering, and a "
                     "harvest the pages it is writing", signal.Signals(signals[0]).name)
        for process, _ in workers.values():
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker's own orderly stop
                told.append(process)
        if len(signals) > 1:  # the second signal came before the first was relayed
            _relay(told)
        deadline = time.monotonic() + STOP_GRACE
        for index, (process, _) in workers.items():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("worker %d (pid %d) still running %g s after SIGTERM: killed",
                            index, process.pid, STOP_GRACE)
                process.kill()
                process.join()
        if signals:
            log.info("workers stopped in %.1f s", time.monotonic() - asked)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 + signals[1] if len(signals) > 1 else status


def _kill_the_silent(
    workers: dict[int, tuple[BaseProcess, float]], beats: dict[int, Any], timeout: float,
    start_timeout: float, resumed: float,
) -> None:
    """SIGKILL each living watched worker whose last sign of life is older than ``timeout``
    seconds, or that has given none ``start_timeout`` seconds after it was started; in both,
    than ``resumed`` (when this process last went on after being stopped itself: the whole
    process group was, and its workers have not had their turn yet). It is watched no more
    (killed once, and said once), and its death is seen, and it is started again, as any
    other's."""
    now = time.monotonic()
    for index, (process, started) in workers.items():
        if index not in beats or not process.is_alive():
            continue
        last = beats[index].value
        if last and now - max(last, resumed) > timeout:
            log.error("worker %d (pid %d) gave no sign of life for %.0f s (stopped, or stuck): "
                      "killing it, to start it again", index, process.pid, now - last)
        elif not last and now - max(started, resumed) > start_timeout:
            log.error("worker %d (pid %d) is not listening %.0f s after it was started "
                      "(server.worker_start_timeout; stopped, or stuck as it starts): killing "
                      "it, to start it again", index, process.pid, now - started)  # fmt: skip
        else:
            continue
        del beats[index]
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


def _relay(workers: list[BaseProcess]) -> None:
    """Send SIGTERM again to ``workers`` (from a signal handler: no waiting for them)."""
    for process in list(workers):
        if process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)


def _worker(work: Callable[[int], int], index: int, parent: int, beat: Any) -> None:
    global _beat
    _beat = beat
    _end_with(parent)
    # Not the parent's "stop supervising" handlers. The parent relays a ^C as SIGTERM, and a
    # SIGTERM before the worker's own orderly stop is in place ends it as by default: raised
    # as koprik.stopping.Terminated, as in the parent, it would print multiprocessing's
    # traceback of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the parent says it once (``systemctl kill``)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)  # blocked by the parent to here
    try:
        status = work(index)
    except Exception as fault:  # multiprocessing prints its traceback on standard error only
        into_log_file(f"worker {index}: {UNEXPECTED}", fault)
        raise
    raise SystemExit(status)


def _end_with(parent: int) -> None:
    """Have the kernel SIGKILL this worker when its parent ends without stopping it (the
    parent died as hard: the node went down as one). Checked after asking, so a parent that
    ended in between is not missed."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)
