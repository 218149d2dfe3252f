"""The demo collection converted by yaz-marcdump into legacy charsets comes back through
``koprik crosswalk`` field by field as it was.

yaz writes UTF-8, CP1251, KOI8-R, MARC-8 and MARC-8 with numeric character references for
what MARC-8 lacks (``marc8lossless``); Koprik writes MarcEdit text in MARC-8 with mnemonics.
Where a charset cannot hold a character (Uzbek Қ Ғ Ҳ and ʻ in CP1251 and KOI8-R, Қ in plain
MARC-8), yaz drops it, or the whole subfield; those records are compared with yaz's own
reading of the same file, every other record with the UTF-8 original.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from pymarc import Record

from catalog.demo import demo_records
from crosswalks import marc8
from crosswalks.marc_io import record_to_iso2709

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("yaz-marcdump") is None, reason="yaz not installed"),
]
ROOT = Path(__file__).resolve().parents[2]
RECORDS = 600


def fields(record: dict) -> tuple[str, list]:
    """A MARC-in-JSON record as (leader without lengths and leader/09, fields)."""
    leader = record["leader"]
    return leader[5:9] + leader[10:12] + leader[17:], record["fields"]


def crosswalk(path: Path, *options: str) -> list[tuple[str, list]]:
    out = path.with_suffix(".json")
    command = [sys.executable, "-m", "koprik", "crosswalk", "--to", "marcjson", *options,
               str(path), "-o", str(out)]
    result = subprocess.run(command, capture_output=True, cwd=ROOT, timeout=600, text=True)
    assert result.returncode == 0, result.stderr
    return [fields(record) for record in json.loads(out.read_text(encoding="utf-8"))]


def yaz(source: Path, target: Path, from_charset: str, to_charset: str) -> Path:
    command = ["yaz-marcdump", "-f", from_charset, "-t", to_charset, "-o", "marc",
               "-l", "9=32" if to_charset != "utf-8" else "9=97", str(source)]
    target.write_bytes(subprocess.run(command, capture_output=True, check=True,
                                      timeout=300).stdout)
    return target


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Record]]:
    records = list(demo_records(RECORDS))
    path = tmp_path_factory.mktemp("yaz-charsets") / "demo.mrc"
    path.write_bytes(b"".join(record_to_iso2709(record) for record in records))
    return path, records


def representable(record: Record, charset: str) -> bool:
    values = [f.data or "" for f in record.fields if f.is_control_field()]
    values += [v for f in record.fields if not f.is_control_field() for _c, v in f.subfields]
    if charset == "marc8":
        return all(b"&#x" not in marc8.encode(value) for value in values)
    try:
        "".join(values).encode(charset)
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("charset", ["utf-8", "marc8lossless"])
def test_lossless_conversions_come_back_equal_to_the_original(demo, charset: str) -> None:
    path, _records = demo
    original = crosswalk(path)
    converted = yaz(path, path.with_name(f"demo.{charset}"), "utf-8", charset)
    back = crosswalk(converted)
    assert len(back) == len(original) == RECORDS
    assert back == original


@pytest.mark.parametrize("charset", ["cp1251", "koi8-r", "marc8"])
def test_legacy_conversions_come_back_as_yaz_reads_them(demo, charset: str) -> None:
    path, records = demo
    original = crosswalk(path)
    converted = yaz(path, path.with_name(f"demo.{charset}"), "utf-8", charset)
    back = crosswalk(converted)
    theirs = crosswalk(yaz(converted, path.with_name(f"{charset}.utf8"), charset, "utf-8"))
    assert len(back) == len(theirs) == RECORDS
    assert back == theirs
    kept = [i for i, record in enumerate(records) if representable(record, charset)]
    assert len(kept) > RECORDS // 5  # the Russian and English records at least
    assert [back[i] for i in kept] == [original[i] for i in kept]


def test_the_charset_given_reads_what_detection_reads(demo) -> None:
    path, _records = demo
    converted = yaz(path, path.with_name("demo.forced.cp1251"), "utf-8", "cp1251")
    assert crosswalk(converted, "--charset", "cp1251") == crosswalk(converted)


def test_mnemonic_mrk_comes_back_equal_to_the_original(demo) -> None:
    path, _records = demo
    original = crosswalk(path)
    mrk = path.with_name("demo.mrk")
    command = [sys.executable, "-m", "koprik", "crosswalk", "--to", "mrk8", str(path),
               "-o", str(mrk)]
    subprocess.run(command, capture_output=True, cwd=ROOT, timeout=600, check=True)
    assert mrk.read_bytes().isascii() and b"{esc}(N" in mrk.read_bytes()
    assert crosswalk(mrk) == original


def test_koprik_marc8_reads_in_yaz_as_the_original(demo) -> None:
    path, _records = demo
    ours = path.with_name("demo.koprik.marc8")
    command = [sys.executable, "-m", "koprik", "crosswalk", "--to", "marc8", str(path),
               "-o", str(ours)]
    subprocess.run(command, capture_output=True, cwd=ROOT, timeout=600, check=True)
    by_yaz = crosswalk(yaz(ours, path.with_name("koprik.utf8"), "marc8", "utf-8"))
    # yaz keeps a MARC-8 record's 066 (the sets it uses: Cyrillic here) as it converts it
    assert sum(any("066" in field for field in record) for _, record in by_yaz) > 0
    by_yaz = [(leader, [field for field in record if "066" not in field])
              for leader, record in by_yaz]  # fmt: skip
    kept = [i for i, r in enumerate(demo[1]) if representable(r, "marc8")]
    original = crosswalk(path)
    normalized = [json.loads(unicodedata.normalize("NFC", json.dumps(by_yaz[i],
                  ensure_ascii=False))) for i in kept]
    assert normalized == [json.loads(json.dumps(original[i])) for i in kept]
