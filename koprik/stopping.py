"""How a command that harvests stops on SIGTERM or ^C: in order on the first, at once on the next.

The first SIGTERM or SIGINT asks the command's harvests to stop (:class:`harvester.runs.Stop`:
each commits the pages it is writing and is recorded ``interrupted``; its next run resumes it),
which takes seconds. A second one while it stops ends the process at once, with one line and
the status 128 + the signal's number: the pages being written are not committed and the next
run asks for them again; nothing committed is lost.

Signal handlers only set a flag here (or exit): the thread that acts on the first signal is
the command's own, never a handler, which would run inside whatever the thread was doing.

>>> with StopSignals() as signals:     # the handlers before are put back on leaving
...     signals.first.wait()           # until SIGTERM or ^C; a second one exits at once
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from sys import UnraisableHookArgs  # (a type of typeshed's only)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


INTERRUPTED = 130
"""The exit status of a command a ^C stopped (128 + SIGINT)."""

TERMINATED = 143
"""The exit status of a command a SIGTERM stopped (128 + SIGTERM)."""


class Terminated(KeyboardInterrupt):
    """A SIGTERM, raised in the main thread as a ^C raises KeyboardInterrupt (of which it is
    one), so that a command stops on it as on a ^C: what the ^C cleans up on its way out (an
    output's ``FILE.part``, :mod:`koprik.output_files`) it does too. By default a SIGTERM ended
    the process at once, leaving them."""


_RAISED: list[int] = []
"""The stop signals raised as exceptions so far (:func:`take_stop_signals`)."""


def take_stop_signals() -> None:
    """Have ^C raise KeyboardInterrupt and SIGTERM :class:`Terminated` in the main thread,
    each noted first (:func:`raised_before`), unless the process was started with it ignored.
    A command with handlers of its own (serve, harvests: :class:`StopSignals`) puts them in
    place of these while it runs.

    Python loses some of its KeyboardInterrupts: one raised while a weakref callback or a
    ``__del__`` runs is printed ("Exception ignored in") and dropped. ``koprik serve`` lost 2
    in 145 tries of a ^C 0.2 to 2.5 s after it started, and went on serving, its stop never
    set: the one seen was raised in the callback of an import's module lock
    (``importlib._bootstrap._get_module_lock``); serve stops on one noted before its own
    handler is in place (0 lost in 400 tries). ``koprik import`` lost a ^C or SIGTERM raised
    in the callback that took a listener of SQLAlchemy's event registry out as a batch's
    connection was collected (2 CI runs in 4), and stored the rest of its files: the signal of
    a dropped one is raised again (:func:`_raised_again`). Python's own handler notes nothing,
    and asyncio.run replaces it with one that cancels its main task rather than raising.
    """
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _raise)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise)
    sys.unraisablehook = _raised_again(sys.unraisablehook)


def _raised_again(
    hook: Callable[[UnraisableHookArgs], object],
) -> Callable[[UnraisableHookArgs], object]:
    """``hook``, but a stop signal's exception that Python drops has its signal raised again
    in the main thread, unsaid (Python printed it as "Exception ignored in" with a traceback).

    Sent to the main thread from a thread started for it (:func:`signal.pthread_kill`), once
    the hook is over (:func:`_sent_once_out`): raised in the hook, the main thread's handler
    would run at once, inside the hook, and its exception be dropped again. A signal, unlike
    :func:`_thread.interrupt_main`, also cuts a wait of the main thread short (a sleep, a lock,
    a future's result), as a ^C does."""

    def again(unraisable: UnraisableHookArgs) -> object:
        stop = unraisable.exc_value
        if not (isinstance(stop, KeyboardInterrupt) and _RAISED):
            return hook(unraisable)
        if _NOTED_ONLY:
            return None
        signum = signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT
        main = threading.main_thread().ident
        if main is not None and signal.getsignal(signum) is _raise:
            out = [False]
            _thread.start_new_thread(_sent_once_out, (main, signum, out))
            out[0] = True  # the hook's last step: no handler runs between it and the hook's end
        return None

    return again


def _sent_once_out(main: int, signum: int, out: list[bool]) -> None:
    """Send ``signum`` to the thread ``main`` once ``out[0]`` says its hook is over (or after a
    second). Sent at once, the signal could be handled inside the hook still, and be dropped
    again: the thread sending it may take the GIL before the hook's end (when the main thread
    is not scheduled for the switch interval just after starting it, as under load), and
    ``koprik import`` would have gone on to its end. The hook sets ``out[0]`` with no call
    after it, where no handler runs."""
    deadline = time.monotonic() + 1.0
    while not out[0] and time.monotonic() < deadline:
        time.sleep(0.001)
    signal.pthread_kill(main, signum)


_NOTED_ONLY: list[bool] = []
"""Not empty once a stop signal whose exception Python drops is to be noted only
(:func:`noted_only`)."""


def noted_only() -> None:
    """Have a stop signal whose exception Python drops from now on noted only
    (:func:`raised_before`), not raised again: for ``koprik serve``, which looks for a noted
    one once its own handlers are in place, and stops then as on a ^C. Raised again, the
    ^C landed in the middle of its start (the event loop half made, and said so in a
    traceback)."""
    _NOTED_ONLY.append(True)


def _raise(signum: int, _frame: FrameType | None) -> NoReturn:
    _RAISED.append(signum)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def raised_before() -> bool:
    """Whether a ^C or SIGTERM was raised (:func:`take_stop_signals`) and the command still
    runs: its exception was dropped on its way (Python ignores one raised in a ``__del__``, a
    weakref callback, a collector's callback), its signal raised again a few milliseconds later
    (:func:`_raised_again`), and a command putting handlers of its own in place meanwhile is
    to stop as if the signal came now."""
    return bool(_RAISED)


def stop_replaced(error: Exception) -> KeyboardInterrupt | None:
    """The stop signal's exception that ``error`` stands in for: the last one raised
    (:func:`take_stop_signals`), or None if none was or ``error`` has another error chained to
    it. CPython can drop a KeyboardInterrupt raised inside its own C code and raise an error of
    its own instead, with nothing chained: a ^C as ``koprik serve`` imported ``ssl``, whose
    ``from _ssl import RAND_egd`` fails on purpose, ended it with the traceback of "TypeError:
    expected a message argument" (the ImportError's message, being made, was the
    KeyboardInterrupt). An error chained to another (a command's clean-up failing as it
    handles the ^C, whose KeyboardInterrupt is then its context) is a fault of its own, shown
    with its traceback."""
    if not _RAISED or error.__cause__ is not None or error.__context__ is not None:
        return None
    return Terminated() if _RAISED[-1] == signal.SIGTERM else KeyboardInterrupt()


@contextmanager
def noted_when_stopped(note: Callable[[], str]) -> Iterator[None]:
    """Add ``note()`` (what the command kept, or left) to a ^C or SIGTERM that stops the block:
    :func:`interrupted` says it on its line."""
    try:
        yield
    except KeyboardInterrupt as stop:  # a SIGTERM too (Terminated)
        stop.add_note(note())
        raise


def interrupted(stop: KeyboardInterrupt | None = None) -> int:
    """Say in one line that a ^C (or a SIGTERM: ``stop`` :class:`Terminated`) stopped the
    command (a KeyboardInterrupt, caught), followed by the notes the command added to ``stop``
    on its way out (``stop.add_note``: what it kept, as ``koprik import`` says the batches it
    stored), in the log file too (:func:`koprik.logs.into_log_file`: a service stopped by
    SIGTERM as it started, waiting for its database, said so on standard error only); return
    :data:`INTERRUPTED` (:data:`TERMINATED`), the status to exit with.

    CPython (3.11) marks a KeyboardInterrupt that leaves code run by ``exec()`` of a string as
    never caught, even once it is, and then ends the process by SIGINT rather than with the
    status asked for: a ^C while a module was imported (dataclasses make their methods that
    way) ended ``koprik serve`` killed by SIGINT rather than with 130 in about 8 of 115 tries
    (none in 170 since). Each ``exec()`` of a string clears that mark first, so an empty one
    here does."""
    # imported here: the program takes the stop signals before it loads the rest (koprik.program)
    from koprik.logs import into_log_file

    terminated = isinstance(stop, Terminated)
    notes = "".join(f" {note}" for note in getattr(stop, "__notes__", ()))
    line = f"{'terminated' if terminated else 'interrupted'}{notes}"
    print(f"koprik: {line}", file=sys.stderr)
    into_log_file(line)
    exec("")  # clears the mark (see above)
    return TERMINATED if terminated else INTERRUPTED


HANGUP_LINE = ("SIGHUP: nothing to reload, going on (settings are read at start: restart to "
               "change them; a log file logrotate moved away is reopened by itself)")


def take_hangups() -> None:
    """Have a SIGHUP said in one log line and otherwise ignored, in the commands that run as a
    service (``serve``, its workers ignoring it, ``scheduler``). By default it ended the
    process without a word, which systemd's ``Restart=on-failure`` takes for a clean stop: the
    ``kill -HUP`` customary after a log rotation took the service down until someone
    noticed. Run from a terminal (standard error is one), the command keeps the default: the
    terminal's hang-up ends it, rather than leaving it serving with nobody to see it."""
    if sys.stderr.isatty():
        return
    signal.signal(signal.SIGHUP, _hangup)


def _hangup(_signum: int, _frame: FrameType | None) -> None:
    logging.getLogger("koprik").warning("%s", HANGUP_LINE)


def say_at_once(signum: int) -> None:
    """The line a process stopped at once writes (a second stop signal)."""
    name = signal.Signals(signum).name
    # os.write, not print: a handler may run while this thread is inside a write to stderr
    os.write(2, f"koprik: {name} again: stopped at once; the harvest pages being written are "
                "asked for again by the next run, nothing committed is lost\n".encode())


def exit_at_once(signum: int, *, quiet: bool = False) -> NoReturn:
    """End the process now with the status 128 + ``signum``, saying why in one line unless
    ``quiet`` (a worker of ``koprik serve --workers``, whose parent says it)."""
    if not quiet:
        say_at_once(signum)
    os._exit(128 + signum)


class StopSignals:
    """SIGTERM and SIGINT handlers, while in its block (in the main thread): the first sets
    :attr:`first` (and :attr:`signum`), the next exits at once (:func:`exit_at_once`)."""

    def __init__(self) -> None:
        self.first = threading.Event()
        self.signum = 0
        """The first signal's number (0: none yet)."""
        self.woken = threading.Event()
        """Set with :attr:`first`; a thread waiting for something else too sets it as well."""

        self._before: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        self._before = {signum: signal.signal(signum, self._handle) for signum in SIGNALS}
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._before.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.first.is_set():
            exit_at_once(signum)
        self.signum = signum
        self.first.set()
        self.woken.set()
