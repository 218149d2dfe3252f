"""Running a real ``koprik serve`` in a subprocess, for tests that talk to it over the network."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AnyStr

from tests.conftest import ROOT, free_port


@dataclass(frozen=True)
class RunningKoprik:
    config: Path
    http_port: int
    z3950_port: int
    pid: int = 0
    """The ``koprik serve`` process, once started."""

    @property
    def log(self) -> Path:
        """What ``koprik serve`` printed and logged."""
        return self.config.with_name("serve.out")

    @property
    def oai_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/oai"

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "koprik", "--config", str(self.config), *args]


def logged_events(path: Path) -> list[dict[str, Any]]:
    """The JSON events a running server has written whole to the log file ``path`` so far.

    A line being appended as the file is read (a worker writing it, the test reading) can be
    read in part; only lines ended by their newline are events yet.
    """
    if not path.exists():
        return []
    *whole, _being_written = path.read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in whole]


def write_config(folder: Path, extra: str = "", server: str = "") -> RunningKoprik:
    """A koprik.toml in ``folder`` on free ports, with ``server`` lines in its [server] table
    and the tables of ``extra``."""
    http_port, z3950_port = free_port(), free_port()
    config = folder / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{folder / "catalog.sqlite3"}"\n'
        f"[server]\nhttp_port = {http_port}\nz3950_port = {z3950_port}\n{server}"
        f'[repository]\nbase_url = "http://127.0.0.1:{http_port}/oai"\n{extra}'
    )
    return RunningKoprik(config, http_port, z3950_port)


@contextmanager
def koprik_serve(
    folder: Path, *, demo_records: int = 0, extra: str = "", options: tuple[str, ...] = (),
    server: str = "",
) -> Iterator[RunningKoprik]:
    """A ``koprik serve [options]`` on free loopback ports over a new catalogue in ``folder``.

    What it prints (and logs: a line per request) goes to ``folder/serve.out``, never to a pipe
    nobody reads, which would stop the server once full.
    """
    koprik = write_config(folder, extra, server)
    if demo_records:
        subprocess.run(koprik.command("demo", "--records", str(demo_records)), check=True,
                       capture_output=True, timeout=600)
    command = koprik.command("serve", *options)
    with running(command, koprik.log, f"{koprik.oai_url}?verb=Identify") as server:
        yield dataclasses.replace(koprik, pid=server.pid)


@contextmanager
def running(
    command: list[str], output: Path, url: str, *, start_seconds: float = 30,
    stop_seconds: float = 20, tls: ssl.SSLContext | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running with its output in ``output`` (never a pipe nobody reads), once
    ``url`` answers (an https one checked with ``tls``); it is sent SIGTERM at the end (SIGKILL
    after ``stop_seconds``)."""
    with output.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(url, process, output, start_seconds, tls)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=stop_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(
    url: str, server: subprocess.Popen[bytes], output: Path, seconds: float = 30,
    tls: ssl.SSLContext | None = None,
) -> None:
    deadline = time.monotonic() + seconds
    what = " ".join(map(str, server.args))  # type: ignore[arg-type]
    while True:
        try:
            urllib.request.urlopen(url, timeout=5, context=tls).read()
            return
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"{what} exited: {output.read_text()}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not answer {url}") from None
            time.sleep(0.2)


def listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:``port``: one per worker of ``koprik serve
    --workers``, each binding it with SO_REUSEPORT."""
    local = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == local and row.split()[3] == "0A")


def limit_files_to(size: int) -> None:
    """In a child process (``preexec_fn``): files of at most ``size`` bytes, a write beyond
    failing (EFBIG), as on a full disk, rather than killing the process (SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def stderr_after(process: subprocess.Popen[AnyStr], signum: int, timeout: float = 30) -> AnyStr:
    """Send ``process`` (started with its output piped, as text or bytes) ``signum`` and return
    its standard error once it ends; it is killed if it outlives ``timeout`` (the caller's
    assertions on its status then fail on -9)."""
    try:
        process.send_signal(signum)
        return process.communicate(timeout=timeout)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def kill_on(process: subprocess.Popen[bytes], hook: Callable[[Callable[[Any], None] | None], None],
            when: Callable[[Any], bool], *, timeout: float = 120.0) -> None:
    """SIGKILL ``process`` from a peer's request hook the first time ``when(event)`` holds, and
    wait for it to die of that. ``hook`` installs the peer's hook (None removes it)."""

    def kill(event: Any) -> None:
        if when(event):
            hook(None)
            os.kill(process.pid, signal.SIGKILL)

    hook(kill)
    process.communicate(timeout=timeout)
    hook(None)
    assert process.returncode == -signal.SIGKILL


INJECTED_FAULT = "RuntimeError: a fault injected by the test"
"""The last line of the traceback of :func:`with_a_fault`'s fault."""

_FAULT = '''\
import importlib.abc, importlib.util, os, sys


class Faulty(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "catalog.schema":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            opened = module.ensure_current

            def ensure_current(engine):
                if os.path.exists({when!r}):
                    raise RuntimeError("a fault injected by the test")
                return opened(engine)

            module.ensure_current = ensure_current

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, Faulty())
'''


def with_a_fault(folder: Path, when: Path) -> dict[str, str]:
    """An environment in which a Python process (and each it forks) raises ``RuntimeError`` as
    it opens a catalogue (``catalog.schema.ensure_current``) while the file ``when`` exists: a
    fault of Koprik's own, which nothing in Koprik says in a line (a ``sitecustomize`` module in
    ``folder``, first on the path). Damaging the catalogue served till each such damage was
    given its line (unreadable [[sets]] rules, a schema revision stored as bytes)."""
    (folder / "sitecustomize.py").write_text(_FAULT.format(when=str(when)))
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(folder) + (os.pathsep + path if path else "")}


def scripted_server(*answers: bytes) -> Iterator[int]:
    """A server on 127.0.0.1 (its port yielded) answering each connection's first requests with
    ``answers`` in turn, then keeping the connection open, saying nothing more: a peer that
    stops answering (with no ``answers``, one that never says a word)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)
            for answer in answers:
                connection.recv(65536)
                connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in held:
            connection.close()


def run_script(folder: Path, script: str) -> subprocess.CompletedProcess[str]:
    """``script`` (Python text: a Koprik command with a patch that stops it at a chosen step)
    written to ``folder/stopped.py`` and run there, Koprik on its path, its output captured, and
    SIGINT and SIGTERM as a terminal's shell leaves them (:func:`_signals_as_default`)."""
    (folder / "stopped.py").write_text(script)
    return subprocess.run([sys.executable, "stopped.py"], capture_output=True, text=True,
                          cwd=folder, timeout=120, preexec_fn=_signals_as_default,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip


def _signals_as_default() -> None:
    """In the child: SIGINT and SIGTERM as a terminal's shell leaves them (a shell without job
    control starts a command in the background with SIGINT ignored, which the child inherits,
    and koprik then leaves it so)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
