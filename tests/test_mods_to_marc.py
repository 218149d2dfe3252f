"""MODS -> MARC21: marc -> mods -> marc on the LoC and yaz samples keeps what a catalogue
exchanges, and the result is valid MARC21 (serialized, read back, lengths right)."""

from __future__ import annotations

import io
import re
from collections import Counter

import pymarc
import pytest
from lxml import etree

from crosswalks.mods import NOTE_TYPES, marc_to_mods
from crosswalks.mods_to_marc import mods_to_marc
from tests.test_dublin_core import SAMPLES

_WORD = re.compile(r"\w+")
TYPED_NOTES = [tag for tag, kind in NOTE_TYPES.items() if kind and tag != "535"]


def words(field: pymarc.Field, codes: str) -> tuple[str, ...]:
    """The words of the chosen subfields, without punctuation (ISBD is not re-added)."""
    return tuple(w for s in field.subfields if s.code in codes for w in _WORD.findall(s.value))


def essentials(record: pymarc.Record) -> Counter:
    """What the round trip must keep, as comparable (kind, words) items."""
    kept: Counter = Counter()
    for f in record.get_fields("245"):
        kept[("title", words(f, "abfgknps"))] += 1
    for f in record.get_fields("100", "110", "111", "700", "710", "711"):
        # like LoC's stylesheet, personal names with the obsolete first indicator 2 (multiple
        # surname) are not mapped to MODS
        if f.get("t") is None and not (f.tag[1] == "0" and f.indicators[0] == "2"):
            kept[("name", f.tag[1:], words(f, "abcdq"))] += 1
    for f in record.get_fields("260"):
        kept[("date", words(f, "c"))] += 1
    f008 = record.get("008")
    if f008 is not None and f008.data and len(f008.data) == 40:
        kept[("008 date1", f008.data[7:11].strip())] += 1
    for f in record.get_fields("600", "610", "611", "630", "648", "650", "651"):
        kept[("subject", f.tag, words(f, "abcdpqtvxyz"))] += 1
    for tag in ("020", "022"):
        for f in record.get_fields(tag):
            kept[("identifier", tag, words(f, "a"))] += 1
    for f in record.get_fields("010"):
        kept[("lccn", words(f, "a"))] += 1
    for f in record.get_fields(*TYPED_NOTES):  # each back in its own tag
        left_out = {"508": "u368", "518": "368", "530": "u368"}.get(f.tag, "68")
        codes = "".join(sorted({s.code for s in f.subfields} - set(left_out)))
        kept[("note", f.tag, words(f, codes))] += 1
    return Counter({k: n for k, n in kept.items() if k[-1]})


def round_trip(record: pymarc.Record) -> pymarc.Record:
    back = mods_to_marc(etree.fromstring(marc_to_mods(record)))
    data = back.as_marc()
    assert int(data[:5]) == len(data)
    reread = next(pymarc.MARCReader(io.BytesIO(data), to_unicode=True, force_utf8=True))
    assert reread is not None and len(reread["008"].data) == 40
    return reread


@pytest.mark.parametrize(("label", "record"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_round_trip_keeps_essentials(label: str, record: pymarc.Record) -> None:
    before = essentials(record)
    after = essentials(round_trip(record))
    assert before - after == Counter(), f"{label}: lost {before - after}"


def test_original_script_becomes_linked_880() -> None:
    record = dict(SAMPLES)["marc12.xml#0"]
    back = round_trip(record)
    assert back["245"]["6"] == "880-02"
    titles = [f for f in back.get_fields("880") if f["6"].startswith("245-02")]
    assert [f["a"] for f in titles] == ["车票去哪儿了"]
    assert titles[0]["6"] == "245-02/$1"


def test_each_script_of_a_statement_of_responsibility_comes_back_in_its_own_title() -> None:
    """The Latin $c of a 245's 880 came back as a second $c of the Cyrillic 245 (not
    repeatable), its 880 without one."""
    record = pymarc.Record(force_utf8=True, leader="00000nam a2200000 i 4500")
    record.add_field(pymarc.Field("008", data="200101s2020    uz            000 0 uzb d"))
    for tag, six, title, part, responsibility in (
        ("245", "880-02", "Бухоро ва Хива", "11-жилд", "Алишер Навоий."),
        ("880", "245-02/(B", "Buxoro va Xiva", "11-jild", "Alisher Navoiy."),
    ):
        record.add_field(pymarc.Field(tag, ["1", "0"], [
            pymarc.Subfield("6", six), pymarc.Subfield("a", title), pymarc.Subfield("n", part),
            pymarc.Subfield("c", responsibility)]))  # fmt: skip
    back = round_trip(record)
    assert back["245"].get_subfields("c") == ["Алишер Навоий."]
    (linked,) = back.get_fields("880")
    assert linked["6"] == "245-02/(B" and linked.get_subfields("c") == ["Alisher Navoiy."]


def test_sandburg_fields() -> None:
    record = dict(SAMPLES)["collection-sandburg-1.xml#0"]
    back = round_trip(record)
    assert back["100"]["a"] == "Sandburg, Carl," and back["100"]["d"] == "1878-1967"
    assert back["700"]["e"] == "ill"
    assert back["245"]["a"] == "Arithmetic"
    assert back["245"]["c"].startswith("Carl Sandburg")
    assert back["260"]["b"] == "Harcourt Brace Jovanovich"
    assert back["008"].data[7:11] == "1993" and back["008"].data[35:38] == "eng"
    assert back["008"].data[15:18] == "cau"
    assert back["001"].data == "92005291"
    assert [f.indicators[1] for f in back.get_fields("650")] == ["0", "0", "1", "1", "1"]
    assert back.leader[6:8] == "am"


def test_notes_come_back_in_their_tags_linked_and_with_valid_indicators() -> None:
    record = pymarc.Record(force_utf8=True, leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field("008", data="990101s1999    uz            000 0 uzb d"))
    record.add_field(pymarc.Field("245", ["1", "0"], [pymarc.Subfield("a", "Xamsa")]))
    for tag, ind, text in (("362", "0 ", "Vol. 1"), ("511", "1 ", "Karimov"),
                           ("546", "  ", "Matn oʻzbek tilida."), ("506", "  ", "Cheklangan.")):
        record.add_field(pymarc.Field(tag, list(ind), [pymarc.Subfield("6", "880-0" + tag[2]),
                                                        pymarc.Subfield("a", text)]))
    record.add_field(pymarc.Field("880", [" ", " "], [pymarc.Subfield("6", "546-06/(N"),
                                                       pymarc.Subfield("a", "Матн ўзбек тилида.")]))
    back = round_trip(record)
    assert back["362"].indicators[0] == "1" and back["511"].indicators[0] == "0"
    assert back["546"]["a"] == "Matn oʻzbek tilida." and back["506"]["a"] == "Cheklangan."
    link = back["546"]["6"]  # the alternate script is an 880 again, linked both ways
    (linked,) = [f for f in back.get_fields("880") if f["6"].startswith("546-" + link[4:6])]
    assert linked["a"] == "Матн ўзбек тилида."



def test_an_abstract_comes_back_with_its_indicator_link_and_linked_880() -> None:
    """A 520's first indicator (the abstract's displayLabel) and $u (its xlink:href) came back
    as a 520 with blank indicators and no link, its 880 unlinked."""
    record = pymarc.Record(force_utf8=True, leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field("008", data="990101s1999    uz            000 0 uzb d"))
    record.add_field(pymarc.Field("245", ["1", "0"], [pymarc.Subfield("a", "Xamsa")]))
    record.add_field(pymarc.Field("520", ["3", " "], [pymarc.Subfield("6", "880-01"),
                                                      pymarc.Subfield("a", "Besh doston."),
                                                      pymarc.Subfield("u", "http://example.org/x")]))
    record.add_field(pymarc.Field("880", ["3", " "], [pymarc.Subfield("6", "520-01/(N"),
                                                      pymarc.Subfield("a", "Беш достон.")]))
    record.add_field(pymarc.Field("520", [" ", " "], [pymarc.Subfield("a", "Summary.")]))
    back = round_trip(record)
    first, second = back.get_fields("520")
    assert first.indicators[0] == "3" and first["a"] == "Besh doston."
    assert first["u"] == "http://example.org/x"
    (linked,) = [f for f in back.get_fields("880") if f["6"].startswith("520-" + first["6"][4:6])]
    assert linked["a"] == "Беш достон."
    assert second.indicators[0] == " " and second.get("u") is None


def test_a_notes_link_comes_back_as_its_u_where_marc_defines_one() -> None:
    """A note's xlink:href (from $u) was lost on the way back: 530 and 538 came back without
    their $u (538's in its $a), and a 538 of a link alone as that link in $a."""
    record = pymarc.Record(force_utf8=True, leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field("008", data="990101s1999    uz            000 0 uzb d"))
    record.add_field(pymarc.Field("245", ["1", "0"], [pymarc.Subfield("a", "Xamsa")]))
    record.add_field(pymarc.Field("530", [" ", " "], [pymarc.Subfield("a", "Onlayn."),
                                                      pymarc.Subfield("u", "http://example.org/a")]))
    record.add_field(pymarc.Field("538", [" ", " "], [pymarc.Subfield("u", "http://example.org/b")]))
    record.add_field(pymarc.Field("500", [" ", " "], [pymarc.Subfield("a", "Izoh."),
                                                      pymarc.Subfield("0", "http://example.org/c")]))
    back = round_trip(record)
    assert (back["530"]["a"], back["530"]["u"]) == ("Onlayn.", "http://example.org/a")
    assert back["538"].subfields == [pymarc.Subfield("u", "http://example.org/b")]
    # 500 defines no $u: the link stays in the text, where the note holds it
    assert back["500"].subfields == [pymarc.Subfield("a", "Izoh. http://example.org/c")]


@pytest.mark.parametrize(("title", "skip", "nonsort"), [
    ("The pragmatic programmer", "4", "The "),
    ("L'Homme et la mer", "2", "L'"),
    ("Les misérables", "4", "Les "),
])  # fmt: skip
def test_a_nonfiling_article_goes_round_the_trip_unchanged(
    title: str, skip: str, nonsort: str
) -> None:
    """MARC -> MODS writes ``<nonSort>The  </nonSort>`` (the article, its space and one more,
    as LoC's stylesheet does): it came back as 245 second indicator 5, and the next trip cut
    the title's first letter into the nonSort ("The p", "ragmatic programmer")."""
    record = pymarc.Record()
    record.add_field(pymarc.Field("245", pymarc.Indicators("1", skip),
                                  [pymarc.Subfield("a", title)]))  # fmt: skip
    once = round_trip(record)
    assert once["245"].indicators == pymarc.Indicators("0", skip)
    assert once["245"]["a"] == title
    twice = round_trip(once)
    assert twice["245"].indicators[1] == skip and twice["245"]["a"] == title
    mods = etree.fromstring(marc_to_mods(twice))
    assert mods.findtext(".//{http://www.loc.gov/mods/v3}nonSort").rstrip() == nonsort.rstrip()


@pytest.mark.parametrize(("nonsort", "title", "marc", "skip"), [
    ("The", "pragmatic", "The pragmatic", "4"),  # a word written without its space
    ("The ", " pragmatic", "The pragmatic", "4"),
    ("", "Pragmatic", "Pragmatic", "0"),
])  # fmt: skip
def test_nonsort_as_other_mods_writers_write_it(
    nonsort: str, title: str, marc: str, skip: str
) -> None:
    mods = (f'<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><nonSort xml:space="preserve">'
            f"{nonsort}</nonSort><title>{title}</title></titleInfo></mods>")
    record = mods_to_marc(etree.fromstring(mods))
    assert record["245"]["a"] == marc and record["245"].indicators[1] == skip
