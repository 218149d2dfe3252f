"""``koprik serve --workers 2`` under load: 60 yaz-client sessions and 50 OAI-PMH harvesters
at once, all answered correctly, while a scheduled harvest runs in one worker only.

Which worker did what is read from the JSON log (``pid``).
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from catalog.demo import demo_records
from tests.fault_provider import FaultProvider, serve
from tests.servers import koprik_serve, listening_sockets, logged_events
from tests.z3950_target_fixtures import yaz_client

pytestmark = pytest.mark.interop

OAI = "{http://www.openarchives.org/OAI/2.0/}"
RECORDS, PAGE = 120, 10
PARTNER = 5
"""The partner's records: demo0000001 to demo0000005, as ours are numbered."""
OURS = f"demo{RECORDS:07d}"


def _ours(n: int) -> str:
    """The 001 of one of our records the partner has none of, by ``n``."""
    return f"demo{PARTNER + 1 + n % (RECORDS - PARTNER):07d}"


def _harvest_identifiers(base_url: str) -> list[str]:
    """Every identifier, as a polite harvester gets them: a 503 is retried after Retry-After."""
    identifiers: list[str] = []
    query = {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"}
    while True:
        url = f"{base_url}?{urllib.parse.urlencode(query)}"
        for _ in range(300):
            try:
                with urllib.request.urlopen(url, timeout=120) as response:
                    root = etree.fromstring(response.read())
                break
            except urllib.error.HTTPError as error:
                if error.code != 503:
                    raise
                time.sleep(float(error.headers.get("Retry-After", "1")))
        identifiers += [h.findtext(f"{OAI}identifier") for h in root.iter(f"{OAI}header")]
        token = root.findtext(f".//{OAI}resumptionToken")
        if not token:
            return identifiers
        query = {"verb": "ListIdentifiers", "resumptionToken": token}


def test_sixty_z3950_sessions_and_fifty_harvesters_at_once_on_two_workers(tmp_path: Path):
    partner = FaultProvider(list(demo_records(PARTNER, seed=11)), page_size=5)
    log = tmp_path / "koprik.log"
    with serve(partner.app()) as partner_url:
        extra = (f"[oai]\npage_size = {PAGE}\nmax_concurrent_lists = 16\nretry_after = 1\n"
                 f'[log]\nfile = "{log}"\nformat = "json"\n'
                 f'[[sources]]\nname = "partner"\nurl = "{partner_url}"\nevery = "2s"\n'
                 "delay = 0.0\n")  # fmt: skip
        with koprik_serve(tmp_path, demo_records=RECORDS, extra=extra,
                          options=("--workers", "2")) as running:  # fmt: skip
            # Identify answered once one worker listened: the load is sent once both do (on
            # CI's loaded cores the 60 sessions, quick, all reached the first, as designed)
            deadline = time.monotonic() + 60
            while min(map(listening_sockets, (running.http_port, running.z3950_port))) < 2:
                assert time.monotonic() < deadline, "the second worker never listened"
                time.sleep(0.1)
            expected = _harvest_identifiers(running.oai_url)
            assert len(expected) == RECORDS

            def session(n: int) -> str:
                # Numbers past the partner's five, which its harvest (running meanwhile) adds
                # as second copies until deduplication merges them.
                return yaz_client(running.z3950_port, [
                    "format usmarc", f"find @attr 1=12 {OURS}", "show 1",
                    f"find @attr 1=12 {_ours(n)}", "show 1",
                ], folder=tmp_path)  # fmt: skip

            with ThreadPoolExecutor(60) as z3950, ThreadPoolExecutor(50) as oai:
                sessions = z3950.map(session, range(60))
                harvests = [oai.submit(_harvest_identifiers, running.oai_url) for _ in range(50)]
                outputs = list(sessions)
                harvested = [h.result() for h in harvests]
            time.sleep(3)  # a scheduled run or two more, while both workers are up
        events = logged_events(log)
    for identifiers in harvested:  # each record once; the partner's may have arrived meanwhile
        assert len(identifiers) == len(set(identifiers))
        assert set(expected) <= set(identifiers)
        assert all(":partner:" in extra for extra in set(identifiers) - set(expected))
    for n, output in enumerate(outputs):
        assert re.findall(r"Number of hits: (\d+)", output) == ["1", "1"], output[-500:]
        assert f"001 {OURS}" in output and f"001 {_ours(n)}" in output
    workers = {int(m.split("(pid ")[1].rstrip(")")) for m in
               (e["message"] for e in events if e["logger"] == "koprik.workers")
               if " started (pid " in m}  # fmt: skip
    z3950_pids = {e["pid"] for e in events if e["logger"] == "koprik.z3950"}
    http_pids = {e["pid"] for e in events if e["logger"] == "koprik.access"}
    assert len(workers) == 2 and z3950_pids == http_pids == workers  # both carried load
    runs = [e for e in events if e["message"].startswith("scheduled harvest of partner:")]
    assert runs and {e["pid"] for e in runs} < workers  # the schedule ran, in one worker
    assert partner.requests  # and really harvested the partner
