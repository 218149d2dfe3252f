"""``koprik serve --workers 2`` (koprik/workers.py): two processes on the same ports.

Which worker answered a request is read from the JSON access log (its ``pid``). A resumption
token issued by one worker is asked for on new connections until the other worker has answered
it (the kernel spreads connections by their source port: each try is a fresh coin, and the test
allows 200 of them).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import free_port

OAI = "{http://www.openarchives.org/OAI/2.0/}"
RECORDS, PAGE = 30, 7


def _start(folder: Path, http_port: int, z3950_port: int) -> tuple[subprocess.Popen[bytes], Path]:
    config = folder / "koprik.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{folder / "k.sqlite3"}"\n'
        f"[server]\nhttp_port = {http_port}\nz3950_port = {z3950_port}\n"
        f'[oai]\npage_size = {PAGE}\n[log]\nfile = "{folder / "koprik.log"}"\nformat = "json"\n'
    )
    koprik = [sys.executable, "-m", "koprik", "--config", str(config)]
    subprocess.run([*koprik, "demo", "--records", str(RECORDS)], check=True, capture_output=True,
                   timeout=300)  # fmt: skip
    output = folder / "serve.out"
    with output.open("wb") as out:
        server = subprocess.Popen([*koprik, "serve", "--workers", "2"],
                                  stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    return server, output


def _log(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    path = folder / "koprik.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _answered_by(folder: Path, path: str, nth: int) -> int:
    """The pid of the worker that logged the ``nth`` (from 1) request for ``path``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [e for e in _log(folder) if e["logger"] == "koprik.access" and e["path"] == path]
        if len(lines) >= nth:
            return int(lines[nth - 1]["pid"])
        time.sleep(0.05)
    raise TimeoutError(f"no access line for {path}")


def _get(port: int, query: dict[str, str]) -> tuple[str, bytes]:
    path = "/oai?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return path, response.read()


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
                answers.add(etree.tostring(etree.fromstring(body).find(f"{OAI}ListRecords")))
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


def test_a_worker_that_cannot_start_stops_them_all_saying_why(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        z3950_port = taken.getsockname()[1]
        server, output = _start(tmp_path, free_port(), z3950_port)
        assert server.wait(timeout=60) == 2
    lines = output.read_text().splitlines()
    assert lines and all(line.startswith("koprik: worker ") for line in lines)
    assert all("address already in use" in line for line in lines)


def test_a_worker_that_dies_is_started_again(tmp_path: Path):
    from koprik.workers import STARTUP

    http_port = free_port()
    server, output = _start(tmp_path, http_port, free_port())
    try:
        workers = _wait_for_workers(tmp_path, http_port, output)
        time.sleep(STARTUP + 0.5)  # past start-up: a death now is a crash, not a failed start
        victim = max(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while (now := _wait_for_workers(tmp_path, http_port, output)) == workers:
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.2)
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
