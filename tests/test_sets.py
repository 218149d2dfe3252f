import re

from pymarc import Field, Indicators, Leader, Record, Subfield

from catalog.sets import material_type, set_name, set_specs
from config import SetRule, Settings
from crosswalks.dublin_core import marc_languages, marc_to_dc


def make(leader: str, *fields: Field) -> Record:
    record = Record()
    record.leader = Leader(leader)
    for field in fields:
        record.add_field(field)
    return record


def f(tag: str, *pairs: str) -> Field:
    return Field(tag=tag, indicators=Indicators(" ", " "),
                 subfields=[Subfield(c, v) for c, v in zip(pairs[::2], pairs[1::2], strict=True)])


def test_material_from_leader():
    assert material_type(make("00000nam a2200000 i 4500")) == "book"
    assert material_type(make("00000nas a2200000 i 4500")) == "serial"
    assert material_type(make("00000nem a2200000 i 4500")) == "map"
    assert material_type(make("00000njm a2200000 i 4500")) == "music"
    assert material_type(make("00000nzm a2200000 i 4500")) is None


def test_languages_from_008_and_041():
    fixed = Field(tag="008", data="000101s2000    uz " + " " * 17 + "uzb d")
    record = make("00000nam a2200000 i 4500", fixed, f("041", "a", "uzbrus", "d", "eng"))
    assert marc_languages(record) == ["uzb", "rus", "eng"]


def test_language_sets_say_what_dublin_core_says():
    """One reading of a record's languages: an 041 value that is not packed codes ("english")
    is not cut into codes ("eng", "lis": Lisu), nor is a Cyrillic one taken for a code."""
    fixed = Field(tag="008", data="000101s2000    uz " + " " * 17 + "uzb d")
    record = make("00000nam a2200000 i 4500", fixed,
                  f("041", "a", "english", "a", "узб", "d", "rus"))
    rules = [SetRule(spec="lang", name="By language", rule="language")]
    dc = [code.decode() for code in re.findall(rb"<dc:language>([^<]*)<", marc_to_dc(record))]
    assert dc == ["uzb", "english", "rus"]
    assert set_specs(record, rules) == sorted(["lang", *(f"lang:{code}" for code in dc)])


def test_specs_include_parents_and_collections():
    record = make(
        "00000nam a2200000 i 4500",
        Field(tag="008", data="000101s2000    uz " + " " * 17 + "uzb d"),
        f("040", "a", "UzNL"),
        f("852", "a", "Uz Sam ARM"),
    )
    rules = [*Settings().sets, SetRule(spec="rare", name="Rare", rule="collection",
                                       sources=["r"])]
    assert set_specs(record, rules, source="r") == [
        "inst", "inst:UzNL", "inst:UzSamARM", "lang", "lang:uzb", "rare", "type", "type:book"
    ]
    assert "rare" not in set_specs(record, rules, source=None)
    assert set_name("lang:uzb", rules) == "By language: Uzbek"
    assert set_name("type", rules) == "By material type"


def test_language_codes_worked_out_once_are_taken_as_given():
    fixed = Field(tag="008", data="000101s2000    uz " + " " * 17 + "uzb d")
    record = make("00000nam a2200000 i 4500", fixed)
    rules = [SetRule(spec="lang", name="By language", rule="language")]
    assert set_specs(record, rules) == ["lang", "lang:uzb"]
    assert set_specs(record, rules, language_codes=marc_languages(record)) == ["lang", "lang:uzb"]
    assert set_specs(record, rules, language_codes=["kaa"]) == ["lang", "lang:kaa"]
