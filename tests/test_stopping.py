"""A stop signal whose exception Python drops still stops the command (koprik.stopping)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

DROPPED = """
import signal, time
from koprik.stopping import take_stop_signals

take_stop_signals()


class Collected:
    def __del__(self):
        signal.raise_signal(signal.{name})  # its handler runs in here: its exception dropped


try:
    Collected()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # working
        pass
    print("went on")
except KeyboardInterrupt as stop:
    print(type(stop).__name__)
try:
    Collected()
    time.sleep(60)  # waiting: cut short, as by a ^C
    print("went on")
except KeyboardInterrupt as stop:
    print(type(stop).__name__)
"""


@pytest.mark.parametrize(("signum", "raised"), [(signal.SIGINT, "KeyboardInterrupt"),
                                                 (signal.SIGTERM, "Terminated")])
def test_a_stop_signal_raised_in_a_finalizer_is_raised_again(signum, raised):
    """A ^C or SIGTERM arriving while a ``__del__`` or a weakref callback runs: Python drops
    the exception its handler raises there, and the command went on to its end (``koprik
    import`` storing every file, exiting 0, nothing said). Its signal is raised again once
    the callback is over, unsaid, whether the command is working or waiting (a sleep; raised
    by _thread.interrupt_main it waited for the sleep's end)."""
    ran = subprocess.run([sys.executable, "-c", DROPPED.format(name=signum.name)],
                         capture_output=True, text=True, timeout=40)  # fmt: skip
    assert (ran.stdout, ran.stderr) == (f"{raised}\n{raised}\n", "")
