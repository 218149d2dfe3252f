"""``koprik serve --workers 2`` (koprik/workers.py): two processes on the same ports.

Which worker answered a request is read from the JSON access log (its ``pid``). A resumption
token or an SRU result set id issued by one worker is asked for on new connections until the
other worker has answered it (the kernel spreads connections by their source port: each try is
a fresh coin, and the test allows 200 of them).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.servers import INJECTED_FAULT, logged_events, with_a_fault
from tests.z3950_target_fixtures import yaz_client

OAI = "{http://www.openarchives.org/OAI/2.0/}"
SRU = "{http://docs.oasis-open.org/ns/search-ws/sruResponse}"
RECORDS, PAGE = 30, 7
CATALOGUE = "k.sqlite3"  # in a test's folder: a copy of the demo catalogue (tmp_path)


def _short_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="koprik-workers-"))


@pytest.fixture(scope="module")
def demo_catalogue() -> Iterator[Path]:
    """A catalogue of ``koprik demo --records RECORDS``, made once for the module: each test
    serves a copy (:func:`_start`), where each made its own (seconds of every test)."""
    folder = _short_folder()
    config = folder / "koprik.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{folder / CATALOGUE}"\n')
    subprocess.run([sys.executable, "-m", "koprik", "--config", str(config), "demo", "--records",
                    str(RECORDS)], check=True, capture_output=True, timeout=300)  # fmt: skip
    yield folder / CATALOGUE
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tmp_path(demo_catalogue: Path) -> Iterator[Path]:
    """A folder with a short path, in place of pytest's, holding a copy of the demo catalogue
    (``k.sqlite3``) for :func:`_start` to serve.

    serve's fork server listens on a Unix socket in a folder under TMPDIR (here ``tmp_path/tmp``),
    and the kernel bounds such a path at 107 bytes: under a parallel run pytest's own folders
    (``.../popen-gw0/test_<name>0/``) bring it to that bound, and serve stops with "AF_UNIX path
    too long".
    """
    folder = _short_folder()
    shutil.copyfile(demo_catalogue, folder / CATALOGUE)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _start(
    folder: Path, http_port: int, z3950_port: int, workers: tuple[str, ...] = ("--workers", "2"),
    server_settings: str = "", environment: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], Path]:
    config = folder / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{folder / CATALOGUE}"\n'
        f"[server]\nhttp_port = {http_port}\nz3950_port = {z3950_port}\n{server_settings}"
        f'[oai]\npage_size = {PAGE}\n[log]\nfile = "{folder / "koprik.log"}"\nformat = "json"\n'
    )
    koprik = [sys.executable, "-m", "koprik", "--config", str(config)]
    output = folder / "serve.out"
    temporary = folder / "tmp"  # serve's temporary files, where a test sees them (removed)
    temporary.mkdir(exist_ok=True)
    with output.open("wb") as out:
        server = subprocess.Popen([*koprik, "serve", *workers], stdout=out,
                                  stderr=subprocess.STDOUT,
                                  env={**(environment or os.environ),
                                       "TMPDIR": str(temporary)})  # fmt: skip
    return server, output


def _log(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    return logged_events(folder / "koprik.log")


def _answered_by(folder: Path, path: str, nth: int) -> int:
    """The pid of the worker that logged the ``nth`` (from 1) request for ``path``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [e for e in _log(folder) if e["logger"] == "koprik.access" and e["path"] == path]
        if len(lines) >= nth:
            return int(lines[nth - 1]["pid"])
        time.sleep(0.05)
    raise TimeoutError(f"no access line for {path}")


def _get(port: int, query: dict[str, str], at: str = "/oai") -> tuple[str, bytes]:
    path = f"{at}?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return path, response.read()


def _page_of(body: bytes) -> bytes:
    """The records and list position of a ListRecords response, without what depends on the
    second it was answered in (the next token's text and expirationDate)."""
    listing = etree.fromstring(body).find(f"{OAI}ListRecords")
    assert listing is not None, body
    token = listing.find(f"{OAI}resumptionToken")
    if token is not None:
        token.text = None
        token.attrib.pop("expirationDate", None)
    return etree.tostring(listing)


def _wait_for_workers(folder: Path, port: int, output: Path) -> set[int]:
    """The pids of every worker started so far, once the HTTP port answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
        except OSError:
            time.sleep(0.2)
            continue
        started = [e["message"] for e in _log(folder)
                   if e["logger"] == "koprik.workers" and " started (pid " in e["message"]]
        return {int(message.split("(pid ")[1].rstrip(")")) for message in started}
    raise TimeoutError(output.read_text())


def test_tokens_from_one_worker_are_answered_by_the_other(tmp_path: Path):
    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port())
    try:
        workers = _wait_for_workers(tmp_path, http_port, output)
        assert len(workers) == 2
        seen: list[str] = []
        query = {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
        path, body = _get(http_port, query)
        issuer = _answered_by(tmp_path, path, 1)
        crossed = 0
        while True:
            root = etree.fromstring(body)
            seen += [h.findtext(f"{OAI}identifier") for h in root.iter(f"{OAI}header")]
            token = root.findtext(f".//{OAI}resumptionToken")
            if not token:
                break
            query = {"verb": "ListRecords", "resumptionToken": token}
            answers: set[bytes] = set()
            for attempt in range(1, 201):
                path, body = _get(http_port, query)
                answers.add(_page_of(body))
                answerer = _answered_by(tmp_path, path, attempt)
                if answerer != issuer:
                    crossed += 1
                    break
            assert len(answers) == 1  # every worker answers the token alike
            issuer = answerer
        assert crossed == -(-RECORDS // PAGE) - 1  # every page after the first crossed workers
        assert len(seen) == len(set(seen)) == RECORDS
        deadline = time.monotonic() + 30
        while not (schedulers := [e["pid"] for e in _log(tmp_path)
                                  if e["message"] == "Scheduler started"]):  # fmt: skip
            assert time.monotonic() < deadline, "no scheduler started"
            time.sleep(0.2)
        time.sleep(1)  # a second one would have started by now too
        schedulers = [e["pid"] for e in _log(tmp_path) if e["message"] == "Scheduler started"]
        assert len(schedulers) == 1 and schedulers[0] in workers  # one scheduler among them
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    for pid in workers:  # no worker outlives the parent
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "Traceback" not in output.read_text()


def test_sru_result_sets_from_one_worker_are_paged_by_either(tmp_path: Path):
    """Each page of a result set is read with ``cql.resultSetId`` (the id the last answer gave,
    as a client follows it) on new connections until the worker that did not answer the page
    before answers it: every page crosses workers, and each is the slice of the full list."""
    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port())
    try:
        workers = _wait_for_workers(tmp_path, http_port, output)
        assert len(workers) == 2
        query = "dc.date > 1900 sortBy dc.title"
        everything = _sru(http_port, {"query": query, "maximumRecords": "100"})[1]
        listed = _ids_of(everything)
        assert len(listed) == int(everything.findtext(f"{SRU}numberOfRecords") or 0) > 20
        path, first = _sru(http_port, {"query": query, "maximumRecords": "3"})
        issuer = _answered_by(tmp_path, path, 1)
        paged, name = _ids_of(first), first.findtext(f"{SRU}resultSetId")
        answerers = {issuer}
        while len(paged) < len(listed):
            request = {"query": f'cql.resultSetId = "{name}"', "startRecord": str(len(paged) + 1),
                       "maximumRecords": "3"}  # fmt: skip
            answers = set()
            for attempt in range(1, 201):
                path, page = _sru(http_port, request)
                assert page.findtext(f"{SRU}numberOfRecords") == str(len(listed))
                answers.add(tuple(_ids_of(page)))
                answerer = _answered_by(tmp_path, path, attempt)
                if answerer != issuer:
                    break
            assert len(answers) == 1, answers  # both workers answer the page alike
            paged += _ids_of(page)
            issuer, name = answerer, page.findtext(f"{SRU}resultSetId")
            answerers.add(answerer)
        assert paged == listed and answerers == workers
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    assert "Traceback" not in output.read_text()


def _sru(port: int, query: dict[str, str]) -> tuple[str, etree._Element]:
    """(path, response) of an SRU 2.0 request on a new connection."""
    path = "/sru?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        root = etree.fromstring(response.read())
    assert root.find(f".//{SRU}diagnostics") is None, etree.tostring(root)
    return path, root


def _ids_of(root: etree._Element) -> list[str]:
    """The 001s of the MARCXML records of an SRU response, in order."""
    return root.xpath("//m:record/m:controlfield[@tag='001']/text()",
                      namespaces={"m": "http://www.loc.gov/MARC21/slim"})  # fmt: skip


@pytest.mark.parametrize("workers", [(), ("--workers", "1")])
def test_serve_runs_one_worker_per_core_unless_told(tmp_path: Path, workers: tuple[str, ...]):
    """No ``--workers``: one per core (default_count()); ``--workers 1``: the process itself."""
    from koprik.workers import default_count

    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port(), workers)
    try:
        started = _wait_for_workers(tmp_path, http_port, output)
        expected = default_count() if not workers else 1
        if expected == 1:
            assert not started
            for _ in range(3):
                urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=30).read()
            answered = {e["pid"] for e in _log(tmp_path) if e["logger"] == "koprik.access"}
            assert answered == {server.pid}
        else:
            assert len(started) == expected and server.pid not in started
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0


def test_workers_end_with_a_parent_killed_outright(tmp_path: Path):
    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port())
    workers = _wait_for_workers(tmp_path, http_port, output)
    assert len(workers) == 2
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=60)
    deadline = time.monotonic() + 60
    while alive := [pid for pid in workers if _alive(pid)]:
        assert time.monotonic() < deadline, f"workers {alive} outlived their parent"
        time.sleep(0.1)
    # (Whether the port can be bound again is not asked: on a busy machine another process's
    # outgoing connection may by then hold it as its own ephemeral port.)


def test_the_metrics_folder_of_a_serve_killed_outright_is_removed_by_the_next(tmp_path: Path):
    """A parent killed outright (SIGKILL, the OOM killer) cannot remove its metrics folder:
    each stayed in the temporary folder for good (47 of them on a test machine)."""
    ended = subprocess.Popen(["true"])
    ended.wait()  # a pid no process has now
    left = tmp_path / "tmp" / "koprik-metrics-left"
    left.mkdir(parents=True)
    (left / "owner").write_text(str(ended.pid))
    (left / "histogram_1.db").write_bytes(b"\0" * 16)
    being_made = tmp_path / "tmp" / "koprik-metrics-new"  # no owner file yet: left alone
    being_made.mkdir()
    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port())
    try:
        _wait_for_workers(tmp_path, http_port, output)
        assert not left.exists() and being_made.exists()
        (own,) = set((tmp_path / "tmp").glob("koprik-metrics-*")) - {being_made}
        assert (own / "owner").read_text() == str(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    assert not own.exists()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by init, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_port_in_use_stops_serve_before_any_worker_starts(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        z3950_port = taken.getsockname()[1]
        server, output = _start(tmp_path, free_port(), z3950_port)
        assert server.wait(timeout=60) == 1
    assert output.read_text().splitlines() == [
        f"koprik: {tmp_path / 'koprik.toml'}: server.z3950_port {z3950_port} on 127.0.0.1: "
        "Address already in use"
    ]


def test_a_worker_that_cannot_start_stops_them_all_saying_why() -> None:
    """(A port taken between serve's check and the workers' binding, say.)"""
    program = (
        "import sys, time\n"
        "from koprik.workers import run_workers\n"
        "def work(index):\n"
        "    if index == 1:\n"
        "        sys.stderr.write('koprik: worker 1: cannot start\\n')\n"
        "        return 2\n"
        "    time.sleep(120)\n"
        "    return 0\n"
        "sys.exit(run_workers(2, work))\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "koprik: worker 1: cannot start" in done.stderr.splitlines()
    assert time.monotonic() - started < 60  # the sleeping worker was stopped, not waited for


def test_a_worker_killed_while_starting_is_started_again_after_a_pause(tmp_path: Path) -> None:
    """Killed by a signal as it started (the OOM killer, an operator), it stopped every worker
    and serve with it, however long the others had served; a worker failing by itself as it
    starts still does (test above)."""
    from koprik.workers import STARTUP

    program = (
        "import os, signal, sys, time\n"
        "from koprik.workers import run_workers\n"
        f"FOLDER = {str(tmp_path)!r}\n"
        "def work(index):\n"
        "    with open(os.path.join(FOLDER, f'{index}.starts'), 'a') as out:\n"
        "        out.write(f'{time.monotonic()}\\n')\n"
        "    if index == 1 and len(open(os.path.join(FOLDER, '1.starts')).readlines()) < 3:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)  # the first two starts\n"
        "    while True:\n"
        "        time.sleep(0.05)\n"
        "sys.exit(run_workers(2, work))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    starts = tmp_path / "1.starts"
    try:
        deadline = time.monotonic() + 60
        while not starts.exists() or len(starts.read_text().split()) < 3:
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        parent.send_signal(signal.SIGTERM)
        _, err = parent.communicate(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.communicate()
    assert parent.returncode == 0, err
    times = [float(t) for t in starts.read_text().split()]
    assert len(times) == 3 and all(b - a >= STARTUP for a, b in itertools.pairwise(times)), times
    assert len((tmp_path / "0.starts").read_text().split()) == 1  # worker 0 served on
    assert err.count("worker 1 (pid ") == 2 and "starting it again in 5 s" in err, err


def test_a_worker_that_dies_each_time_it_starts_stops_them_all_at_last() -> None:
    """(A library crashing as the worker starts: it was started again every 5 s for ever.)"""
    from koprik.workers import QUICK_DEATHS

    program = (
        "import os, signal, sys, time\n"
        "from koprik.workers import run_workers\n"
        "def work(index):\n"
        "    if index == 1:\n"
        "        os.kill(os.getpid(), signal.SIGSEGV)\n"
        "    time.sleep(120)\n"
        "    return 0\n"
        "sys.exit(run_workers(2, work))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.count("exited with status -11 while starting; starting it again") == (
        QUICK_DEATHS - 1), done.stderr
    assert f"worker 1 died as it started {QUICK_DEATHS} times in a row; stopping" in done.stderr


def _until_said(path: Path, parent: subprocess.Popen[bytes], said: Callable[[str], bool]) -> None:
    """Wait until ``said(text)`` holds of the parent's standard error, written to ``path``."""
    deadline = time.monotonic() + 90
    while not said(path.read_text()):
        assert time.monotonic() < deadline and parent.poll() is None, path.read_text()
        time.sleep(0.05)


@contextlib.contextmanager
def _crashing_soon_after_start(
    tmp_path: Path, constants: str, lives: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``run_workers(2, ...)`` in a process of its own, its module's ``constants`` set as given
    (a line of Python), worker 0 serving and worker 1 writing the time of each start into
    ``1.starts`` and returning 1 (a crash) after ``lives`` seconds (an expression of ``starts``,
    its starts so far). Yields the parent and the file of its standard error."""
    program = (
        "import sys, time\n"
        "import koprik.workers as workers\n"
        f"{constants}\n"
        f"STARTS = {str(tmp_path / '1.starts')!r}\n"
        "def work(index):\n"
        "    while index == 0:\n"
        "        time.sleep(0.05)\n"
        "    with open(STARTS, 'a') as out:\n"
        "        out.write(f'{time.monotonic()}\\n')\n"
        "    starts = len(open(STARTS).readlines())\n"
        f"    time.sleep({lives})\n"
        "    return 1  # a crash\n"
        "sys.exit(workers.run_workers(2, work))\n"
    )
    said = tmp_path / "parent.err"
    with said.open("w") as err:
        parent = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.DEVNULL,
                                  stderr=err)
    try:
        yield parent, said
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_worker_dying_soon_after_starting_is_started_again_after_growing_pauses(
    tmp_path: Path,
) -> None:
    """One dying past STARTUP but soon after it (a fault on its first request) was forked again
    at once, each time, for ever; now after a pause, doubled by each such death up to
    LONGEST_PAUSE, and back to the first once a worker lived SHORT_LIFE (started again at once).
    The constants are shortened in the parent's process."""
    constants = "workers.STARTUP, workers.SHORT_LIFE, workers.LONGEST_PAUSE = 0.5, 4.0, 2.0"
    with _crashing_soon_after_start(tmp_path, constants,
                                    "5.0 if starts == 4 else 1.5") as (parent, said):
        _until_said(said, parent, lambda text: text.count("worker 1 (pid ") >= 5)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0, said.read_text()
    lines = [line for line in said.read_text().splitlines() if line.startswith("worker 1 (pid ")]
    assert [line.rpartition("; ")[2] for line in lines[:5]] == [
        "starting it again in 1 s", "starting it again in 2 s", "starting it again in 2 s",
        "starting it again", "starting it again in 1 s"], lines
    assert all(" s after starting; " in line for line in lines[:3]), lines
    times = [float(t) for t in (tmp_path / "1.starts").read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(times[:5])]
    lived_and_paused = [1.5 + 1, 1.5 + 2, 1.5 + 2, 5.0]
    assert all(gap >= least for gap, least in zip(gaps, lived_and_paused, strict=True)), times


def test_a_stop_during_a_workers_pause_stops_at_once_and_starts_it_no_more(
    tmp_path: Path,
) -> None:
    """SIGTERM while a worker that died soon after starting waits (here 60 s) to be started
    again: serve ends cleanly without waiting the pause out, and the worker is not started."""
    constants = "workers.STARTUP, workers.FIRST_PAUSE = 0.5, 60.0"
    with _crashing_soon_after_start(tmp_path, constants, "1.0") as (parent, said):
        _until_said(said, parent, lambda text: "starting it again in 60 s" in text)
        asked = time.monotonic()
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0, said.read_text()
        assert time.monotonic() - asked < 30  # not after the pause
    assert len((tmp_path / "1.starts").read_text().split()) == 1


def test_a_terminal_stop_reaches_each_worker_once_and_a_second_one_stops_them_at_once(
    tmp_path: Path,
) -> None:
    """A ^C in a terminal reaches the whole process group: the workers ignore it and take the
    SIGTERM their parent relays, once (so a worker stopping a harvest does not take it for a
    second signal); a second ^C is relayed as a second SIGTERM, which ends them at once (here:
    workers that would otherwise never stop), and the parent exits 130 with one line."""
    program = (
        "import os, signal, sys, time\n"
        "from koprik.workers import run_workers\n"
        f"FOLDER = {str(tmp_path)!r}\n"
        "def work(index):\n"
        "    got = []\n"
        "    def on_term(signum, frame):\n"
        "        got.append(signum)\n"
        "        with open(os.path.join(FOLDER, f'{index}.signals'), 'a') as out:\n"
        "            out.write(f'{signum}\\n')\n"
        "        if len(got) == 2:\n"
        "            os._exit(128 + signum)\n"
        "    signal.signal(signal.SIGTERM, on_term)\n"
        "    open(os.path.join(FOLDER, f'{index}.ready'), 'w').close()\n"
        "    while True:\n"
        "        time.sleep(0.05)\n"
        "sys.exit(run_workers(2, work))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", program], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    signals = [tmp_path / f"{index}.signals" for index in (0, 1)]
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"{index}.ready").exists() for index in (0, 1)):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        os.killpg(parent.pid, signal.SIGINT)  # as a terminal's ^C
        while not all(path.exists() for path in signals):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        os.killpg(parent.pid, signal.SIGINT)
        _, err = parent.communicate(timeout=60)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.communicate()
    assert parent.returncode == 130, err
    assert err.splitlines() == [
        "koprik: SIGINT again: stopped at once; the harvest pages being written are asked for "
        "again by the next run, nothing committed is lost"]
    for path in signals:  # two SIGTERMs each, and no ^C taken
        assert path.read_text().split() == [str(int(signal.SIGTERM))] * 2


def _kill_one(tmp_path: Path, http_port: int, output: Path, workers: set[int],
              signum: int = signal.SIGKILL) -> tuple[int, set[int]]:  # fmt: skip
    """Send one of ``workers`` ``signum`` (SIGKILL; SIGSTOP: the parent is to kill it); its
    pid and the workers once its replacement serves."""
    victim = max(workers)
    os.kill(victim, signum)
    deadline = time.monotonic() + 60
    while (now := _wait_for_workers(tmp_path, http_port, output)) == workers:
        assert time.monotonic() < deadline, output.read_text()
        time.sleep(0.2)
    # Logged as started, it listens seconds later on a busy machine (4.7 s seen): the requests
    # sent to reach it went by before.
    while not all(_listens(pid, http_port) for pid in now - workers):
        assert time.monotonic() < deadline, output.read_text()
        time.sleep(0.05)
    return victim, now


def test_a_worker_that_dies_is_started_again(tmp_path: Path):
    from koprik.workers import STARTUP

    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port())
    try:
        workers = _wait_for_workers(tmp_path, http_port, output)
        time.sleep(STARTUP + 0.5)  # past start-up: a death now is a crash, not a failed start
        victim, now = _kill_one(tmp_path, http_port, output, workers)
        (replacement,) = now - workers
        assert server.poll() is None  # the parent carried on
        restarted = [e["message"] for e in _log(tmp_path) if e["level"] == "warning"]
        assert any(f"(pid {victim}) exited with status -9" in m for m in restarted), restarted
        for _ in range(200):  # and the new worker serves: some request reaches it
            urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=30).read()
            answered = {e["pid"] for e in _log(tmp_path) if e["logger"] == "koprik.access"}
            if replacement in answered:
                break
        assert replacement in answered
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    said = [e["message"] for e in _log(tmp_path) if e["logger"] == "koprik.workers"]
    assert ("SIGTERM: stopping the workers; each ends the requests it is answering, and a "
            "harvest the pages it is writing") in said, said
    assert said[-1].startswith("workers stopped in "), said


def test_a_worker_silent_past_worker_timeout_is_killed_and_started_again(tmp_path: Path):
    """A stopped worker (SIGSTOP; a hung one alike) kept the connections the kernel gave it
    unanswered (half of them, with two workers), and its parent never noticed."""
    from koprik.workers import STARTUP

    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port(),
                            server_settings="worker_timeout = 3.0\n")  # fmt: skip
    try:
        workers = _wait_for_workers(tmp_path, http_port, output)
        time.sleep(STARTUP + 0.5)  # past start-up, and beating
        victim, now = _kill_one(tmp_path, http_port, output, workers, signal.SIGSTOP)
        assert not _alive(victim) and server.poll() is None
        said = [e["message"] for e in _log(tmp_path) if e["level"] == "error"]
        assert len(said) == 1 and said[0].startswith("worker "), said
        assert f" (pid {victim}) gave no sign of life for " in said[0]
        assert said[0].endswith(" s (stopped, or stuck): killing it, to start it again")
        (replacement,) = now - workers
        for _ in range(200):  # the new worker serves
            urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=30).read()
            if replacement in {e["pid"] for e in _log(tmp_path) if e["logger"] == "koprik.access"}:
                break
        else:
            raise AssertionError("the new worker answered nothing")
        time.sleep(5)  # busy or idle, a worker that beats is left alone
        assert not [e for e in _log(tmp_path) if e["level"] == "error"][1:]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0


def test_a_worker_stopped_as_its_ports_start_to_listen_is_killed_and_started_again(
    tmp_path: Path,
):
    """Its parent watched it only from its first heartbeat, which came after the rest of its
    start (the Z39.50 port, collecting garbage): stopped (SIGSTOP) once listening but before
    that, it was never killed, and the connections the kernel gave it went unanswered."""
    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port(),
                            server_settings="worker_timeout = 3.0\n")  # fmt: skip
    victim = 0
    try:
        victim = _started_pid(tmp_path, 1, output)
        deadline = time.monotonic() + 60
        while not _listens(victim, http_port):
            assert time.monotonic() < deadline and server.poll() is None, output.read_text()
            time.sleep(0.005)
        os.kill(victim, signal.SIGSTOP)
        while _alive(victim):  # killed by its parent
            assert time.monotonic() < deadline and server.poll() is None, output.read_text()
            time.sleep(0.1)
        said = [e["message"] for e in _log(tmp_path) if e["level"] == "error"]
        assert len(said) == 1 and f"(pid {victim}) gave no sign of life for " in said[0], said
        _until_listening(_started_pid(tmp_path, 1, output, after=victim), http_port, server,
                         output, deadline)  # fmt: skip
        _each_worker_answers(http_port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGCONT)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0


def test_a_worker_stopped_before_its_ports_listen_is_killed_and_started_again(tmp_path: Path):
    """Its parent watched it only from its first sign of life, as its ports listen: stopped
    (SIGSTOP; stuck alike) before, it was waited for for good, with nothing in the log, and
    the node served with a worker less, here worker 0, without the harvest schedules. Stopped
    as soon as it is forked, long before it listens (opening the catalogue, making the
    application)."""
    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port(), server_settings=(
        "worker_timeout = 3.0\nworker_start_timeout = 15.0\n"))  # fmt: skip
    victim = 0
    try:
        deadline = time.monotonic() + 60
        while not (forked := _children(server.pid)):
            assert time.monotonic() < deadline and server.poll() is None, output.read_text()
            time.sleep(0.001)
        victim = min(forked)  # worker 0, forked first
        os.kill(victim, signal.SIGSTOP)
        assert not _listens(victim, http_port), "stopped too late: it listens already"
        assert _started_pid(tmp_path, 0, output) == victim
        while _alive(victim):  # killed by its parent
            assert time.monotonic() < deadline and server.poll() is None, output.read_text()
            time.sleep(0.1)
        said = [e["message"] for e in _log(tmp_path) if e["level"] == "error"]
        assert len(said) == 1, said
        assert said[0].startswith(f"worker 0 (pid {victim}) is not listening "), said
        assert said[0].endswith(" s after it was started (server.worker_start_timeout; stopped, "
                                "or stuck as it starts): killing it, to start it again"), said
        replacement = _started_pid(tmp_path, 0, output, after=victim)
        _until_listening(replacement, http_port, server, output, deadline)
        while not [e for e in _log(tmp_path)
                   if e["message"] == "Scheduler started" and e["pid"] == replacement]:  # fmt: skip
            assert time.monotonic() < deadline, "the new worker 0 runs no schedules"
            time.sleep(0.1)
        _each_worker_answers(http_port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            if victim:
                os.kill(victim, signal.SIGCONT)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0


def _children(pid: int) -> set[int]:
    """The pids of the processes ``pid`` has forked that still run (or are not yet reaped)."""
    children: set[int] = set()
    with contextlib.suppress(FileNotFoundError):  # (a task, or the process, ended)
        for task in Path(f"/proc/{pid}/task").iterdir():
            children |= {int(child) for child in (task / "children").read_text().split()}
    return children


def _started_pid(folder: Path, index: int, output: Path, after: int = 0) -> int:
    """The pid of worker ``index`` as its parent logged it started (the one after the pid
    ``after``, when given)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = [int(e["message"].split("(pid ")[1].rstrip(")")) for e in _log(folder)
                   if e["logger"] == "koprik.workers"
                   and e["message"].startswith(f"worker {index} started (pid ")]  # fmt: skip
        if after in started[:-1] or (not after and started):
            return started[-1]
        time.sleep(0.01)
    raise TimeoutError(output.read_text())


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a socket listening on ``port`` (of 127.0.0.1)."""
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # TCP_LISTEN
            listening.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(FileNotFoundError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in listening:
                    return True
    return False


def _until_listening(
    pid: int, port: int, server: subprocess.Popen[bytes], output: Path, deadline: float
) -> None:
    """Return once worker ``pid`` listens on ``port`` (``server`` still running)."""
    while not _listens(pid, port):
        assert time.monotonic() < deadline and server.poll() is None, output.read_text()
        time.sleep(0.05)


def _each_worker_answers(http_port: int) -> None:
    """Six requests on new connections, spread over both workers: each answered."""
    for _ in range(6):
        url = f"http://127.0.0.1:{http_port}/health"
        assert urllib.request.urlopen(url, timeout=30).status == 200


def test_workers_stopped_with_their_parent_are_not_taken_for_hung(tmp_path: Path):
    """^Z in a terminal, a frozen cgroup, a paused container: the parent and its workers stop
    together and go on together, the parent first perhaps, before the workers beat again."""
    from koprik.workers import STARTUP

    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port(),
                            server_settings="worker_timeout = 3.0\n")  # fmt: skip
    try:
        workers = _wait_for_workers(tmp_path, http_port, output)
        time.sleep(STARTUP + 0.5)
        for pid in (server.pid, *workers):
            os.kill(pid, signal.SIGSTOP)
        time.sleep(5)  # past worker_timeout
        os.kill(server.pid, signal.SIGCONT)  # the parent first
        time.sleep(1)
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
        time.sleep(2)
        assert all(_alive(pid) for pid in workers)
        assert not [e for e in _log(tmp_path) if e["level"] == "error"]
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0


def _one_crashed_after(
    tmp_path: Path, spoil: Callable[[], None], environment: dict[str, str] | None = None
) -> int:
    """Serve with two workers (in ``environment``, when given), ``spoil()`` once they serve,
    and kill one (a crash, not a failed start): the status serve ended with, its output in
    ``serve.out``."""
    from koprik.workers import STARTUP

    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port(), environment=environment)
    try:
        workers = _wait_for_workers(tmp_path, http_port, output)
        time.sleep(STARTUP + 0.5)  # a crash, not a failed start
        spoil()
        os.kill(max(workers), signal.SIGKILL)
        return server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_worker_started_again_makes_no_catalogue_where_it_was_removed(tmp_path: Path):
    """The catalogue file removed while serving (the workers still serve it, open), a worker
    started again made a new, empty one and served it (/health "ok", 0 records) beside a worker
    serving the records; now it says so in one line and serve ends, status 2. The line is in
    the log file too: it was on standard error only, the log saying only that the worker
    "exited with status 2 while starting"."""

    def removed() -> None:
        for path in tmp_path.glob("k.sqlite3*"):
            path.unlink()

    assert _one_crashed_after(tmp_path, removed) == 2
    said = (tmp_path / "serve.out").read_text()
    gone = tmp_path / "k.sqlite3"
    assert not gone.exists()
    assert (f": no catalogue is at {gone} (database.url) any more; a worker makes none: start "
            "koprik serve again to have one made\n") in said, said
    assert "Traceback" not in said
    (line,) = [line for line in said.splitlines() if "no catalogue is at" in line]
    logged = [(e["level"], e["message"]) for e in _log(tmp_path) if e["logger"] == "koprik"]
    assert logged == [("error", line.removeprefix("koprik: "))], logged


def test_a_worker_started_again_that_fails_unexpectedly_logs_its_traceback(tmp_path: Path):
    """A worker started again after a crash, stopped by a fault of Koprik's own (one injected
    as it opens the catalogue, from then on): multiprocessing printed its traceback on standard
    error only, and the log file said only that it "exited with status 1"."""
    fault = tmp_path / "fault"
    environment = with_a_fault(tmp_path, fault)
    assert _one_crashed_after(tmp_path, fault.touch, environment) == 1
    said = (tmp_path / "serve.out").read_text()
    assert said.splitlines()[-1] == INJECTED_FAULT, said
    (logged,) = [e for e in _log(tmp_path) if e["logger"] == "koprik"]
    assert logged["level"] == "error", logged
    assert logged["message"] in [f"worker {index}: stopped by an unexpected error (a fault of "
                                 "Koprik's own)" for index in (0, 1)], logged  # fmt: skip
    assert logged["exception"].startswith("Traceback (most recent call last):\n"), logged
    assert logged["exception"].endswith(f"\n{INJECTED_FAULT}"), logged


def test_metrics_count_the_requests_of_every_worker(tmp_path: Path):
    """Whichever worker answers a scrape of ``/metrics``, it counts the requests of both, and
    a worker that dies and is started again takes none of its counts with it: the request
    counts never go down. Each kind of request is sent on new connections until both workers
    answered it (told apart by the log's ``pid``)."""
    from koprik.workers import STARTUP

    http_port, z3950_port = free_port(), free_port()
    server, output = _start(tmp_path, http_port, z3950_port)
    try:
        workers = _wait_for_workers(tmp_path, http_port, output)
        started = time.monotonic()
        assert len(workers) == 2
        oai = {"verb": "Identify"}
        sru = {"version": "1.2", "operation": "searchRetrieve", "query": "dc.title = a"}
        sent = {
            ("oai-pmh", "Identify"): _until_each_answered(workers, lambda n: _answered_by(
                tmp_path, _get(http_port, oai)[0], n)),
            ("sru", "searchRetrieve"): _until_each_answered(workers, lambda n: _answered_by(
                tmp_path, _get(http_port, sru, "/sru")[0], n)),
        }  # fmt: skip
        sessions = _until_each_answered(workers, lambda n: _z3950_session(tmp_path, z3950_port, n))
        sent |= {("z39.50", "init"): sessions, ("z39.50", "search"): sessions}
        scrapes: list[dict[tuple[str, str], float]] = []
        _until_each_answered(workers, lambda n: _scrape(tmp_path, http_port, scrapes, n))
        assert all(counts == sent for counts in scrapes), (sent, scrapes)

        time.sleep(max(0.0, started + STARTUP + 0.5 - time.monotonic()))  # a crash, not a start
        victim, now = _kill_one(tmp_path, http_port, output, workers)
        serving = now - {victim}
        scraped = len(scrapes)
        _until_each_answered(serving, lambda n: _scrape(tmp_path, http_port, scrapes, scraped + n))
        assert all(counts == sent for counts in scrapes[scraped:]), (sent, scrapes[scraped:])
        assert len(list((tmp_path / "tmp").glob("koprik-metrics-*"))) == 1  # the workers' files
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    assert "Traceback" not in output.read_text()
    assert not list((tmp_path / "tmp").glob("koprik-metrics-*"))  # removed when serve ended


def _until_each_answered(workers: set[int], send: Callable[[int], int]) -> int:
    """Call ``send(n)`` (n from 1; it returns the pid that answered) until each of ``workers``
    answered twice (at most 200 calls); how many calls it took."""
    answered: list[int] = []
    while len(answered) < 200 and any(answered.count(pid) < 2 for pid in workers):
        answered.append(send(len(answered) + 1))
    assert set(answered) == workers, answered
    return len(answered)


def _z3950_session(folder: Path, port: int, nth: int) -> int:
    """One yaz-client session (an init and a search); the pid of the worker that served it,
    the ``nth`` Z39.50 session of the test."""
    printed = yaz_client(port, ["find @attr 1=4 a"], folder=folder)
    assert "Number of hits" in printed, printed
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        inits = [e for e in _log(folder)
                 if e["logger"] == "koprik.z3950" and e.get("event") == "init"]  # fmt: skip
        if len(inits) >= nth:
            return int(inits[nth - 1]["pid"])
        time.sleep(0.05)
    raise TimeoutError("no Z39.50 init logged")


def _scrape(folder: Path, port: int, scrapes: list[dict[tuple[str, str], float]], nth: int) -> int:
    """Scrape ``/metrics`` on a new connection, adding its request counts by (protocol,
    operation) to ``scrapes``; the pid of the worker that answered, the ``nth`` scrape."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    scrapes.append({
        (sample.labels["protocol"], sample.labels["operation"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "koprik_protocol_request_seconds_count"
    })  # fmt: skip
    return _answered_by(folder, "/metrics", nth)


def _sign_in(port: int, cookie: str, token: str) -> int:
    """One failed sign-in (a wrong password) on a new connection; the status answered."""
    form = urllib.parse.urlencode({"csrf": token, "name": "alice", "password": "a guess"})
    request = urllib.request.Request(f"http://127.0.0.1:{port}/signin", data=form.encode(),
                                     headers={"Cookie": cookie})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_failed_sign_ins_are_limited_in_total_over_the_workers(tmp_path: Path):
    """``login_attempts`` (5 by default) failures in all, whichever worker counted them: every
    later sign-in is refused (429) by each worker, also by one that counted fewer than 5
    itself. Sign-ins are sent until each worker has refused one (at most 200)."""
    import re

    from config import Settings

    attempts = Settings().dashboard.login_attempts
    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port())
    try:
        workers = _wait_for_workers(tmp_path, http_port, output)
        assert len(workers) == 2
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/signin", timeout=30) as page:
            cookie = page.headers["Set-Cookie"].split(";")[0]
            found = re.search(r'name="csrf" value="([^"]+)"', page.read().decode())
        assert cookie.startswith("koprik_csrf=") and found
        statuses: list[int] = []
        refused_by: set[int] = set()
        while len(statuses) < 200 and refused_by != workers:
            statuses.append(_sign_in(http_port, cookie, found.group(1)))
            answerer = _answered_by(tmp_path, "/signin", len(statuses) + 1)  # after the GET
            if len(statuses) > attempts:
                assert statuses[-1] == 429, (statuses, answerer)
                refused_by.add(answerer)
        assert statuses[:attempts] == [401] * attempts
        assert refused_by == workers
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    assert "Traceback" not in output.read_text()
