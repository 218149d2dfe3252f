"""Issue 8's done-when for serving: no client can stall, bloat or lock out `koprik serve`.

A real ``koprik serve`` (default limits) over demo records is attacked, one scenario at a
time: (a) a client sending the costliest Z39.50 PDUs it accepts, and the densest it must
refuse, again and again; (b) 200 clients from 200 addresses asking for ListRecords pages and
never reading them; (c) 500 sockets from 500 addresses to each port that never send a byte.
Meanwhile a bystander on 127.0.0.1 must get an OAI-PMH Identify (urllib) and a Z39.50 search
(yaz-client, a real peer) each within :data:`LIVENESS` seconds, and the server's RSS (sampled
from /proc/PID/status every 50 ms) must stay under :data:`RSS_LIMIT`.
"""

from __future__ import annotations

import resource
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from config import ServerSettings
from tests import hostile
from tests.servers import RunningKoprik, koprik_serve

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("yaz-client") is None, reason="yaz-client not installed"),
]

LIVENESS = 1.0
"""Seconds a bystander's request may take: the issue's bound. Unattacked, an Identify takes
about 10 ms and a yaz-client search (process start included) 20-80 ms on the 2-core test
machine under load, so this is a dozen times the slowest seen; the stalls it guards against
took 1.7 s (a 1 MiB PDU decoded on the event loop) to 22 s (a 16 MiB one)."""

RSS_LIMIT = 192 * 1024 * 1024
"""Bytes of RSS the server may reach in any scenario. It idles near 87 MB over these 1,000
records and peaked at 101-138 MB under these attacks once bounded (list threads building pages,
thread arenas, SQLite caches); before, the same attacks took it to 204 MB (unread pages, still
193 MB after they left) and 217 MB (PDUs decoded on the event loop, which also stalled every
bystander 3.7 s)."""

PROBES = 3
"""Bystander rounds (an Identify and a search each) per scenario."""


@pytest.fixture(scope="module")
def koprik(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningKoprik]:
    _raise_open_files(4096)  # 1,000 attacking sockets here; the server inherits the limit
    with koprik_serve(tmp_path_factory.mktemp("hostile"), demo_records=1000) as running:
        yield running


def _raise_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 2200:
        pytest.skip("the open-file limit is too low for 1,000 sockets on each side")


def bystander_is_served(koprik: RunningKoprik) -> None:
    """Identify and a Z39.50 search, each answered (correctly) within LIVENESS seconds."""
    for _ in range(PROBES):
        assert "<repositoryName>" in hostile.identify(koprik.oai_url, LIVENESS).text
        search = hostile.yaz_search(koprik.z3950_port, LIVENESS)
        assert "Number of hits:" in search.text, search.text
        assert "Target has closed the association" not in search.text


def test_costliest_pdus_stall_no_one(koprik: RunningKoprik) -> None:
    limits = ServerSettings()
    accepted = hostile.maximal_search_pdu(limits.z3950_max_pdu_bytes, limits.z3950_max_pdu_values)
    refused = hostile.densest_search_pdu(limits.z3950_max_pdu_bytes)
    with hostile.PeakRss(koprik.pid) as rss, hostile.PduAttack(
        koprik.z3950_port, [accepted, refused]
    ) as attack:
        while attack.answered == 0:  # the attack is under way (its first PDU answered)
            time.sleep(0.05)
        bystander_is_served(koprik)
    assert attack.answered >= 2
    assert rss.peak < RSS_LIMIT


def test_unread_list_pages_bloat_nothing(koprik: RunningKoprik) -> None:
    query = "verb=ListRecords&metadataPrefix=marc21"
    with hostile.PeakRss(koprik.pid) as rss:
        with hostile.unread_list_clients(koprik.http_port, 200, query) as clients:
            assert len(clients) == 200
            time.sleep(1)  # every request has arrived; pages are built or refused
            bystander_is_served(koprik)
        # Once they have gone, their list slots are free again: a harvester is served.
        assert "<ListRecords>" in _list_records_when_free(koprik, query)
    assert rss.peak < RSS_LIMIT


def test_idle_sockets_lock_no_one_out(koprik: RunningKoprik) -> None:
    with hostile.PeakRss(koprik.pid) as rss, hostile.idle_sockets(
        koprik.z3950_port, 500, addresses=500
    ) as z3950, hostile.idle_sockets(koprik.http_port, 500, addresses=500) as http:
        assert len(z3950) == len(http) == 500
        time.sleep(0.5)  # the server has accepted them all
        bystander_is_served(koprik)
    assert rss.peak < RSS_LIMIT


def _list_records_when_free(koprik: RunningKoprik, query: str, seconds: float = 30) -> str:
    """A ListRecords page, retried while the server answers 503 (slots being given back)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{koprik.oai_url}?{query}", timeout=30) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as error:
            if error.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_after_all_that_the_log_has_no_traceback(koprik: RunningKoprik) -> None:
    assert "Traceback" not in koprik.log.read_text()
