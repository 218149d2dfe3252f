"""Tests of the UNIMARC/RUSMARC -> MARC21 crosswalk on the real records in tests/data."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pymarc
import pytest
from pymarc.field import RawField

from crosswalks import iso2709
from crosswalks.check import check_record
from crosswalks.unimarc import UnimarcResult, unimarc_to_marc21
from tests.conftest import DATA, ROOT
from tests.test_iso5427 import glibc, iconv_g1

UNIMARC = DATA / "unimarc"


def read_unimarc(raw: bytes) -> pymarc.Record:
    """One UNIMARC record as every reader of files and harvests reads it (its charset decided
    from its bytes, and 100 $a/26-29 where it declares ISO 5426)."""
    return iso2709.read_record(raw, allow_marc8=False)[0]


def raw_records(name: str) -> Iterator[bytes]:
    """The ISO 2709 records of a file (split on the record terminator; stray newlines dropped)."""
    for chunk in (UNIMARC / name).read_bytes().split(b"\x1d"):
        if chunk.strip():
            yield chunk.lstrip() + b"\x1d"


def converted(name: str) -> dict[str, UnimarcResult]:
    results = {}
    for raw in raw_records(name):
        result = unimarc_to_marc21(read_unimarc(raw))
        results[result.record["001"].data] = result
    return results


@pytest.fixture(scope="module")
def test1() -> dict[str, UnimarcResult]:
    return converted("TEST1.ISO")


def values(record: pymarc.Record, tag: str, code: str = "a") -> list[str]:
    return [v for f in record.get_fields(tag) for v in f.get_subfields(code)]


# --- decoding -------------------------------------------------------------------------------


def test_decode_detects_cp1251_and_utf8_whatever_100_says() -> None:
    cp1251 = read_unimarc(next(raw_records("TEST2.ISO")))
    assert cp1251["200"]["a"] == "Светильник Сибири"
    utf8_raw = next(raw_records("ur.iso"))
    utf8 = read_unimarc(utf8_raw)
    assert utf8["200"]["a"] == "ПЕДАГОГИКА И ПСИХОЛОГИЯ НЕНАСИЛИЯ В ОБРАЗОВАНИИ"
    italian = read_unimarc(next(raw_records("testunimarc.dat")))
    assert italian["200"]["a"] == "\x88L'\x89altra faccia della spirale"


def test_decode_rejects_garbage() -> None:
    with pytest.raises((pymarc.exceptions.PymarcException, ValueError)):
        read_unimarc(b"this is not a record\x1d")


# --- every record ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["TEST1.ISO", "TEST2.ISO", "ur.iso", "testunimarc.dat"])
def test_every_record_is_valid_marc21(name: str) -> None:
    results = converted(name)
    assert results
    for result in results.values():
        record = result.record
        reread = pymarc.Record(data=record.as_marc(), force_utf8=True)
        assert len(reread["008"].data) == 40
        assert reread.leader[9] == "a"
        assert reread.leader[20:24] == "4500"
        assert reread["245"]["a"]
        assert len(reread.get_fields("100", "110", "111")) <= 1
        for data_field in reread.get_fields():
            if not data_field.is_control_field():
                assert all(len(code) == 1 and code.isalnum() for code, _ in data_field.subfields)


def test_yaz_marcdump_reads_the_output(tmp_path: Path, test1: dict[str, UnimarcResult]) -> None:
    if shutil.which("yaz-marcdump") is None:
        pytest.skip("yaz-marcdump (Debian yaz) is not installed")
    out = tmp_path / "test1.mrc"
    out.write_bytes(b"".join(r.record.as_marc() for r in test1.values()))
    done = subprocess.run(
        ["yaz-marcdump", "-i", "marc", "-o", "marcxml", str(out)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.count(b"<record") == 81
    assert "Задачи и этюды".encode() in done.stdout
    assert not done.stderr


def test_unmapped_lists_local_fields_and_nothing_that_maps(
    test1: dict[str, UnimarcResult],
) -> None:
    lines = [line for r in test1.values() for line in r.unmapped]
    assert any(line.startswith("686 $v: ") for line in lines)
    mapped = ("001", "005", "200 $a", "210", "215", "606", "700", "701", "702", "010 $a", "899")
    assert not [line for line in lines if line.startswith(mapped)]


def test_rusmarc_899_holdings_become_852(test1: dict[str, UnimarcResult]) -> None:
    """Every 899 of the National Library of Russia's records (one a copy) is an 852: the
    collection in $b, the shelf mark in $j, the inventory number in $p, each as it is."""
    assert sum(len(r.record.get_fields("852")) for r in test1.values()) == 121
    record = test1["RU\\NLR\\bibl\\340141"].record
    assert [(f.indicators, f.subfields) for f in record.get_fields("852")] == [
        (pymarc.Indicators(" ", " "), [pymarc.Subfield("a", "NLR"), pymarc.Subfield("b", "С"),
                                       pymarc.Subfield("j", "2002-1/555"),
                                       pymarc.Subfield("p", "377567")])]


# --- named records of TEST1.ISO ---------------------------------------------------------------


def test_part_of_a_set_links_to_its_host(test1: dict[str, UnimarcResult]) -> None:
    record = test1["RU\\NLR\\bibl\\3415"].record
    assert record["245"]["a"] == "Вып. 13."
    assert record.get("100") is None
    assert record["245"].indicators[0] == "0"  # no main entry: title is the main entry
    assert record["260"]["c"] == "1997."
    assert values(record, "020") == ["5744300430"]
    assert record["008"].data[6:15] == "s1997    "
    assert record["008"].data[15:18] == "ru "
    assert record["008"].data[35:38] == "rus"
    assert record["773"]["t"] == "Задачи и этюды."
    assert record["773"]["g"] == "Вып. 13"
    assert record["773"]["w"] == "RU\\NLR\\bibl\\5996"
    assert record.leader[5:8] == "nam"


def test_set_record_with_editor_and_subject(test1: dict[str, UnimarcResult]) -> None:
    record = test1["RU\\NLR\\bibl\\5996"].record
    assert record["245"].value() == "Задачи и этюды : Сб. / Редкол.: В. Н. Барсуков и др."
    assert record["245"]["b"] == "Сб. /"
    assert record["260"]["b"] == "Ut,"
    assert record["008"].data[6:15] == "m19uu9999"
    assert record["700"]["a"] == "Барсуков, В. Н.,"
    assert record["700"]["e"] == "editor."
    assert record["700"]["4"] == "edt"
    subject = record["650"]
    assert subject["a"] == "Шахматные композиции"
    assert subject["v"] == "Сборники"
    assert subject["2"] == "nlr-sh"
    assert subject.indicators[1] == "7"
    assert record["084"]["a"] == "Ч515.815я43"


def test_book_with_author_series_and_subjects(test1: dict[str, UnimarcResult]) -> None:
    record = test1["RU\\NLR\\bibl\\204591"].record
    assert record["100"]["a"] == "Донин, Ю. Л."
    assert record["100"]["q"] == "(Юрий Львович),"
    assert record["100"]["4"] == "aut"
    assert record["245"].indicators == pymarc.Indicators("1", "0")
    assert record["245"]["a"].startswith("Образовательные учреждения: налогообложение")
    assert record["245"]["c"] == "Ю.Л. Донин."
    assert record["260"].value() == "М. : АиН, 1998."
    assert record["490"]["a"] == 'Библиотечка журнала МКПЦН "Аудит и налогообложение" ;'
    assert values(record, "650") == ["Учреждения народного образования"] * 2
    assert values(record, "650", "x") == ["Бухгалтерский учет", "Налоговое обложение"]
    assert values(record, "650", "z") == ["Российская Федерация"]
    assert record["008"].data[7:11] == "1998"


def test_book_with_three_authors_udc_and_parallel_title(test1: dict[str, UnimarcResult]) -> None:
    record = test1["RU\\NLR\\bibl\\340009"].record
    assert record["100"]["a"] == "Гончаров, В. И."
    assert values(record, "700") == ["Ворошин, С. В.", "Сидоров, В. А."]
    assert record["245"]["a"] == "Наталкинское золоторудное месторождение ="
    assert record["245"]["b"] == "Natalka gold lode deposit /"
    assert record["260"]["b"] == "СВКНИИ ДВО РАН,"
    assert record["020"]["a"] == "5947290170"
    assert record["020"]["q"] == "В пер."
    assert record["080"]["a"] == "553.441.078(470-17)"
    assert record["651"]["a"] == "Наталкинское золоторудное месторождение"
    assert record["504"]["a"] == "Библиогр.: с. 223-229"
    assert record["040"]["a"] == "RKP"
    assert record["040"]["d"] == "NLR"


def test_translation_with_original_title(test1: dict[str, UnimarcResult]) -> None:
    record = test1["RU\\NLR\\bibl\\341807"].record
    assert record["100"]["a"] == "Корнин-Селби, Э."
    assert record["245"]["a"] == "Последнее слово в споре с собой :"
    assert record["260"]["b"] == "РИПОЛ классик,"
    assert record["260"]["c"] == "2002."
    assert record["041"].indicators[0] == "1"
    assert record["041"]["a"] == "rus"
    assert record["041"]["h"] == "eng"
    assert record["765"]["t"] == "What's your sabotage?"
    assert values(record, "653") == ["Психологический тренинг", "Психогигиена"]
    assert values(record, "650") == ["Личность", "Психогигиена"]


def test_law_under_jurisdiction_with_uniform_title(test1: dict[str, UnimarcResult]) -> None:
    record = test1["RU\\NLR\\bibl\\341772"].record
    assert record["110"]["a"] == "Российская Федерация,"
    assert record["110"].indicators[0] == "1"  # jurisdiction name
    assert record["240"]["a"] == "Законы"
    assert record["245"]["a"] == "О судебных приставах :"
    assert record["250"]["a"] == "[3-е изд.]."
    assert record["260"]["b"] == "Ось-89,"
    assert record["777"]["a"] == "Российская Федерация."


def test_name_and_title_subject(test1: dict[str, UnimarcResult]) -> None:
    record = test1["RU\\NLR\\bibl\\92304"].record
    subject = record["600"]
    assert subject["a"] == "Нейман, М. Б."
    assert subject["d"] == "1889 - 1967."
    assert subject["t"] == "Шахматные партии."
    assert subject["0"] == "RU\\NLR\\auth\\661358592"


# --- the other files, every record --------------------------------------------------------------


def test_test2_reproduction_record() -> None:
    (result,) = converted("TEST2.ISO").values()
    record = result.record
    assert record["245"]["a"] == "Светильник Сибири :"
    assert record["245"]["c"] == "Сост. протоиер. Феодор Титов."
    assert record["700"]["a"] == "Титов, Ф. И."
    assert record["700"]["d"] == "1864-1935,"
    assert record["700"]["e"] == "author."
    assert record["260"].value() == "М. : Изд-во им. Свт. Игнатия Ставропольского, 1999."
    assert record["008"].data[6:15] == "r19991913"
    assert record["008"].data[35:38] == "rus"
    assert record.get("020") is None  # 010 has only a price in $9
    assert record["600"]["a"] == "Павел,"
    assert record["775"]["d"] == "Киев, 1913"
    assert "010 $9: 5000" in result.unmapped


def test_ur_iso_utf8_record() -> None:
    (result,) = converted("ur.iso").values()
    record = result.record
    assert record["245"]["a"] == "ПЕДАГОГИКА И ПСИХОЛОГИЯ НЕНАСИЛИЯ В ОБРАЗОВАНИИ :"
    assert record["245"]["b"] == "Учебное пособие для бакалавров /"
    assert record["100"]["a"] == "Маралов, В. Г."
    assert record["100"]["q"] == "(Владимир Георгиевич)."
    assert record["250"]["a"] == "2-е изд., пер. и доп."
    assert record["260"].value() == "М. : Издательство Юрайт, 2012."
    assert record["020"]["a"] == "9785991616621"
    assert record["020"]["c"] == "1380.00"
    assert record["024"].indicators[0] == "7"
    assert record["024"]["2"] == "uri"
    assert "Педагогика" in values(record, "653")
    assert record["520"]["a"].startswith("В пособии даны")
    assert record["856"]["u"].startswith("http://www.biblio-online.ru/")
    assert record["490"]["a"] == "Бакалавр и магистр. Модуль."
    assert record["008"].data[35:38] == "rus"
    assert record["008"].data[22:24] == "es"  # adult serious audience; electronic (106 s)


def test_italian_sbn_record() -> None:
    (result,) = converted("testunimarc.dat").values()
    record = result.record
    assert record["245"]["a"] == "L'altra faccia della spirale /"
    assert record["245"].indicators == pymarc.Indicators("1", "2")  # "L'" does not file
    assert record["245"]["c"] == (
        "Isaac Asimov ; traduzione di Cesare Scaglia ; introduzione di Fruttero & Lucentini."
    )
    assert record["100"]["a"] == "Asimov, Isaac,"
    assert record["100"]["4"] == "aut"
    assert values(record, "700") == ["Fruttero, Carlo.", "Lucentini, Franco.", "Scaglia, Cesare."]
    assert record["260"].value() == "Milano : A. Mondadori, 1996."
    assert record["020"]["a"] == "8804406828"
    assert record["008"].data[15:18] == "it "
    assert record["008"].data[35:38] == "ita"
    assert values(record, "830") == ["Bestsellers ;", "Il ciclo delle fondazioni ;"]
    assert values(record, "830", "v") == ["641", "4"]
    assert record["765"]["t"] == "Second foundation."
    assert any(line.startswith("790: ") for line in result.unmapped)
    # SBN's 899 names its libraries in $1 and $2, no RUSMARC holding: reported whole
    assert sum(line.startswith("899: ") for line in result.unmapped) == 40
    assert record.get_fields("852") == []
    assert record.get("650") is None  # the record has no subjects


def _iso5426_record(character_sets: bytes) -> bytes:
    """An Italian UNIMARC record in ISO 5426 (diacritics before their letter) whose 100
    $a/26-29 says ``character_sets``."""
    record = pymarc.Record(leader="00000nam0 2200000   450 ", to_unicode=False)
    coded = b"20240101d1996    m  y0itay" + character_sets + b"    ba"
    fields = [("100", b"  ", coded), ("101", b"0 ", b"ita"),
              ("200", b"1 ", b"\x88La \x89citt\xc1a del sole"),
              ("210", b"  ", b"Citt\xc1a di Castello"),
              ("700", b" 1", b"Campanella, Tommaso"),
              ("702", b" 1", b"M\xc8uller, \xcfSimon \xe1lfric")]  # fmt: skip
    for tag, indicators, value in fields:
        record.add_field(RawField(tag=tag, indicators=pymarc.Indicators(*indicators.decode()),
                                  subfields=[pymarc.Subfield("a", value)]))  # type: ignore[arg-type]
    return record.as_marc()


def test_iso5426_declared_in_100_is_read_with_its_diacritics(tmp_path: Path) -> None:
    raw = _iso5426_record(b"0103")
    record, decision = iso2709.read_record(raw, allow_marc8=False)  # files, Z39.50 harvests
    assert decision.charset == "iso-5426"
    assert record["200"]["a"] == "\x98La \x9ccittà del sole"
    assert record["702"]["a"] == "Müller, Šimon Ælfric"
    text = _crosswalked_to_mrk(tmp_path / "iso5426.mrc", raw)
    assert "=245  13$aLa città del sole" in text
    assert "$aCittà di Castello" in text
    assert "CittÁa" not in text


def _crosswalked_to_mrk(path: Path, raw: bytes, *options: str) -> str:
    """``raw`` (UNIMARC ISO 2709) written to ``path`` and converted by ``koprik crosswalk
    --from unimarc --to mrk OPTIONS``, as a cataloger would: its output."""
    path.write_bytes(raw)
    command = [sys.executable, "-m", "koprik", "crosswalk", "--from", "unimarc", "--to", "mrk"]
    done = subprocess.run([*command, *options, str(path)], capture_output=True, cwd=ROOT,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_iso5426_declared_as_g0_alone_counts_too() -> None:
    record, decision = iso2709.read_record(_iso5426_record(b"03  "), allow_marc8=False)
    assert (decision.charset, record["210"]["a"]) == ("iso-5426", "Città di Castello")


def _iso5427_record(character_sets: bytes) -> bytes:
    """An Uzbek UNIMARC record in ISO 5427 (the Cyrillic in G1, from glibc's iconv) whose 100
    $a/26-29 says ``character_sets``."""
    record = pymarc.Record(leader="00000nam0 2200000   450 ", to_unicode=False)
    coded = b"19950101d1991    m  y0uzby" + character_sets + b"    ca"
    fields = [("100", b"  ", "a", coded), ("101", b"0 ", "a", b"uzb"),
              ("200", b"1 ", "a", iconv_g1("Хамса. Достон")),
              ("210", b"  ", "a", iconv_g1("Тошкент")), ("210", b"  ", "d", b"1991"),
              ("700", b" 1", "a", iconv_g1("Навоий")), ("700", b" 1", "b", iconv_g1("А."))]
    for tag, indicators, code, value in fields:
        if record.get(tag) is not None:
            record[tag].subfields.append(pymarc.Subfield(code, value))  # type: ignore[arg-type]
            continue
        record.add_field(RawField(tag=tag, indicators=pymarc.Indicators(*indicators.decode()),
                                  subfields=[pymarc.Subfield(code, value)]))  # type: ignore[arg-type]
    return record.as_marc()


@glibc
def test_iso5427_declared_in_100_is_read_as_cyrillic(tmp_path: Path) -> None:
    raw = _iso5427_record(b"0102")
    record, decision = iso2709.read_record(raw, allow_marc8=False)  # files, Z39.50 harvests
    assert decision.charset == "iso-5427"
    assert (record["200"]["a"], record["700"]["b"]) == ("Хамса. Достон", "А.")
    text = _crosswalked_to_mrk(tmp_path / "iso5427.mrc", raw)
    assert "=245  10$aХамса. Достон" in text
    assert "=100  1\\$aНавоий, А." in text
    assert "$aТошкент" in text


@glibc
def test_undeclared_iso5427_is_guessed_as_before() -> None:
    record, decision = iso2709.read_record(_iso5427_record(b"0189"), allow_marc8=False)
    assert decision.charset != "iso-5427"
    assert record["210"]["a"] == "Тошкент"  # letters only: KOI8-R has them where ISO-IR-37 does


@glibc
def test_iso5427_named_with_charset_is_read_whatever_100_says(tmp_path: Path) -> None:
    text = _crosswalked_to_mrk(tmp_path / "undeclared.mrc", _iso5427_record(b"0189"),
                               "--charset", "iso-5427")  # fmt: skip
    assert "=245  10$aХамса. Достон" in text


# --- single fields ------------------------------------------------------------------------------


def _unimarc(*fields: pymarc.Field) -> pymarc.Record:
    record = pymarc.Record(force_utf8=True)
    record.leader = pymarc.Leader("00000cam0 2200000   450 ")
    record.add_field(
        pymarc.Field(
            tag="100",
            indicators=[" ", " "],
            subfields=[pymarc.Subfield("a", "20240101d2023    k  y0uzby0103    ba")],
        ),
        pymarc.Field(tag="101", indicators=["0", " "], subfields=[pymarc.Subfield("a", "uzb")]),
        pymarc.Field(tag="102", indicators=[" ", " "], subfields=[pymarc.Subfield("a", "UZ")]),
        *fields,
    )
    return record


def test_title_punctuation_with_parts() -> None:
    title = pymarc.Field(
        tag="200",
        indicators=["1", " "],
        subfields=[
            pymarc.Subfield(c, v)
            for c, v in [
                ("a", "Asarlar"),
                ("h", "2-jild"),
                ("i", "Sheʼrlar"),
                ("e", "toʻplam"),
                ("f", "Alisher Navoiy"),
                ("g", "nashrga tayyorlovchi H. Sulaymon"),
            ]
        ],
    )
    result = unimarc_to_marc21(_unimarc(title))
    field = result.record["245"]
    assert field.value() == (
        "Asarlar. 2-jild. Sheʼrlar : toʻplam / Alisher Navoiy ; nashrga tayyorlovchi H. Sulaymon."
    )
    assert result.record.leader[5:8] == "cam"
    assert result.record["008"].data[15:18] == "uz "
    assert result.record["008"].data[22] == "e"


def test_rda_214_keeps_its_function_and_meeting_names() -> None:
    production = pymarc.Field(
        tag="214",
        indicators=[" ", "1"],
        subfields=[
            pymarc.Subfield("a", "Toshkent"),
            pymarc.Subfield("c", "Fan"),
            pymarc.Subfield("d", "2023"),
        ],
    )
    meeting = pymarc.Field(
        tag="710",
        indicators=["1", "2"],
        subfields=[
            pymarc.Subfield("a", "Xalqaro konferensiya"),
            pymarc.Subfield("d", "3"),
            pymarc.Subfield("f", "2022"),
            pymarc.Subfield("e", "Samarqand"),
            pymarc.Subfield("4", "999"),
        ],
    )
    result = unimarc_to_marc21(_unimarc(production, meeting))
    assert result.record["264"].indicators == pymarc.Indicators(" ", "1")
    assert result.record["264"].value() == "Toshkent : Fan, 2023"
    assert result.record["111"]["a"] == "Xalqaro konferensiya"
    assert result.record["111"]["c"] == "Samarqand."
    assert "710 $4: 999" in result.unmapped  # no such UNIMARC relator code


def test_record_without_100_takes_its_dates_from_005() -> None:
    record = pymarc.Record(force_utf8=True)
    record.leader = pymarc.Leader("00000nam0 2200000   450 ")
    record.add_field(
        pymarc.Field(tag="005", data="20240315101010.0"),
        pymarc.Field(
            tag="200", indicators=["1", " "], subfields=[pymarc.Subfield("a", "Boburnoma")]
        ),
    )
    result = unimarc_to_marc21(record)
    data = result.record["008"].data
    assert len(data) == 40
    assert data[:6] == "240315"
    assert data[35:38] == "und"
    assert result.record["245"]["a"] == "Boburnoma."


def test_linking_entry_note_indicator_is_carried_over() -> None:
    """UNIMARC 4XX indicator 2 says whether to make a note (0 no, 1 yes); MARC21 76X-78X say
    it in indicator 1 the other way round (0 display a note, 1 do not)."""
    (reproduction,) = converted("TEST2.ISO").values()  # 455 #0: no note
    assert reproduction.record["775"].indicators[0] == "1"
    host = pymarc.Field(
        tag="461",
        indicators=[" ", "1"],
        subfields=[pymarc.Subfield("1", "001UZ-NL-77"), pymarc.Subfield("1", "2001 "),
                   pymarc.Subfield("a", "Asarlar")],
    )
    series = pymarc.Field(
        tag="410",
        indicators=[" ", "1"],
        subfields=[pymarc.Subfield("1", "2001 "), pymarc.Subfield("a", "Oʻzbek adabiyoti")],
    )
    record = unimarc_to_marc21(_unimarc(host, series)).record
    assert record["773"].indicators == pymarc.Indicators("0", " ")
    assert record["830"].indicators == pymarc.Indicators(" ", "0")


def test_linking_entry_with_standard_subfields() -> None:
    """UNIMARC's second technique of linking (standard subfields, no $1 embedded fields) gives
    the same 76X-78X or 830; a subfield with no place is reported, never dropped."""
    host = pymarc.Field(
        tag="461",
        indicators=[" ", "1"],
        subfields=[
            pymarc.Subfield(c, v)
            for c, v in [
                ("t", "Asarlar"), ("h", "2-jild"), ("a", "Navoiy, Alisher"), ("c", "Toshkent"),
                ("n", "Fan"), ("d", "1988"), ("v", "2-jild"), ("y", "5-648-00123-4"),
                ("0", "UZ-NL-77"), ("u", "http://kitob.uz/77"),
            ]
        ],
    )
    series = pymarc.Field(
        tag="410",
        indicators=[" ", "0"],
        subfields=[pymarc.Subfield("t", "Oʻzbek adabiyoti"), pymarc.Subfield("v", "12")],
    )
    result = unimarc_to_marc21(_unimarc(host, series))
    link = result.record["773"]
    assert link["t"] == "Asarlar. 2-jild."
    assert link["a"] == "Navoiy, Alisher."
    assert link["d"] == "Toshkent : Fan, 1988."
    assert link["g"] == "2-jild"
    assert link["w"] == "UZ-NL-77"
    assert link["z"] == "5-648-00123-4"
    assert result.record["830"]["a"] == "Oʻzbek adabiyoti ;"
    assert result.record["830"]["v"] == "12"
    assert result.unmapped == ["461 $u: http://kitob.uz/77"]


def test_form_of_contents_codes_keep_their_meaning() -> None:
    """105 $a/4-7 -> 008/24-27 by meaning: a programmed text book is MARC21 p, a literature
    survey n, a comic 6; a numeric table has no MARC21 code (it is not n, a survey)."""
    coded = pymarc.Field(
        tag="105", indicators=[" ", " "], subfields=[pymarc.Subfield("a", "y   jrto000yy")]
    )
    data = unimarc_to_marc21(_unimarc(coded)).record["008"].data
    assert data[24:28] == "pn6 "


def test_series_statement_is_traced_when_410_gives_its_830() -> None:
    """225 -> 490 ind1 1 (series traced) when a 410 becomes the 830 that traces it; without a
    410 the 490 is untraced (ind1 0), as MARC21 wants a traced 490 to have its 8XX."""
    statement = pymarc.Field(
        tag="225",
        indicators=["2", " "],
        subfields=[pymarc.Subfield("a", "Oʻzbek adabiyoti"), pymarc.Subfield("v", "12")],
    )
    series = pymarc.Field(
        tag="410",
        indicators=[" ", "0"],
        subfields=[pymarc.Subfield("1", "2001 "), pymarc.Subfield("a", "Oʻzbek adabiyoti"),
                   pymarc.Subfield("v", "12")],
    )
    traced = unimarc_to_marc21(_unimarc(statement, series)).record
    assert traced["490"].indicators[0] == "1"
    assert traced["830"]["a"] == "Oʻzbek adabiyoti ;"
    untraced = unimarc_to_marc21(_unimarc(statement)).record
    assert untraced["490"].indicators[0] == "0"


def test_isbn_and_issn_typed_on_a_cyrillic_keyboard(test1: dict[str, UnimarcResult]) -> None:
    """The check digit X typed as a Cyrillic Х (as the National Library of Russia's 010 $a
    5-900776-31-х has it) is the X of the number, and a dash is a hyphen: the 020 and 022
    made are valid numbers, not ones the validator rejects."""
    assert test1["RU\\NLR\\bibl\\204591"].record["020"]["a"] == "590077631X"
    numbers = [
        pymarc.Field(tag="010", indicators=[" ", " "],
                     subfields=[pymarc.Subfield("a", "978\u20139943\u201301\u2013234\u20139")]),
        pymarc.Field(tag="011", indicators=[" ", " "],
                     subfields=[pymarc.Subfield("a", "2030-000Х")]),
    ]
    record = unimarc_to_marc21(_unimarc(*numbers)).record
    assert record["020"]["a"] == "9789943012349"
    assert record["022"]["a"] == "2030-000X"


def test_form_of_item_regular_print_is_no_reproduction() -> None:
    """106 $a r (regular print, UNIMARC's code for an ordinary printed book) is 008/23 blank:
    MARC21 r is a regular print reproduction (a photocopy); e (newspaper format) has no book
    code in MARC21 and is blank too, not the undefined e."""
    for code in "re":
        form = pymarc.Field(
            tag="106", indicators=[" ", " "], subfields=[pymarc.Subfield("a", code)]
        )
        title = pymarc.Field(tag="200", indicators=["1", " "],
                             subfields=[pymarc.Subfield("a", "Boburnoma")])
        record = unimarc_to_marc21(_unimarc(form, title)).record
        assert record["008"].data[23] == " "
        assert not [p for p in check_record(record) if p.tag == "008"]


def test_serial_008_takes_the_continuing_resource_positions() -> None:
    """A serial (leader/07 s) gets MARC21's continuing resource 008/18-34 from 110 $a (type,
    frequency, regularity, conference) and 106, not a book's from 105 and 100 $a/17 (which
    put illustrations where the frequency goes and the audience where the form of original
    goes); a 105 in a serial is reported."""
    fields = [("200", "Xalq"), ("110", "cay|0000"), ("106", "r"), ("105", "a   z")]
    record = _unimarc(
        *(pymarc.Field(tag=tag, indicators=["1" if tag == "200" else " ", " "],
                       subfields=[pymarc.Subfield("a", value)]) for tag, value in fields)
    )
    record.leader = pymarc.Leader("00000nas0 2200000   450 ")
    result = unimarc_to_marc21(record)
    data = result.record["008"].data
    assert data[18:24] == "dx n| "  # daily, irregular, newspaper, form of original not coded
    assert data[29] == "0"
    assert not [p for p in check_record(result.record) if p.tag == "008"]
    assert result.unmapped == ["105: =105  \\\\$aa   z"]


def test_series_and_uniform_titles_keep_their_nonfiling_characters() -> None:
    """The non-sorting article of a series title (410 embedded 200 $a, as the Italian SBN
    writes it) or a uniform title (500 $a) gives the nonfiling indicator of 830, 240 or 130,
    as the one of 200 gives 245's: 'Il ' does not file."""
    (result,) = converted("testunimarc.dat").values()
    series = {f["a"]: f.indicators[1] for f in result.record.get_fields("830")}
    assert series == {"Bestsellers ;": "0", "Il ciclo delle fondazioni ;": "3"}
    uniform = pymarc.Field(
        tag="500", indicators=["1", "0"], subfields=[pymarc.Subfield("a", "\x88The \x89Rubaiyat")]
    )
    author = pymarc.Field(
        tag="700", indicators=[" ", "1"],
        subfields=[pymarc.Subfield("a", "Umar Xayyom")],
    )
    assert unimarc_to_marc21(_unimarc(uniform, author)).record["240"].indicators[1] == "4"
    assert unimarc_to_marc21(_unimarc(uniform)).record["130"].indicators[0] == "4"


def test_government_publication_code_reaches_008_28(test1: dict[str, UnimarcResult]) -> None:
    """100 $a/20 (government publication) -> 008/28: the Kirov region's department (c,
    county/department) is a local jurisdiction (l); y, not a government publication, is blank."""
    assert test1["RU\\NLR\\bibl\\340001"].record["008"].data[28] == "l"
    assert test1["RU\\NLR\\bibl\\74092"].record["008"].data[28] == " "
    national = _unimarc()
    national["100"]["a"] = "20240101d2023    k  a0uzby0103    ba"
    assert unimarc_to_marc21(national).record["008"].data[28] == "f"


def test_family_name_entries_720_to_722() -> None:
    """720 (a family with primary responsibility) is the 100 (ind1 3) the 245 indicator and the
    240 already counted on; 721 and 722 are 700s with ind1 3. They were reported unmapped,
    leaving a 240 and a 245 ind1 1 without any 1XX."""
    family = pymarc.Field(
        tag="720", indicators=[" ", " "],
        subfields=[pymarc.Subfield("a", "Temuriylar"), pymarc.Subfield("f", "1370-1507"),
                   pymarc.Subfield("4", "070")],
    )
    other = pymarc.Field(tag="722", indicators=[" ", " "],
                         subfields=[pymarc.Subfield("a", "Boburiylar")])
    uniform = pymarc.Field(tag="500", indicators=["1", "0"],
                           subfields=[pymarc.Subfield("a", "Shajarai turk")])
    result = unimarc_to_marc21(_unimarc(uniform, family, other))
    record = result.record
    assert record["100"].indicators[0] == "3"
    assert record["100"]["a"] == "Temuriylar,"
    assert record["100"]["d"] == "1370-1507,"
    assert record["100"]["4"] == "aut"
    assert record["700"].indicators[0] == "3"
    assert record["240"]["a"] == "Shajarai turk"
    assert result.unmapped == []


def test_variant_title_significance_decides_the_added_entry(
    test1: dict[str, UnimarcResult],
) -> None:
    """510-517 indicator 1 (0 title not significant, 1 significant: an access point) gives 246
    indicator 1: an added entry or not, with the note each kind of title had."""
    assert test1["RU\\NLR\\bibl\\342332"].record["246"].indicators == pymarc.Indicators("3", "1")
    assert test1["RU\\NLR\\bibl\\344375"].record["246"].indicators == pymarc.Indicators("1", "4")
    parallel, cover = (
        pymarc.Field(tag=tag, indicators=["0", " "], subfields=[pymarc.Subfield("a", "Boburnoma")])
        for tag in ("510", "512")
    )
    record = unimarc_to_marc21(_unimarc(parallel, cover)).record
    assert [f.indicators[0] for f in record.get_fields("246")] == ["2", "0"]


@pytest.mark.parametrize(
    ("tag", "marc_tag", "relationship"),
    [("430", "780", "0"), ("431", "780", "1"), ("432", "780", "2"), ("433", "780", "3"),
     ("434", "780", "5"), ("435", "780", "6"), ("436", "780", "4"), ("437", "780", "7"),
     ("440", "785", "0"), ("441", "785", "1"), ("442", "785", "2"), ("443", "785", "3"),
     ("444", "785", "4"), ("445", "785", "5"), ("446", "785", "6"), ("447", "785", "7"),
     ("448", "785", "8")],
)
def test_preceding_and_succeeding_titles_keep_their_relationship(
    tag: str, marc_tag: str, relationship: str
) -> None:
    """UNIMARC 430-437 and 440-448 name the relationship by tag (434 absorbed, 436 formed by
    merger, 446 split into...); MARC21 780/785 name it in indicator 2, which validators
    require. The UNIMARC note indicator still gives indicator 1."""
    link = pymarc.Field(
        tag=tag, indicators=[" ", "1"],
        subfields=[pymarc.Subfield("1", "001UZ-NL-12"), pymarc.Subfield("1", "2001 "),
                   pymarc.Subfield("a", "Guliston"), pymarc.Subfield("1", "011  "),
                   pymarc.Subfield("a", "0130-1234")],
    )
    serial = _unimarc(link)
    serial.leader = pymarc.Leader("00000nas0 2200000   450 ")
    result = unimarc_to_marc21(serial)
    made = result.record[marc_tag]
    assert made.indicators == pymarc.Indicators("0", relationship)
    assert (made["t"], made["x"], made["w"]) == ("Guliston", "0130-1234", "UZ-NL-12")
    assert result.unmapped == []
    assert not [p for p in check_record(result.record) if p.tag == marc_tag]


def test_empty_003_gives_no_024() -> None:
    """003 holds the record's persistent URI, which becomes a 024 7# $2 uri (ur.iso); an empty
    or blank 003 has no URI to give, and a 024 with an empty $a is no identifier."""
    for empty in ("", "   "):
        record = _unimarc(pymarc.Field(tag="003", data=empty))
        result = unimarc_to_marc21(record)
        assert result.record.get_fields("024") == []
        assert result.unmapped == []
    (urait,) = converted("ur.iso").values()
    assert urait.record["024"]["a"].startswith("http://www.biblio-online.ru/thematic/")


def test_hierarchical_level_gives_the_multipart_record_level(
    test1: dict[str, UnimarcResult],
) -> None:
    """UNIMARC leader/08 (1 highest level, 2 below it) of a monograph is MARC21 leader/19: the
    set a, a part b or c as its 200 says its title is significant (an independent title,
    "[Л. Исаев. 1928. Мат в 2 хода]") or not (a dependent one, "Вып. 13"). A record outside a
    hierarchy, or a serial or a component part in one, has no multipart level (blank)."""
    assert test1["RU\\NLR\\bibl\\5996"].record.leader[19] == "a"
    assert test1["RU\\NLR\\bibl\\106342"].record.leader[19] == "b"
    assert test1["RU\\NLR\\bibl\\3415"].record.leader[19] == "c"
    assert test1["RU\\NLR\\bibl\\204591"].record.leader[19] == " "
    for leader in ("00000nas1 2200000   450 ", "00000naa2 2200000   450 "):
        record = _unimarc()
        record.leader = pymarc.Leader(leader)
        assert unimarc_to_marc21(record).record.leader[19] == " "


@pytest.mark.parametrize(
    ("coded", "nature"),
    [("afahkpz0", "yoh "), ("caylmno0", "lwgv"), ("cayzz a0", " b  "), ("cay||||0", "||||")],
)
def test_serial_nature_of_contents_reaches_008_24_to_27(coded: str, nature: str) -> None:
    """110 $a/3 (type of material) and $a/4-6 (nature of contents) of a serial are MARC21
    008/24 (nature of entire work) and 008/25-27 (nature of contents), code by meaning: a
    yearbook y, reviews o, biography h, law reports and digests w, legal articles g, legal
    cases v, a bibliography b; z (other) has no MARC21 code, so the codes after it move left
    (MARC21 lists them from the left, blanks after), and | stays not coded."""
    fields = [("200", "Xalq"), ("110", coded)]
    record = _unimarc(
        *(pymarc.Field(tag=tag, indicators=["1" if tag == "200" else " ", " "],
                       subfields=[pymarc.Subfield("a", value)]) for tag, value in fields)
    )
    record.leader = pymarc.Leader("00000nas0 2200000   450 ")
    result = unimarc_to_marc21(record)
    data = result.record["008"].data
    assert data[24:28] == nature
    assert not [p for p in check_record(result.record) if p.tag == "008"]
    assert result.unmapped == []


def test_cataloguing_source_801_is_040_without_a_note_on_every_record(
    test1: dict[str, UnimarcResult],
) -> None:
    """801 (originating source) is MARC21 040: its agencies by function ($b of ind2 0 -> $a,
    1 -> $c, 2 -> $d; 3 as the next test says) and rules ($g -> $e). Its country ($a) and
    transaction date ($c), and the format code ($2), have no place in 040 and were reported on
    every record (half of TEST1's report); the record's dates are 005 and 008/00-05, its format
    is MARC21 now and the catalogue archives the original, so they are not reported. Another
    subfield still is."""
    for result in (*test1.values(), *converted("ur.iso").values()):
        assert not [line for line in result.unmapped if line.startswith("801")]
    moved = test1["RU\\NLR\\bibl\\288664"].record["040"]  # RKP's record, modified by NLR
    assert moved.subfields == [pymarc.Subfield("a", "RKP"), pymarc.Subfield("b", "rus"),
                               pymarc.Subfield("e", "PSBO"), pymarc.Subfield("c", "RKP"),
                               pymarc.Subfield("d", "NLR")]
    source = pymarc.Field(
        tag="801", indicators=[" ", "0"],
        subfields=[pymarc.Subfield("a", "UZ"), pymarc.Subfield("b", "UzNL"),
                   pymarc.Subfield("c", "20240101"), pymarc.Subfield("x", "local")],
    )
    result = unimarc_to_marc21(_unimarc(source))
    assert result.record["040"]["a"] == "UzNL"
    assert result.unmapped == ["801 $x: local"]


def _agency(function: str, agency: str) -> pymarc.Field:
    return pymarc.Field(tag="801", indicators=[" ", function],
                        subfields=[pymarc.Subfield("a", "UZ"), pymarc.Subfield("b", agency)])


def test_issuing_agency_801_is_no_modifier_of_its_own_record() -> None:
    """801 indicator 2 3 (issuing agency) has no 040 subfield of its own in MARC21: it is $d,
    a later agency, when it passed on another agency's record, and nothing more when it issued
    its own. The Italian SBN record names ICCU only as issuing agency; its 040 said ICCU had
    modified the record ($a ICCU $c ICCU $d ICCU)."""
    (result,) = converted("testunimarc.dat").values()
    assert result.record["040"].subfields == [
        pymarc.Subfield("a", "ICCU"), pymarc.Subfield("b", "ita"), pymarc.Subfield("c", "ICCU")
    ]
    own = unimarc_to_marc21(_unimarc(_agency("0", "UzNL"), _agency("3", "UzNL")))
    assert own.record["040"].get_subfields("a", "c", "d") == ["UzNL", "UzNL"]
    passed_on = unimarc_to_marc21(_unimarc(_agency("0", "UzNL"), _agency("3", "UzLib")))
    assert passed_on.record["040"].get_subfields("a", "c", "d") == ["UzNL", "UzNL", "UzLib"]


@pytest.mark.parametrize(
    ("script", "language", "alphabet"),
    [("ba", "uzb", "b"), ("ba", "eng", "a"), ("ca", "rus", "c"), ("db", "jpn", "d"),
     ("ea", "chi", "e"), ("fa", "ara", "f"), ("ma", "geo", "z"), ("zz", "uzb", "z"),
     ("  ", "uzb", "|"), ("||", "uzb", "|")],
)
def test_serial_script_of_title_reaches_008_33(script: str, language: str, alphabet: str) -> None:
    """100 $a/34-35 (script of title) of a serial is MARC21 008/33 (original alphabet or script
    of title), which stayed '|': Cyrillic c, Japanese (any of its codes) d, Chinese e, Arabic f;
    Latin is extended Roman b but in a language written without diacritics (English: basic
    Roman a), as MARC21 codes the language; Georgian and other scripts with no MARC21 code of
    their own are z; a 100 that says nothing leaves '|'."""
    record = _unimarc(pymarc.Field(tag="110", indicators=[" ", " "],
                                   subfields=[pymarc.Subfield("a", "afa|0000")]))
    record.leader = pymarc.Leader("00000nas0 2200000   450 ")
    general = record["100"]
    general["a"] = general["a"][:34] + script
    record["101"]["a"] = language
    result = unimarc_to_marc21(record)
    assert result.record["008"].data[33] == alphabet
    assert not [p for p in check_record(result.record) if p.tag == "008"]
