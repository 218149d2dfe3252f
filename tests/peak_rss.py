"""Peak RSS of one command, measured on that command alone.

``os.wait4`` on a child of the test process is not enough: Linux carries a process's peak RSS
across ``execve``, so a command started straight from a large pytest process reports pytest's
own peak. A small launcher starts the command instead and reports the command's peak.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO

_LAUNCHER = (
    "import os, sys\n"
    "pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_measured(
    command: list[str], report: Path, *, cwd: Path | None = None,
    stdout: IO[str] | None = None, stderr: IO[str] | None = None,
) -> tuple[int, int]:
    """Run ``command`` to its end: (exit status, its peak RSS in MB, with its waited children).

    ``report`` is a scratch file the launcher writes the figure to.
    """
    launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(report), *command]
    status = subprocess.run(launcher, cwd=cwd, stdout=stdout, stderr=stderr, check=False)
    return status.returncode, int(report.read_text()) // 1024
