"""Shared fixtures: real catalogue databases (SQLite file, and a PostgreSQL server this run starts).

``catalog_url`` is parametrized over both engines, so any test that takes it (or ``catalog``)
runs on SQLite and on PostgreSQL. The PostgreSQL cluster is created in a temporary folder,
started on a free loopback port as the ``postgres`` user when we are root, and stopped at the end.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import random
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import Catalog
from config import DatabaseSettings, Settings
from tests.postgres import PG_BIN, postgres_cluster

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # records, schemas and peer set-ups: tests/data/README.md


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    """Take off the root logger the handlers a test's command added, and put back its level: a
    command run in-process (``koprik.cli.main``) sets up logging to the stderr pytest captured
    for that test, closed after it, where a server thread of a module's fixture would later
    fail to log. pytest's own capturing handlers, added and removed by pytest for each phase of
    a test, are left to it."""
    root = logging.getLogger()
    handlers, level = set(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers and not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def signalled(signum: int) -> None:
    """Send ``signum`` to this process, and give Python the moment to run its handler here
    (a loop's jump back is where it runs one), not some statements later."""
    os.kill(os.getpid(), signum)
    for _ in range(1000):
        pass


def _port_range() -> range:
    """Ports for this test process to hand out: below the kernel's ephemeral range, so that no
    client connection of a parallel test takes one as its own end between :func:`free_port` and
    the bind of the server it is for (a kernel-chosen free port could be; a server then failed
    to start with its port in use), and a share of their own for each pytest-xdist worker."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    start = 10000 if low > 12000 else 1024
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    share = (low - start) // max(workers, 1)
    return range(start + worker * share, start + (worker + 1) * share)


_PORTS = _port_range()
_next_port = itertools.count(random.randrange(len(_PORTS)))


def sqlite_catalogue_in_its_file(file: Path, records: int = 300) -> Settings:
    """The settings of a SQLite catalogue at ``file`` holding ``records`` demo records, its
    WAL written back into the file (its last connection closed): for tests that damage it."""
    from catalog.demo import demo_records

    settings = dataclasses.replace(Settings(), database=DatabaseSettings(url=f"sqlite:///{file}"))
    catalog = Catalog.open(settings)
    with catalog.writer() as writer:
        for record in demo_records(records):
            writer.put(record)
    catalog.close()
    return settings


def free_port() -> int:
    """A loopback port nothing listens on, not handed out before by this process (the ports
    of its share are taken in turn)."""
    for _ in range(len(_PORTS)):
        port = _PORTS[next(_next_port) % len(_PORTS)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_PORTS}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster; yields a URL prefix ``postgresql+psycopg://...:port``."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL server binaries missing at {PG_BIN}: run `make test`")
    with postgres_cluster(free_port(), durable=False) as url:
        yield url


@pytest.fixture(scope="session")
def _postgres_admin(postgres_server: str) -> Iterator[object]:
    from sqlalchemy import create_engine

    engine = create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _fresh_postgres_database(request: pytest.FixtureRequest) -> str:
    from sqlalchemy import text

    server = request.getfixturevalue("postgres_server")
    admin = request.getfixturevalue("_postgres_admin")
    name = "k" + uuid.uuid4().hex[:12]
    with admin.connect() as connection:  # type: ignore[attr-defined]
        connection.execute(text(f"CREATE DATABASE {name}"))
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty catalogue database URL, on each engine in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    return _fresh_postgres_database(request)


@pytest.fixture
def settings(catalog_url: str) -> Settings:
    return dataclasses.replace(Settings(), database=DatabaseSettings(url=catalog_url))


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    opened = Catalog.open(settings)
    yield opened
    opened.close()
