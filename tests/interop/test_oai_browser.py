"""A reader opening our OAI-PMH responses in a real browser (headless Chromium) sees HTML.

Chromium applies the ``<?xml-stylesheet?>`` our responses carry; ``--dump-dom`` prints the DOM
after the transformation, so the test reads what a person would see.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import koprik_serve

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")


def browse(url: str, profile: Path, *extra: str) -> str:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", *extra, url],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout


@pytest.fixture(scope="module")
def koprik(tmp_path_factory):
    with koprik_serve(tmp_path_factory.mktemp("browser"), demo_records=30) as running:
        yield running


def test_identify_renders_as_a_page(koprik, tmp_path):
    dom = browse(f"{koprik.oai_url}?verb=Identify", tmp_path / "profile", "--dump-dom")
    assert "<html" in dom.lower() and "<table" in dom.lower()
    assert "Koprik demo repository" in dom
    assert "natlib.uz" in dom


def test_records_and_errors_render(koprik, tmp_path):
    dom = browse(f"{koprik.oai_url}?verb=ListRecords&metadataPrefix=oai_dc",
                 tmp_path / "profile", "--dump-dom")
    assert "oai:natlib.uz:demo0000001" in dom
    assert "resumption" in dom.lower() or "demo0000030" in dom
    error = browse(f"{koprik.oai_url}?verb=junk", tmp_path / "profile2", "--dump-dom")
    assert "badVerb" in error


def test_screenshot_for_people(koprik, tmp_path):
    shot = tmp_path / "identify.png"
    browse(f"{koprik.oai_url}?verb=ListRecords&metadataPrefix=oai_dc", tmp_path / "profile",
           f"--screenshot={shot}", "--window-size=1200,900")
    assert shot.stat().st_size > 10_000


def test_marcxml_shows_as_a_field_table_and_dc_as_elements(koprik, tmp_path):
    url = f"{koprik.oai_url}?verb=GetRecord&identifier=oai:natlib.uz:demo0000001&metadataPrefix="
    marc = browse(url + "marc21", tmp_path / "p1", "--dump-dom")
    assert "<th>245</th>" in marc and "<b>$a</b>" in marc
    assert "&lt;" not in marc  # no raw XML shown to the reader
    dc = browse(url + "oai_dc", tmp_path / "p2", "--dump-dom")
    assert "<th>title</th>" in dc and "&lt;" not in dc
    mods = browse(url + "mods", tmp_path / "p3", "--dump-dom")
    assert "<b>titleInfo</b>" in mods
