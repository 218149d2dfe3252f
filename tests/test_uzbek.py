"""Tests of crosswalks.uzbek against the hand-written table tests/data/uzbek_words.tsv."""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

import pymarc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crosswalks import uzbek
from crosswalks.iso2709 import read_record
from crosswalks.unimarc import unimarc_to_marc21
from crosswalks.uzbek import (
    add_script_880,
    cut_keys,
    cyrillic_to_latin,
    fold,
    latin_to_cyrillic,
    romanize_alalc,
)
from tests.conftest import DATA

WORDS = Path(__file__).with_name("data") / "uzbek_words.tsv"


class Word(NamedTuple):
    cyrillic: str
    latin: str
    alalc: str
    language: str
    direction: str


def _words() -> list[Word]:
    with WORDS.open(encoding="utf-8") as handle:
        rows = csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")
        return [
            Word(r["cyrillic"], r["latin_1995"], r["alalc"], r["language"], r["direction"])
            for r in rows
        ]


ALL = _words()
IDS = [f"{w.cyrillic}|{w.latin}" for w in ALL]


def test_table_is_large_and_covers_the_hard_letters() -> None:
    assert len(ALL) >= 150
    cyrillic = "".join(w.cyrillic for w in ALL)
    for letter in "ъьецёюяўғқҳЦЁЮЯЎҒҚҲ":
        assert letter in cyrillic, letter
    latin = "".join(w.latin for w in ALL)
    for apostrophe in "'’‘`ʻʼ":
        assert apostrophe in latin, apostrophe
    assert {w.language for w in ALL} == {"uzb", "rus"}


@pytest.mark.parametrize("word", [w for w in ALL if w.direction in ("both", "c2l")], ids=str)
def test_cyrillic_to_latin(word: Word) -> None:
    assert cyrillic_to_latin(word.cyrillic) == word.latin


@pytest.mark.parametrize("word", [w for w in ALL if w.direction in ("both", "l2c")], ids=str)
def test_latin_to_cyrillic(word: Word) -> None:
    assert latin_to_cyrillic(word.latin) == word.cyrillic


@pytest.mark.parametrize("word", ALL, ids=IDS)
def test_romanize_alalc(word: Word) -> None:
    result = romanize_alalc(word.cyrillic, language=word.language)  # type: ignore[arg-type]
    assert result == unicodedata.normalize("NFC", word.alalc)


@pytest.mark.parametrize("word", ALL, ids=IDS)
def test_fold_joins_the_three_forms(word: Word) -> None:
    assert fold(word.cyrillic) == fold(word.latin) == fold(word.alalc)


def test_fold_examples_of_the_brief() -> None:
    assert fold("Навоий") == fold("Navoiy") == fold("Navoiĭ")
    forms = ["Ўзбекистон", "O‘zbekiston", "O'zbekiston", "Ŭzbekiston", "oʻzbekiston"]
    assert len({fold(f) for f in forms}) == 1
    assert fold("Толстой") == fold("Tolstoĭ") == fold("Tolstoy")


@pytest.mark.parametrize("apostrophe", ["´", "ˊ", "`", "′"])
def test_an_acute_or_grave_accent_or_a_prime_is_the_apostrophe(apostrophe: str) -> None:
    """People type oʻ and gʻ with whatever their keyboard has: the acute accent ´ (U+00B4)
    split o´zbek into two words (o, zbek) and its modifier letter ˊ (U+02CA) stayed in the key,
    so that neither met Oʻzbekiston or Ўзбекистон."""
    for latin, cyrillic in [("O{}zbekiston", "Ўзбекистон"), ("g{}alaba", "ғалаба"),
                            ("ma{}no", "маъно")]:  # fmt: skip
        typed = latin.format(apostrophe)
        assert fold(typed) == fold(cyrillic) == fold(latin.format("ʻ")), typed
        assert latin_to_cyrillic(typed) == cyrillic


@pytest.mark.parametrize("apostrophe", ["\u201b", "\uff07", "\u02bd", "\u02c8"])
def test_the_look_alikes_of_the_apostrophe_are_the_apostrophe(apostrophe: str) -> None:
    """The reversed quotation mark ‛, the fullwidth ＇ and the modifier letters ʽ and ˈ, which
    fonts, converters and other keyboards give for the apostrophe: O‛zbekiston split into o and
    zbekiston and the modifier letters stayed in the key, so that O'zbekiston found none of
    them, and Latin to Cyrillic read o‛ as о and ma＇no as ма＇но."""
    for latin, cyrillic in [("O{}zbekiston", "Ўзбекистон"), ("g{}alaba", "ғалаба"),
                            ("ma{}no", "маъно"), ("MA{}NO", "МАЪНО")]:  # fmt: skip
        typed = latin.format(apostrophe)
        assert fold(typed) == fold(latin.format("'")) == fold(cyrillic), typed
        assert latin_to_cyrillic(typed) == cyrillic


def test_fold_normalizes_case_punctuation_and_composition() -> None:
    assert fold("  Alisher  Navoiy: «Xamsa»!  ") == "alisher navoii xamsa"
    decomposed = unicodedata.normalize("NFD", "Navoiĭ")
    assert fold(decomposed) == fold("Navoiĭ")
    assert fold("ИБН-СИНО") == fold("ibn sino")


def test_fold_makes_the_turkish_dotless_i_its_capital_s_letter() -> None:
    """Turkish ılık in capitals is ILIK, which case folding makes ilik: case never counts."""
    assert fold("ılık") == fold("ILIK") == fold("ilik") == fold("İLİK") == "ilik"


def test_fold_reads_the_uzbek_latin_of_1993() -> None:
    """Its ş and ç are sh and ch (as in Turkish), ó and ǵ are oʻ and gʻ: records written in it
    (1993-1995) met neither their Cyrillic nor their 1995 Latin copies, nor a reader's query."""
    assert fold("Çólpon") == fold("Choʻlpon") == fold("Чўлпон")
    assert fold("Keça va kunduz") == fold("Kecha va kunduz") == fold("Кеча ва кундуз")
    assert fold("Şeʼrlar") == fold("SHE'RLAR") == fold("Шеърлар")
    assert fold("Ǵafur Ǵulom") == fold("Gʻafur Gʻulom") == fold("Ғафур Ғулом")


def test_fold_keeps_distinct_words_apart() -> None:
    assert fold("қол") != fold("кол")  # q and k stay distinct
    assert fold("ҳол") != fold("хол")  # h and x stay distinct
    assert fold("Navoiy") != fold("Navoi")


def test_fold_reads_an_alalc_breve_letter_typed_without_its_breve() -> None:
    """ĭ is й in ALA-LC: a reader typing it as i, as he types é as e, finds the word."""
    forms = ["Voina i mir", "Voĭna i mir", "Voyna i mir", "Война и мир", "VOINA I MIR"]
    assert len({fold(f) for f in forms}) == 1
    assert fold("Tolstoi") == fold("Толстой") == fold("Tolstoĭ")


@pytest.mark.parametrize(
    ("typed", "word"),
    [("hay", "ҳаёт"), ("hay", "hayot"), ("ҳай", "hayot"), ("voi", "Война"), ("Navoi", "Навоий"),
     ("yul", "юлдуз"), ("Qiy", "қийин"), ("koy", "Koʻylak")],
)
def test_the_key_of_a_word_typed_up_to_a_y_begins_the_word_s_key(typed: str, word: str) -> None:
    """What right truncation relies on: the folding of a y does not wait for the next letter."""
    assert fold(word).startswith(fold(typed))


def test_a_word_typed_up_to_a_latin_k_or_z_may_be_cut_inside_kh_or_zh() -> None:
    assert cut_keys("Mik", fold("Mik")) == ["mik", "mix"]  # Mikhail, Михаил, Mixail: mixail
    assert cut_keys("voina i z", fold("voina i z")) == ["voina i z", "voina i j"]
    assert cut_keys("Мик", fold("Мик")) == ["mik"]  # к is no half of х
    assert cut_keys("tarixi", fold("tarixi")) == ["tarixi"]


def test_romanize_rejects_unknown_language() -> None:
    with pytest.raises(ValueError, match="kaz"):
        romanize_alalc("Абай", language="kaz")  # type: ignore[arg-type]


def test_conversions_leave_other_characters_alone() -> None:
    assert cyrillic_to_latin("ISBN 5-7443-0043-0; Ўзбек") == "ISBN 5-7443-0043-0; Oʻzbek"
    assert latin_to_cyrillic("«Oʻzbek», 1995") == "«Ўзбек», 1995"
    assert latin_to_cyrillic("'Navoiy'") == "'Навоий'"


@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    once = fold(text)
    assert fold(once) == once


ASCII_TEXT = st.text(alphabet=st.characters(max_codepoint=127))


@given(ASCII_TEXT)
def test_fold_splits_ascii_words_as_the_general_pattern_does(text: str) -> None:
    """The translation-table shortcut for ASCII gives what the regular expression gives."""
    shortcut = " ".join(text.translate(uzbek._ASCII_SPACES).split())
    assert shortcut == uzbek._NON_WORD.sub(" ", text).strip()


def test_long_texts_are_folded_and_not_remembered() -> None:
    long = "Навоий " * 40
    assert len(long) > uzbek.FOLD_CACHE_MAX_CHARS
    before = uzbek._remembered_fold.cache_info().currsize
    assert fold(long) == " ".join(["navoii"] * 40) == fold(long.lower())
    assert uzbek._remembered_fold.cache_info().currsize == before


@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_cyrillic_to_latin_never_raises(text: str) -> None:
    assert isinstance(cyrillic_to_latin(text), str)


@given(st.text(alphabet="абвгдеёжзийклмнопрстуфхчшъэюяўқғҳАЕЁЎШҲЮ -", min_size=1))
def test_latin_round_trip_of_uzbek_letters_without_ambiguity(text: str) -> None:
    # ц, ь and ы are left out: the 1995 alphabet cannot tell them back.
    assert fold(latin_to_cyrillic(cyrillic_to_latin(text))) == fold(text)


def _record(language: str, *fields: pymarc.Field) -> pymarc.Record:
    record = pymarc.Record(force_utf8=True)
    record.leader = pymarc.Leader("00000nam a2200000 i 4500")
    record.add_field(pymarc.Field(tag="008", data=" " * 35 + language + " d"))
    record.add_field(*fields)
    return record


def test_add_script_880_uzbek_cyrillic_gets_latin() -> None:
    title = pymarc.Field(
        tag="245",
        indicators=["1", "0"],
        subfields=[pymarc.Subfield("a", "Ўзбекистон тарихи /"), pymarc.Subfield("c", "Навоий.")],
    )
    author = pymarc.Field(
        tag="100",
        indicators=["1", " "],
        subfields=[pymarc.Subfield("a", "Қодирий, Абдулла."), pymarc.Subfield("4", "aut")],
    )
    record = add_script_880(_record("uzb", author, title))
    assert record["245"].get_subfields("6") == ["880-02"]
    assert record["100"].get_subfields("6") == ["880-01"]
    linked = {f.get_subfields("6")[0]: f for f in record.get_fields("880")}
    assert linked["245-02/(B"]["a"] == "Oʻzbekiston tarixi /"
    assert linked["245-02/(B"]["c"] == "Navoiy."
    assert list(linked["245-02/(B"].indicators) == ["1", "0"]
    assert linked["100-01/(B"]["a"] == "Qodiriy, Abdulla."
    assert linked["100-01/(B"]["4"] == "aut"
    assert record.get("066") is None  # UTF-8 record: no 066 needed
    reread = pymarc.Record(data=record.as_marc(), force_utf8=True)
    assert len(reread.get_fields("880")) == 2


def test_add_script_880_uzbek_latin_gets_cyrillic_and_russian_gets_alalc() -> None:
    latin = _record(
        "uzb",
        pymarc.Field(
            tag="245", indicators=["0", "0"], subfields=[pymarc.Subfield("a", "Oʻzbek tili")]
        ),
    )
    add_script_880(latin)
    assert latin["880"].get_subfields("6") == ["245-01/(N"]
    assert latin["880"]["a"] == "Ўзбек тили"

    russian = _record(
        "rus",
        pymarc.Field(
            tag="650",
            indicators=[" ", "7"],
            subfields=[pymarc.Subfield("a", "Шахматы"), pymarc.Subfield("2", "nlr-sh")],
        ),
    )
    russian.leader = pymarc.Leader("00000nam  2200000 i 4500")  # MARC-8 flagged
    add_script_880(russian)
    assert russian["880"]["a"] == "Shakhmaty"
    assert russian["880"]["2"] == "nlr-sh"
    assert russian["066"].get_subfields("c") == ["(N"]


def test_add_script_880_leaves_linked_and_latin_foreign_fields() -> None:
    record = _record(
        "eng",
        pymarc.Field(
            tag="245", indicators=["0", "0"], subfields=[pymarc.Subfield("a", "War and peace")]
        ),
    )
    add_script_880(record)
    assert record.get_fields("880") == []
    add_script_880(record, language="uzb")
    add_script_880(record, language="uzb")  # already linked: nothing more
    assert len(record.get_fields("880")) == 1


def test_add_script_880_converts_a_subject_subdivision_and_keeps_numbers() -> None:
    """$x is text in 6XX (a general subdivision: left Cyrillic in the Latin 880 before) and an
    ISSN elsewhere; $z of a linking entry is an ISBN, whose X stays Latin."""
    def field(tag: str, *pairs: tuple[str, str]) -> pymarc.Field:
        return pymarc.Field(tag=tag, indicators=[" ", "7"],
                            subfields=[pymarc.Subfield(c, v) for c, v in pairs])  # fmt: skip

    cyrillic = _record("uzb", field("651", ("a", "Ўзбекистон"), ("x", "Тарих."), ("2", "uzbsh")),
                       field("490", ("a", "Тарих"), ("x", "1234-567X")))  # fmt: skip
    add_script_880(cyrillic)
    linked = {f.get_subfields("6")[0][:3]: f for f in cyrillic.get_fields("880")}
    assert linked["651"].get_subfields("a", "x", "2") == ["Oʻzbekiston", "Tarix.", "uzbsh"]
    assert linked["490"].get_subfields("a", "x") == ["Tarix", "1234-567X"]
    latin = _record("uzb", field("650", ("a", "Tarix"), ("x", "Manbalar")),
                    field("776", ("t", "Tarix"), ("z", "978994301234X"), ("x", "1234-567X")))
    add_script_880(latin)
    linked = {f.get_subfields("6")[0][:3]: f for f in latin.get_fields("880")}
    assert linked["650"].get_subfields("a", "x") == ["Тарих", "Манбалар"]
    assert linked["776"].get_subfields("t", "z", "x") == ["Тарих", "978994301234X", "1234-567X"]


def test_add_script_880_on_a_converted_rusmarc_record() -> None:
    data = DATA / "unimarc"
    raw = (data / "TEST2.ISO").read_bytes().partition(b"\x1d")[0] + b"\x1d"
    record = add_script_880(unimarc_to_marc21(read_record(raw, allow_marc8=False)[0]).record)
    linked = {f.get_subfields("6")[0]: f for f in record.get_fields("880")}
    title = next(f for k, f in linked.items() if k.startswith("245-"))
    assert title["a"] == "Svetilʹnik Sibiri :"
    assert record["245"].get_subfields("6") == ["880-" + title["6"][4:6]]
    reread = pymarc.Record(data=record.as_marc(), force_utf8=True)
    assert len(reread.get_fields("880")) == len(linked) >= 5


def _no_008_record(*fields: pymarc.Field) -> pymarc.Record:
    record = pymarc.Record(force_utf8=True)
    record.leader = pymarc.Leader("00000nam a2200000 i 4500")
    record.add_field(*fields)
    return record


@pytest.mark.parametrize("language", [None, "rus", "und"])
def test_add_script_880_uzbek_letters_make_uzbek_whatever_008_says(language) -> None:
    title = pymarc.Field(
        tag="245",
        indicators=["1", "0"],
        subfields=[
            pymarc.Subfield("a", "Ўзбекистон тарихи /"), pymarc.Subfield("c", "Ғафур Ғулом.")
        ],
    )
    record = _no_008_record(title) if language is None else _record(language, title)
    add_script_880(record)
    (linked,) = record.get_fields("880")
    assert linked["a"] == "Oʻzbekiston tarixi /"
    assert linked["c"] == "Gʻafur Gʻulom."


def test_add_script_880_leaves_no_cyrillic_in_a_romanized_880() -> None:
    russian = pymarc.Field(
        tag="245", indicators=["0", "0"], subfields=[pymarc.Subfield("a", "Щит и меч")]
    )
    ukrainian = pymarc.Field(
        tag="246", indicators=["0", "0"], subfields=[pymarc.Subfield("a", "x")]
    )
    note = pymarc.Field(
        tag="500", indicators=[" ", " "], subfields=[pymarc.Subfield("a", "Їжак і білка")]
    )
    record = add_script_880(_no_008_record(russian, ukrainian, note))
    (linked,) = record.get_fields("880")
    assert linked["a"] == "Shchit i mech"
    assert record["500"].get_subfields("6") == []  # no table for ї and і: no 880
    for field in record.get_fields("880"):
        assert not re.search("[\u0400-\u04ff]", field.value())


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [("'Jo'", "'Жо'"), ("'Navo' kuyi", "'Наво' куйи"), ("‘Navo’", "‘Наво’"),
     ("`Navo`", "`Наво`"), ("«'Dunyo'»", "«'Дунё'»"),
     ("'Tong', 'Peterburg'.", "'Тонг', 'Петербург'."), ("'Alisher Navo'", "'Алишер Наво'"),
     ("'O'zbekiston bog'i'", "'Ўзбекистон боғи'")],
)
def test_a_quote_closed_after_a_final_o_or_g_is_a_quote(latin: str, cyrillic: str) -> None:
    """An apostrophe ending a word whose quote an opening mark of its kind began closes that
    quote: 'Navo' was 'Навў, 'Tong' 'Тонғ, 'Dunyo' 'Дунйў."""
    assert latin_to_cyrillic(latin) == cyrillic


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [("tog' va bog'", "тоғ ва боғ"), ("Hoshimov O'.", "Ҳошимов Ў."), ("yo'q, bo'g'", "йўқ, бўғ"),
     ("to'g'ri", "тўғри"), ("bog' 'Dunyo'", "боғ 'Дунё'"), ("'Dunyo' va tog'", "'Дунё' ва тоғ"),
     ("«Tog'»", "«Тоғ»"), ("'Katta tog'' jurnali", "'Катта тоғ' журнали")],
)
def test_an_apostrophe_after_a_final_o_or_g_that_closes_no_quote_is_the_mark(
    latin: str, cyrillic: str
) -> None:
    """The ʻ of tog', or of an initial (O'. for Oʻtkir), is no closing quote: no opening mark
    of its kind began a word before it (« opens no '), or a quote was closed since ('Dunyo'),
    or another apostrophe follows it (the quote's own)."""
    assert latin_to_cyrillic(latin) == cyrillic


def test_tutuq_after_o_with_okina_is_dropped_elsewhere_kept() -> None:
    assert cyrillic_to_latin("мўъжиза") == "moʻjiza"
    assert cyrillic_to_latin("Мўъжиза") == "Moʻjiza"
    assert cyrillic_to_latin("МЎЪЖИЗА") == "MOʻJIZA"
    assert cyrillic_to_latin("маъно") == "maʼno"
    assert cyrillic_to_latin("Исҳоқ") == "Isʼhoq"
    assert latin_to_cyrillic("moʻjiza") == "мўжиза"  # the ъ cannot be told back


@pytest.mark.parametrize("apostrophe", list(uzbek.APOSTROPHES))
def test_the_tutuq_of_an_all_capitals_word_is_a_capital_hard_sign(apostrophe: str) -> None:
    """MAʼRIFAT was МАъРИФАТ: the ъ was written small whatever the case of its word."""
    assert latin_to_cyrillic(f"MA{apostrophe}RIFAT VA SHE{apostrophe}RLAR") == "МАЪРИФАТ ВА ШЕЪРЛАР"
    assert latin_to_cyrillic(f"MO{apostrophe}{apostrophe}JIZA") == "МЎЪЖИЗА"
    assert latin_to_cyrillic(f"Ma{apostrophe}rifat, E{apostrophe}tibor") == "Маърифат, Эътибор"


@pytest.mark.parametrize("word", [w for w in ALL if w.direction in ("both", "c2l")], ids=str)
def test_decomposed_cyrillic_is_read_as_its_letters(word: Word) -> None:
    """Cyrillic in NFD (й as и and a combining breve, ў as у and a breve, ё as е and a
    diaeresis), as records written decomposed hold it: Навоий was Navoiĭ, Ўзбекистон
    Ŭzbekiston and ёшлари yëshlari, each letter's base converted and its mark kept."""
    assert cyrillic_to_latin(unicodedata.normalize("NFD", word.cyrillic)) == word.latin
