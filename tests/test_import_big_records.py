"""``koprik import`` of a file of large records holds a bounded number of bytes of them at once.

A batch ended at :data:`koprik.commands.import_.BATCH` records only: 2,000 records under the
1 MiB ``limits.max_record_bytes`` each, so a 660 MB file of 700 records of 950 KB took 1.69 GB
in the process reading it and 725 MB in the importing one (all rejected anyway, longer than
ISO 2709 allows). Each process's peak RSS is measured as it runs (``VmHWM`` of every process of
the command's tree, sampled from /proc): the reading process is started by the fork server, so
the command's own ``wait4`` does not count it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

RECORDS = 300
RECORD_BYTES = 500_000
"""300 records of about 500 KB: a 150 MB file, which the first batches (250 records, then the
rest) held whole."""
RSS_BOUND_MB = 150
"""Peak RSS of any one process of the import (measured about 60 MB after the fix; before it
the reading process took 500 MB and the importing one 400 MB on this file)."""


def write_big_records(path: Path) -> None:
    """``RECORDS`` .mrk records of about ``RECORD_BYTES`` each (many 500 fields)."""
    line = "=500  \\\\$a" + "w" * 9000 + "\n"
    with path.open("w") as out:
        for number in range(RECORDS):
            out.write(f"=LDR  00000nam a2200000 a 4500\n=001  big{number}\n"
                      f"=245  10$aBig {number}\n")
            out.write(line * (RECORD_BYTES // len(line)))
            out.write("\n")


def _tree(root: int) -> set[int]:
    """``root`` and every process descended from it now."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        pid, ppid = int(stat.parent.name), int(text.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(parents.get(pid, []))
    return found


def _peak_mb(pid: int) -> int | None:
    """The peak RSS (``VmHWM``) of process ``pid`` so far, in MB; None once it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def test_import_of_big_records_holds_few_of_them_at_once(tmp_path: Path) -> None:
    path = tmp_path / "big.mrk"
    write_big_records(path)
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n')
    command = [sys.executable, "-m", "koprik", "--config", str(config), "import",
               "--rejects", str(tmp_path / "rejects.txt"), str(path)]
    peaks: dict[int, int] = {}
    with (tmp_path / "err.txt").open("w") as err:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err)
        while process.poll() is None:
            for pid in _tree(process.pid):
                peak = _peak_mb(pid)
                if peak is not None:
                    peaks[pid] = max(peaks.get(pid, 0), peak)
            time.sleep(0.05)
    assert process.returncode == 1, (tmp_path / "err.txt").read_text()  # all rejected
    rejected = (tmp_path / "rejects.txt").read_text().splitlines()
    assert len(rejected) == RECORDS
    assert "longer than ISO 2709 allows" in rejected[0]
    assert len(peaks) >= 3  # the command, its fork server, the process reading the file
    assert max(peaks.values()) < RSS_BOUND_MB, peaks
