"""Charset detection on real files, MARC-8 decoding against yaz, and the MARC-8 encoder."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from pymarc import Field, Indicators, Record, Subfield
from pymarc.field import RawField

from crosswalks import charsets, iso2709, marc8
from crosswalks.charsets import (
    detect_charset,
    record_to_iso2709_marc8,
)
from crosswalks.marc_io import iter_records
from tests.conftest import DATA
from tests.test_iso5427 import glibc, iconv_g1

MARC21 = DATA / "marc21"


def charsets_of(path: Path) -> set[str]:
    found = set()
    for item in iter_records(path):
        if item.record is not None:
            found.add(iso2709.decode_record(item.raw)[1])
    return found


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("marc8.dat", {"marc-8"}),
        ("1251.dat", {"cp1251"}),
        ("utf8_with_leader_flag.dat", {"utf-8"}),
        ("utf8_without_leader_flag.dat", {"utf-8"}),
        ("yaz/marc7.marc", {"marc-8"}),
        ("yaz/marc9.marc", {"marc-8"}),
        ("yaz/marc10.marc", {"iso-8859-1"}),  # danmarc: Latin-1 letters, no MARC-8
        ("yaz/marccol1.u8.marc", {"utf-8"}),
        ("loc/sample-marc.mrc", {"utf-8"}),
    ],
)
def test_detected_charset_of_real_files(name: str, expected: set[str]) -> None:
    assert charsets_of(MARC21 / name) == expected


def test_marc8_escapes_decide_even_in_ascii_data() -> None:
    assert detect_charset(b"abc \x1b(NWOJNA\x1b(B") == charsets.MARC8
    # Escapes in ASCII data are MARC-8 whatever leader/09 says; beside UTF-8 text, not.
    assert detect_charset(b"abc \x1b(NWOJNA\x1b(B", declared_utf8=True) == charsets.MARC8
    mixed = "Ўз ".encode() + b"\x1b(NWOJNA\x1b(B"
    assert detect_charset(mixed, declared_utf8=True) == charsets.UTF8


def test_latin1_letters_are_not_taken_for_marc8_marks() -> None:
    # Danish "Strækøvelser" in Latin-1: the bytes are defined in MARC-8 too, but the "marks"
    # would land on k and v, which no real MARC-8 does.
    assert detect_charset("Strækøvelser, oversætte".encode("latin-1")) == charsets.LATIN1
    assert detect_charset("Müller café".encode("latin-1")) == charsets.LATIN1
    assert detect_charset(b"M\xe8uller caf\xe2e") == charsets.MARC8
    # ë ì ú û are the bytes of MARC-8's ligature and double tilde halves: alone in a word, no
    # ALA-LC romanization (where they come in pairs), so no excuse for the MARC-8 reading
    for text in ("\x1faAçúcar /\x1e\x1faSão Paulo :", "\x1faRaúl Núñez\x1e\x1faMontevidéu",
                 "\x1faLe Noël de Zoë\x1e\x1faParis", "\x1faLunedì goût\x1e\x1faRoma"):
        assert detect_charset(text.encode("latin-1")) == charsets.LATIN1, text


def test_marc8_ligature_halves_in_pairs_on_letters_are_ala_lc() -> None:
    # MARC-8 EB/EC around two letters: ALA-LC's i͡a, t͡s (Latin-1 would need ë and ì in a word)
    zapiski = b"\x1faZapiski \xebi\xecakutskogo kraevedcheskogo muzeia\x1e\x1faMoskva"
    assert detect_charset(zapiski) == charsets.MARC8
    assert detect_charset(b"\x1fa\xebT\xecsvetaeva, Marina") == charsets.MARC8
    # ... but not two halves standing on nothing: KOI8-R capitals are those bytes too
    assert detect_charset("\x1faКЛ".encode("koi8-r")) == charsets.KOI8R


def test_utf8_with_invalid_bytes_is_broken_not_guessed() -> None:
    assert detect_charset("Oʻzbekiston ".encode() + b"\xff") == charsets.BROKEN_UTF8
    (item,) = iter_records(iter_bytes("Oʻzbekiston".encode() + b"\xff"))
    assert item.record is None and "invalid UTF-8" in (item.error or "")


def test_a_record_saying_utf8_without_a_good_sequence_is_broken_when_nothing_reads_it() -> None:
    """Its bad bytes read as KOI8-R were taken ("Cafц ЪЧ ok", exit 0), though no reading was
    plausible; a record that says nothing is still read by the best reading."""
    data = b"\x1faCaf\xc3 \xff\xfe ok\x1e"
    assert charsets.decide(data, declared_utf8=True).charset == charsets.BROKEN_UTF8
    assert charsets.decide(data).charset == charsets.KOI8R
    # a record in CP1251 that says UTF-8 by mistake is still read as CP1251
    cp1251 = "\x1faЧўлпон. Кеча ва кундуз\x1e".encode("cp1251")
    assert charsets.decide(cp1251, declared_utf8=True).charset == charsets.CP1251


def iter_bytes(text: bytes) -> io.BytesIO:
    """One ISO 2709 record whose 245$a holds the bytes ``text``."""
    record = Record(leader="00000nam a2200000 a 4500")
    record.add_field(
        Field(
            tag="245", indicators=Indicators("0", "0"), subfields=[Subfield("a", "X" * len(text))]
        )
    )
    return io.BytesIO(record.as_marc().replace(b"X" * len(text), text))


def test_cp1251_file_decodes_to_readable_russian() -> None:
    titles = [item.record["245"]["a"] for item in iter_records(MARC21 / "1251.dat")]  # type: ignore[index]
    assert titles[0].startswith("Основы гидравлического расчета инженерных сетей")
    assert titles[1].startswith("Психологический тренинг с подростками")
    assert titles[4].startswith("Мио, мой Мио!")
    assert titles[5].startswith("Нелинейные системы")


def test_bad_marc8_escape_is_rejected_with_its_reason() -> None:
    (item,) = iter_records(MARC21 / "broken" / "bad_marc8_escape.dat")
    assert item.record is None and "invalid MARC-8 escape" in (item.error or "")


@pytest.mark.parametrize(
    "text",
    [
        "Müller, café, Łódź, Ærø, Þór, Œuvres, © 1999, ℗, ß",
        "Война и мир, 1869. Ўзбекистон Навоий",
        "Qaḍāʼ al-usrah : majallah mutakhaṣṣiṣah",
        "漢字 and ★",
    ],
)
def test_marc8_encoder_round_trips(text: str) -> None:
    encoded = marc8.encode(text)
    assert encoded.isascii() or any(byte >= 0x80 for byte in encoded)
    assert marc8.decode(encoded) == unicodedata.normalize("NFC", text)
    if "漢" in text:
        # CJK in East Asian (EACC), the star as LC's lossless reference
        assert encoded.startswith(b"\x1b$1") and encoded.endswith(b"\x1b(Band &#x2605;")


def test_marc8_puts_marks_before_their_base_letter() -> None:
    assert marc8.encode("é") == b"\xe2e"
    assert marc8.encode("Й й, ё") == b"\x1b(Nj J, \x1b(QD\x1b(B"


@pytest.mark.skipif(shutil.which("yaz-marcdump") is None, reason="yaz not installed")
def test_marc8_records_are_read_by_yaz_as_we_meant_them(tmp_path: Path) -> None:
    originals = [item.record for item in iter_records(MARC21 / "yaz" / "marccol1.u8.marc")]
    originals += [item.record for item in iter_records(MARC21 / "1251.dat")]
    path = tmp_path / "marc8.mrc"
    path.write_bytes(b"".join(record_to_iso2709_marc8(r) for r in originals))  # type: ignore[arg-type]
    back = list(iter_records(path))
    assert all(item.record is not None for item in back)
    for ours, item in zip(originals, back, strict=True):
        assert item.record["245"].value() == unicodedata.normalize(  # type: ignore[index]
            "NFC",
            ours["245"].value(),  # type: ignore[index]
        )
    command = ["yaz-marcdump", "-f", "MARC-8", "-t", "UTF-8", "-o", "line", str(path)]
    text = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout.decode()
    assert "Основы гидравлического расчета" in unicodedata.normalize("NFC", text)
    assert "Handa shishi." in text


@pytest.mark.parametrize("name", ["yaz/marccol5.u8.marc", "regression45.dat"])
def test_romanized_records_written_as_marc8_are_read_back_as_marc8(name: str) -> None:
    """ALA-LC romanization (Russian ``Tolstoĭ``, ``i͡a``; Sanskrit ``Pāṇini``, Bengali ``Bāṃlā``;
    Armenian ``tʿ``) written as MARC-8 by Koprik, leader/09 blank, is read back as it was written.
    Such records were read as ISO 8859-1 (``Tolstoæi``, ``Påaònini``): the tie mark, the ayn
    and Indic vowel signs counted against the MARC-8 reading, and so did a romanized word with
    more accented letters than plain ones."""
    originals = [item.record for item in iter_records(MARC21 / name) if item.record is not None]
    data = b"".join(record_to_iso2709_marc8(r) for r in originals)
    back = list(iter_records(io.BytesIO(data)))
    assert [iso2709.decode_record(item.raw)[1] for item in back] == ["marc-8"] * len(originals)
    for ours, item in zip(originals, back, strict=True):
        assert item.record is not None
        written = [f for f in item.record.fields if f.tag != "066"]  # the sets MARC-8 used
        for mine, read in zip(ours.fields, written, strict=True):  # type: ignore[union-attr]
            assert unicodedata.normalize("NFC", read.value()) == unicodedata.normalize(
                "NFC", _tie_halves(mine.value())
            ), mine.tag


@pytest.mark.parametrize("title", [
    "Emoji \U0001F600 Oʻzbek", "Oʻzbek \u202e RTL", "Oʻzbek \u263a x", "Smile \u263a",
])
def test_characters_marc8_lacks_are_read_back_from_their_references(title: str) -> None:
    """A record holding a character MARC-8 lacks is written with it as ``&#xHHHH;`` (the
    lossless convention) and read back as MARC-8, the character restored. Such records were
    read as CP1251 (``O°zbek &#x1F600;``): the emoji or the right-to-left mark the reference
    names counted against the MARC-8 reading; an all-ASCII one was read as ASCII, the reference
    left as text."""
    record = Record(leader="00000nam  2200000 a 4500")
    record.add_field(Field(tag="245", indicators=Indicators("1", "0"),
                           subfields=[Subfield("a", title)]))  # fmt: skip
    written = record_to_iso2709_marc8(record)
    assert b"&#x" in written
    (item,) = iter_records(io.BytesIO(written))
    assert item.record is not None and iso2709.decode_record(item.raw)[1] == "marc-8"
    assert item.record["245"]["a"] == title


def test_a_reference_naming_no_character_is_text_and_the_file_is_read_on() -> None:
    """``&#xFFFFFF;`` (past U+10FFFF) or ``&#xD800;`` (a surrogate) names no character: it is
    read as the ASCII it is, and the records after it are read. It had stopped the reading of
    the whole file ("chr() arg not in range(0x110000)")."""
    records = []
    for text in (b"O\xb0zbek &#xFFFFFF;", b"O\xb0zbek &#xD800;", b"O\xb0zbek &#x263A;"):
        record = Record(leader="00000nam  2200000   4500", to_unicode=False)
        record.add_field(RawField(tag="245", indicators=Indicators("1", "0"),
                                  subfields=[Subfield("a", text)]))  # type: ignore[arg-type]
        records.append(record.as_marc())
    read = [item.record for item in iter_records(io.BytesIO(b"".join(records)))]
    assert [r["245"]["a"] for r in read if r is not None] == [
        "Oʻzbek &#xFFFFFF;", "Oʻzbek &#xD800;", "Oʻzbek \u263a"]
    assert marc8.decode(b"&#xD800; &#x110000; &#x02BB;") == "&#xD800; &#x110000; \u02bb"


def _tie_halves(text: str) -> str:
    """``text`` with each tie over two letters (U+0361) as the halves MARC-8 has for it,
    which LoC's table reads back (U+FE20 on the first letter, U+FE21 on the second)."""
    return re.sub("\u0361(.)", "\ufe20\\1\ufe21", text)


def legacy_record(text: str, codec: str) -> bytes:
    """One ISO 2709 record (leader/09 blank) whose 100, 245 and 260 hold ``text`` parts."""
    author, title, place = text.split(" | ")
    record = Record(leader="00000nam  2200000   4500", to_unicode=False)
    for tag, value in (("100", author), ("245", title), ("260", place)):
        record.add_field(
            RawField(tag=tag, indicators=Indicators("1", "0"),
                     subfields=[Subfield("a", value.encode(codec))])  # type: ignore[arg-type]
        )
    return record.as_marc()


RUSSIAN = "Толстой, Лев Николаевич | Война и мир : роман | Москва : Художественная литература"
UZBEK = "Чўлпон | Кеча ва кундуз : роман | Тошкент : Шарқ".replace("қ", "к")


@pytest.mark.parametrize("codec", ["cp1251", "koi8-r", "cp866", "iso-8859-5", "utf-8"])
def test_russian_record_is_read_in_its_code_page(codec: str) -> None:
    data = legacy_record(RUSSIAN, codec)
    record, decision = iso2709.read_record(data)
    assert decision.charset == codec and record["245"]["a"] == "Война и мир : роман"


def test_cp1251_whose_bytes_look_like_utf8_is_read_as_cp1251() -> None:
    # "Чў" is D7 A2 and "Мё" CC B8 in CP1251: both well-formed UTF-8 (Hebrew ayin, a
    # combining mark); the data is even valid UTF-8 as a whole
    data = legacy_record("Чў | Мё | Шў", "cp1251")
    data[24:].decode("utf-8")
    record, decision = iso2709.read_record(data)
    assert decision.charset == charsets.CP1251, decision
    assert [record[tag]["a"] for tag in ("100", "245", "260")] == ["Чў", "Мё", "Шў"]
    record, decision = iso2709.read_record(legacy_record(UZBEK, "cp1251"))
    assert decision.charset == charsets.CP1251 and record["100"]["a"] == "Чўлпон"


def test_the_decision_says_why_and_a_given_charset_overrides_it() -> None:
    data = legacy_record(RUSSIAN, "cp1251")
    decision = charsets.decide(data[24:])
    assert "next koi8-r" in str(decision) or "next" in decision.reason
    record, decision = iso2709.read_record(data, charset=charsets.KOI8R)
    assert decision == charsets.Decision(charsets.KOI8R, "given")
    assert record["245"]["a"] != "Война и мир : роман"
    with pytest.raises(iso2709.RecordError, match="not valid utf-8"):
        iso2709.read_record(data, charset=charsets.UTF8)


def test_charset_names_as_people_write_them() -> None:
    assert charsets.charset_name("Windows-1251") == charsets.CP1251
    assert charsets.charset_name("KOI8-R") == charsets.KOI8R
    assert charsets.charset_name("IBM866") == charsets.CP866
    assert charsets.charset_name("ISO_8859-5") == charsets.ISO8859_5
    assert charsets.charset_name("ansel") == charsets.MARC8
    with pytest.raises(ValueError, match="one of utf-8, marc-8"):
        charsets.charset_name("ebcdic")


def test_a_marc8_record_names_the_sets_it_uses_in_066() -> None:
    """MARC 21 field 066 (Character Sets Present): a $c for each set other than ASCII and
    ANSEL the record's escape sequences designate, the sequence without its ESC, in the order
    first met, after the 0XX fields before it; a record in ASCII and ANSEL has none, and a
    record's own 066 (of another encoding) is replaced. Both writers agree."""
    from catalog.store import canonical_marc

    def written(*fields: Field) -> list[bytes]:
        record = Record(force_utf8=True, leader="00000nam a2200000 a 4500")
        for field in fields:
            record.add_field(field)
        marc = canonical_marc(record)
        out = charsets.record_to_iso2709_marc8(Record(data=marc, force_utf8=True))
        assert iso2709.utf8_to_marc8(marc) == out
        fields = iso2709.flawless_fields(out)
        assert fields is not None
        return [tag.encode() + (b"=" + data[4:].replace(b"\x1fc", b"|") if tag == "066" else b"")
                for tag, data in fields]

    control = Field("001", data="x1")
    title = Field("245", Indicators("1", "0"), [Subfield("a", "Ўткан кунлар"), Subfield("c", "x²")])
    note = Field("500", Indicators(" ", " "), [Subfield("a", "Навоий, 中文")])
    assert written(control, Field("020", Indicators(" ", " "), [Subfield("a", "1")]), title,
                   note) == [b"001", b"020", b"066=(Q|(N|p|$1", b"245", b"500"]
    own = Field("066", Indicators(" ", " "), [Subfield("c", "(3")])
    assert written(control, own, note) == [b"001", b"066=(N|$1", b"500"]
    latin = Field("245", Indicators("1", "0"), [Subfield("a", "Café crème")])
    assert written(control, own, latin) == [b"001", b"245"]


def test_canonical_records_go_to_marc8_straight_from_their_bytes() -> None:
    """iso2709.utf8_to_marc8 writes what pymarc's reading and record_to_iso2709_marc8 write, on
    generated and real records; a record it cannot take plainly is left to that path."""
    from catalog.demo import demo_records
    from catalog.store import canonical_marc

    records = list(demo_records(300))
    for path in sorted((DATA / "marc21").glob("*.dat")):
        with path.open("rb") as handle:
            records += [item.record for item in iter_records(handle) if item.record is not None]
    assert len(records) > 340
    for record in records:
        marc = canonical_marc(record)
        expected = charsets.record_to_iso2709_marc8(Record(data=marc, force_utf8=True))
        assert iso2709.utf8_to_marc8(marc) == expected
    one = Record(force_utf8=True, leader="00000nam a2200000 a 4500")
    one.add_field(Field("245", Indicators("1", "0"), [Subfield("a", "Navoiy")]))
    odd = canonical_marc(one).replace(b"10\x1faNavoiy", b"1\x1faNavoiy ")  # one indicator
    assert iso2709.utf8_to_marc8(odd) is None
    assert iso2709.utf8_to_marc8(b"not a record") is None


# --- ISO 5426, declared in UNIMARC 100 $a/26-29 -------------------------------------------


def test_iso5426_is_weighed_when_unimarc_100_declares_it() -> None:
    data = b"  \x1faCitt\xc1a del sole\x1e  \x1fa\xe1lfric, M\xc8uller\x1e"
    decision = charsets.decide(data, unimarc_sets="0103")
    assert decision.charset == charsets.ISO5426
    read = charsets.reading(data, charsets.ISO5426) or ""
    assert "aCittà del sole" in read and "aÆlfric, Müller" in read
    assert charsets.decide(data).charset != charsets.ISO5426  # undeclared: not guessed


@pytest.mark.parametrize("codec", ["cp1251", "koi8-r", "cp866", "utf-8"])
def test_a_wrong_iso5426_declaration_does_not_win_over_the_real_charset(codec: str) -> None:
    data = "  \x1faСветильник Сибири\x1e  \x1faПедагогика и психология\x1e".encode(codec)
    assert charsets.decide(data, unimarc_sets="0103").charset == charsets.charset_name(codec)


def test_iso5426_can_be_named() -> None:
    assert charsets.charset_name("ISO5426") == charsets.ISO5426


# --- ISO 5427, declared in UNIMARC 100 $a/26-29 -------------------------------------------


@glibc
def test_iso5427_is_weighed_when_unimarc_100_declares_it() -> None:
    title, name = iconv_g1("Хамса. Достон"), iconv_g1("Навоий, Алишер, 1441-1501.")
    data = b"1 \x1fa" + title + b"\x1e 1\x1fa" + name + b"\x1e"
    decision = charsets.decide(data, unimarc_sets="0102")
    assert decision.charset == charsets.ISO5427
    assert decision.reason.startswith("plausibility")
    read = charsets.reading(data, charsets.ISO5427) or ""
    assert "aХамса. Достон" in read and "aНавоий, Алишер, 1441-1501." in read
    assert charsets.decide(data).charset != charsets.ISO5427  # undeclared: not guessed


@glibc
def test_undeclared_iso5427_letters_are_read_as_koi8r_as_before() -> None:
    """ISO-IR-37's letters sit where KOI8-R has them (0xC0-0xFE): a record that does not
    declare ISO 5427 is guessed as it was, and its letters read right."""
    data = b"1 \x1fa" + iconv_g1("Хамса") + b"\x1e 1\x1fa" + iconv_g1("Навоий Алишер") + b"\x1e"
    for undeclared in ("", "0189", "50  ", "0103"):
        assert charsets.decide(data, unimarc_sets=undeclared).charset == charsets.KOI8R


@pytest.mark.parametrize("codec", ["cp1251", "cp866", "iso-8859-5", "utf-8"])
def test_a_wrong_iso5427_declaration_does_not_win_over_the_real_charset(codec: str) -> None:
    data = "  \x1faСветильник Сибири\x1e  \x1faПедагогика и психология\x1e".encode(codec)
    assert charsets.decide(data, unimarc_sets="0102").charset == charsets.charset_name(codec)


def test_iso5427_can_be_named() -> None:
    for name in ("ISO5427", "iso-5427", "ISO_5427"):
        assert charsets.charset_name(name) == charsets.ISO5427
    assert charsets.ISO5427 in charsets.NAMED
    with pytest.raises(ValueError, match="iso-5426, iso-5427"):
        charsets.charset_name("iso-5428")
