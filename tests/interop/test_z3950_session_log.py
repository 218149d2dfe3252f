"""The session log of ``koprik serve`` (provider/z3950/session_log.py) as yaz-client drives it,
and the access log of the same server, in the JSON log format written to a file."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from protocols.z3950.pqf import parse_pqf
from tests.servers import koprik_serve, logged_events
from tests.z3950_target_fixtures import yaz_client

pytestmark = pytest.mark.interop


def _events(path: Path, logger: str, until: int, seconds: float = 30) -> list[dict]:  # type: ignore[type-arg]
    """The JSON events of ``logger`` in ``path``, waiting until there are ``until`` of them."""
    deadline = time.monotonic() + seconds
    while True:
        found = [event for event in logged_events(path) if event["logger"] == logger]
        if len(found) >= until or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_yaz_client_session_and_http_requests_are_logged(tmp_path: Path):
    log = tmp_path / "koprik.log"
    extra = f'[log]\nfile = "{log}"\nformat = "json"\n'
    with koprik_serve(tmp_path, demo_records=30, extra=extra) as running:
        output = yaz_client(running.z3950_port, [
            "find @attr 1=4 @attr 5=1 a", "show 1+2",
            "find @attr 1=9999 x", "scan @attr 1=1003 navoiy", "close",
        ], folder=tmp_path)  # fmt: skip
        health = f"http://127.0.0.1:{running.http_port}/health"
        urllib.request.urlopen(health, timeout=10).read()
        session = _events(log, "koprik.z3950", until=7)
        access = _events(log, "koprik.access", until=2)
    assert "Number of hits" in output
    events = [event["event"] for event in session]
    assert events == ["connect", "init", "search", "present", "search", "scan", "close"]
    _connect, init, found, present, refused, scanned, close = session
    assert len({event["peer"] for event in session}) == 1
    assert init["client"].startswith("YAZ") and init["charset"] == "UTF-8"
    assert found["status"] == "ok" and found["hits"] > 2
    assert parse_pqf(found["query"]) == parse_pqf("@attr 1=4 @attr 5=1 a")
    assert found["database"] == "Default"
    assert found["message"].endswith(f"{found['hits']} hits: {found['query']}")
    assert present["returned"] == 2 and present["syntax"] == "usmarc"
    assert refused["status"] == "error" and refused["diagnostic"] == 114
    assert "ERROR 114 (9999)" in refused["message"]
    # the index scanned is said, as a search's query is (the term alone was)
    assert scanned["status"] == "ok" and scanned["returned"] > 0
    assert parse_pqf(scanned["query"]) == parse_pqf("@attr 1=1003 navoiy")
    assert scanned["message"].endswith(f"{scanned['returned']} terms: {scanned['query']}")
    assert close["reason"] == "finished" and close["requests"] == 6
    assert [event["path"] for event in access] == ["/oai?verb=Identify", "/health"]
    assert access[1]["status"] == 200 and access[1]["bytes"] > 0
