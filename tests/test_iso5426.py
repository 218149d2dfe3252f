"""ISO 5426 to Unicode (crosswalks.iso5426): every code of the table, and every diacritic on a
letter, against yaz; unassigned codes refused."""

from __future__ import annotations

import shutil
import subprocess
import unicodedata

import pytest
from pymarc import Indicators, Record, Subfield
from pymarc.field import RawField

from crosswalks import iso5426

yaz = pytest.mark.skipif(shutil.which("yaz-marcdump") is None, reason="yaz not installed")
BASES = b"aAceEgiInoOsSuUzZ"
"""Base letters each diacritic is put on (yaz composes some; Koprik composes all it can)."""


def yaz_read(values: list[bytes]) -> list[str]:
    """Each value as yaz reads it from ISO 5426 (its ``yaz_iconv`` converter, through
    ``yaz-marcdump -f ISO5426``: one 200 $a per value of one UNIMARC record), NFC (yaz leaves
    marks loose). Not ``yaz-iconv`` on a stream: it converts in blocks and puts a mark that
    ends a block before its letter."""
    record = Record(leader="00000nam0 2200000   450 ", to_unicode=False)
    subfields = [Subfield("a", value) for value in values]  # type: ignore[arg-type]
    record.add_field(RawField(tag="200", indicators=Indicators("1", " "), subfields=subfields))
    command = ["yaz-marcdump", "-f", "ISO5426", "-t", "UTF-8", "-o", "marc", "/dev/stdin"]
    done = subprocess.run(command, input=record.as_marc(), capture_output=True, check=True,
                          timeout=60)  # fmt: skip
    back = Record(done.stdout, force_utf8=True)
    return [unicodedata.normalize("NFC", value) for value in back["200"].get_subfields("a")]


@yaz
def test_every_code_reads_as_yaz_reads_it() -> None:
    table = iso5426.table()
    values = [bytes([code]) + (b"a" if entry.combining else b"")
              for code, entry in sorted(table.items())]  # fmt: skip
    assert len(table) == 76  # 2 non-sort marks, 27 signs, 29 diacritics, 18 letters
    assert [iso5426.decode(value) for value in values] == yaz_read(values)


@yaz
def test_every_diacritic_on_letters_reads_as_yaz_reads_it() -> None:
    marks = [code for code, entry in sorted(iso5426.table().items()) if entry.combining]
    values = [bytes([mark, base]) for mark in marks for base in BASES]
    values += [bytes([0xC2, 0xCF, ord("s")]), bytes([0xD0, 0xC2, ord("c")])]  # two marks
    values += [bytes([0xC8, ord("U")]) + b"ber die Citt" + bytes([0xC1]) + b"a"]
    assert [iso5426.decode(value) for value in values] == yaz_read(values)


@yaz
def test_unassigned_codes_are_refused_where_yaz_drops_them() -> None:
    table = iso5426.table()
    unassigned = [code for code in range(0x7F, 0x100) if code not in table]
    assert yaz_read([bytes([code]) + b"x" for code in unassigned]) == ["x"] * len(unassigned)
    for code in unassigned:
        with pytest.raises(iso5426.Iso5426Error, match=f"code 0x{code:02x}"):
            iso5426.decode(b"ab" + bytes([code]))


def test_marks_go_after_their_letter_and_compose() -> None:
    assert iso5426.decode(b"Citt\xc1a") == "Città"
    assert iso5426.decode(b"\xe1lfric \xe8\xc2od\xc2z") == "Ælfric Łódź"
    assert iso5426.decode(b"x\xd9") == "x\u0333"  # a mark with no letter is kept, at the end
