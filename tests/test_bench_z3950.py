"""bench/z3950.py: its figures, Zebra's input, and a small run against koprik serve and Zebra."""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymarc import MARCReader

from bench._z3950_load import QUERIES, Level, percentile_ms
from bench._z3950_targets import Workspace, children, listeners, process_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "z3950.py"
# Queries whose hits do not depend on script folding or 880 fields, which Zebra lacks.
SAME_ON_BOTH = [q for q in QUERIES if re.search(r"1=(7|31) |heritage|война|frye|history", q)]


def test_percentiles_interpolate_between_samples() -> None:
    seconds = [n / 1000 for n in range(1, 101)]  # 1 ms .. 100 ms
    assert percentile_ms(seconds, 50) == pytest.approx(50.5)
    assert percentile_ms(seconds, 95) == pytest.approx(95.05)
    assert percentile_ms([0.004], 95) == pytest.approx(4.0)
    assert math.isnan(percentile_ms([], 50))


def test_level_counts_pairs_of_every_query() -> None:
    level = Level(4, 2.0, {"a": (0.001, 0.003), "b": (0.002,)}, ("b: diagnostic 2",), 0.1)
    assert level.pairs == 3
    assert level.pairs_per_second == pytest.approx(1.5)
    assert level.p50_ms == pytest.approx(2.0)


def test_zebra_gets_the_live_demo_records(tmp_path: Path) -> None:
    space = Workspace(tmp_path, 200)
    space.folder.mkdir(parents=True)
    space._write_marc()
    with space.marc.open("rb") as handle:
        ids = [record["001"].data for record in MARCReader(handle, to_unicode=True)]
    # koprik demo deletes every 97th record; Zebra must index what the catalogue serves.
    assert len(ids) == 198
    assert "demo0000097" not in ids and "demo0000194" not in ids
    assert ids[0] == "demo0000001" and ids[-1] == "demo0000200"


def test_server_cpu_counts_running_children() -> None:
    # koprik serve --workers: the parent idles while its workers (running children) serve.
    busy = "x = 0\nwhile True: x += 1"
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                               f"subprocess.run([sys.executable, '-c', {busy!r}])"])  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not children(parent.pid) or process_cpu_seconds(children(parent.pid)[0]) < 0.3:
            assert time.monotonic() < deadline, "the child never ran"
            time.sleep(0.05)
        child = children(parent.pid)[0]
        os.kill(child, signal.SIGSTOP)  # its CPU time stands still while both are read
        time.sleep(0.1)
        assert process_cpu_seconds(parent.pid) >= process_cpu_seconds(child) >= 0.3
    finally:
        for pid in children(parent.pid):
            os.kill(pid, signal.SIGKILL)
        parent.wait(30)


def test_listeners_counts_the_sockets_sharing_a_port() -> None:
    sockets = []
    try:
        for _ in range(2):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("127.0.0.1", sockets[0].getsockname()[1] if sockets else 0))
            sockets.append(sock)
        port = sockets[0].getsockname()[1]
        assert listeners(port) == 0  # bound, not listening yet
        for sock in sockets:
            sock.listen()
        assert listeners(port) == 2
    finally:
        for sock in sockets:
            sock.close()


def _run(
    workdir: Path, *, clients: str = "1,2", sru: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(BENCH), "--records", "300", "--seconds", "0.5",
               "--clients", clients, "--workdir", str(workdir)]  # fmt: skip
    if not sru:
        command.append("--no-sru")
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)


def _table_row(output: str, target: str, clients: int) -> list[str]:
    rows = [line.split() for line in output.splitlines() if line.startswith(f"{target} ")]
    return next(row for row in rows if row[1] == str(clients))


def _sru_table_row(output: str, target: str, clients: int) -> list[str]:
    return _table_row(output.split("\nSRU searchRetrieve")[1], target, clients)


@pytest.mark.interop
def test_bench_runs_both_targets_and_reuses_its_work_dir(tmp_path: Path) -> None:
    first = _run(tmp_path)
    assert "building koprik" in first.stderr and "indexing 300 records with Zebra" in first.stderr
    for target in ("koprik", "zebra"):
        for clients in (1, 2):
            row = _table_row(first.stdout, target, clients)
            assert int(row[2]) > 0, row  # pairs done
            assert row[-1] == "0", row  # no failed pair
            sru = _sru_table_row(first.stdout, target, clients)
            assert int(sru[2]) > 0 and sru[-1] == "0", sru  # SRU requests done, none failed
    hits = {}
    for line in first.stdout.splitlines():
        match = re.match(r"  (@attr .+?)\s+(\d+)\s+(\d+)\s+([\d.]+|nan)\s+([\d.]+|nan)$", line)
        if match:
            hits[match[1]] = (int(match[2]), int(match[3]))
    assert set(hits) == set(QUERIES)
    assert all(hits[q][0] == hits[q][1] for q in SAME_ON_BOTH), hits
    assert hits["@attr 1=1003 navoiy"][0] > hits["@attr 1=1003 navoiy"][1] > 0  # folding
    assert re.search(r"koprik: catalogue file [\d.]+ MB .*search index [\d.]+ MB, [\d,]+ terms",
                     first.stdout)  # fmt: skip
    assert re.search(r"zebra:  register files [\d.]+ MB", first.stdout)

    # the catalogue and Zebra's registers are reused, on new ports (one level is enough to show it)
    second = _run(tmp_path, clients="1", sru=False)
    assert "building" not in second.stderr and "indexing" not in second.stderr
    assert _table_row(second.stdout, "zebra", 1)[-1] == "0"
