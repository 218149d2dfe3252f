"""Match keys and profiles computed from records (catalog/match_keys.py)."""

import logging

import pytest
from pymarc import Field, Subfield

from catalog.match_keys import (
    Profile,
    control_key,
    match_data,
    nonfiling_chars,
    title_key,
    uzbek_form,
)
from tests.books import book

PREFIXES = ["(OCoLC)"]


def keys_of(record, prefixes=PREFIXES):
    keys, profile = match_data(record, prefixes, 30)
    return set(keys), profile


def test_isbn_10_and_13_give_one_key_and_a_wrong_check_digit_is_kept_aside(caplog):
    """Kept aside quietly (a line at debug): one warning per record flooded an import's
    standard error with what its report says."""
    ten, _ = keys_of(book("1", "X", isbn="994301234X (pbk.)"))
    thirteen, _ = keys_of(book("2", "X", isbn="978-9943-01-234-9"))
    assert ("isbn", "9789943012349") in ten & thirteen
    with caplog.at_level(logging.DEBUG, logger="catalog.match_keys"):
        bad, profile = keys_of(book("3", "X", isbn="978-9943-01-234-5"))
    assert not [k for k in bad if k[0] == "isbn"]
    assert profile.bad == ["978-9943-01-234-5"] and profile.isbns == []
    assert [(r.levelno, r.getMessage()[:43]) for r in caplog.records] == [
        (logging.DEBUG, "record 3: ISBN '978-9943-01-234-5' kept asi")]



@pytest.mark.parametrize("typed", [
    "9943-01-234-Х", "994301234х (в пер.)",  # the check digit X typed on a Cyrillic keyboard
    "9943\u201101\u2011234\u2011X", "978\u20139943\u201301\u2013234\u20139",  # Word's hyphens
])
def test_an_isbn_typed_with_a_cyrillic_x_or_a_typographic_hyphen_is_the_isbn(typed):
    """Kept aside as a wrong check digit (the Cyrillic Х) or not read at all (U+2011, U+2013),
    it matched no copy bearing the ISBN."""
    keys, profile = keys_of(book("1", "X", isbn=typed))
    assert (profile.isbns, profile.bad) == (["9789943012349"], [])
    assert ("isbn", "9789943012349") in keys

def test_issn_and_national_and_control_numbers():
    record = book("1", "X", issn="0317-8471", ids={
        "010": "  2001012345 ", "015": "GB9912345", "024": "9780306406157",
        "035": "(OCoLC)ocm00012345"})
    record.add_field(book("x", "x", ids={"016": "123456"}).get("016"))
    record["016"].add_subfield("2", "Uk")
    other_035 = book("2", "X", ids={"035": "(RuMoRGB)12345"})
    keys, profile = keys_of(record)
    assert {("issn", "03178471"), ("lccn", "2001012345"), ("nbn", "gb9912345"),
            ("std", "9780306406157"), ("ctl", "(ocolc)12345"), ("nba", "uk:123456")} <= keys
    assert profile.issns == ["03178471"]
    assert not [k for k in keys_of(other_035)[0] if k[0] == "ctl"]
    assert ("ctl", "(rumorgb)12345") in keys_of(other_035, ["(RuMoRGB)"])[0]


def test_control_key_whitelist():
    assert control_key("(OCoLC)on1234", ["(OCoLC)"]) == "(ocolc)1234"
    assert control_key("(DLC)1234", ["(OCoLC)"]) is None


def test_title_key_skips_nonfiling_characters_and_folds_scripts():
    cyrillic, a = keys_of(book("1", "Ўзбекистон тарихи", author="Каримов, Алишер"))
    latin, b = keys_of(book("2", "O‘zbekiston tarixi", author="Karimov, Alisher"))
    english, _ = keys_of(book("3", "The history of Uzbekistan", nonfiling=4))
    assert ("title", "ozbekistontarixi") in cyrillic & latin
    assert a.author == b.author == "karimov"
    assert ("title", "historiofuzbekistan") in english
    assert title_key("a very long title indeed", 8) == "averylon"
    long_keys, _ = keys_of(book("4", "A very long title that goes on and on for a while"))
    assert {("title", "averilongtitlethatgoesonandonf"),  # fold: y after a consonant is i
            ("tend", "gtitlethatgoesonandonforawhile")} <= long_keys
    assert not [k for k in cyrillic if k[0] == "tend"]  # a short title has one key
    assert [k for k in cyrillic if k[0] == "ay"] == [("ay", "karimov:2001")]


@pytest.mark.parametrize(("extent", "pages"), [
    ("1 map : col. ; 60 x 90 cm", 1), ("xii, 352 p. : ill. ; 21 cm + 1 CD-ROM", 352),
    ("352 p.", 352), ("3 v. (1200 p.)", 1200), ("60 x 90 cm", 90),
])  # fmt: skip
def test_the_extent_is_read_up_to_its_other_details(extent: str, pages: int) -> None:
    """A whole ISBD statement in 300 $a (MODS's extent read into MARC) counted its dimensions
    as pages: a map harvested as MODS, 90 pages, was another edition of its MARC copy's 1."""
    record = book("1", "Map")
    record.remove_fields("300")
    record.add_field(Field("300", [" ", " "], [Subfield("a", extent)]))
    assert keys_of(record)[1].pages == pages


def test_profile_values():
    _, profile = keys_of(book("1", "Asarlar", author="Navoiy, Alisher", year=1990, pages=352,
                              edition="2-е изд., испр.", volume="Т. II",
                              series=("Klassika", "вып. 7"), language="rus"))
    assert (profile.year, profile.pages, profile.edition, profile.volume) == (1990, 352, "2", "2")
    assert (profile.series_number, profile.language, profile.material) == ("7", "rus", "book")
    _, second = keys_of(book("2", "X", edition="Second edition", year=None))
    assert second.edition == "2" and second.year is None
    assert Profile.from_json(profile.to_json()) == profile



@pytest.mark.parametrize(("statement", "number"), [
    ("oltinchi nashr", "6"), ("Олтинчи нашр", "6"), ("6-нашр", "6"), ("6-е изд.", "6"),
    ("Шестое издание, исправленное", "6"), ("Sixth edition", "6"), ("Birinchi nashr", "1"),
    ("To‘rtinchi nashri", "4"), ("Тўққизинчи нашр", "9"), ("Yettinchi nashr", "7"),
    ("O‘ninchi nashr", "10"), ("Ўн биринчи нашр", "11"), ("o‘n to‘rtinchi nashr", "14"),
    ("Yigirmanchi nashr", "20"), ("Третье изд.", "3"), ("Четырнадцатое издание", "14"),
    ("Двадцатое изд.", "20"), ("Двадцать первое изд.", "21"), ("Qayta nashr", "qaita nashr"),
    ("Based on second edition", "2"),
])
def test_an_edition_named_in_words_is_its_number(statement, number):
    """Ordinal words of Uzbek (both scripts), Russian and English up to twenty: "oltinchi
    nashr" and "6-нашр" were two editions, each copy vetoing the other."""
    assert keys_of(book("1", "Fizika", edition=statement))[1].edition == number


def test_a_series_number_an_830_repeats_is_one_number():
    """An 830 traces the series its 490 transcribes, with the same number: 2, not 2.2, which
    vetoed the copy of a centre that gives only the 490."""
    record = book("1", "Fizika", series=("Maktab kutubxonasi", "2-kitob"))
    record.add_field(Field(tag="830", indicators=[" ", "0"], subfields=[
        Subfield("a", "Maktab kutubxonasi ;"), Subfield("v", "kn. 2.")]))
    assert keys_of(record)[1].series_number == "2"
    two_series = book("2", "Fizika", series=("Maktab kutubxonasi", "5"))
    two_series.add_field(Field(tag="490", indicators=["0", " "], subfields=[
        Subfield("a", "Fan ;"), Subfield("v", "12")]))
    assert keys_of(two_series)[1].series_number == "5.12"

@pytest.mark.parametrize(("title", "subtitle", "volume"), [
    ("Asarlar. 2-jild", None, "2"), ("Асарлар. 2-жилд", None, "2"),
    ("Собрание сочинений. Т. 3, кн. 1", None, "3.1"), ("Собрание сочинений. Т. III", None, "3"),
    ("History of Central Asia. Part II", None, "2"), ("Tarix. Part I", None, "1"),
    ("Книга и жизнь", None, None), ("Книга в подарок", None, None),
    ("Tanlangan asarlar", "5 jildlik. 3-jild", "3"),
    ("Asarlar", "5 jildlik", None), ("Собрание сочинений в 2 томах", None, None),
    ("O‘zbekiston tarixi", "9-sinf uchun darslik", None),
])
def test_a_volume_the_title_names_is_the_volume_without_n(title, subtitle, volume):
    assert keys_of(book("1", title, subtitle=subtitle))[1].volume == volume


def test_digits_that_are_not_ascii_give_no_year_and_no_nonfiling_count():
    record = book("nd1", "The title", year=None)
    record.remove_fields("008")
    superscripts = "\u00b2" * 4  # digits to str.isdigit(), not to int()
    record.add_field(Field(tag="008", data=f"000000s{superscripts}    xx            000 0 eng d"))
    record["245"].indicator2 = "\u00b2"
    _keys, profile = match_data(record, ("(OCoLC)",), 25)
    assert profile.year is None
    assert nonfiling_chars(record["245"]) == 0


def test_language_codes_worked_out_once_are_taken_as_given():
    record = book("1", "Asarlar", language="rus")
    assert match_data(record, PREFIXES, 30)[1].language == "rus"
    assert match_data(record, PREFIXES, 30, language_codes=["und", "kaa"])[1].language == "kaa"


@pytest.mark.parametrize(("name", "written"), [
    ("Nawāʼī", "Navoʼiy"), ("Bābur", "Bobur"), ("Fārābī, Abū Naṣr", "Forobiy, Abū Naṣr"),
    ("Jāmī", "Jomiy"), ("Ibn Sīnā", "Ibn Sīno"), ("Nawa\u0304\u02bci\u0304", "Navoʼiy"),
    ("Navoiy", "Navoiy"), ("Навоий", "Навоий"), ("Navoiĭ", "Navoiĭ"),
])
def test_a_name_romanized_from_the_arabic_script_is_read_as_uzbek_writes_it(name, written):
    assert uzbek_form(name) == written
    author = match_data(book("1", "Xamsa", author=f"{name}, Alisher"), [], 30)[1].author
    assert author == match_data(book("2", "Xamsa", author=f"{written}, A."), [], 30)[1].author
