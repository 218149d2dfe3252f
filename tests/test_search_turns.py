"""Each front end files its database jobs under the address of the client they are for
(``provider.search.SEARCH_CLIENT``), so that the search threads take clients in turn (the
fairness itself: ``test_search_threads``). Z39.50, SRU on the Z39.50 port, ``/sru`` of the HTTP
application and the dashboard's record search are each reached here from an address of their
own: all of 127.0.0.0/8 is the loopback network."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from koprik.dashboard.app import setup_dashboard
from provider.app import init_app
from provider.background import serve_in_thread
from provider.search import threads
from tests.hostile import INIT
from tests.test_z3950_target_fuzz import Client, healthy_search
from tests.z3950_target_fixtures import handmade_records, running_target, sqlite_settings

SEARCH = "version=1.2&operation=searchRetrieve&query=navoiy"


def _get(port: int, path: str, source: str) -> int:
    """The status of a GET of ``path`` sent from ``source``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                            source_address=(source, 0))  # fmt: skip
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_every_front_end_files_its_jobs_under_the_clients_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filed: list[str] = []
    put = threads._Lines.put

    def noted(lines: threads._Lines, client: str, job: threads._Job) -> None:
        filed.append(client)
        put(lines, client, job)

    monkeypatch.setattr(threads._Lines, "put", noted)
    with running_target(tmp_path, handmade_records()) as running:
        z3950 = Client(running.port, "127.0.0.2")
        z3950.send(INIT)
        assert z3950.receive()[0] == "initResponse"  # type: ignore[index]
        healthy_search(z3950)
        z3950.close()
        assert _get(running.port, f"/Default?{SEARCH}", "127.0.0.3") == 200
        app = init_app(sqlite_settings(tmp_path), running.catalog)
        setup_dashboard(app)
        with serve_in_thread(app) as base:
            port = int(base.rsplit(":", 1)[1])
            assert _get(port, f"/sru?{SEARCH}", "127.0.0.4") == 200
            assert _get(port, "/records?q=navoiy", "127.0.0.5") == 200
    clients = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
    assert set(filed) == clients
