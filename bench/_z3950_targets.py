"""The two targets of ``bench/z3950.py`` over the same demo records, built once per work dir.

Layout of ``WORKDIR/n<records>/`` (each part is reused when its ``*.done`` marker exists; the
marker holds the seconds the build took):

- ``koprik.toml`` and ``catalog.sqlite3``: a Koprik catalogue filled by ``koprik demo``;
- ``records/demo.mrc``: the same live records (``koprik demo`` deletes every 97th) as ISO 2709
  UTF-8, Zebra's input;
- ``zebra-peer/``: a copy of ``tests/data/zebra/`` (``start-zebra`` and its configuration)
  whose register and shadow areas may grow to :data:`ZEBRA_AREA` instead of 100 MB, which
  100,000 records outgrow; nothing else differs;
- ``zebra/``: Zebra's work dir made by that ``start-zebra``; a reused index is served by starting
  ``zebrasrv`` on its ``yazgfs.xml`` with the new port.

>>> space = Workspace(Path("/tmp/koprik-bench-z3950"), 100_000)
>>> space.prepare()
>>> with koprik_target(space) as (port, pid), zebra_target(space) as (zebra_port, zebra_pid):
...     ...
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from catalog.demo import DemoPlan, demo_id, demo_records
from tests.conftest import DATA

ROOT = Path(__file__).resolve().parents[1]
ZEBRA_PEER = DATA / "zebra"
ZEBRA_AREA = "20G"
"""Largest size of Zebra's register and shadow areas in the benchmark's copy of the peer."""
KOPRIK = Path(sys.executable).with_name("koprik")
HOST = "127.0.0.1"
STARTUP_SECONDS = 120.0


@dataclass(frozen=True)
class Workspace:
    """Where the catalogue, Zebra's input and Zebra's registers for ``records`` records live."""

    root: Path
    records: int

    @property
    def folder(self) -> Path:
        return self.root / f"n{self.records}"

    @property
    def config(self) -> Path:
        return self.folder / "koprik.toml"

    @property
    def database(self) -> Path:
        return self.folder / "catalog.sqlite3"

    @property
    def marc(self) -> Path:
        return self.folder / "records" / "demo.mrc"

    @property
    def zebra(self) -> Path:
        return self.folder / "zebra"

    def build_seconds(self, part: str) -> float:
        """Seconds the build of ``part`` (koprik, marc, zebra) took; NaN if not built."""
        marker = self.folder / f"{part}.done"
        return float(marker.read_text()) if marker.exists() else float("nan")

    def prepare(self) -> None:
        """Write Zebra's input and fill the catalogue, unless already done."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._once("marc", self._write_marc)
        if not self.database.exists():  # removed by hand: its marker no longer holds
            (self.folder / "koprik.done").unlink(missing_ok=True)
        self._once("koprik", self._load_catalogue)
        self._upgrade_catalogue()

    def _upgrade_catalogue(self) -> None:
        """Bring a catalogue cached by an earlier Koprik to this one's schema."""
        write_config(self, http_port=0, z3950_port=0)
        subprocess.run([str(KOPRIK), "--config", str(self.config), "db", "upgrade"],
                       check=True, stdout=subprocess.DEVNULL)

    def _once(self, part: str, build: Callable[[], None]) -> None:
        marker = self.folder / f"{part}.done"
        if marker.exists():
            return
        print(f"building {part} for {self.records} records...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        build()
        marker.write_text(f"{time.perf_counter() - started:.1f}")

    def _write_marc(self) -> None:
        deleted = set(DemoPlan(records=self.records).deleted_ids())
        self.marc.parent.mkdir(parents=True, exist_ok=True)
        partial = self.folder / "demo.mrc.part"  # outside the folder Zebra indexes
        with partial.open("wb") as out:
            for n, record in enumerate(demo_records(self.records), 1):
                if demo_id(n) not in deleted:
                    out.write(record.as_marc())
        partial.replace(self.marc)

    def _load_catalogue(self) -> None:
        for stale in self.folder.glob("catalog.sqlite3*"):
            stale.unlink()
        write_config(self, http_port=0, z3950_port=0)
        subprocess.run(
            [str(KOPRIK), "--config", str(self.config), "demo", "--records", str(self.records)],
            check=True,
        )


def write_config(space: Workspace, *, http_port: int, z3950_port: int) -> None:
    """The ``koprik.toml`` of the benchmark's catalogue, serving on the given ports."""
    space.config.write_text(
        f'[database]\nurl = "sqlite:///{space.database}"\n\n'
        f'[server]\nhost = "{HOST}"\nhttp_port = {http_port}\nz3950_port = {z3950_port}\n'
        "z3950_idle_timeout = 3600.0\n",
        encoding="utf-8",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    """Return when something accepts connections on ``port``; raise if it never does."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {HOST}:{port}")


@contextmanager
def koprik_target(space: Workspace, workers: int = 1) -> Iterator[tuple[int, int]]:
    """Run ``koprik serve --workers N`` over the catalogue; yield (Z39.50 port, server pid:
    with several workers, their parent, whose CPU time :func:`process_cpu_seconds` counts with
    theirs)."""
    port = free_port()
    write_config(space, http_port=free_port(), z3950_port=port)
    log = (space.folder / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(KOPRIK), "--config", str(space.config), "serve", "--no-scheduler",
         "--workers", str(workers)],
        stdout=log,
        stderr=log,
    )  # fmt: skip
    try:
        try:
            wait_for_port(port, process)
        except RuntimeError as error:  # say why, in the server's own words
            said = (space.folder / "serve.log").read_text(errors="replace").strip()
            raise RuntimeError(f"{error}: {said.splitlines()[-1] if said else ''}") from None
        wait_for_listeners(port, workers)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(30)
        log.close()


@contextmanager
def zebra_target(space: Workspace) -> Iterator[tuple[int, int]]:
    """Run Zebra over the same records (indexing them unless done); yield (port, pid)."""
    port = free_port()
    server = None
    if (space.folder / "zebra.done").exists():
        config = space.zebra / "yazgfs.xml"
        text = re.sub(r"tcp:127\.0\.0\.1:\d+", f"tcp:{HOST}:{port}", config.read_text())
        config.write_text(text)
        (space.zebra / "zebrasrv.pid").unlink(missing_ok=True)
        server = subprocess.Popen(
            ["zebrasrv", "-f", "yazgfs.xml", "-l", "zebrasrv.log", "-p", "zebrasrv.pid"],
            cwd=space.zebra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    else:
        print(f"indexing {space.records} records with Zebra...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        subprocess.run(
            [str(zebra_peer(space)), str(space.marc.parent), str(port), str(space.zebra)],
            check=True, capture_output=True,
        )  # fmt: skip
        (space.folder / "zebra.done").write_text(f"{time.perf_counter() - started:.1f}")
    try:
        wait_for_port(port)
        yield port, int((space.zebra / "zebrasrv.pid").read_text().split()[0])
    finally:
        subprocess.run([str(zebra_peer(space)), "stop", str(space.zebra)], check=False)
        if server is not None:
            server.wait(30)


def zebra_peer(space: Workspace) -> Path:
    """``start-zebra`` in a copy of the peer's folder with larger register and shadow areas."""
    copy = space.folder / "zebra-peer"
    copy.mkdir(exist_ok=True)
    for source in ZEBRA_PEER.iterdir():
        target = copy / source.name
        target.unlink(missing_ok=True)
        shutil.copy(source, target)
        target.chmod(source.stat().st_mode | stat.S_IWUSR)
    config = copy / "zebra.cfg"
    text = re.sub(r"^(register|shadow): (\S+):\S+$", rf"\1: \2:{ZEBRA_AREA}",
                  config.read_text(), flags=re.M)  # fmt: skip
    if text.count(ZEBRA_AREA) != 2:
        raise RuntimeError(f"{ZEBRA_PEER / 'zebra.cfg'}: register and shadow lines not found")
    config.write_text(text)
    return copy / "start-zebra"


@dataclass(frozen=True)
class CatalogueSize:
    """The catalogue's footprint: the SQLite file (with its WAL) and the search index (its
    FTS5 tables and their content table ``search_docs``; ``terms_bytes`` -1 when SQLite has no
    ``dbstat``), which holds ``terms_rows`` terms."""

    file_bytes: int
    terms_bytes: int
    terms_rows: int


def catalogue_size(space: Workspace) -> CatalogueSize:
    files = sum(p.stat().st_size for p in space.folder.glob("catalog.sqlite3*"))
    with sqlite3.connect(f"file:{space.database}?mode=ro", uri=True) as connection:
        rows = sum(len(fields) for (fields,) in connection.execute(
            "SELECT fields FROM search_docs"))  # fmt: skip
        try:
            pages = connection.execute(
                "SELECT SUM(pgsize) FROM dbstat WHERE aggregate = TRUE AND name IN "
                "(SELECT name FROM sqlite_schema WHERE tbl_name = 'search_docs' "
                "OR tbl_name LIKE 'search_fts%')"
            ).fetchone()[0]
        except sqlite3.OperationalError:  # SQLite built without the dbstat table
            pages = -1
    return CatalogueSize(files, int(pages or 0), int(rows))


def zebra_register_bytes(space: Workspace) -> int:
    """Bytes of Zebra's register files (``db/reg``; the shadow area is empty after commit)."""
    return sum(p.stat().st_size for p in (space.zebra / "db" / "reg").iterdir() if p.is_file())


def live_records(space: Workspace) -> int:
    """Live (not deleted) records in the catalogue."""
    with sqlite3.connect(f"file:{space.database}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT COUNT(*) FROM records WHERE NOT deleted").fetchone()
    return int(row[0])


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants, running or reaped
    (Linux ``/proc``): Zebra forks a process per connection, ``koprik serve --workers`` one per
    worker. A descendant that ends between two readings moves from its own count to its
    parent's reaped-children count, so differences stay right."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
        except FileNotFoundError:  # ended since its parent listed it: counted once reaped
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        pending.extend(children(current))
    return total


def children(pid: int) -> list[int]:
    """The running children of ``pid`` (those of every thread of it)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except FileNotFoundError:
            continue
    return found


def wait_for_listeners(port: int, count: int) -> None:
    """Return when ``count`` sockets listen on ``port`` (``koprik serve --workers N``: each
    worker binds its own with SO_REUSEPORT, so the kernel spreads connections over all N only
    once all have)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while listeners(port) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} sockets listen on {HOST}:{port}")
        time.sleep(0.2)


def listeners(port: int) -> int:
    """How many IPv4 TCP sockets listen on ``port`` (``/proc/net/tcp``, state 0A)."""
    local = f":{port:04X}"
    return sum(
        1
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if (fields := line.split())[1].endswith(local) and fields[3] == "0A"
    )
