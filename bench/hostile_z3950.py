"""A bystander's Z39.50 search while a hostile client attacks: Koprik's target beside Zebra.

    python bench/hostile_z3950.py [--records 1000] [--probes 10] [--workdir DIR]

Over the same demo records (built and reused as by ``bench/z3950.py``), each target in turn is
attacked the ways ``tests/interop/test_hostile_serve.py`` asserts on, one at a time: a client
sending again and again the costliest search PDU Koprik accepts by default (1 MiB, 10,000 BER
values) and the densest 1 MiB one (330,000 values: Koprik refuses it unread, Zebra decodes it),
and 500 sockets from 500 loopback addresses that never send a byte. Meanwhile ``yaz-client``
searches from 127.0.0.1 ``--probes`` times; the table gives the slowest and median search
(process start included), how many were refused or failed, and the peak RSS of the target's
process tree (Zebra forks a process per connection). A measurement: it asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._z3950_targets import Workspace, koprik_target, zebra_target
from config import ServerSettings
from tests import hostile

TARGETS = {"koprik": koprik_target, "zebra": zebra_target}


def tree_rss(pid: int) -> int:
    """The RSS of ``pid`` and of its children (one level: Zebra's per-connection processes)."""
    total = hostile.rss_bytes(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                total += hostile.rss_bytes(int(stat.parent.name))
        except (OSError, ValueError, RuntimeError):
            continue  # ended meanwhile
    return total


@contextmanager
def peak_tree_rss(pid: int) -> Iterator[list[int]]:
    peak = [tree_rss(pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], tree_rss(pid))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def probe(port: int, count: int) -> tuple[float, float, int]:
    """Slowest and median seconds of ``count`` yaz-client searches, and how many failed."""
    seconds, failed = [], 0
    for _ in range(count):
        try:
            answer = hostile.yaz_search(port, 60)
        except Exception:
            failed += 1
            continue
        if "Number of hits:" not in answer.text:
            failed += 1
        seconds.append(answer.seconds)
    return max(seconds), statistics.median(seconds), failed


def attacks(port: int) -> dict[str, Callable[[], AbstractContextManager[object]]]:
    limits = ServerSettings()
    pdus = [hostile.maximal_search_pdu(limits.z3950_max_pdu_bytes, limits.z3950_max_pdu_values),
            hostile.densest_search_pdu(limits.z3950_max_pdu_bytes)]  # fmt: skip
    return {
        "none": nullcontext,
        "costliest PDUs": lambda: hostile.PduAttack(port, pdus),
        "500 idle sockets": lambda: hostile.idle_sockets(port, 500, addresses=500),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    root = args.workdir or Path(tempfile.gettempdir()) / "koprik-bench-z3950"
    space = Workspace(root, args.records)
    space.prepare()
    print(f"{args.records} demo records; {args.probes} yaz-client searches per row\n")
    print(f"{'target':8} {'attack':18} {'slowest ms':>10} {'median ms':>10} {'failed':>7} "
          f"{'peak RSS MB':>12}")  # fmt: skip
    for name, start in TARGETS.items():
        with start(space) as (port, pid):
            for attack, make in attacks(port).items():
                with peak_tree_rss(pid) as peak, make():
                    time.sleep(0.5)  # the attack is under way
                    slowest, median, failed = probe(port, args.probes)
                print(f"{name:8} {attack:18} {slowest * 1000:10.0f} {median * 1000:10.0f} "
                      f"{failed:7d} {peak[0] / 2**20:12.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
