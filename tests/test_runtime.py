"""How every Koprik process runs (config.runtime): a ^C as the fork server starts."""

from __future__ import annotations

import subprocess
import sys

# A ^C (SIGINT to the process, as a terminal sends it to the group) arriving while the fork
# server is being started, with another thread running as a command's are (a pool's log relay,
# a harvest's): the fork server is really started, the signal is sent just before.
SIGNALLED_AS_IT_STARTS = """
import os, signal, sys, threading
from multiprocessing import forkserver, util
from config.runtime import start_fork_server

threading.Thread(target=threading.Event().wait, daemon=True).start()
spawn = util.spawnv_passfds
children = []

def spawned_after_a_stop(path, args, passfds):
    if "multiprocessing.forkserver" not in args[-1]:  # the resource tracker, started first
        return spawn(path, args, passfds)
    os.kill(os.getpid(), signal.SIGINT)
    children.append(spawn(path, args, passfds))
    if sys.argv[1] == "child too":
        os.kill(children[-1], signal.SIGINT)  # (the whole process group, in a terminal)
    return children[-1]

util.spawnv_passfds = spawned_after_a_stop
try:
    start_fork_server()
    for _ in range(50):  # a signal is handled at the next bytecode, once unblocked
        pass
    print("went on")
except KeyboardInterrupt:
    print("interrupted")
forkserver.ensure_running()  # a fork server that died of the ^C would be started again
print("fork server", "kept" if forkserver._forkserver._forkserver_pid == children[0] else "lost")
"""


def _started_with_a_stop(child_too: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SIGNALLED_AS_IT_STARTS, "child too" if child_too else "parent"],
        capture_output=True, text=True, timeout=60,
    )


def test_a_stop_as_the_fork_server_starts_stops_the_command():
    """The fork server was started with SIGINT ignored in the command as well as blocked: a ^C
    meanwhile went to another thread of the command, which does not block it, and was
    discarded, and ``koprik import`` ran to its end (1 ^C in 80 sent 1.5 to 4.5 s after an
    import of 4,000 records started)."""
    result = _started_with_a_stop(child_too=False)
    assert result.stdout.splitlines() == ["interrupted", "fork server kept"], result.stderr


def test_the_fork_server_ignores_a_stop_as_it_starts():
    """The ^C reaches the fork server too, while it preloads: it stays blocked there until the
    fork server ignores it, and neither ends it nor prints its traceback."""
    result = _started_with_a_stop(child_too=True)
    assert result.stdout.splitlines() == ["interrupted", "fork server kept"], result.stderr
    assert "Traceback" not in result.stderr
