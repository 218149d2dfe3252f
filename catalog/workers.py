"""Worker processes that end with the process that started them, even when it is killed.

A :class:`~concurrent.futures.ProcessPoolExecutor` on the ``forkserver`` context survives a
SIGKILL of its owner: the workers wait on a call queue they also hold open, and the fork server
waits for every holder of its "alive" pipe to go, workers included. So each worker, as it
starts (Linux only):

1. asks the kernel to SIGKILL it when its parent, the fork server, ends
   (``prctl(PR_SET_PDEATHSIG)``), and only then
2. closes its copy of the fork server's "alive" pipe, so that the owner is the only holder
   left and the fork server exits as soon as the owner does.

The order makes it race-free: while step 1 runs the worker still holds the pipe, so the fork
server cannot have ended yet; after step 2, its end kills the worker.

What the workers log is handled by their owner's logging (:mod:`catalog.worker_logs`).
The fork server and what it preloads: :mod:`config.runtime`.

One job that may run too long, take too much memory, or kill its process, runs in a process of
its own started the same way (:class:`OneJob`): its time is bounded, and the process is killed
at the bound; so may be its memory (:func:`limit_memory`). A pool's worker killed that way would
break the whole pool.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from catalog.worker_logs import LogRelay, RelaySender
from config.runtime import start_fork_server, tune_collector

PR_SET_PDEATHSIG = 1


class WorkerPool(ProcessPoolExecutor):
    """A pool of processes started by a fork server, ending with this process; what they log
    is handled here until the pool is shut down.

    A worker killed (SIGKILL: an operator, the out-of-memory killer) as it sent a result leaves
    part of it in the result pipe, and the pool's manager thread (CPython 3.11) waits for the
    rest for ever, never finding the pool broken: ``koprik import`` then hung, waiting for a
    result or in the pool's shutdown (crash probe). So a thread looks every
    :data:`WATCH_SECONDS` for a worker that died, and then closes this process's own end for
    writing that pipe (it writes nothing there): the last writer gone, the manager reads the
    end of the pipe, and ends the pool as broken (its results raise ``BrokenProcessPool``)."""

    def __init__(self, workers: int) -> None:
        context = start_fork_server()
        self._relay = relay = LogRelay(context)
        try:
            super().__init__(workers, mp_context=context, initializer=start_worker,
                             initargs=(relay.sender,))  # fmt: skip
        except BaseException:
            relay.close(drain=False)
            raise
        weakref.finalize(self, relay.close, drain=False)  # a pool dropped without a shutdown
        self._watching = threading.Lock()
        self._watched = False  # (shut down, or a death seen)
        threading.Thread(target=_watch, args=(weakref.ref(self),), daemon=True,
                         name="koprik-pool-watch").start()  # fmt: skip

    def _unblocked_if_a_worker_died(self) -> bool:
        """Close this process's end for writing the result pipe if a worker died (class docs);
        True once there is nothing more to watch."""
        with self._watching:
            if self._watched:
                return True
            processes = list((self._processes or {}).values())  # (None once shut down)
            if not any(process.exitcode not in (None, 0) for process in processes):
                return False
            self._result_queue._writer.close()  # type: ignore[attr-defined]
            self._watched = True
            return True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the pool down, then the relay of its logs: after what the workers sent when
        ``wait`` ed for (they have ended), else at once."""
        self._unblocked_if_a_worker_died()  # (a waiting shutdown joins the manager thread)
        with self._watching:
            self._watched = True
        try:
            super().shutdown(wait, cancel_futures=cancel_futures)
        finally:
            self._relay.close(drain=wait)


WATCH_SECONDS = 0.5
"""How often a pool's watch (:class:`WorkerPool`) looks for a worker that died."""


def _watch(pool: weakref.ref[WorkerPool]) -> None:
    """Until the pool is shut down or dropped: unblock it once a worker died."""
    while True:
        time.sleep(WATCH_SECONDS)
        watched = pool()
        if watched is None or watched._unblocked_if_a_worker_died():
            return
        del watched  # (not held while asleep: a pool dropped is collected)


def start_worker(logs: RelaySender | None = None) -> None:
    """What every worker process does first (the pool's workers, the file reader...); a pool's
    workers send what they log to ``logs``.

    A worker ignores SIGINT: a ^C in a terminal reaches the whole process group, and the owner
    decides what it means (a harvest stopped by it still writes the pages in progress, whose
    derivations these workers are making). It ends with its owner all the same."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    bind_to_parent()
    tune_collector()
    if logs is not None:
        logs.install()


def bind_to_parent() -> None:
    """Make this worker end with the fork server, and the fork server with its owner."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    state = forkserver._forkserver  # type: ignore[attr-defined]
    alive = state._forkserver_alive_fd
    if alive is not None:
        os.close(alive)
        state._forkserver_alive_fd = None


class JobFailed(Exception):
    """A job of :class:`OneJob` ended without its result; the message is one line."""


class JobOverran(JobFailed):
    """A job of :class:`OneJob` took longer than it was given; its process was killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"took longer than {seconds:g} s and was stopped")
        self.seconds = seconds


class JobOutgrew(JobFailed):
    """A job of :class:`OneJob` needed more memory than it was given (``megabytes``; None:
    than there was); its process has ended."""

    def __init__(self, megabytes: int | None) -> None:
        needed = "more memory than there was" if megabytes is None else f"more than {megabytes} MB"
        super().__init__(f"needed {needed} and was stopped")
        self.megabytes = megabytes


class OneJob:
    """``job(*args)`` in a process of its own, started by the fork server as the pools' workers
    are and ending with this process as they do (:func:`start_worker`); the result comes back
    through a pipe, so ``job``, ``args`` and the result must pickle, and ``job``'s module is
    imported by the process (one the fork server preloads, or a light one, starts at once).

    >>> job = OneJob(convert, (data, "mrk", "marcxml", "", 100_000), "koprik-conversion", 1024)
    >>> job.result(60)         # in a thread that may wait; JobOverran after 60 s, JobOutgrew
    ...                        # past 1024 MB more than the process started with, JobFailed
    >>> job.stop()             # from any other thread: result() ends at once with JobFailed

    The process has ended, and been waited for, when :meth:`result` returns or raises.
    ``memory_mb`` None: its memory is not limited.
    """

    def __init__(
        self, job: Callable[..., Any], args: tuple[Any, ...], name: str,
        memory_mb: int | None = None,
    ) -> None:  # fmt: skip
        self._job: Callable[..., Any] | None = job
        self._args = args
        self._name = name
        self._memory_mb = memory_mb
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._stopped = False
        self._ended = False

    def result(self, seconds: float) -> Any:
        """Start the process and wait ``seconds`` at most for the job's result, then kill it.

        Raises :class:`JobOverran` when the result has not come in time, :class:`JobOutgrew`
        when the job ran out of the memory it was given, :class:`JobFailed` when the job raised
        (its message) or its process ended without a result (a signal: the kernel's, out of
        memory, among them) or was stopped."""
        context = start_fork_server()
        outcome, sending = context.Pipe(duplex=False)
        process = context.Process(
            target=_run_one, args=(self._job, self._args, sending, self._memory_mb),
            daemon=True, name=self._name,
        )  # fmt: skip
        self._job, self._args = None, ()  # the process holds them (not once it has started)
        try:
            with self._lock:
                if self._stopped:
                    raise JobFailed("stopped before it started")
                try:
                    process.start()
                except OSError as error:  # no more processes, no memory for one...
                    raise JobFailed(f"its process cannot be started: {_one_line(error)}") from None
                self._process = process
            sending.close()  # the process holds the only sending end: its end is an EOF
            if not wait([outcome], seconds):
                raise JobOverran(seconds)
            try:
                ended, value = outcome.recv()
            except EOFError:
                process.join()
                raise JobFailed(_ended_how(process.exitcode, self._stopped)) from None
            if ended == _OUTGREW:
                raise JobOutgrew(self._memory_mb)
            if ended == _FAILED:
                raise JobFailed(value)
            return value
        finally:
            with self._lock:
                self._ended = True
            if process.is_alive():
                process.kill()
            if self._process is not None:
                process.join()
            sending.close()
            outcome.close()

    def stop(self) -> None:
        """Kill the job's process now (any thread may); it will not start if it has not yet."""
        with self._lock:
            self._stopped = True
            if self._process is not None and not self._ended and self._process.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._process.pid, signal.SIGKILL)


def _ended_how(status: int | None, stopped: bool) -> str:
    if stopped:
        return "stopped"
    if status is not None and status < 0:
        try:
            return f"its process was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"its process was killed by signal {-status}"
    return f"its process ended unexpectedly (exit status {status})"


_DONE, _FAILED, _OUTGREW = "done", "failed", "outgrew"
"""How a :class:`OneJob`'s job ended, sent first with its result, the reason it failed, or
nothing."""


def _run_one(
    job: Callable[..., Any], args: tuple[Any, ...], sending: Connection, memory_mb: int | None
) -> None:
    """A :class:`OneJob`'s process: send ``(_DONE, job(*args))``, ``(_FAILED, why)`` when it
    raised, ``why`` in one line, or ``(_OUTGREW, "")`` when it, or sending its result, ran out
    of memory (what it held has been let go by then: the little sent still fits)."""
    start_worker()
    if memory_mb is not None:
        limit_memory(memory_mb)
    try:
        outcome = (_DONE, job(*args))
    except MemoryError:
        outcome = (_OUTGREW, "")
    except Exception as error:  # any failure of the job is its owner's to report
        outcome = (_FAILED, _one_line(error))
    try:
        sending.send(outcome)
    except MemoryError:
        sending.send((_OUTGREW, ""))
    except Exception as error:  # a result that does not pickle
        sending.send((_FAILED, f"its result cannot be sent: {_one_line(error)}"))
    finally:
        sending.close()


def limit_memory(megabytes: int) -> None:
    """Let this process's address space (virtual memory) grow by ``megabytes`` at most from
    now on (``RLIMIT_AS``; Linux only, as :func:`bind_to_parent`): an allocation past it fails,
    in Python with MemoryError, where the kernel would otherwise let the process take the
    machine's memory until its out-of-memory killer chose a process to kill.

    Counted from what the process has now (a conversion's: 74 MB of address space, 54 MB of
    it resident), so that the limit means the same whatever the fork server preloads."""
    if sys.platform != "linux":
        return
    pages = int(Path("/proc/self/statm").read_text().split()[0])
    limit = pages * os.sysconf("SC_PAGE_SIZE") + megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _one_line(error: BaseException) -> str:
    """What :func:`protocols.shown.one_line` says of ``error``: written again here, as
    ``catalog`` imports no protocol module (../shared/DESIGN.md's direction of imports)."""
    return " ".join(str(error).split()) or type(error).__name__
