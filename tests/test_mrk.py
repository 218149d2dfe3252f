"""MarcEdit text (crosswalks.mrk): character mnemonics read and written."""

from __future__ import annotations

import io

import pytest
from pymarc import Field, Indicators, Record, Subfield

from crosswalks import mrk
from crosswalks.marc_io import iter_records

LEADER = "=LDR  00000nam\\a2200000\\a\\4500\n"


def read(line: str) -> tuple[Record, list[str]]:
    unknown: list[str] = []
    return mrk.parse_mrk(LEADER + line, unknown), unknown


def test_ansel_mnemonics_put_marks_on_the_following_letter() -> None:
    record, unknown = read("=245  10$aCaf{acute}e {Lstrok}{acute}od{acute}z {mllhring}Ali\n")
    assert record["245"]["a"] == "Café Łódź ʻAli" and unknown == []


def test_letters_by_name_and_the_four_escapes() -> None:
    record, _ = read("=245  10$a{eacute}t{eacute} {Uuml}ber {scaron} {dollar}5 {lcub}x{rcub}\n")
    assert record["245"]["a"] == "été Über š $5 {x}"


def test_escape_mnemonics_switch_marc8_sets() -> None:
    record, _ = read("=100  1\\$a{esc}(NpU[KIN{esc}(B, {esc}(Nf{esc}(QD{esc}(NDOR{esc}(B\n")
    assert record["100"]["a"] == "Пушкин, Фёдор"


def test_unknown_mnemonics_stay_as_written_and_are_reported() -> None:
    record, unknown = read("=245  10$aA {nosuch} b\n")
    assert record["245"]["a"] == "A {nosuch} b"
    assert unknown == ["field 245: unknown mnemonic {nosuch}"]
    (item,) = iter_records(io.BytesIO((LEADER + "=245  10$aA {nosuch} b\n").encode()), "mrk")
    assert item.record is not None and item.notes == unknown


def test_mnemonic_output_is_ascii_and_reads_back_the_same() -> None:
    record = Record(leader="00000nam a2200000 i 4500")
    record.add_field(Field(tag="008", data="250101s2025    uz            000 0 uzb d"))
    values = ["Чўлпон", "Oʻzbekiston", "Müller, café $5 {x} \\", "Қодирий ёзди", "Ελληνικά"]
    record.add_field(
        Field(tag="245", indicators=Indicators("1", "0"),
              subfields=[Subfield("a", value) for value in values])
    )
    text = mrk.record_to_mrk(record, mnemonics=True)
    assert text.isascii() and "{esc}(N" in text and "{mllhring}" in text and "{uml}u" in text
    back = mrk.parse_mrk(text)
    assert back["245"].get_subfields("a") == values
    assert back["008"].data == record["008"].data


def test_a_code_page_mrk_file_is_read_in_the_charset_given() -> None:
    text = LEADER + "=245  10$aВойна и мир {acute}\n"
    items = list(iter_records(io.BytesIO(text.encode("cp1251")), "mrk", charset="cp1251"))
    assert items[0].record is not None and items[0].record["245"]["a"] == "Война и мир \u0301"
    (broken,) = iter_records(io.BytesIO(text.encode("cp1251")), "mrk")
    assert broken.record is None and "not UTF-8" in (broken.error or "")


def test_an_ldr_line_begins_a_record_without_a_blank_line_before_it() -> None:
    """MarcEdit begins a record at each =LDR line. Records written with no blank line between
    them were read as one holding every record's fields (the hostile-file probe's
    mrk_noblank_many.mrk: five records imported as one with five 001s); each is its own now,
    its line numbers counted from the file's start, an =LDR line cut by a block end included."""
    records = [f"{LEADER}=001  m{n}\n=245  10$aT{n}\n" for n in range(5)]
    records[2] = f"{LEADER}=001  m2\n=245  10aT2\n"  # no $: rejected, on its own
    padding = mrk.BLOCK - len(records[0]) - len("=500  \\\\$a\n") - 2
    records[0] += f"=500  \\\\$a{'x' * padding}\n"  # the next =LDR: 2 bytes short of a block
    text = "".join(records)
    assert text.index("=LDR", 1) == mrk.BLOCK - 2
    items = list(iter_records(io.BytesIO(text.encode()), "mrk"))
    assert [item.record["001"].data if item.record else None for item in items] == [
        "m0", "m1", None, "m3", "m4"
    ]
    assert [len(item.record.get_fields("245")) for item in items if item.record] == [1] * 4
    assert items[2].error == "line 3: field 245 needs two indicators and $ (record from line 8)"
    over = list(iter_records(io.BytesIO(text.encode()), "mrk", max_record_bytes=1000))
    assert [item.record["001"].data if item.record else None for item in over] == [
        None, "m1", None, "m3", "m4"
    ]
    assert "larger than the limit of 1000 bytes" in (over[0].error or "")
    with pytest.raises(ValueError, match="line 4: a second leader"):
        mrk.parse_mrk(records[1] + records[3])
