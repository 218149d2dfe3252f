"""A catalogue database that stops answering: HTTP 503 with Retry-After and one log line
(provider.http_server.database_unavailable), not aiohttp's 500 with a traceback; SRU and
Z39.50 answer their "temporarily unavailable" diagnostic (provider.search.threads), Z39.50
keeping the session open."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from catalog import Catalog, db
from catalog.db import UNSAID
from catalog.demo import demo_records
from config import DatabaseSettings, ServerSettings, Settings
from harvester import advisory
from koprik.cli import main
from koprik.dashboard.app import setup_dashboard
from provider.app import init_app
from provider.z3950 import start_target
from tests.conftest import _fresh_postgres_database, free_port, sqlite_catalogue_in_its_file
from tests.postgres import postgres_cluster
from tests.servers import scripted_server
from tests.z3950_target_fixtures import yaz_client

LIVENESS = 30
"""Seconds within which a connection that waits for a silent server has surely given up."""
PATHS = (
    "/oai?verb=Identify",
    "/oai?verb=ListRecords&metadataPrefix=oai_dc",
    "/metrics",
    "/",
)


def _three_records(url: str, z3950_port: int, **database: Any) -> tuple[Settings, Catalog]:
    """Settings for the catalogue at ``url`` (``database`` settings besides), and that
    catalogue opened holding three demo records."""
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=url, **database),
        server=dataclasses.replace(ServerSettings(), z3950_port=z3950_port),
    )  # fmt: skip
    catalog = Catalog.open(settings)
    with catalog.writer() as writer:
        for record in demo_records(3):
            writer.put(record)
    return settings, catalog


@pytest.mark.postgres
async def test_a_stopped_postgresql_is_503_with_retry_after_and_one_line(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    z3950_port = free_port()
    search = ["find @attr 1=4 jild", "find @attr 1=1003 yusuf"]  # two searches of one session
    with postgres_cluster(free_port(), durable=False) as server:
        settings, catalog = _three_records(f"{server}/postgres", z3950_port)
        app = init_app(settings, catalog)
        setup_dashboard(app)
        client = await aiohttp_client(app)
        get_record = "/oai?verb=ListIdentifiers&metadataPrefix=oai_dc"
        listed = await (await client.get(get_record)).text()
        identifier = listed.split("<identifier>")[1].split("</identifier>")[0]
        for path in PATHS:
            assert (await client.get(path)).status == 200, path
        target = await start_target(settings, catalog)
        found = await asyncio.to_thread(yaz_client, z3950_port, search, folder=tmp_path)
        assert "Number of hits: 2," in found and "Number of hits: 1," in found, found
    # The cluster is stopped (and gone): every connection of the pool is dead.
    caplog.clear()
    caplog.set_level(logging.INFO)
    paths = (*PATHS, f"/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier={identifier}")
    for path in paths:
        caplog.clear()
        response = await client.get(path)
        assert response.status == 503, path
        assert response.headers["Retry-After"] == str(settings.oai.retry_after), path
        assert "database" in await response.text()
        assert not [record for record in caplog.records if record.exc_info], path
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(lines) == 1 and "\n" not in lines[0], (path, lines)
        assert "503 Service Unavailable (catalogue database unavailable:" in lines[0]
    health = await client.get("/health")
    assert health.status == 503
    assert (await health.json())["catalogue"] == {"reachable": False, "error": UNSAID}
    caplog.clear()
    sru = await client.get("/sru?operation=searchRetrieve&version=1.2&query=navoiy")
    document = await sru.text()
    assert sru.status == 200 and "info:srw/diagnostic/1/2<" in document  # temporarily unavailable
    assert f"<diag:details>{UNSAID}</diag:details>" in document.replace("&apos;", "'")
    assert "Connection refused" not in document  # PostgreSQL's reason (it named host and port)
    assert not [record for record in caplog.records if record.exc_info]
    assert [
        r.getMessage()[:39] for r in caplog.records if r.levelno >= logging.WARNING
    ] == ["search: catalogue database unavailable:"]
    caplog.clear()
    refused = await asyncio.to_thread(yaz_client, z3950_port, search, folder=tmp_path)
    assert refused.count("[2] Temporary system error") == 2, refused  # the session went on
    assert UNSAID in refused and "Connection refused" not in refused
    assert not [record for record in caplog.records if record.exc_info]
    await target.stop(1.0)


async def test_a_pool_with_no_free_connection_is_503_not_a_traceback(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    )
    catalog = Catalog.open(settings)
    with catalog.writer() as writer:
        for record in demo_records(3):
            writer.put(record)
    engine = catalog.engine  # one connection, waited for a tenth of a second
    engine.pool = QueuePool(engine.pool._creator, pool_size=1, max_overflow=0, timeout=0.1)
    client = await aiohttp_client(init_app(settings, catalog))
    path = "/oai?verb=ListRecords&metadataPrefix=oai_dc"
    assert (await client.get(path)).status == 200
    caplog.clear()
    with engine.connect():  # the pool's one connection, in use
        response = await client.get(path)
    assert response.status == 503
    assert response.headers["Retry-After"] == str(settings.oai.retry_after)
    assert not [record for record in caplog.records if record.exc_info]
    assert "(catalogue database unavailable: no connection free in the pool)" in caplog.text
    assert (await client.get(path)).status == 200
    catalog.close()


@pytest.mark.postgres
def test_the_connections_a_process_holds_are_the_settings_pool(
    request: pytest.FixtureRequest,
) -> None:
    """A low PostgreSQL ``max_connections`` with a few nodes of workers, each holding up to 15
    connections: some found none free (503) while others held theirs. The pool is set (its
    smallest: 6 in all)."""
    url = _fresh_postgres_database(request)
    database = url.rsplit("/", 1)[1]
    settings = dataclasses.replace(
        Settings(), database=DatabaseSettings(url=url, pool_size=1, max_overflow=5))
    catalog = Catalog.open(settings)
    admin = request.getfixturevalue("_postgres_admin")
    count = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name")
    try:
        assert catalog.engine.pool.size() == 1
        with contextlib.ExitStack() as held:
            for _ in range(6):
                held.enter_context(catalog.engine.connect()).execute(text("SELECT 1"))
            assert catalog.engine.pool.overflow() == 5  # the most: 1 + 5
            with admin.connect() as looking:
                assert looking.execute(count, {"name": database}).scalar_one() == 6
        # The overflow's closed as it was given back; each backend ends a moment after its
        # client closed (a busy machine showed 2 of them still there).
        deadline = time.monotonic() + 10
        while True:
            with admin.connect() as looking:
                left = looking.execute(count, {"name": database}).scalar_one()
            if left == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert left == 1
    finally:
        catalog.close()


async def test_a_corrupt_sqlite_file_is_503_and_one_line_not_a_traceback(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """SQLite finding its file corrupt (SQLITE_CORRUPT) answers as an unreachable database
    does: the file must be restored, no request can be answered until then (it was a 500 with
    a traceback for every OAI request, and SRU's diagnostic 1, a general system error)."""
    file = tmp_path / "catalog.sqlite3"
    settings = sqlite_catalogue_in_its_file(file)
    size = file.stat().st_size
    with file.open("r+b") as damaged:  # the second half of the file overwritten
        damaged.seek(size // 2)
        damaged.write(b"\x55" * (size // 2))
    catalog = Catalog.open(settings)
    client = await aiohttp_client(init_app(settings, catalog))
    caplog.clear()
    response = await client.get("/oai?verb=ListRecords&metadataPrefix=oai_dc")
    assert response.status == 503
    assert response.headers["Retry-After"] == str(settings.oai.retry_after)
    assert not [record for record in caplog.records if record.exc_info]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [  # the first request to find the file damaged says so, once
        f"the catalogue database file {file} is damaged (database disk image is malformed): no "
        "request it cannot read will be answered; stop Koprik and restore a copy",
        "http 127.0.0.1: 503 Service Unavailable (catalogue database unavailable: database disk "
        "image is malformed)"]
    caplog.clear()
    sru = await client.get("/sru?operation=searchRetrieve&version=1.2&query=navoiy")
    document = await sru.text()
    assert sru.status == 200 and "info:srw/diagnostic/1/2<" in document  # temporarily unavailable
    assert not [record for record in caplog.records if record.exc_info]
    catalog.close()


def _cluster_processes(port: int) -> list[int]:
    """The PostgreSQL server listening on ``port`` and its children (backends, workers)."""
    parents: dict[int, int] = {}
    postmaster = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if words[0].endswith(b"postgres") and b"-p" in words[:-1] and \
                words[words.index(b"-p") + 1] == str(port).encode():
            postmaster = int(entry.name)
    assert postmaster is not None, f"no PostgreSQL server on port {port}"
    return [postmaster, *(pid for pid, parent in parents.items() if parent == postmaster)]


@pytest.mark.postgres
async def test_a_postgresql_that_hangs_is_503_and_diagnostic_2_after_answer_timeout(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A server that stops answering without closing its connections (SIGSTOP here; a hung
    disk or host alike): every OAI-PMH request, search and present waited for as long as it
    hung, and nothing was logged. Each is now told the database is unavailable after
    ``database.answer_timeout``, with one line logged; all are answered once it is back."""
    port, z3950_port = free_port(), free_port()
    with postgres_cluster(port, durable=False) as server:
        settings, catalog = _three_records(f"{server}/postgres", z3950_port, answer_timeout=2.0)
        client = await aiohttp_client(init_app(settings, catalog))
        listed = await (await client.get("/oai?verb=ListIdentifiers&metadataPrefix=oai_dc")).text()
        identifier = listed.split("<identifier>")[1].split("</identifier>")[0]
        paths = (*PATHS[:2], f"/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier={identifier}")
        target = await start_target(settings, catalog)
        search = ["find @attr 1=4 jild", "show 1"]
        stopped = _cluster_processes(port)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            for path in paths:
                caplog.clear()
                response = await client.get(path)
                assert response.status == 503, path
                assert response.headers["Retry-After"] == str(settings.oai.retry_after)
                lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
                assert lines == ["http 127.0.0.1: 503 Service Unavailable (catalogue database "
                                 "unavailable: no answer in 2 s)"], path
            caplog.clear()
            sru = await client.get("/sru?operation=searchRetrieve&version=1.2&query=navoiy")
            document = await sru.text()
            assert sru.status == 200 and "info:srw/diagnostic/1/2<" in document
            assert "no answer in 2 s" in document
            assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
                "search: catalogue database unavailable: no answer in 2 s"]
            refused = await asyncio.to_thread(yaz_client, z3950_port, search, folder=tmp_path)
            assert "[2] Temporary system error" in refused, refused
            health = await client.get("/health")  # (it said the bare "TimeoutError")
            assert health.status == 503
            assert (await health.json())["catalogue"] == {"reachable": False,
                                                          "error": "no answer in 5 s"}
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        for path in paths:  # the database back: answered again
            assert (await client.get(path)).status == 200, path
        found = await asyncio.to_thread(yaz_client, z3950_port, search, folder=tmp_path)
        assert "Number of hits: 2," in found, found
        await target.stop(1.0)
        catalog.close()


def _ended_within(seconds: float, work: Callable[[], object]) -> BaseException | object:
    """What ``work`` returned or raised, run in a thread; fails the test if it is still
    running after ``seconds`` (it then goes on, abandoned)."""
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # the outcome looked at
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still waiting after {seconds} s"
    return outcome[0]


def test_a_postgresql_server_that_never_answers_is_one_line_within_the_connect_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A catalogue server that accepts the connection and never answers: a command ends after
    ``catalog.db.CONNECT_TIMEOUT`` seconds with the line saying the catalogue cannot be used,
    and a run lock's own connection (outside the pool) gives up as soon. Before, both waited
    for ever (libpq's default), and so did ``koprik serve`` starting."""
    monkeypatch.setattr(db, "CONNECT_TIMEOUT", 2)  # libpq's least
    with contextlib.contextmanager(scripted_server)() as port:  # a server that never answers
        url = f"postgresql+psycopg://koprik@127.0.0.1:{port}/koprik"
        config = tmp_path / "koprik.toml"
        config.write_text(f'[database]\nurl = "{url}"\n')
        status = _ended_within(LIVENESS, lambda: main(["--config", str(config), "db", "upgrade"]))
        assert status == 2
        assert capsys.readouterr().err == (
            f"koprik: the catalogue database {url} cannot be used: connection timeout expired\n")
        engine = db.open_engine(url)
        try:
            error = _ended_within(LIVENESS, lambda: advisory.try_lock(engine, advisory.SOURCES, 1))
        finally:
            engine.dispose()
    assert isinstance(error, OperationalError) and "connection timeout expired" in str(error)


def _keepalive_idle(connection: Any) -> tuple[int, int, int]:
    """(SO_KEEPALIVE, TCP_KEEPIDLE, TCP_USER_TIMEOUT) of the socket under a SQLAlchemy
    ``connection``."""
    fileno = connection.connection.driver_connection.fileno()
    with socket.socket(fileno=os.dup(fileno)) as probe:
        return (probe.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))  # fmt: skip


@pytest.mark.postgres
def test_a_postgresql_connection_probes_a_silent_server_after_seconds(
    postgres_server: str,
) -> None:
    """The pool's connections and a run lock's own probe a server they have heard nothing from
    after ``catalog.db.KEEPALIVES``' 10 s (a server whose host vanished is found dead in about
    25 s), and give up on what they sent 30 s unacknowledged, unless ``database.url`` says
    otherwise. Before, the system's two hours and some 15 minutes: a thread waiting for an
    answer from a vanished host waited that long."""
    url = f"{postgres_server}/postgres"
    engine = db.open_engine(url)
    try:
        with engine.connect() as connection:
            assert _keepalive_idle(connection) == (1, 10, 30_000)
        held = advisory.try_lock(engine, advisory.SOURCES, 1)
        assert held is not None
        try:
            assert _keepalive_idle(held) == (1, 10, 30_000)
        finally:
            advisory.unlock(held)
    finally:
        engine.dispose()
    engine = db.open_engine(f"{url}?keepalives_idle=60")
    try:
        with engine.connect() as connection:
            assert _keepalive_idle(connection) == (1, 60, 30_000)
    finally:
        engine.dispose()
