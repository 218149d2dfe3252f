"""MARC-8 both ways (crosswalks.marc8), every character of the tables checked against yaz."""

from __future__ import annotations

import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from pymarc import Indicators, Record, Subfield
from pymarc.field import RawField

from crosswalks import marc8

yaz = pytest.mark.skipif(shutil.which("yaz-marcdump") is None, reason="yaz not installed")

SINGLE_BYTE_G0 = {marc8.SUBSCRIPTS: b"\x1bb", marc8.SUPERSCRIPTS: b"\x1bp",
                  marc8.GREEK_SYMBOLS: b"\x1bg"}
YAZ_DIFFERS = {
    (marc8.ANSEL, 0x6B),  # ligature left half: LoC U+FE20, yaz U+0361 (double inverted breve)
    (marc8.ANSEL, 0x6C),  # ligature right half: LoC U+FE21, yaz drops it
    (marc8.ANSEL, 0x7A),  # double tilde left half: LoC U+FE22, yaz U+0360 (double tilde)
    (marc8.ANSEL, 0x7B),  # double tilde right half: LoC U+FE23, yaz drops it
}
"""LoC's table and yaz's disagree only on these four halves of two-letter marks."""


def table_entries() -> list[tuple[int, int, str, bool]]:
    return [
        (final, code, entry.char, entry.combining)
        for final, codes in sorted(marc8.tables().items())
        for code, entry in sorted(codes.items())
    ]


def designated(final: int, code: int) -> bytes:
    """One character of set ``final`` in MARC-8: designated into G0 (the 96-character sets
    into G1), then back to the defaults."""
    if final in SINGLE_BYTE_G0:
        return SINGLE_BYTE_G0[final] + bytes([code]) + b"\x1bs"
    if final in (marc8.ANSEL, marc8.EXTENDED_CYRILLIC, 0x34):
        return bytes([0x1B, 0x29, final, code | 0x80, 0x1B, 0x29, marc8.ANSEL])
    return bytes([0x1B, 0x28, final, code, 0x1B, 0x28, marc8.ASCII])


def yaz_read(tmp_path: Path, values: list[bytes], source: str = "marc8") -> list[str]:
    """Each value as yaz reads it: one 245 $a per value in one ISO 2709 record."""
    record = Record(leader="00000nam  2200000   4500", to_unicode=False)
    subfields = [Subfield("a", value) for value in values]  # type: ignore[arg-type]
    record.add_field(RawField(tag="245", indicators=Indicators("0", "0"), subfields=subfields))
    path = tmp_path / "in.mrc"
    path.write_bytes(record.as_marc())
    command = ["yaz-marcdump", "-f", source, "-t", "utf-8", "-o", "marc", str(path)]
    out = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    back = Record(out, force_utf8=True)
    return [unicodedata.normalize("NFC", v) for v in back["245"].get_subfields("a")]


def test_tables_cover_every_set_koprik_reads() -> None:
    sets = marc8.tables()
    sizes = {final: len(codes) for final, codes in sets.items()}
    assert sizes[marc8.CYRILLIC] == 94 - 0 and sizes[marc8.EXTENDED_CYRILLIC] == 42
    assert set(sets) == {0x42, 0x45, 0x4E, 0x51, 0x53, 0x32, 0x33, 0x34, 0x62, 0x67, 0x70}
    assert sets[marc8.EXTENDED_CYRILLIC][0x44].char == "ё"


def test_a_set_is_read_in_either_half() -> None:
    # yaz writes ё as Extended Cyrillic designated into G0; pymarc cannot read that
    assert marc8.decode(b"\x1b(Nf\x1b(QD\x1b(NDOR\x1b(B") == "Фёдор"
    assert marc8.decode(b"\x1b)Q\xc4\x1b)E") == "ё"
    assert marc8.decode(b"\x1b)N\xe6\x1b)E") == "Ф"  # basic Cyrillic in G1
    assert marc8.decode(b"caf\xe2e x\x1bb2\x1bs") == "café x₂"


def test_undefined_codes_and_escapes_are_refused_with_their_reason() -> None:
    with pytest.raises(marc8.Marc8Error, match="0xa0"):
        marc8.decode(b"a\xa0b")
    with pytest.raises(marc8.Marc8Error, match="escape sequence"):
        marc8.decode(b"\x1b(Zabc")
    with pytest.raises(marc8.Marc8Error, match="EACC"):
        marc8.decode(b"\x1b$1\x7b\x36\x39")


def test_references_carry_what_the_tables_lack() -> None:
    assert marc8.encode("Қодирий") == b"&#x049A;\x1b(NODIRIJ\x1b(B"
    assert marc8.decode(b"&#x049a;\x1b(NODIRIJ\x1b(B") == "Қодирий"


@yaz
def test_every_table_character_decodes_as_yaz_reads_it(tmp_path: Path) -> None:
    entries = table_entries()
    values = [
        designated(final, code) + (b"a" if combining else b"")
        for final, code, _char, combining in entries
    ]
    theirs = yaz_read(tmp_path, values)
    assert len(theirs) == len(entries) > 600
    differ = [
        (hex(final), hex(code), ours, yazs)
        for (final, code, _c, _m), value, yazs in zip(entries, values, theirs, strict=True)
        if (ours := marc8.decode(value)) != yazs and (final, code) not in YAZ_DIFFERS
    ]
    assert differ == []


@yaz
def test_every_table_character_we_write_is_read_by_yaz(tmp_path: Path) -> None:
    texts = [
        "a" + char if combining else char
        for final, code, char, combining in table_entries()
        if (final, code) not in YAZ_DIFFERS
    ]
    texts += ["Фёдор Достоевский", "Ёлка", "Чўлпон", "Müller café", "Łódź", "Ελληνικά"]
    theirs = yaz_read(tmp_path, [marc8.encode(text) for text in texts])
    assert [unicodedata.normalize("NFC", t) for t in texts] == theirs


@yaz
def test_every_table_character_yaz_writes_is_read_back(tmp_path: Path) -> None:
    texts = [
        "a" + char if combining else char
        for final, code, char, combining in table_entries()
        if (final, code) not in YAZ_DIFFERS and not char.isspace()
    ]
    record = Record(leader="00000nam a2200000   4500", force_utf8=True)
    record.add_field(
        RawField(tag="245", indicators=Indicators("0", "0"),
                 subfields=[Subfield("a", text.encode()) for text in texts])  # type: ignore[arg-type]
    )
    path = tmp_path / "utf8.mrc"
    path.write_bytes(record.as_marc())
    command = ["yaz-marcdump", "-f", "utf-8", "-t", "marc8", "-o", "marc", str(path)]
    out = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    base = int(out[12:17])
    field = out[base:].split(b"\x1e")[0]
    values = field.split(b"\x1f")[1:]
    ours = [marc8.decode(value[1:]) for value in values]
    assert ours == [unicodedata.normalize("NFC", t) for t in texts]


def test_the_shortcuts_of_encode_write_what_the_encoder_works_out():
    """ASCII is written as it is (DEL excepted) and short texts are remembered: both give the
    bytes the character-by-character encoder gives."""
    import random

    assert marc8.encode("\x7f") == marc8._encode("\x7f") != b"\x7f"
    alphabet = [chr(i) for i in range(0x250)] + list(
        "ЎўҚқҒғҲҳЁёЖжЧчШшЩщЪъЫыЬьЭэЮюЯя"
    ) + ["\u0301", "\u0308", "\u0306", "\u4e2d", "\u0627", "\u05d0", "\u03b1"]
    rnd = random.Random(7)
    texts = [chr(i) for i in range(128)]
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
              for _ in range(5000)]
    texts.append("Навоий " * 40)  # longer than what is remembered
    for text in texts:
        first, again = marc8.encode(text), marc8.encode(text)
        assert first == again == marc8._encode(text), repr(text)


def test_an_invalid_escape_sequence_is_shown_as_byte_values() -> None:
    """It was a Python bytes repr: ``b'\\x1b(X'``."""
    with pytest.raises(marc8.Marc8Error) as raised:
        marc8.decode(b"ab\x1b(Xcd")
    assert str(raised.value) == "invalid MARC-8 escape sequence (0x1b 0x28 0x58)"


@yaz
def test_a_double_diacritic_is_written_as_its_halves(tmp_path: Path) -> None:
    """ALA-LC's tie over two letters (U+0361, as Koprik's romanization writes it) and the
    double tilde (U+0360) have no MARC-8 code, only their halves (ANSEL EB and EC, FA and FB),
    one before each letter: they were written as ``&#x0361;``, shown as it stands by a MARC-8
    system. yaz reads the halves back as the one double mark; LoC's table as U+FE20/U+FE21."""
    assert marc8.encode("dli\u0361a") == b"dl\xebi\xeca"
    assert marc8.encode("spet\u0361sial n\u0360g") == b"spe\xebt\xecsial \xfan\xfbg"
    assert marc8.decode(marc8.encode("dli\u0361a")) == "dli\ufe20a\ufe21"
    assert yaz_read(tmp_path, [marc8.encode("dli\u0361a"), marc8.encode("Ni\u0361u")]) == [
        "dli\u0361a", "Ni\u0361u"]
