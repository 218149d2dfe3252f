"""Authority records built by hand, as ISO 2709 bytes, for the UNIMARC detection and crosswalk
tests: UNIMARC/Authorities records (which the bibliographic UNIMARC crosswalk must refuse), a
MARC21 authority record (which must stay MARC21), and one UNIMARC bibliographic record beside
them (which must still convert).

UNIMARC/Authorities record label: leader/06 'x' authority entry, 'y' reference entry, 'z'
general explanatory entry; 100 $a general processing data of 24 characters (date entered on
file, status, language of cataloguing, ...); 2XX the heading; 801 the originating source.
"""

from __future__ import annotations

from pymarc import Field, Leader, Record, Subfield


def _iso(leader: str, *fields: Field) -> bytes:
    record = Record(force_utf8=True)
    record.leader = Leader(leader)
    for field in fields:
        record.add_field(field)
    return record.as_marc()


def _data(tag: str, ind: str, *pairs: str) -> Field:
    codes, values = pairs[::2], pairs[1::2]
    return Field(
        tag=tag,
        indicators=list(ind),
        subfields=[Subfield(code, value) for code, value in zip(codes, values, strict=True)],
    )


AUTHORITY_PROCESSING = "20040318arusy50      ca"
"""UNIMARC/Authorities 100 $a: entered 2004-03-18, status a, Russian, no transliteration
('y'), ISO 10646 ('50'), Cyrillic script ('ca'): 24 characters."""


def unimarc_person() -> bytes:
    """A UNIMARC authority entry record (leader/06 'x') for a person: heading 200, a see
    reference 400, 801 — what the bibliographic crosswalk would turn into a 'book' titled by
    the person's name."""
    return _iso(
        "00000nx  a2200000   450 ",
        Field(tag="001", data="UZ-NLU-A-7701"),
        _data("100", "  ", "a", AUTHORITY_PROCESSING),
        _data("152", "  ", "a", "RCR"),
        _data("200", " 1", "a", "Навоий", "b", "Алишер", "f", "1441-1501"),
        _data("400", " 1", "a", "Navoiy", "b", "Alisher"),
        _data("801", " 0", "a", "UZ", "b", "NLU", "c", "20040318"),
    )


def unimarc_corporate() -> bytes:
    """A UNIMARC authority entry record for a corporate body: heading 210, no 200 and no 100,
    only 801 — which no bibliographic rule detects at all."""
    return _iso(
        "00000nx  a2200000   450 ",
        Field(tag="001", data="UZ-NLU-A-7702"),
        _data("210", "02", "a", "Ўзбекистон Миллий кутубхонаси"),
        _data("801", " 0", "a", "UZ", "b", "NLU"),
    )


def unimarc_reference() -> bytes:
    """A UNIMARC reference entry record (leader/06 'y') whose heading is a 245
    (name/collective uniform title), which is not MARC21's title statement."""
    return _iso(
        "00000ny  a2200000   450 ",
        Field(tag="001", data="UZ-NLU-A-7703"),
        _data("100", "  ", "a", AUTHORITY_PROCESSING),
        _data("245", " 1", "a", "Навоий", "b", "Алишер", "t", "Асарлар"),
        _data("801", " 0", "a", "UZ", "b", "NLU"),
    )


def unimarc_book() -> bytes:
    """A UNIMARC bibliographic record (leader/06 'a', 100 $a of 36 characters, 200 title)."""
    return _iso(
        "00000nam  2200000   450 ",
        Field(tag="001", data="UZ-NLU-B-1"),
        _data("100", "  ", "a", "20040318d1999    k  y0rusy50      ca"),
        _data("101", "0 ", "a", "rus"),
        _data("200", "1 ", "a", "Стихи", "f", "Алишер Навоий"),
        _data("801", " 0", "a", "UZ", "b", "NLU"),
    )


def marc21_person() -> bytes:
    """A MARC21 authority record (leader/06 'z') for a person: 008 of 40 characters, 040,
    heading 100, see reference 400 — MARC21, not UNIMARC, though 'z' is also a UNIMARC/
    Authorities type of record."""
    return _iso(
        "00000nz  a2200000n  4500",
        Field(tag="001", data="n79021400"),
        Field(tag="008", data="790301n| azannaabn          |a aaa      "),
        _data("040", "  ", "a", "DLC", "b", "eng", "c", "DLC"),
        _data("100", "0 ", "a", "Navoiy, Alisher,", "d", "1441-1501"),
        _data("400", "0 ", "a", "Navoi, Alisher,", "d", "1441-1501"),
    )
