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
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import weakref
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver

from catalog.worker_logs import LogRelay, RelaySender
from config.runtime import forkserver_context, tune_collector

PR_SET_PDEATHSIG = 1


class WorkerPool(ProcessPoolExecutor):
    """A pool of processes started by a fork server, ending with this process; what they log
    is handled here until the pool is shut down."""

    def __init__(self, workers: int) -> None:
        context = forkserver_context()
        self._relay = relay = LogRelay(context)
        try:
            super().__init__(workers, mp_context=context, initializer=start_worker,
                             initargs=(relay.sender,))  # fmt: skip
        except BaseException:
            relay.close(drain=False)
            raise
        weakref.finalize(self, relay.close, drain=False)  # a pool dropped without a shutdown

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the pool down, then the relay of its logs: after what the workers sent when
        ``wait`` ed for (they have ended), else at once."""
        try:
            super().shutdown(wait, cancel_futures=cancel_futures)
        finally:
            self._relay.close(drain=wait)


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
