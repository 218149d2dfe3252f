"""Record validation: structure on raw ISO 2709, syntax, and one crafted error per rule."""

from __future__ import annotations

import pytest
from pymarc import Field, Indicators, Record, Subfield

from crosswalks.check import Problem, check_record
from crosswalks.iso2709 import iter_chunks
from tests.conftest import DATA

MARC21 = DATA / "marc21"
BOOK_008 = "240101s2024    uz " + "    " + "  " + "    " + " " + "000 0 " + "uzb d"


def book(**changes: str) -> Record:
    record = Record(leader=changes.get("leader", "00000nam a2200000 a 4500"))
    record.add_field(Field(tag="001", data="rec1"))
    record.add_field(
        Field(tag="008", data=changes.get("f008", BOOK_008))
    )
    record.add_field(
        Field(tag="245", indicators=Indicators("1", "0"), subfields=[Subfield("a", "Title")])
    )
    return record


def messages(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


def test_a_valid_book_has_no_problem_as_record_or_raw() -> None:
    record = book()
    assert len(record["008"].data) == 40  # type: ignore[union-attr]
    assert check_record(record) == []
    assert check_record(record.as_marc()) == []


def test_008_length_depends_on_the_record_type() -> None:
    assert messages(check_record(book(f008="x" * 39), 4)) == [
        "record 4, field 008: 39 characters; type 'a' needs 40 [008-length]"
    ]
    holdings = book(leader="00000nx  a2200000 a 4500", f008="x" * 32)
    holdings.remove_fields("245")
    assert check_record(holdings) == []


def test_bibliographic_records_need_245_authorities_do_not() -> None:
    record = book()
    record.remove_fields("245")
    assert [(p.tag, p.rule) for p in check_record(record)] == [("245", "required")]
    authority = book(leader="00000nz  a2200000n  4500")
    authority.remove_fields("245")
    assert check_record(authority) == []


def test_syntax_problems_name_their_field() -> None:
    record = book()
    record.add_field(
        Field(tag="650", indicators=Indicators("X", " "), subfields=[Subfield("é", "bad code")])
    )
    problems = [p for p in check_record(record, 2) if p.rule == "syntax"]
    assert {p.tag for p in problems} == {"650"}
    text = " ".join(messages(problems))
    assert "indicator 1 'X'" in text and "subfield code 'é'" in text


def test_raw_structure_is_checked_against_the_bytes() -> None:
    raw = bytearray(book().as_marc())
    raw[0:5] = b"00999"
    problems = messages(check_record(bytes(raw)))
    assert any("leader says 999 bytes" in p for p in problems)
    raw = bytearray(book().as_marc())
    raw[12:17] = b"00030"
    assert any("base address 30" in p for p in messages(check_record(bytes(raw))))


def test_every_broken_iso_file_has_problems_with_record_and_field() -> None:
    broken = MARC21 / "broken"
    for path in [*sorted(broken.glob("*.dat")), broken / "bad_records.mrc"]:
        with path.open("rb") as stream:
            for index, (chunk, _reason) in enumerate(iter_chunks(stream)):
                problems = check_record(chunk, index)
                assert problems, (path.name, index)
                assert all(p.index == index for p in problems)


def test_bad_indicator_file_names_the_fields() -> None:
    with (MARC21 / "broken" / "bad_indicator.dat").open("rb") as stream:
        chunk, _ = next(iter_chunks(stream))
    problems = check_record(chunk)
    assert any(p.tag is not None for p in problems)


def test_good_real_files_have_only_content_problems() -> None:
    """The pymarc sample files are structurally sound; content checks may still speak."""
    with (MARC21 / "marc.dat").open("rb") as stream:
        for index, (chunk, _reason) in enumerate(iter_chunks(stream)):
            for problem in check_record(chunk, index):
                assert problem.rule not in ("structure", "syntax", "charset"), problem


def datafield(tag: str, ind1: str, ind2: str, *pairs: str) -> Field:
    subfields = [Subfield(c, v) for c, v in zip(pairs[::2], pairs[1::2], strict=True)]
    return Field(tag=tag, indicators=Indicators(ind1, ind2), subfields=subfields)


def rda_book(*fields: Field, leader: str = "00000nam a2200000 i 4500") -> Record:
    """A valid RDA book with ISBD punctuation, then ``fields`` added in tag order."""
    record = Record(leader=leader)
    record.add_field(Field(tag="001", data="rec1"))
    record.add_field(Field(tag="008", data=BOOK_008))
    base = [
        datafield("020", " ", " ", "a", "9789943000018"),
        datafield("040", " ", " ", "a", "UzNL", "b", "uzb", "e", "rda", "c", "UzNL"),
        datafield("100", "1", " ", "a", "Navoiy, Alisher,", "d", "1441-1501."),
        datafield("245", "1", "0", "a", "Xamsa :", "b", "dostonlar /", "c", "Alisher Navoiy."),
        datafield("264", " ", "1", "a", "Toshkent :", "b", "Sharq,", "c", "2024."),
        datafield("300", " ", " ", "a", "640 pages ;", "c", "21 cm"),
        datafield("336", " ", " ", "a", "text", "b", "txt", "2", "rdacontent"),
        datafield("337", " ", " ", "a", "unmediated", "b", "n", "2", "rdamedia"),
        datafield("338", " ", " ", "a", "volume", "b", "nc", "2", "rdacarrier"),
        datafield("650", " ", "7", "a", "Uzbek poetry", "y", "15th century.", "2", "uzbsh"),
    ]
    for fld in sorted([*base, *fields], key=lambda f: f.tag):
        record.add_field(fld)
    return record


def rules_of(record: Record) -> list[tuple[str | None, str | None, str]]:
    return [(p.tag, p.position, p.rule) for p in check_record(record)]


def test_the_crafted_valid_record_passes_every_rule() -> None:
    assert check_record(rda_book()) == []
    assert check_record(rda_book().as_marc()) == []


def replaced(record: Record, tag: str, new: Field) -> Record:
    index = record.fields.index(record[tag])  # type: ignore[arg-type]
    record.fields[index] = new
    return record


SEEDED = {
    "tag-undefined": lambda: rda_book(datafield("023", " ", " ", "a", "x")),
    "field-not-repeatable": lambda: rda_book(datafield("245", "1", "0", "a", "Again.")),
    "indicator": lambda: replaced(rda_book(), "245", datafield("245", "2", "0", "a", "X.")),
    "subfield-undefined": lambda: rda_book(datafield("500", " ", " ", "q", "Note.")),
    "subfield-not-repeatable": lambda: replaced(
        rda_book(), "245", datafield("245", "1", "0", "a", "X.", "a", "Y.")
    ),
    "1xx-count": lambda: rda_book(datafield("110", "2", " ", "a", "Sharq.")),
    "008-value": lambda: replaced(rda_book(), "008", Field(tag="008", data=BOOK_008[:29] + "x"
                                                         + BOOK_008[30:])),
    "isbd-punctuation": lambda: replaced(
        rda_book(), "245", datafield("245", "1", "0", "a", "Xamsa", "b", "dostonlar")
    ),
    "isbn": lambda: replaced(rda_book(), "020", datafield("020", " ", " ", "a", "9789943000019")),
    "issn": lambda: rda_book(datafield("022", " ", " ", "a", "2000-0012")),
    "880-linkage": lambda: rda_book(datafield("880", "1", "0", "6", "245-01", "a", "Хамса.")),
    "041-language": lambda: rda_book(datafield("041", "0", " ", "a", "rus")),
    "rda": lambda: rda_book(datafield("260", " ", " ", "a", "Toshkent :", "b", "Sharq,", "c",
                                      "2024.")),
    "tag-order": lambda: _appended(rda_book(), datafield("100", "1", " ", "a", "X.")),
    "subject-subdivision": lambda: rda_book(datafield("651", " ", "7", "a", "Uzbekistan -- "
                                                      "History.", "2", "uzbsh")),
    "300-dimensions": lambda: replaced(rda_book(), "300",
                                       datafield("300", " ", " ", "a", "640 pages ; 21 cm")),
    "required": lambda: _without(rda_book(), "245"),
    "008-length": lambda: replaced(rda_book(), "008", Field(tag="008", data=BOOK_008[:39])),
}


def _appended(record: Record, fld: Field) -> Record:
    record.remove_fields("100")
    record.add_field(fld)
    return record


def _without(record: Record, tag: str) -> Record:
    record.remove_fields(tag)
    return record


@pytest.mark.parametrize("rule", sorted(SEEDED))
def test_each_seeded_error_is_found_by_its_rule(rule: str) -> None:
    record = SEEDED[rule]()
    found = check_record(record)
    assert rule in {p.rule for p in found}, messages(found)
    text = messages(found)
    assert all(line.startswith("record 0, ") and line.endswith("]") for line in text)


def test_messages_name_tag_position_and_rule_as_marc_lint_does() -> None:
    assert messages(check_record(SEEDED["indicator"]())) == [
        "record 0, field 245 ind1: Indicator 1 must be 0 or 1 but it's \"2\" [indicator]"
    ]
    assert "record 0, field 008/29: BK 008/29 'x' is not a defined value [008-value]" in messages(
        check_record(SEEDED["008-value"]())
    )
    (isbn,) = check_record(SEEDED["isbn"]())
    assert (isbn.tag, isbn.position, isbn.rule) == ("020", "$a", "isbn")
    assert "9789943000019" in isbn.message


def test_linkage_is_checked_both_ways() -> None:
    forward = rda_book()
    forward["245"].subfields.insert(0, Subfield("6", "880-01"))  # type: ignore[index]
    assert ("245", "$6", "880-linkage") in rules_of(forward)
    forward.add_field(datafield("880", "1", "0", "6", "245-01", "a", "Хамса :", "b", "достонлар /",
                                "c", "Алишер Навоий."))
    assert rules_of(forward) == []


def test_a_tab_or_line_break_in_a_subfield_is_a_control_character() -> None:
    """Only tab, carriage return and line feed: other characters that are not printable (a
    no-break space, a right-to-left mark) are text."""
    for text, found in [("Note\twith a tab.", True), ("Line\r\nbreak.", True),
                        ("Line\nbreak.", True), ("No-break\u00a0space.", False),
                        ("Mark \u200f here.", False), ("Plain note.", False)]:
        record = rda_book(datafield("500", " ", " ", "a", text))
        assert (("500", "$a", "control-character") in rules_of(record)) is found, repr(text)


def test_a_field_shape_seen_before_is_judged_alike_and_control_characters_in_order() -> None:
    """Field definitions are judged once per field shape (tag, indicators, codes) while no
    value has a control character; a value with one is judged in full, each subfield's
    findings in its place."""
    plain = rda_book(datafield("500", "1", " ", "q", "Note.", "a", "Text.", "q", "Again."))
    tabbed = rda_book(datafield("500", "1", " ", "q", "Note\t", "a", "Text.", "q", "Again."))
    shape = [("500", "ind1", "indicator"), ("500", "$q", "subfield-undefined"),
             ("500", "$q", "subfield-undefined")]
    for _ in range(2):
        assert rules_of(plain) == shape
        assert rules_of(tabbed) == [*shape[:2], ("500", "$q", "control-character"), shape[2]]


def test_490_is_judged_by_its_definition_other_x9x_fields_are_local() -> None:
    """MARC 21 defines 490 (Series Statement) although X9X fields are otherwise local."""
    series = rda_book(datafield("490", "7", "5", "a", "Series.", "q", "Odd."))
    assert rules_of(series) == [("490", "ind1", "indicator"), ("490", "ind2", "indicator"),
                                ("490", "$q", "subfield-undefined")]
    assert rules_of(rda_book(datafield("490", "1", " ", "a", "Series ;", "v", "2."))) == []
    assert rules_of(rda_book(datafield("590", "7", "5", "q", "Local note."))) == []


def test_embedded_textual_holdings_are_judged_by_their_definition() -> None:
    """A bibliographic record may embed holdings (MARC 21 Bibliographic, 841-88X: the union
    catalogue's 852 with its 866-868 linked by $8); 866-868 are defined as MARC 21 Holdings
    defines them, not undefined tags."""
    location = datafield("852", " ", " ", "8", "1", "a", "UzSaRL", "h", "54 K-45")
    held = [datafield(tag, "4", "1", "8", "1", "a", "v. 1-3", "z", "Some missing.",
                      "x", "Bound.", "2", "ansi") for tag in ("866", "867", "868")]
    assert rules_of(rda_book(location, *held)) == []
    odd = datafield("866", "2", " ", "8", "1", "a", "v. 1", "a", "v. 2", "b", "x")
    assert rules_of(rda_book(location, odd)) == [
        ("866", "ind1", "indicator"), ("866", "ind2", "indicator"),
        ("866", "$a", "subfield-not-repeatable"), ("866", "$b", "subfield-undefined")]


def embedded_holdings() -> list[Field]:
    """A serial's holdings as a bibliographic record may embed them (MARC 21 Holdings): coded
    values, notes, a location, captions linked by $8 to their enumeration, and items."""
    return [
        datafield("841", " ", " ", "a", "y  0", "b", "0312014p    8   4001aaeng0000000", "e", "4"),
        datafield("842", " ", " ", "a", "Microfilm"),
        datafield("843", " ", " ", "3", "v. 1-3", "a", "Microfilm.", "b", "Toshkent :",
                  "c", "UzNL,", "d", "2003.", "e", "3 reels ; 35 mm.", "7", "s2003    uzmr"),
        datafield("844", " ", " ", "a", "Fond 12"),
        datafield("845", " ", " ", "a", "Copying allowed for study.", "5", "UzNL"),
        datafield("852", " ", " ", "8", "1", "a", "UzSaRL"),
        datafield("853", "2", "0", "8", "1", "a", "v.", "b", "no.", "u", "12", "v", "r",
                  "i", "(year)", "j", "(month)", "w", "m"),
        datafield("854", "0", "3", "8", "2", "a", "v.", "o", "atlas"),
        datafield("855", " ", " ", "8", "3", "a", "v.", "o", "index"),
        datafield("863", "4", "1", "8", "1.1", "a", "1", "b", "1-12", "i", "2001",
                  "z", "Some missing.", "x", "Bound."),
        datafield("864", "3", "0", "8", "2.1", "a", "1-3"),
        datafield("865", "5", "3", "8", "3.1", "a", "1-5", "v", "2005", "p", "39001"),
        datafield("876", " ", " ", "8", "1.1", "a", "551", "p", "39002", "p", "39003",
                  "j", "available", "t", "1"),
        datafield("877", " ", " ", "8", "2.1", "p", "39004"),
        datafield("878", " ", " ", "8", "3.1", "p", "39005", "z", "In the reading room."),
    ]


def test_embedded_holdings_fields_are_judged_by_their_definitions() -> None:
    """841-845, 853-855, 863-865 and 876-878 were undefined tags: each is now defined as
    MARC 21 Holdings defines it, and a wrong indicator, subfield or repetition is still
    found; 855 and 865 (indexes) allow fewer indicator values than 853-854 and 863-864."""
    assert rules_of(rda_book(*embedded_holdings())) == []
    odd = [
        datafield("841", " ", " ", "a", "y  0", "c", "x"),
        datafield("841", " ", " ", "a", "y  0"),
        datafield("853", "4", " ", "8", "1", "a", "v.", "w", "m", "w", "q"),
        datafield("855", "2", "0", "8", "2", "a", "v."),
        datafield("863", "4", "1", "8", "1.1", "8", "1.2", "a", "1"),
        datafield("865", "3", "0", "8", "2.1", "a", "1"),
        datafield("876", "1", " ", "p", "39002", "t", "1", "t", "2"),
    ]
    assert rules_of(rda_book(*odd)) == [
        ("841", "$c", "subfield-undefined"), ("841", None, "field-not-repeatable"),
        ("853", "ind1", "indicator"), ("853", "ind2", "indicator"),
        ("853", "$w", "subfield-not-repeatable"),
        ("855", "ind1", "indicator"), ("855", "ind2", "indicator"),
        ("863", "$8", "subfield-not-repeatable"),
        ("865", "ind1", "indicator"), ("865", "ind2", "indicator"),
        ("876", "ind1", "indicator"), ("876", "$t", "subfield-not-repeatable"),
    ]


def test_tag_order_is_by_hundreds_and_control_fields_first() -> None:
    def order(*tags: str) -> list[str]:
        record = Record(leader="00000nam a2200000 i 4500")
        for tag in tags:
            if tag < "010":
                record.add_field(Field(tag=tag, data="x"))
            else:
                record.add_field(datafield(tag, " ", " ", "a", "X."))
        return [p.message for p in check_record(record) if p.rule == "tag-order"]

    assert order("001", "008", "245", "511", "505", "650", "630", "600") == []
    assert order("001", "245", "100") == ["100 after 245: 1XX fields come before 2XX fields"]
    assert order("001", "020", "008") == ["008 after 020: control fields come before data fields"]
    assert order("008", "001", "245") == ["001 after 008: control fields go in ascending tag order"]
    assert order("001", "650", "880", "590", "700") == []  # 880 and local fields excepted


def test_the_loc_collection_passes_the_tag_order_rule() -> None:
    from crosswalks.marc_io import iter_records

    for name in ("collection-2.xml", "collection-sandburg-1.xml"):
        path = DATA / "marc21" / "loc" / name
        for item in iter_records(path):
            assert item.record is not None
            assert "tag-order" not in {p.rule for p in check_record(item.record)}


@pytest.mark.parametrize(
    ("value", "flagged"),
    [("History--Uzbekistan", True), ("History -- Uzbekistan", True), ("History --", True),
     ("History-- Uzbekistan", True), ("World War, 1939--1945", False), ("Uzbekistan", False)],
)  # fmt: skip
def test_subject_subdivisions_in_a_are_flagged_spaced_or_not(value: str, flagged: bool) -> None:
    record = rda_book(datafield("651", " ", "7", "a", value, "2", "uzbsh"))
    assert ("subject-subdivision" in {p.rule for p in check_record(record)}) is flagged


def test_a_record_read_from_iso2709_has_the_same_problems_without_its_lengths_counted() -> None:
    """What the catalogue checks an imported record as (its canonical MARC read again)."""
    from catalog.search_index import read_canonical
    from catalog.store import canonical_marc
    from crosswalks.iso2709 import read_record

    checked = 0
    for name in ("marc.dat", "test.dat", "1251.dat", "marc8.dat", "alphatag.dat"):
        with (MARC21 / name).open("rb") as stream:
            for chunk, _ in iter_chunks(stream):
                record = read_canonical(canonical_marc(read_record(chunk)[0]))
                assert messages(check_record(record, 1, read_from_iso2709=True)) == messages(
                    check_record(record, 1))
                checked += 1
    assert checked > 10
