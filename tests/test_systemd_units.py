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
                # what the shell makes of it
                line = line.replace("$(date +%%F-%%H%%M%%S)", "2025-01-31-023000")
                words = shlex.split(line.removeprefix("ExecStart="))
                if words[0] == "/bin/sh":
                    words = shlex.split(words[-1].removeprefix("exec "))
                assert words[0] == INSTALLED
                commands.append(words[1:])
    assert sorted(c[0] for c in commands) == ["backup", "serve"]
    for arguments in commands:
        build_parser().parse_args(arguments)


def _unit_commands(unit: str, key: str, replacements: dict[str, str]) -> list[list[str]]:
    """The command lines of ``key`` (``ExecStart``...) in ``unit``, as systemd runs them
    (``%%`` is ``%``), with the paths of ``replacements`` replaced."""
    commands = []
    for line in (UNITS / unit).read_text().splitlines():
        if line.startswith(f"{key}="):
            line = line.removeprefix(f"{key}=").replace("%%", "%")
            for old, new in replacements.items():
                line = line.replace(old, new)
            commands.append(shlex.split(line))
    return commands


def test_the_backup_unit_runs_again_the_same_day_and_removes_old_copies(tmp_path: Path):
    """A second run the same day failed (the dated name existed), and copies were never
    removed."""
    import os
    import time

    from catalog import Catalog
    from config import load_settings

    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n')
    Catalog.open(load_settings(config)).close()
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "koprik-2000-01-01-023000.sqlite3"
    old.write_bytes(b"")
    month_ago = time.time() - 30 * 86400
    os.utime(old, (month_ago, month_ago))
    recent = backups / "koprik-recent.sqlite3"
    recent.write_bytes(b"")
    replacements = {INSTALLED: str(Path(sys.executable).with_name("koprik")),
                    "/var/lib/koprik/backups": str(backups)}
    environment = {**os.environ, "KOPRIK_CONFIG": str(config)}
    for run in range(2):
        if run:
            time.sleep(1.1)  # the name has the time to the second
        for key in ("ExecStart", "ExecStartPost"):
            for command in _unit_commands("koprik-backup.service", key, replacements):
                done = subprocess.run(command, capture_output=True, text=True, env=environment,
                                      cwd=tmp_path, timeout=60)  # fmt: skip
                assert done.returncode == 0, (command, done.stderr)
    copies = sorted(path.name for path in backups.iterdir())
    assert len(copies) == 3 and "koprik-recent.sqlite3" in copies, copies
    assert not old.exists()


def test_the_documentation_a_unit_names_is_installed_by_the_readme():
    """``systemctl help koprik`` opened /opt/koprik/README.md, which nothing installed."""
    readme = (ROOT / "README.md").read_text()
    install = readme.split("## Running as a service", 1)[1].split("```sh", 1)[1].split("```")[0]
    for unit in UNITS.glob("*.service"):
        for line in unit.read_text().splitlines():
            if line.startswith("Documentation=file:"):
                path = line.removeprefix("Documentation=file:")
                commands = [row.split("#")[0].split() for row in install.splitlines()]
                assert [path] in [words[-1:] for words in commands if words[:1] == ["install"]], (
                    unit.name, path)
