"""Worker processes end with their owner: a SIGKILLed ``koprik import`` leaves no process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalog.demo import demo_records
from catalog.workers import JobFailed, JobOutgrew, OneJob
from tests.books import write_marc

LIVENESS = 120.0
"""Seconds allowed (generously, on a loaded machine) for workers to start or to end."""


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (process group, parent pid, state) of every process, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # ended while we looked
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry)] = (int(fields[2]), int(fields[1]), fields[0])
    return found


def _group(pgid: int) -> set[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    table = _processes().items()
    return {pid for pid, (group, _, state) in table if group == pgid and state != "Z"}


def _descendants(root: int) -> set[int]:
    table = _processes()
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, (_, ppid, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkilled_import_leaves_no_fork_server_and_no_worker(tmp_path):
    big = tmp_path / "big.mrc"
    write_marc(big, demo_records(20_000))
    config = tmp_path / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n')
    command = [sys.executable, "-m", "koprik", "--config", str(config), "import", str(big)]
    process = subprocess.Popen(
        command, cwd=tmp_path, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + LIVENESS
        # the fork server, its two workers (and the resource tracker): wait for the workers,
        # grandchildren of the import
        while len(_descendants(process.pid)) < 3 and process.poll() is None:
            assert time.monotonic() < deadline, "the import never started its workers"
            time.sleep(0.05)
        started = _descendants(process.pid)
        assert process.poll() is None, "the import ended before it could be killed"
        grandchildren = started - {
            pid for pid, (_, ppid, _) in _processes().items() if ppid == process.pid
        }
        assert grandchildren, f"no worker among {started}"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + LIVENESS
    while (left := _group(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes of the killed import still running: {left} (were {started})"


def test_workers_and_the_command_collect_garbage_as_tuned() -> None:
    """Every Koprik process runs with the collector settings of config.runtime: the command
    (its console entry) and the catalogue's worker processes, which a fork server starts
    afresh. (A test calling ``main`` in its own process leaves the collector alone.)"""
    import gc

    from catalog.workers import WorkerPool
    from config.runtime import YOUNGEST_COLLECTED_EVERY

    tuned = (YOUNGEST_COLLECTED_EVERY, 10, 10)
    program = (
        "import gc, sys\n"
        "sys.argv = ['koprik', '--config', '/nonexistent/koprik.toml', 'runs']\n"
        "from koprik.program import run\n"
        "try:\n    run()\nexcept SystemExit:\n    print(gc.get_threshold())\n"
    )
    command = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                             check=True, timeout=LIVENESS)
    assert command.stdout.strip() == str(tuned)
    assert "koprik: " in command.stderr  # the command ran (and said what was wrong)
    pool = WorkerPool(1)
    try:
        assert pool.submit(gc.get_threshold).result(timeout=LIVENESS) == tuned
    finally:
        pool.shutdown()


def test_processes_start_with_what_they_run_already_imported() -> None:
    """The fork server imports catalog.store once; a process forked from it has it before it
    is sent anything (``eval`` imports nothing of Koprik, and this pool has no initializer)."""
    script = (
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from config.runtime import forkserver_context\n"
        "pool = ProcessPoolExecutor(1, mp_context=forkserver_context())\n"
        "print(pool.submit(eval, \"'catalog.store' in __import__('sys').modules\").result())\n"
        "pool.shutdown()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=LIVENESS, check=True)  # fmt: skip
    assert result.stdout.strip() == "True", result.stderr


def _relays() -> set[int]:
    import threading

    return {t.ident or 0 for t in threading.enumerate() if t.name == "koprik-worker-logs"}


def _run_in_worker(pool: object, program: str) -> None:
    """Run ``program`` (a Python expression) in a worker of ``pool``."""
    pool.submit(eval, program).result(timeout=LIVENESS)  # type: ignore[attr-defined]


def test_a_worker_sends_its_owner_what_is_at_the_owners_level_and_stops_with_the_pool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Records below the owner's level stay in the worker (one pipe keeps them in order: the
    info would have come before the warning), and so do those of a logger set above it here;
    an extra that cannot be pickled is dropped, not the record; shutting the pool down ends
    the thread that hands records on."""
    import logging

    from catalog.workers import WorkerPool

    caplog.set_level(logging.WARNING)
    caplog.handler.setLevel(logging.NOTSET)  # whatever reaches the handler is captured
    logging.getLogger("koprik.quiet").setLevel(logging.ERROR)
    before = _relays()
    pool = WorkerPool(1)
    try:
        _run_in_worker(pool, "__import__('logging').getLogger('koprik.test').info('below')")
        _run_in_worker(pool, "__import__('logging').getLogger('koprik.quiet').warning('quiet')")
        _run_in_worker(pool, (  # a lock made in the worker cannot be pickled
            "__import__('logging').getLogger('koprik.test').warning('sent %s', 'on',"
            " extra={'lock': __import__('threading').Lock(), 'fields': {'n': 1}})"
        ))  # fmt: skip
        assert _relays() - before
    finally:
        pool.shutdown()
        logging.getLogger("koprik.quiet").setLevel(logging.NOTSET)
    (record,) = caplog.records
    assert record.getMessage() == "sent on" and record.name == "koprik.test"
    assert record.fields == {"n": 1} and not hasattr(record, "lock")
    assert record.process != os.getpid()
    assert _relays() == before


class Unrebuilt(Exception):
    """Pickles (as its class and its args) but cannot be unpickled: its args are not what
    its constructor takes."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a} and {b}")


def test_a_pool_shut_down_hands_on_every_record_its_workers_sent_even_after_a_bad_one(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the workers logged just before the shutdown is all handled by the time it returns;
    a record that pickles in the worker but cannot be read here (an exception whose arguments
    do not rebuild it) is skipped, and the records after it still come."""
    import logging

    from catalog.workers import WorkerPool

    class Slow(logging.Handler):  # handing records on falls behind the workers' sending
        def emit(self, record: logging.LogRecord) -> None:
            time.sleep(0.002)

    caplog.set_level(logging.WARNING)
    slow = Slow()
    logging.getLogger("koprik.test").addHandler(slow)
    pool = WorkerPool(2)
    try:
        _run_in_worker(pool, (
            "__import__('logging').getLogger('koprik.test').warning('odd', extra={'odd':"
            f" __import__('{__name__}', fromlist=['_']).Unrebuilt(1, 2)}})"
        ))  # fmt: skip
        for part in range(2):
            pool.submit(eval, "[__import__('logging').getLogger('koprik.test').warning("
                              f"'%s', n) for n in range({part} * 300, {part} * 300 + 300)]")
    finally:
        pool.shutdown()
        logging.getLogger("koprik.test").removeHandler(slow)
    assert sorted(int(r.getMessage()) for r in caplog.records) == list(range(600))
    assert "TypeError" in capsys.readouterr().err  # the odd record, reported as it was skipped


def test_a_pool_dropped_without_a_shutdown_leaves_no_relay_behind() -> None:
    import gc

    from catalog.workers import WorkerPool

    before = _relays()
    pool = WorkerPool(1)
    assert pool.submit(int, "7").result(timeout=LIVENESS) == 7
    del pool
    gc.collect()
    deadline = time.monotonic() + LIVENESS
    while _relays() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _relays() == before


def _killed_sending() -> None:
    """A job whose process is killed as it sends its result: the first 10 bytes of a message
    of 1,000 written into the pool's result pipe (as a large result is, in pieces), then
    SIGKILL."""
    import struct

    frame = sys._getframe()
    while frame.f_code.co_name != "_process_worker":  # concurrent.futures' loop of a worker
        frame = frame.f_back
    writer = frame.f_locals["result_queue"]._writer
    os.write(writer.fileno(), struct.pack("!i", 1000) + b"0123456789")
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_pool_whose_worker_was_killed_sending_a_result_is_broken_and_shuts_down() -> None:
    """The pool's manager thread waited for the rest of the message for ever: the result never
    came, nor the end of a shutdown (``koprik import`` hung after a worker was SIGKILLed, 1 run
    in 4; crash probe). The result is BrokenProcessPool, as for any worker that died."""
    import threading
    from concurrent.futures.process import BrokenProcessPool

    from catalog.workers import WorkerPool

    pool = WorkerPool(1)
    with pytest.raises(BrokenProcessPool):
        pool.submit(_killed_sending).result(timeout=LIVENESS)
    stopping = threading.Thread(target=pool.shutdown, daemon=True)
    stopping.start()
    stopping.join(LIVENESS)
    assert not stopping.is_alive()


def _allocated(megabytes: int) -> int:
    """A job taking ``megabytes`` at once (and giving it back)."""
    return len(bytearray(megabytes * 1024 * 1024))


def _killed() -> None:
    """A job whose process is killed as the kernel's out-of-memory killer kills."""
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_job_past_its_memory_is_told_apart_in_one_line_and_one_killed_too() -> None:
    """A job's MemoryError was one more failure, said as "MemoryError": past its memory_mb it
    is :class:`JobOutgrew`, naming the limit. Without a limit the same job runs."""
    with pytest.raises(JobOutgrew, match=r"^needed more than 64 MB and was stopped$"):
        OneJob(_allocated, (256,), "koprik-test", memory_mb=64).result(LIVENESS)
    assert OneJob(_allocated, (256,), "koprik-test").result(LIVENESS) == 256 * 1024 * 1024
    with pytest.raises(JobFailed, match=r"^its process was killed by SIGKILL$"):
        OneJob(_killed, (), "koprik-test", memory_mb=64).result(LIVENESS)
