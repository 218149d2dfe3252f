"""A plain record read straight into its canonical bytes
(:func:`crosswalks.iso2709.read_record_or_canonical`) gives what building it with
:func:`~crosswalks.iso2709.read_record`, checking it as a reader does
(:func:`~crosswalks.marc_io.checked_item`) and writing it with
:func:`catalog.store.canonical_marc` gives: the same bytes, the same 001 and 003, the same
charset decision; and any record it does not take comes out of it as from the reference. The
bytes it makes read again without checks (:func:`~crosswalks.iso2709.read_plain`) as with them.

Each case below says whether the shortcut is to take the record, so that a shortcut that never
fires (or fires where pymarc would write other bytes) fails here.
"""

from __future__ import annotations

import io
import itertools
import random
from pathlib import Path

import pytest
from pymarc import Field, Indicators, Record, Subfield

from catalog.demo import demo_records
from catalog.store import canonical_marc
from crosswalks import charsets, iso2709
from crosswalks.marc_io import checked_item, record_to_iso2709
from tests.conftest import DATA

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

Outcome = tuple[object, ...]


def reference(chunk: bytes, charset: str | None = None) -> Outcome:
    """What a reader made of ``chunk`` by building the record: the canonical bytes, the first
    001 and 003 and the charset decision, or the reason it was rejected."""
    try:
        record, decision = iso2709.read_record(chunk, charset=charset)
    except iso2709.RecordError as error:
        return ("rejected", str(error))
    item = checked_item(0, record, chunk)
    if item.record is None:
        return ("rejected", item.error)
    marc = canonical_marc(record)
    control, organization = record.get("001"), record.get("003")
    return (
        marc,
        None if control is None else control.data,
        None if organization is None else organization.data,
        decision,
    )


def shortcut(chunk: bytes, charset: str | None = None) -> tuple[Outcome, bool]:
    """The same through :func:`~crosswalks.iso2709.read_record_or_canonical`, and whether it
    took the record straight to its bytes."""
    try:
        read, decision = iso2709.read_record_or_canonical(chunk, charset=charset)
    except iso2709.RecordError as error:
        return ("rejected", str(error)), False
    if isinstance(read, iso2709.Canonical):
        assert built(iso2709.read_plain(read.marc)) == built(iso2709.read_utf8(read.marc))
        return (read.marc, read.control_number, read.organization, decision), True
    item = checked_item(0, read, chunk)
    if item.record is None:
        return ("rejected", item.error), False
    control, organization = read.get("001"), read.get("003")
    return (
        canonical_marc(read),
        None if control is None else control.data,
        None if organization is None else organization.data,
        decision,
    ), False


def built(record: Record) -> tuple[object, ...]:
    """Everything of ``record`` that a reading makes."""
    fields = [(f.tag, f.control_field, f.data, f._indicators, f.subfields) for f in record.fields]
    return (str(record.leader), fields, record.force_utf8)


def iso(
    *fields: tuple[bytes, bytes],
    leader: bytes = b"nam a22",
    rest: bytes = b" i 4500",
    order: list[int] | None = None,
    gap: bytes = b"",
) -> bytes:
    """An ISO 2709 record of ``(tag, field bytes without the terminator)``, in directory order,
    their data stored in ``order`` (default: the same) with ``gap`` after each."""
    offsets: dict[int, int] = {}
    data = b""
    for place in order if order is not None else range(len(fields)):
        offsets[place] = len(data)
        data += fields[place][1] + b"\x1e" + gap
    directory = b"".join(
        tag + b"%04d%05d" % (len(body) + 1, offsets[place])
        for place, (tag, body) in enumerate(fields)
    )
    base = 24 + len(directory) + 1
    head = b"%05d" % (base + len(data) + 1) + leader + b"%05d" % base + rest
    return head + directory + b"\x1e" + data + b"\x1d"


ID = (b"001", b"id1")
TITLE = (b"245", b"10\x1faTitle /\x1fcAuthor.")


EDGE_CASES = [
    pytest.param(iso(ID, (b"003", b"DLC"), TITLE), True, id="plain"),
    pytest.param(iso(ID, (b"245", b"10\x1faTitle\x1fz")), True, id="empty subfield at end"),
    pytest.param(iso(ID, (b"245", b"10\x1fa\x1fbTitle")), True, id="empty subfield"),
    pytest.param(iso(ID, (b"245", b"10\x1faone\x1f\x1fbtwo")), False, id="delimiter, no code"),
    pytest.param(iso(ID, (b"245", b"10\x1faTitle\x1f")), False, id="delimiter at the end"),
    pytest.param(iso(ID, (b"245", b"10text\x1faTitle")), False, id="text before a delimiter"),
    pytest.param(iso(ID, (b"245", b"10")), False, id="no subfields"),
    pytest.param(iso(ID, (b"245", b"1#\x1faTitle")), False, id="bad indicator"),
    pytest.param(iso(ID, (b"245", b"10\x1f aTitle")), False, id="blank subfield code"),
    pytest.param(iso(ID, (b"245", b"10\x1f!odd code")), True, id="odd allowed code"),
    pytest.param(iso(ID, TITLE, leader=b"nam  22"), True, id="leader/09 blank"),
    pytest.param(
        iso(ID, (b"245", "10\x1faТитул".encode()), leader=b"nam  22"),
        True,
        id="leader/09 blank, UTF-8",
    ),
    pytest.param(iso(ID, TITLE, leader=b"n#m a22"), False, id="bad leader/06"),
    pytest.param(
        iso(ID, (b"005", b"20200101"), TITLE, order=[2, 0, 1]), True, id="offsets out of order"
    ),
    pytest.param(iso(ID, TITLE, gap=b"  "), True, id="gaps between fields"),
    pytest.param(iso((b"001", b" id 1\t"), TITLE), True, id="001 with blanks"),
    pytest.param(iso((b"001", b""), (b"003", b""), TITLE), True, id="empty 001 and 003"),
    pytest.param(
        iso(TITLE, ID, (b"001", b"second"), (b"003", b"A"), (b"003", b"B")),
        True,
        id="repeated 001 and 003",
    ),
    pytest.param(iso((b"001", b"id\x1fa1"), TITLE), False, id="delimiter in a control field"),
    pytest.param(iso((b"001", b"id\x01"), TITLE), False, id="control character"),
    pytest.param(iso(ID, (b"245", b"10\x1faTab\tand\nline")), True, id="tab and line break"),
    pytest.param(iso((b"000", b"x"), TITLE), False, id="control tag 000"),
    pytest.param(iso(ID, (b"00A", b"10\x1fax")), False, id="data tag 00A"),
    pytest.param(iso(ID, (b"abc", b"10\x1fax")), True, id="data tag abc"),
    pytest.param(iso(ID, (b"245", "10\x1fa\ufffd".encode())), False, id="U+FFFD"),
    pytest.param(iso(ID, (b"245", "10\x1fa\uffff".encode())), False, id="U+FFFF"),
    pytest.param(iso(ID, (b"245", b"10\x1fa\x1b(NPRIVET\x1b(B")), False, id="MARC-8"),
    pytest.param(iso(ID, (b"245", "10\x1faПривет".encode("cp1251"))), False, id="CP1251"),
    pytest.param(iso(ID, (b"245", b"10\x1fa\xc3")), False, id="damaged UTF-8"),
    pytest.param(iso(ID, TITLE, rest=b" i 450 "), False, id="entry map"),
    pytest.param(iso(), False, id="no fields"),
]
"""Records the shortcut must tell apart, and whether it takes each."""


@pytest.mark.parametrize(("chunk", "taken"), EDGE_CASES)
def test_edge_cases_read_as_the_reference_reads_them(chunk: bytes, taken: bool) -> None:
    made, fast = shortcut(chunk)
    assert made == reference(chunk)
    assert fast is taken


def test_a_given_charset_reads_as_the_reference_reads_it() -> None:
    chunk = iso(ID, (b"245", "10\x1faТитул".encode()))
    assert shortcut(chunk, "utf-8") == (reference(chunk, "utf-8"), True)
    assert shortcut(chunk, "cp1251") == (reference(chunk, "cp1251"), False)


def test_records_stored_in_order_are_their_own_bytes() -> None:
    chunk = iso(ID, TITLE, leader=b"nam  22")
    read, _ = iso2709.read_record_or_canonical(chunk)
    assert isinstance(read, iso2709.Canonical)
    assert read.marc == chunk[:9] + b"a" + chunk[10:]


def _sharing(copies: int, body: bytes) -> bytes:
    """A record whose 245 and ``copies`` 246 directory entries all point at one field."""
    record = iso(ID, (b"245", body))
    base = int(record[12:17])
    title_entry = record[24 + 12 : 24 + 24]
    directory = record[24 : base - 1] + (b"246" + title_entry[3:]) * copies
    data = record[base:]  # the fields and the record terminator
    base = 24 + len(directory) + 1
    head = b"%05d" % (base + len(data)) + record[5:12] + b"%05d" % base + record[17:24]
    return head + directory + b"\x1e" + data


def test_entries_sharing_their_data_are_each_written() -> None:
    """Each entry gets a copy of the field, as pymarc writes them."""
    chunk = _sharing(1, b"10\x1fa" + b"x" * 20)
    assert iso2709.flawless_fields(chunk) is not None
    made, fast = shortcut(chunk)
    assert fast
    assert made == reference(chunk)
    assert isinstance(made[0], bytes) and len(made[0]) > len(chunk)


def test_entries_sharing_their_data_past_what_iso_2709_holds_are_refused_both_ways() -> None:
    """Past 99,999 bytes an offset would take six digits: neither the shortcut nor pymarc's
    writing makes such bytes, both say why."""
    chunk = _sharing(12, b"10\x1fa" + b"x" * 9000)
    assert iso2709.flawless_fields(chunk) is not None
    too_long = r"record of 117,\d{3} bytes is longer than ISO 2709 allows \(99,999\)"
    with pytest.raises(iso2709.TooLong, match=too_long):
        iso2709.read_record_or_canonical(chunk)
    record, _decision = iso2709.read_record(chunk)
    with pytest.raises(iso2709.TooLong, match=too_long):
        canonical_marc(record)


def test_a_field_iso_2709_cannot_hold_is_never_written() -> None:
    record = Record(leader="00000nam a2200000 i 4500")
    record.add_field(Field("001", data="x1"))
    record.add_field(Field("500", Indicators(" ", " "), [Subfield("a", "é" * 5_000)]))
    expected = r"^field 500: 10,005 bytes, longer than ISO 2709 allows a field \(9,999"
    for write in (record_to_iso2709, canonical_marc, charsets.record_to_iso2709_marc8):
        with pytest.raises(iso2709.TooLong, match=expected):
            write(record)
    assert iso2709.length_problems(iso2709.field_lengths(record)) == [
        ("500", "10,005 bytes, longer than ISO 2709 allows a field (9,999 with its terminator)")
    ]


@pytest.mark.parametrize("path", MARC21_FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_marc21_files_read_as_the_reference_reads_them(path: Path) -> None:
    with path.open("rb") as stream:
        for chunk, problem in iso2709.iter_chunks(stream):
            if problem is None:
                assert shortcut(chunk)[0] == reference(chunk)


def test_demo_records_take_the_shortcut() -> None:
    for record in demo_records(300):
        chunk = record_to_iso2709(record)
        assert shortcut(chunk) == (reference(chunk), True)


_TAGS = [b"001", b"003", b"005", b"245", b"650", b"abc", b"000", b"00A", b"0a1"]
_PLAIN = "ab 1\té\nЖ"
_CHARACTERS = _PLAIN + "\x1f\x1e\x01\ufffd"
_CODES = ["a", "b", "!", " ", "", "\x1f"]


def _generated(rng: random.Random) -> bytes:
    """A record of a few fields made of pieces the shortcut must tell apart."""
    def text() -> str:
        alphabet = _CHARACTERS if rng.random() < 0.1 else _PLAIN
        return "".join(rng.choices(alphabet, k=rng.randint(0, 6)))

    fields = []
    for _ in range(rng.randint(0, 5)):
        tag = rng.choices(_TAGS, weights=[4, 4, 4, 4, 4, 4, 1, 1, 1])[0]
        if tag < b"010" and rng.random() < 0.9:
            body = text()
        else:
            body = "".join(rng.choices(" 01a#", weights=[8, 8, 8, 1, 1], k=2)) + "".join(
                "\x1f" + rng.choices(_CODES, weights=[8, 8, 2, 1, 1, 1])[0] + text()
                for _ in range(rng.randint(0, 3))
            )
        fields.append((tag, body.encode()))
    order = rng.sample(range(len(fields)), len(fields))
    leader = rng.choices([b"nam a22", b"nam  22", b"cam z22", b"n#m a22"], weights=[4, 4, 1, 1])[0]
    return iso(*fields, leader=leader, order=order, gap=rng.choice([b"", b"", b" "]))


def test_generated_records_read_as_the_reference_reads_them() -> None:
    rng = random.Random(2709)
    taken = 0
    for _ in range(3000):
        chunk = _generated(rng)
        made, fast = shortcut(chunk)
        assert made == reference(chunk), chunk
        taken += fast
    assert 100 < taken < 2900  # both paths compared


@pytest.mark.parametrize("at", [4, 16, 27])  # record length, base address, a directory entry
def test_a_latin_1_superscript_digit_is_a_structure_problem_not_an_error(at: int) -> None:
    chunk = bytearray(record_to_iso2709(next(demo_records(1))))
    chunk[at] = 0xB2  # "²" in latin-1: str.isdigit() says yes, int() says no
    problems = iso2709.structure_problems(bytes(chunk))
    assert problems and all("number" in text or "numeric" in text for _, text in problems[:1])


@pytest.mark.parametrize(
    ("between", "damaged"),
    [(b"", 3), (b"\n", 3), (b"\r\n", 0), (b"\x1d", 3), (b" " * 100, 3), (b"\x00" * 200, 3),
     (b"\x00" * 5000, 3), (b"\n", 5)],
)
def test_a_damaged_record_costs_only_itself_whatever_lies_between_records(
    between: bytes, damaged: int
) -> None:
    """Records padded to blocks after a damaged one (its leader's length wrong) were cut at
    MAX_SCAN in the middle of a good record, and so on after it, when more than 64 bytes of
    padding came between them: 288 of 1,999 good records were read with 100 spaces."""
    records = [record_to_iso2709(record) for record in demo_records(6, seed=7)]
    records[damaged] = b"99999" + records[damaged][5:]
    chunks = list(iso2709.iter_chunks(io.BytesIO(between.join(records) + between)))
    assert [problem is None for _, problem in chunks] == [i != damaged for i in range(6)]
    assert [chunk for chunk, _ in chunks] == records


@pytest.mark.parametrize(
    "junk",
    [b"Tashkent, 2024: a line of the report this file was cut from, not a record\n",
     bytes(range(1, 29)) * 40, b"00900nam a2200" + b"x" * 80, b"99999" + b"y" * 300],
    ids=["a line of text", "binary bytes with no terminator", "a leader cut short",
         "a length past the next record"],
)
def test_a_good_record_after_bytes_that_are_no_record_is_read(junk: bytes) -> None:
    """Bytes no record terminator ends (a line of text, a record cut short, binary junk) were
    rejected together with the good record after them, up to its terminator: the record was
    lost. The junk is cut at the leader of the record it hides, whose length ends on its
    terminator, and that record is read (fewer than MAX_JUNK bytes stay with the record after
    them, as they may be its own: test_repair's yaz marc4, ``--repair`` skips them)."""
    records = [record_to_iso2709(record) for record in demo_records(3, seed=11)]
    chunks = list(iso2709.iter_chunks(io.BytesIO(records[0] + junk + records[1] + records[2])))
    assert [chunk for chunk, problem in chunks if problem is None] == records
    assert [chunk for chunk, problem in chunks if problem is not None] == [junk]


def test_a_leader_quoted_in_a_damaged_record_does_not_cut_it() -> None:
    """A leader quoted in a damaged record's note, its length reaching the terminator of the
    good record after it, was taken for a record: the damaged record was cut in two (no longer
    one reject ``--repair`` could mend) and the good one swallowed by the second part. A
    hidden record's length must end on the first terminator after its leader."""
    def book(note: str) -> bytes:
        record = Record(leader="00000nam a2200000 i 4500")
        record.add_field(Field("001", data="x1"),
                         Field("500", Indicators(" ", " "), [Subfield("a", note)]))
        return record.as_marc()

    quoted = "Leader as received: {:05d}nam a2200000 i 4500, kept for the record"
    good = [book("plain"), book("another plain record")]
    probe = book(quoted.format(0))
    length = len(probe) + len(good[1]) - probe.index(b"00000nam", 5)
    damaged = book(quoted.format(length))
    damaged = b"%05d" % (len(damaged) + 7) + damaged[5:]  # its leader's length wrong
    chunks = list(iso2709.iter_chunks(io.BytesIO(good[0] + damaged + good[1])))
    assert chunks == [(good[0], None), (damaged, chunks[1][1]), (good[1], None)]
    assert chunks[1][1] == (f"leader says {len(damaged) + 7} bytes but the record terminator "
                            f"ends it at {len(damaged)}")


def test_a_record_cut_short_at_the_end_of_the_file_is_said_with_its_own_size() -> None:
    """The last record of a file cut short (``head -c``): its reject says the bytes it has.
    Before, it said MAX_SCAN's 200,000 whatever it had."""
    records = [record_to_iso2709(record) for record in demo_records(2, seed=5)]
    cut = records[1][: len(records[1]) - 40]
    chunks = list(iso2709.iter_chunks(io.BytesIO(records[0] + cut)))
    assert chunks == [(records[0], None), (cut, (
        f"record truncated: {len(cut)} bytes, no record terminator, leader says "
        f"{len(records[1])}"))]


class _EndlessPadding(io.RawIOBase):
    """A stream of NUL bytes that never ends (as ``/dev/zero``), which refuses to be read
    past ``most`` bytes: a reader that would read it for ever fails instead."""

    def __init__(self, most: int) -> None:
        self.given, self.most = 0, most

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        assert self.given < self.most, f"{self.given:,} bytes read and no record yielded"
        buffer[:] = bytes(len(buffer))
        self.given += len(buffer)
        return len(buffer)


def test_padding_without_end_is_yielded_a_part_at_a_time() -> None:
    """Padding was skipped in one call until something else came: ``/dev/zero`` read as
    ISO 2709 was skipped for ever, and no ^C or SIGTERM stopped it (compiled code runs no
    signal handler). Each MAX_SCAN bytes of padding is now one reject, sampled as junk is;
    padding of that length at the end of a stream, or less anywhere, is skipped as before."""
    stream = io.BufferedReader(_EndlessPadding(10 * iso2709.MAX_SCAN))
    chunks = list(itertools.islice(iso2709.iter_chunks(stream), 3))
    assert chunks == [(bytes(4096), (
        f"{iso2709.MAX_SCAN:,} bytes of padding (NUL bytes, blanks, line ends, ^Z or record "
        f"terminators) and no record ({iso2709.MAX_SCAN} bytes, more than a record can have: "
        f"the first 4096 are kept, {iso2709.MAX_SCAN - 4096} left out)"))] * 3
    record = record_to_iso2709(next(demo_records(1, seed=3)))
    for padding, rejects in ((iso2709.MAX_SCAN - 1, 0), (iso2709.MAX_SCAN + 5, 1)):
        chunks = list(iso2709.iter_chunks(io.BytesIO(bytes(padding) + record)))
        assert [problem is None for _, problem in chunks] == [False] * rejects + [True]
        assert chunks[-1][0] == record
    assert list(iso2709.iter_chunks(io.BytesIO(record + bytes(iso2709.MAX_SCAN)))) == [
        (record, None)]
