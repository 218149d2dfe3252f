"""A small builder of MARC21 book records for the match key, matcher, dedup and union tests, and
:func:`write_marc`, which writes records as one ISO 2709 file for the commands that read one."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pymarc import Field, Indicators, Leader, Record, Subfield


def book(
    control: str,
    title: str,
    *,
    author: str | None = None,
    year: int | None = 2001,
    isbn: str | list[str] | None = None,
    pages: int | None = 200,
    language: str = "uzb",
    edition: str | None = None,
    volume: str | None = None,
    series: tuple[str, str] | None = None,
    subtitle: str | None = None,
    nonfiling: int = 0,
    organization: str | None = None,
    issn: str | None = None,
    subjects: tuple[str, ...] = (),
    call_number: str | None = None,
    sublocation: str | None = None,
    ids: dict[str, str] | None = None,
    type_of_record: str = "a",
    level: str = "m",
) -> Record:
    """A book record; every argument is one field (None: the field is absent)."""
    record = Record(force_utf8=True)
    record.leader = Leader(f"00000n{type_of_record}{level} a22000007a 4500")
    record.add_field(Field(tag="001", data=control))
    if organization:
        record.add_field(Field(tag="003", data=organization))
    date = f"{year:04d}" if year is not None else "    "
    record.add_field(Field(tag="008", data=f"010101s{date}    uz            000 0 {language} d"))
    for tag, value in (ids or {}).items():
        record.add_field(_field(tag, " ", " ", "a", value))
    for value in [isbn] if isinstance(isbn, str) else (isbn or []):
        record.add_field(_field("020", " ", " ", "a", value))
    if issn:
        record.add_field(_field("022", " ", " ", "a", issn))
    if author:
        record.add_field(_field("100", "1", " ", "a", author))
    codes = ["a", title + (" :" if subtitle else "")]
    if subtitle:
        codes += ["b", subtitle]
    if volume:
        codes += ["n", volume]
    record.add_field(_field("245", "1" if author else "0", str(nonfiling), *codes))
    if edition:
        record.add_field(_field("250", " ", " ", "a", edition))
    if year is not None:
        record.add_field(_field("260", " ", " ", "a", "Toshkent :", "b", "Fan,", "c",
                                f"{year}."))
    if pages is not None:
        record.add_field(_field("300", " ", " ", "a", f"{pages} b."))
    if series:
        record.add_field(_field("490", "0", " ", "a", series[0], "v", series[1]))
    for subject in subjects:
        record.add_field(_field("650", " ", "4", "a", subject))
    if call_number or sublocation:
        codes = ["a", organization or "X"]
        if sublocation:
            codes += ["b", sublocation]
        if call_number:
            codes += ["h", call_number]
        record.add_field(_field("852", " ", " ", *codes))
    return record


def _field(tag: str, ind1: str, ind2: str, *codes_and_values: str) -> Field:
    pairs = zip(codes_and_values[::2], codes_and_values[1::2], strict=True)
    return Field(tag=tag, indicators=Indicators(ind1, ind2),
                 subfields=[Subfield(code, value) for code, value in pairs])


def write_marc(path: Path, records: Iterable[Record]) -> None:
    """Write ``records`` to ``path`` as one ISO 2709 (MARC21) file."""
    from crosswalks.marc_io import open_writer

    with path.open("wb") as out:
        writer = open_writer("marc21", out)
        for record in records:
            writer.write(record)
        writer.close()
