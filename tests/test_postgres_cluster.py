"""The test run's PostgreSQL cluster helper (:mod:`tests.postgres`): its folder is removed by a
process the run does not wait for (the pause at the suite's end)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.postgres import remove_unwaited


def test_a_folder_is_removed_by_a_process_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ``rm`` first on PATH that waits for ``go`` to exist before it removes: the call
    returns while the folder is still there, and the folder goes once ``go`` is made."""
    commands, folder, go = tmp_path / "bin", tmp_path / "cluster", tmp_path / "go"
    commands.mkdir()
    (folder / "base").mkdir(parents=True)
    held = commands / "rm"
    held.write_text(f'#!/bin/sh\nwhile [ ! -e "{go}" ]; do sleep 0.05; done\nexec /bin/rm "$@"\n')
    held.chmod(0o755)
    monkeypatch.setenv("PATH", f"{commands}:{os.environ['PATH']}")
    call = threading.Thread(target=remove_unwaited, args=(folder,), daemon=True)
    call.start()
    call.join(60)  # a removal waited for would never end: rm waits for go
    assert not call.is_alive()
    assert folder.exists()
    go.touch()
    deadline = time.monotonic() + 60
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not folder.exists()
