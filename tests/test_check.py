"""Record validation: structure on raw ISO 2709, syntax, 008 length, 245."""

from __future__ import annotations

from pymarc import Field, Indicators, Record, Subfield

from crosswalks.check import Problem, check_record
from crosswalks.iso2709 import iter_chunks
from tests.conftest import DATA

MARC21 = DATA / "marc21"


def book(**changes: str) -> Record:
    record = Record(leader=changes.get("leader", "00000nam a2200000 a 4500"))
    record.add_field(Field(tag="001", data="rec1"))
    record.add_field(
        Field(tag="008", data=changes.get("f008", "240101s2024    uz " + " " * 17 + "uzb d"))
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
        "record 4, field 008: 39 characters; type 'a' needs 40"
    ]
    holdings = book(leader="00000nx  a2200000 a 4500", f008="x" * 32)
    holdings.remove_fields("245")
    assert check_record(holdings) == []


def test_bibliographic_records_need_245_authorities_do_not() -> None:
    record = book()
    record.remove_fields("245")
    assert [(p.tag, p.message.split(" ")[0]) for p in check_record(record)] == [("245", "missing")]
    authority = book(leader="00000nz  a2200000n  4500")
    authority.remove_fields("245")
    assert check_record(authority) == []


def test_syntax_problems_name_their_field() -> None:
    record = book()
    record.add_field(
        Field(tag="650", indicators=Indicators("X", " "), subfields=[Subfield("é", "bad code")])
    )
    problems = check_record(record, 2)
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
                assert problem.tag in ("008", "245"), problem
