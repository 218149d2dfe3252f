"""How every Koprik process runs: the settings of Python's cyclic garbage collector, and the
fork server that starts the worker processes.

Storing records makes and drops hundreds of thousands of small objects per batch (index rows,
derivations, records read); with Python's default thresholds the collector then went over the
whole heap about once per thousand records. Measured with ``gc.callbacks`` in an import of
19,794 records: the collector took 2.4 s of the writing process's 8.6 s CPU and 2.0 s of the
file-reading process's 3.4 s; with these settings, 1.0 s and under 0.1 s.

Worker processes (:mod:`catalog.workers`) are started by a fork server, never by forking a
process whose other threads may hold locks. The fork server imports what the workers run
(:data:`PRELOADED`) once, as it starts; each process it forks has it already, instead of
importing it for a third of a second of CPU. A command that will start workers starts the fork
server first (:func:`start_fork_server`), so that this import runs on another core while the
command loads its own modules: ``koprik import`` was 0.3 s sooner to its first batch.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import signal
import sys
import threading
from collections.abc import Iterator
from multiprocessing import forkserver, resource_tracker

PRELOADED = ["__main__", "catalog.store"]
"""Modules the fork server imports as it starts (``__main__``: multiprocessing's default)."""

YOUNGEST_COLLECTED_EVERY = 10_000
"""Allocations between two collections of the youngest generation (Python's default: 700)."""


def tune_collector() -> None:
    """Collect less often, and never again look at what the process loaded before this call
    (modules, tables, compiled patterns: they live as long as the process). Called once, as a
    process starts: the ``koprik`` command and each worker process."""
    gc.collect()  # what is garbage already must not be frozen with the rest
    gc.freeze()
    gc.set_threshold(YOUNGEST_COLLECTED_EVERY, 10, 10)


def forkserver_context() -> multiprocessing.context.ForkServerContext:
    """The ``forkserver`` context, its server to preload :data:`PRELOADED` when it starts
    (every process Koprik starts this way asks for it here, whichever starts first)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED)
    return context


def start_fork_server() -> multiprocessing.context.ForkServerContext:
    """Start the fork server unless it runs (it preloads in a process of its own; it ends with
    this process), and return its context: a command that will want workers calls it first,
    so that the preloading runs beside its own imports, and every process Koprik starts this
    way is started through it.

    From the main thread it is started with SIGINT blocked, which it inherits: a ^C reaches
    the whole process group, and one while it was importing :data:`PRELOADED` printed a
    traceback of its own (multiprocessing's fork server ignores SIGINT only once it has
    imported them), beside the command's one line; blocked, it waits there until the fork
    server ignores it, which discards it. The processes it forks keep it blocked, and ignore
    it as well (:mod:`catalog.workers`, :mod:`koprik.file_reading`): the command stops them.

    Here a ^C meanwhile is held, and handled by the command's handler once the fork server
    runs (:func:`_held_meanwhile`). Blocking it does not hold it: a signal sent to the process
    goes to any of its threads that does not block it (a pool's log relay, a harvest's
    thread). Ignored here as well, as it was, it was discarded so, and ``koprik import`` or
    ``harvest`` ran to its end."""
    context = forkserver_context()
    with _hangups_blocked():
        if threading.current_thread() is not threading.main_thread():  # (signal is the main's)
            start_resource_tracker()
            forkserver.ensure_running()
            return context
        # The fork server starts multiprocessing's resource tracker first unless it runs, and
        # that unblocks SIGINT once it is started: started first, outside the block.
        start_resource_tracker()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with _held_meanwhile(signal.SIGINT):
                forkserver.ensure_running()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    return context


@contextlib.contextmanager
def _held_meanwhile(signum: int) -> Iterator[None]:
    """The main thread's block, during which ``signum`` is held rather than handled (no
    KeyboardInterrupt cuts it in two: a fork server started but not noted as running), and
    handled as it ends, by the handler in place before, as if it arrived then (a handler
    called, the default action taken, an ignored one ignored)."""
    held: list[int] = []
    previous = signal.signal(signum, lambda caught, _frame: held.append(caught))
    try:
        yield
    finally:
        signal.signal(signum, previous)
    if not held:
        return
    if callable(previous):
        previous(signum, None)  # called: asyncio's handler was told by its wake-up descriptor
    elif previous == signal.SIG_DFL:
        signal.raise_signal(signum)


TRACKER_QUIET = "ignore:resource_tracker:UserWarning"
"""The warnings filter (``-W``) of multiprocessing's resource tracker: it says nothing of the
semaphores it unlinks when this process ends without having released them."""


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker unless it runs, with :data:`TRACKER_QUIET`.

    Killed (SIGKILL, the OOM killer), a process with a pool of workers leaves its queues'
    semaphores registered; the tracker unlinks them as it should, but also printed
    "resource_tracker: There appear to be 6 leaked semaphore objects to clean up at
    shutdown", after the command had ended, to a terminal that had nothing else to say (the
    data was fine). The tracker takes its warnings filters from ``sys.warnoptions`` as it is
    started (``-W``), so the filter is there only for that moment, this process's own
    warnings untouched."""
    sys.warnoptions.append(TRACKER_QUIET)
    try:
        resource_tracker.ensure_running()
    finally:
        sys.warnoptions.remove(TRACKER_QUIET)


@contextlib.contextmanager
def _hangups_blocked() -> Iterator[None]:
    """SIGHUP blocked in this thread while the fork server and the resource tracker start,
    so that they (and the processes the fork server forks) keep it blocked: ``systemctl kill
    -s HUP`` signals every process of the service, and a process started by ``exec`` takes
    the default action of a signal the command catches (``serve`` says a SIGHUP and goes on,
    :func:`koprik.stopping.take_hangups`), which ended the fork server and the harvest's
    workers with it."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
