"""The fast paths of ISO 2709 -> MARCXML give exactly what the pymarc reference path gives.

:func:`crosswalks.iso2709.decode_record` builds flawless UTF-8/CP1251/Latin-1 records itself;
:func:`~crosswalks.iso2709.decode_record_with_pymarc` lets pymarc build every record. Over
every ISO 2709 file of the shared data (MARC21, yaz, LoC, broken, UNIMARC), generated demo
records and single-byte mutations of real records, both must give the same record (every
slot of every field, the same types), the same charset, or the same reason for rejecting it.
The MARC-syntax and MARCXML-writer shortcuts are compared with their full paths the same way,
and :func:`~crosswalks.iso2709.read_utf8` (the catalogue's reading of its canonical bytes) with
pymarc's reading of UTF-8.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymarc import Field, Indicators, Record, Subfield

from catalog.demo import demo_records
from crosswalks import iso2709, marc_syntax, marcxml
from crosswalks.marc_io import record_to_iso2709
from tests.conftest import DATA

# Records here hold subfield codes that are not ASCII (test files, damaged and odd records):
# pymarc warns as it reads them, on both sides of each comparison; that is what is compared.
pytestmark = pytest.mark.filterwarnings("ignore::pymarc.exceptions.BadSubfieldCodeWarning")

MARC21 = DATA / "marc21"
MARC21_FILES = sorted(
    [
        *MARC21.glob("*.dat"),
        *(MARC21 / "yaz").glob("*.marc"),
        *(MARC21 / "loc").glob("*.mrc"),
        *(MARC21 / "broken").glob("*.dat"),
        *(MARC21 / "broken").glob("*.mrc"),
    ]
)
UNIMARC_FILES = sorted(
    path for path in (DATA / "unimarc").iterdir() if path.suffix.lower() != ".xml"
)
FIELD_SLOTS = ("tag", "data", "_indicators", "subfields", "control_field")


def chunks(path: Path) -> list[bytes]:
    with path.open("rb") as stream:
        return [chunk for chunk, problem in iso2709.iter_chunks(stream) if problem is None]


def demo_chunks(count: int) -> list[bytes]:
    return [record_to_iso2709(record) for record in demo_records(count)]


def state(record: Record) -> tuple:
    """Everything a decoded record holds, with the types of its parts, comparable with ==."""
    attributes = [getattr(record, name) for name in ("pos", "force_utf8", "to_unicode")]
    assert set(Record.__slots__) == {"leader", "fields", "pos", "force_utf8", "to_unicode", "__pos"}
    attributes.append(record._Record__pos)  # type: ignore[attr-defined]
    fields = []
    for field in record.fields:
        assert set(Field.__slots__) - {"__pos"} == set(FIELD_SLOTS)
        slots = tuple(getattr(field, name) for name in FIELD_SLOTS)
        types = (
            type(field),
            type(field.indicators),
            tuple(type(subfield) for subfield in field.subfields),
        )
        fields.append((slots, types))
    return type(record.leader), str(record.leader), attributes, fields


def outcome(decode, chunk: bytes, *, allow_marc8: bool = True) -> tuple:
    try:
        record, charset = decode(chunk, allow_marc8=allow_marc8)
    except iso2709.RecordError as error:
        return ("rejected", str(error))
    return (charset, state(record), marcxml.record_to_marcxml(record), record.as_marc())


def assert_same_as_pymarc(chunk: bytes, *, allow_marc8: bool = True) -> None:
    fast = outcome(iso2709.decode_record, chunk, allow_marc8=allow_marc8)
    reference = outcome(iso2709.decode_record_with_pymarc, chunk, allow_marc8=allow_marc8)
    assert fast == reference
    fields = iso2709.flawless_fields(chunk, marc21=allow_marc8)
    if fields is not None:
        assert iso2709.structure_problems(chunk, marc21=allow_marc8) == []


@pytest.mark.parametrize("path", MARC21_FILES, ids=lambda path: path.name)
def test_marc21_files_decode_as_pymarc_does(path: Path) -> None:
    for chunk in chunks(path):
        assert_same_as_pymarc(chunk)


@pytest.mark.parametrize("path", UNIMARC_FILES, ids=lambda path: path.name)
def test_unimarc_files_decode_as_pymarc_does(path: Path) -> None:
    for chunk in chunks(path):
        assert_same_as_pymarc(chunk, allow_marc8=False)


def test_demo_records_decode_as_pymarc_does() -> None:
    for chunk in demo_chunks(300):
        assert_same_as_pymarc(chunk)


def test_the_fast_path_is_taken_for_utf8_cp1251_and_marc8() -> None:
    """The comparison above would pass vacuously if every record fell back to pymarc."""
    utf8 = chunks(MARC21 / "yaz" / "marccol1.u8.marc")[0]
    cp1251 = chunks(MARC21 / "1251.dat")[0]
    marc8 = chunks(MARC21 / "marc8.dat")[0]
    for chunk, charset in [(utf8, "utf-8"), (cp1251, "cp1251"), (marc8, "marc-8")]:
        assert iso2709.flawless_fields(chunk) is not None
        assert iso2709._build_record(
            chunk[:24].decode("ascii"), iso2709.flawless_fields(chunk), charset
        )
        assert iso2709.decode_record(chunk)[1] == charset


SEEDS = [
    chunks(MARC21 / "yaz" / "marccol1.u8.marc")[0],
    chunks(MARC21 / "1251.dat")[0],
    chunks(MARC21 / "marc.dat")[0],
    demo_chunks(1)[0],
]
BYTES = b"\x1d\x1e\x1f\x1b 0159aAz|\x80\xa8\xc3\xd0\xe1\xff\x00"


@settings(max_examples=400, deadline=None)
@given(
    seed=st.sampled_from(SEEDS),
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    byte=st.sampled_from(list(BYTES)),
    allow_marc8=st.booleans(),
)
def test_damaged_records_decode_as_pymarc_does(
    seed: bytes, where: float, byte: int, allow_marc8: bool
) -> None:
    """One byte changed anywhere: leader, directory, indicators, codes, text, terminators."""
    position = int(where * len(seed))
    chunk = seed[:position] + bytes([byte]) + seed[position + 1 :]
    assert_same_as_pymarc(chunk, allow_marc8=allow_marc8)


def read_outcome(read, chunk: bytes) -> tuple:  # type: ignore[no-untyped-def]
    try:
        return ("read", state(read(chunk)))
    except Exception as error:  # pymarc raises many kinds; both must raise the same
        return ("raised", type(error), str(error))


def pymarc_utf8(chunk: bytes) -> Record:
    return Record(data=chunk, force_utf8=True, to_unicode=True)


def assert_read_as_pymarc_reads_utf8(chunk: bytes) -> None:
    assert read_outcome(iso2709.read_utf8, chunk) == read_outcome(pymarc_utf8, chunk)


def test_utf8_records_read_as_pymarc_reads_them() -> None:
    """read_utf8, on every ISO 2709 record of the shared data, the canonical form of every
    record that decodes and of the odd records, and demo records: pymarc's record or error."""
    read = 0
    for path in MARC21_FILES:
        for chunk in chunks(path):
            assert_read_as_pymarc_reads_utf8(chunk)
            try:
                record = iso2709.decode_record(chunk)[0]
            except iso2709.RecordError:
                continue
            assert_read_as_pymarc_reads_utf8(record_to_iso2709(record))
            read += 1
    for record in odd_records():
        try:
            chunk = record.as_marc()
        except UnicodeEncodeError:  # a lone surrogate cannot be written
            continue
        assert_read_as_pymarc_reads_utf8(chunk)
    for chunk in demo_chunks(300):
        assert_read_as_pymarc_reads_utf8(chunk)
    assert read >= 100


def test_utf8_reading_takes_the_fast_path() -> None:
    """The comparison above would pass vacuously if every record fell back to pymarc."""
    chunk = demo_chunks(1)[0]
    assert iso2709.flawless_fields(chunk) is not None
    assert iso2709._build_record(chunk[:24].decode("ascii"), iso2709.flawless_fields(chunk),
                                 "utf-8") is not None


@settings(max_examples=300, deadline=None)
@given(
    seed=st.sampled_from(SEEDS),
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    byte=st.sampled_from(list(BYTES)),
)
def test_damaged_records_read_as_pymarc_reads_utf8(seed: bytes, where: float, byte: int) -> None:
    position = int(where * len(seed))
    assert_read_as_pymarc_reads_utf8(seed[:position] + bytes([byte]) + seed[position + 1 :])


def odd_records() -> list[Record]:
    """Records breaking each rule the shortcuts check, and text that needs escaping."""

    def record(*fields: Field, leader: str = "00000nam a2200000 i 4500") -> Record:
        built = Record(fields=list(fields), force_utf8=True)
        built.leader = leader
        return built

    title = Field("245", Indicators("1", "0"), [Subfield("a", "Title")])
    cases = [
        record(title),
        record(title, leader="00000nam a2200000 i 450 "),
        record(Field("001", data="id\x1fx"), title),
        record(Field("0A1", data="x"), title),
        record(Field("24", Indicators("1", "0"), [Subfield("a", "x")])),
        record(Field("245", Indicators("A", "0"), [Subfield("a", "x")])),
        record(Field("245", Indicators("1", "\u0663"), [Subfield("a", "x")])),
        record(Field("245", Indicators("1", "#"), [Subfield("a", "x")])),
        record(Field("245", Indicators("1", "0"), [])),
        record(Field("245", Indicators("1", "0"), [Subfield("\u0663", "x")])),
        record(Field("245", Indicators("1", "0"), [Subfield("\u00e9", "x")])),
        record(Field("245", Indicators("1", "0"), [Subfield("a", "lost \ufffd text")])),
        record(Field("245", Indicators("1", "0"), [Subfield("a", "bell \x07 \ud800")])),
        record(Field("245", Indicators("1", "0"), [Subfield("a", 'R&D <b> \r\n\t "q"')])),
        record(Field("245", Indicators("1", "0"), [Subfield("&", "code"), Subfield("a", "x")])),
    ]
    return cases


def test_syntax_shortcut_agrees_with_the_full_check() -> None:
    records = odd_records()
    records += [iso2709.decode_record(chunk)[0] for chunk in demo_chunks(50)]
    for path in MARC21_FILES:
        for chunk in chunks(path):
            try:
                records.append(iso2709.decode_record(chunk)[0])
            except iso2709.RecordError:
                continue
    found = [marc_syntax.syntax_problems(record) for record in records]
    assert found == [marc_syntax._syntax_problems_in_full(record) for record in records]
    assert sum(1 for problems in found if problems) >= 10


def test_marcxml_shortcut_agrees_with_escaping_every_value() -> None:
    records = odd_records() + [iso2709.decode_record(chunk)[0] for chunk in demo_chunks(50)]
    for path in MARC21_FILES:
        for chunk in chunks(path):
            try:
                records.append(iso2709.decode_record(chunk)[0])
            except iso2709.RecordError:
                continue
    for record in records:
        assert marcxml.record_to_marcxml(record) == marcxml._marcxml(record, marcxml._text)
    escaped = marcxml.record_to_marcxml(odd_records()[-2])
    assert b'R&amp;D &lt;b&gt; &#13;\n\t "q"' in escaped


def iso(
    *fields: tuple[bytes, bytes], leader: bytes = b"nam a22", rest: bytes = b" i 4500"
) -> bytes:
    """An ISO 2709 record of ``(tag, field bytes without the terminator)`` as given."""
    directory = data = b""
    for tag, body in fields:
        directory += tag + b"%04d%05d" % (len(body) + 1, len(data))
        data += body + b"\x1e"
    base = 24 + len(directory) + 1
    size = base + len(data) + 1
    head = b"%05d" % size + leader + b"%05d" % base + rest
    return head + directory + b"\x1e" + data + b"\x1d"


@pytest.mark.parametrize(
    "body",
    [
        b"10\x1faone\x1f\x1fbtwo",
        b"10\x1f\x1f\x1fa",
        b"10\x1fa\x1f",
        b"10\x1f\nnewline code",
        b"10\x1fa\x1e inside",
        b"10",
        b"1",
        b"103\x1fa",
        b"  \x1fa\xc3\xa9t\xc3\xa9",
        b"10\x1f\xc3\xa9t\xc3\xa9",
        b"\xc3\xa9\x1fax",
        b"10\x1fa\xe9t\xe9",
    ],
)
def test_unusual_subfield_layouts_decode_as_pymarc_does(body: bytes) -> None:
    chunk = iso((b"001", b"id1"), (b"245", body))
    assert_same_as_pymarc(chunk)
    assert_same_as_pymarc(chunk, allow_marc8=False)
