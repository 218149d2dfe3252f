"""Starting the third-party peers the interop tests talk to (tests/data/README.md)."""

from __future__ import annotations

import gzip
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import DATA, free_port

START_ZEBRA = DATA / "zebra" / "start-zebra"
LOC_MODS_DIR = Path("/usr/share/doc/idzebra-2.0/examples/marcxml")
LOC_UTILS_URL = "http://www.loc.gov/standards/marcxml/xslt/MARC21slimUtils.xsl"


def unpack_loc_mods(folder: Path) -> Path:
    """The LoC MARC21 to MODS 3.7 stylesheet unpacked into ``folder`` (:func:`unpack_loc`)."""
    return unpack_loc(folder, "MARC21slim2MODS3-7.xsl")


def unpack_loc(folder: Path, name: str) -> Path:
    """The LoC stylesheet ``name`` of Zebra's examples unpacked into ``folder``, its include of
    MARC21slimUtils.xsl pointed at the local copy beside it (never at loc.gov); returns its path."""
    utils = folder / "MARC21slimUtils.xsl"
    utils.write_bytes(gzip.decompress((LOC_MODS_DIR / "MARC21slimUtils.xsl.gz").read_bytes()))
    text = gzip.decompress((LOC_MODS_DIR / f"{name}.gz").read_bytes()).decode()
    stylesheet = folder / name
    stylesheet.write_text(text.replace(LOC_UTILS_URL, utils.name), encoding="utf-8")
    return stylesheet


def wait_for_port(port: int, seconds: float = 10.0) -> None:
    """Return once something listens on 127.0.0.1:``port``; raise after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def running_zebra(records: Path, work: Path, marc: str = "marc21") -> Iterator[int]:
    """Zebra serving the ISO 2709 files in ``records`` (its files in ``work``); yields the port.
    ``marc`` "unimarc": the files are UNIMARC in CP1251, served in record syntax UNIMARC."""
    if shutil.which("zebrasrv") is None or shutil.which("zebraidx") is None:
        pytest.skip("idzebra-2.0 not installed")
    port = free_port()
    subprocess.run(
        [str(START_ZEBRA), str(records), str(port), str(work), marc], check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield port
    finally:
        subprocess.run([str(START_ZEBRA), "stop", str(work)], check=False)
