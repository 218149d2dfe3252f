"""contrib/systemd: the unit files pass ``systemd-analyze verify`` and run real koprik commands."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from koprik.cli import build_parser
from tests.conftest import ROOT

UNITS = ROOT / "contrib" / "systemd"
INSTALLED = "/opt/koprik/venv/bin/koprik"


def test_the_units_verify(tmp_path: Path):
    """With the koprik of this test run in place of the installed one (verify checks that each
    ExecStart is executable); any unknown key or bad value is printed, and fails the test."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    koprik = Path(sys.executable).with_name("koprik")
    for unit in UNITS.iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(koprik)))
    done = subprocess.run(["systemd-analyze", "verify", *sorted(map(str, tmp_path.iterdir()))],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_each_exec_start_is_a_koprik_command():
    commands = []
    for unit in UNITS.glob("*.service"):
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                line = line.replace("$(date +%%F)", "2025-01-31")  # what the shell makes of it
                words = shlex.split(line.removeprefix("ExecStart="))
                if words[0] == "/bin/sh":
                    words = shlex.split(words[-1].removeprefix("exec "))
                assert words[0] == INSTALLED
                commands.append(words[1:])
    assert sorted(c[0] for c in commands) == ["backup", "serve"]
    for arguments in commands:
        build_parser().parse_args(arguments)
