"""ISO 2709 records: split a byte stream into records, decode one record with charset detection.

:func:`iter_chunks` reads a stream in blocks and cuts it by the record length in the leader,
checked against the record terminator (0x1D). When the two disagree it resynchronizes on the
next terminator that a record length follows, or on the leader of a whole record the bytes
hide, so one bad record costs only itself, and a run of junk is one reject (of at most
:data:`MAX_SCAN` bytes, of which a sample is kept); padding between records (extra
terminators, NUL, Ctrl-Z, line breaks) is skipped, but for a run of :data:`MAX_SCAN` bytes,
which is a reject as junk is. Memory stays bounded by one record (at most
:data:`MAX_SCAN` bytes are searched for a terminator).

:func:`read_record` decides the character set of each record from its bytes
(:mod:`crosswalks.charsets`) unless told, and builds the record, which always comes out as
Unicode with leader/09 = 'a'. :func:`read_record_or_canonical`, for a reader that only stores
records, reads a plain record straight into the catalogue's canonical bytes instead of building
it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, BinaryIO, Literal

from pymarc import Field, Indicators, Leader, Record, Subfield
from pymarc.exceptions import BadSubfieldCodeWarning
from pymarc.field import RawField

from crosswalks import charsets, marc8, marc_syntax
from crosswalks.framing import BOM, SAMPLE_BYTES
from crosswalks.xmltext import has_forbidden

RECORD_TERMINATOR = 0x1D
BLOCK = 64 * 1024
MAX_SCAN = 200_000
"""Bytes searched for a record terminator before a run of garbage is cut off as one reject."""
_PADDING = frozenset(b"\x1d\x1a\x00\r\n\t ")
_MIN_RECORD = 25  # leader and terminator
MAX_RECORD_BYTES = 99_999
"""The longest record ISO 2709 can hold: five digits of record length (and base address)."""
MAX_JUNK = 64
"""Bytes before a leader that may still be part of its record: fewer than this are skipped by
``--repair`` (:func:`crosswalks.repair.repair_record`) and looked past for a record length."""
_PADDED = b"[%s]*+" % b"".join(b"\\x%02x" % byte for byte in sorted(_PADDING))
_NEXT_START = rb"(?P<terminator>\x1d)(?=%s[^\x1d]{0,%d}?\d{5}" % (_PADDED, MAX_JUNK - 1)
"""A record terminator, then padding, then a record length after fewer than :data:`MAX_JUNK`
bytes. The padding is not counted: records padded to blocks (NULs, spaces) after a damaged one
were cut at :data:`MAX_SCAN` instead, in the middle of a good record, and so on after it."""
_LEADER = rb"\d{5}[^\x1d]{5}22\d{5}[^\x1d]{3}45"
"""The start of what may be a leader, MARC 21's or UNIMARC's: a record length, then the
indicator and subfield code counts (2, 2) and the base address, then the entry map's first
two digits (4, 5)."""
_JUNK_ENDS = re.compile(_NEXT_START + rb")|" + _LEADER)
"""What may end bytes the leader could not delimit (:meth:`_Buffer.find_junk_end`)."""
_JUNK_ENDS_OR_END = re.compile(_NEXT_START + rb"|%s\Z)|" % _PADDED + _LEADER)
"""The same, in the last bytes of the stream: a terminator may be followed by padding alone."""
JunkEnd = Literal["terminator", "leader", "nothing"]
"""What ends bytes the leader could not delimit (:meth:`_Buffer.find_junk_end`)."""
_LOOKAHEAD = MAX_JUNK + 5
"""Bytes read past :data:`MAX_SCAN` to see whether a terminator before it starts a record."""


class _Buffer:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.data = bytearray()
        self.eof = False
        self._terminator = 0
        """Where :meth:`_delimits` looks for the next record terminator from."""

    def fill(self, size: int) -> None:
        """Read until at least ``size`` bytes are buffered or the stream ends."""
        while len(self.data) < size and not self.eof:
            block = self.stream.read(max(BLOCK, size - len(self.data)))
            if block:
                self.data.extend(block)
            else:
                self.eof = True

    def skip_bom(self) -> None:
        """Drop a byte-order mark (:data:`~crosswalks.framing.BOM`) at the start: the first
        leader then began with its three bytes, and the record was rejected ("record length
        '\xef\xbb\xbf01' in the leader is not a number")."""
        self.fill(len(BOM))
        if self.data.startswith(BOM):
            del self.data[: len(BOM)]

    def padding_length(self) -> int:
        """How many bytes of padding begin the buffer, counted up to :data:`MAX_SCAN`: a
        stream of nothing but padding (``/dev/zero``) was skipped for ever in one call, which
        no ^C or SIGTERM stopped (compiled code runs no signal handler)."""
        run = 0
        while True:
            while run < len(self.data) and run < MAX_SCAN and self.data[run] in _PADDING:
                run += 1
            if run < len(self.data) or self.eof:
                return run
            self.fill(run + 1)  # (past MAX_SCAN: whether the stream ends there)
            if run >= MAX_SCAN:
                return run

    def find_junk_end(self) -> tuple[int, JunkEnd]:
        """How many bytes the leader could not delimit are one reject, and what ends them:
        ``"terminator"`` (the first record terminator followed by what may be the next record,
        :data:`_NEXT_START`, or by nothing but padding at the end of the stream), ``"leader"``
        (the leader of a whole record, :meth:`_delimits`), or ``"nothing"`` (neither within
        :data:`MAX_SCAN` bytes: that many are cut off, or what is left of the stream). One scan
        for both, never going back: the work is linear in the bytes read, whatever they hold.

        The first terminator alone cut junk forced as ISO 2709 (a binary file) at each 0x1D
        byte, one in 256 of random bytes, into a reject each, whose lines (reason, bytes in
        base64) made a reject file 1.6 times the size of the file read. Without the leaders,
        bytes no terminator ended (a line of text, a record cut short) were rejected together
        with the good record after them, up to its terminator: the record was lost."""
        self.fill(MAX_SCAN + _LOOKAHEAD)
        whole = self.eof and len(self.data) <= MAX_SCAN + _LOOKAHEAD  # (its end is the end)
        ends = _JUNK_ENDS_OR_END if whole else _JUNK_ENDS
        at = self._terminator = 0
        while (found := ends.search(self.data, at, MAX_SCAN + _LOOKAHEAD)) is not None:
            start = found.start()
            if start >= MAX_SCAN:
                break
            if found.group("terminator") is not None:
                return start + 1, "terminator"
            if self._delimits(start):
                return start, "leader"
            at = start + 1
        return min(MAX_SCAN, len(self.data)), "nothing"

    def _delimits(self, start: int) -> bool:
        """Whether what looks like a leader at ``start`` (:data:`_LEADER`) begins a whole record:
        :data:`MAX_JUNK` bytes or more in (fewer stay with the record after them, as they may
        be its own: ``--repair`` skips them), its length ending on the first record terminator
        after it (a leader quoted in a damaged record's field cut it in two, the good record
        after it swallowed). :attr:`_terminator` keeps that terminator's index (or the buffer's
        length, none being in it) from one candidate to the next, so each byte is looked at
        once."""
        if start < MAX_JUNK:
            return False
        length = int(self.data[start : start + 5])
        if length < _MIN_RECORD:
            return False
        self.fill(start + length)
        if self._terminator < start:
            self._terminator = start
        if self._terminator == len(self.data) or self.data[self._terminator] != RECORD_TERMINATOR:
            found = self.data.find(RECORD_TERMINATOR, self._terminator)
            self._terminator = len(self.data) if found == -1 else found
        return self._terminator == start + length - 1

    def take(self, size: int) -> bytes:
        chunk = bytes(self.data[:size])
        del self.data[:size]
        return chunk


def iter_chunks(stream: BinaryIO) -> Iterator[tuple[bytes, str | None]]:
    """Yield ``(record bytes, None)`` for each well-delimited record, ``(bytes, reason)`` else."""
    buffer = _Buffer(stream)
    buffer.skip_bom()
    while True:
        padding = buffer.padding_length()
        if padding == MAX_SCAN and (len(buffer.data) > padding or not buffer.eof):
            yield _sampled(buffer.take(padding), f"{padding:,} bytes of padding (NUL bytes, "
                           "blanks, line ends, ^Z or record terminators) and no record")
            continue
        del buffer.data[:padding]
        if not buffer.data:
            return
        buffer.fill(5)
        head = bytes(buffer.data[:5])
        length = int(head) if head.isdigit() else None
        if length is not None and length >= _MIN_RECORD:
            buffer.fill(length)
            if len(buffer.data) >= length and buffer.data[length - 1] == RECORD_TERMINATOR:
                yield buffer.take(length), None
                continue
        size, ended_by = buffer.find_junk_end()
        chunk = buffer.take(size)
        yield _sampled(chunk, _delimiting_problem(head, length, ended_by, size))


def _sampled(chunk: bytes, problem: str) -> tuple[bytes, str]:
    """Bytes that could not be delimited as a record, with the ``problem``: all of them when
    they may be one (damaged: ``--repair`` may mend it, or an operator), else only their
    first :data:`~crosswalks.framing.SAMPLE_BYTES`, the reason saying how many were left out.
    Kept whole, junk forced as ISO 2709 was written to the reject file whole, in base64: a
    third larger than the file read."""
    if len(chunk) <= MAX_RECORD_BYTES:
        return chunk, problem
    left_out = len(chunk) - SAMPLE_BYTES
    return chunk[:SAMPLE_BYTES], (f"{problem} ({len(chunk)} bytes, more than a record can "
                                  f"have: the first {SAMPLE_BYTES} are kept, {left_out} left "
                                  "out)")


def _delimiting_problem(head: bytes, length: int | None, ended_by: JunkEnd, size: int) -> str:
    if length is None:
        return f"record length {head.decode('latin-1')!r} in the leader is not a number"
    if length < _MIN_RECORD:
        return f"record length {length} in the leader is too short for a record"
    if ended_by == "leader":
        return (f"record truncated: {size} bytes, then the next record's leader, leader says "
                f"{length}")
    if ended_by == "nothing":
        return f"record truncated: {size} bytes, no record terminator, leader says {length}"
    return f"leader says {length} bytes but the record terminator ends it at {size}"


class RecordError(ValueError):
    """One ISO 2709 record cannot be read faithfully; the message is the one-line reason."""


MAX_FIELD_BYTES = 9_999
"""The longest field ISO 2709 can hold, its terminator counted: four digits of length."""
class TooLong(RecordError):
    """A record that cannot be written as ISO 2709: a field or the whole longer than the
    directory's and leader's digits can say."""


def length_problems(fields: list[tuple[str, int]]) -> list[tuple[str | None, str]]:
    """``(tag or None, message)`` for each field of ``fields`` (tag, length in bytes with its
    terminator) longer than ISO 2709 allows, and for the record they make when it is."""
    problems: list[tuple[str | None, str]] = [
        (tag, f"{length:,} bytes, longer than ISO 2709 allows a field "
              f"({MAX_FIELD_BYTES:,} with its terminator)")
        for tag, length in fields
        if length > MAX_FIELD_BYTES
    ]
    size = 24 + 12 * len(fields) + 1 + sum(length for _tag, length in fields) + 1
    if size > MAX_RECORD_BYTES:
        problems.append((None, f"record of {size:,} bytes is longer than ISO 2709 allows "
                               f"({MAX_RECORD_BYTES:,})"))
    return problems


def field_lengths(record: Record, encoding: str = "utf-8") -> list[tuple[str, int]]:
    """``(tag, length)`` of each field of ``record`` as ISO 2709 in ``encoding`` holds it,
    terminator counted (counted from the text: a field is not written to be measured)."""
    lengths: list[tuple[str, int]] = []
    for fld in record.fields:
        if fld.is_control_field():
            lengths.append((fld.tag, _encoded_length(fld.data, encoding) + 1))
            continue
        size = 3  # two indicators, the terminator
        for sub in fld.subfields:
            size += 1 + _encoded_length(sub.code, encoding) + _encoded_length(sub.value, encoding)
        lengths.append((fld.tag, size))
    return lengths


def _encoded_length(value: str | bytes | None, encoding: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bytes):
        return len(value)
    return len(value) if value.isascii() else len(value.encode(encoding, "replace"))


def _too_long(problems: list[tuple[str | None, str]]) -> TooLong:
    tag, message = problems[0]
    return TooLong((f"field {tag}: " if tag else "") + message)


def checked_length(marc: bytes, record: Record, encoding: str = "utf-8") -> bytes:
    """``marc``, written from ``record`` by pymarc's ``as_marc``; :class:`TooLong` when a
    field or the record is longer than ISO 2709 can say (pymarc then writes numbers with too
    many digits, which no reader can follow).

    The written bytes show it at once: with every number in its digits, the base address is
    the leader, one 12-byte entry per field and the directory's terminator."""
    fields = len(record.fields)
    if len(marc) <= MAX_RECORD_BYTES and marc[12:17] == f"{25 + 12 * fields:05d}".encode():
        return marc
    # a RawField (MARC-8 output) holds its bytes: asked for an encoding, pymarc logs a warning
    written = [(fld.tag, len(fld.as_marc() if isinstance(fld, RawField) else fld.as_marc(encoding)))
               for fld in record.fields]  # fmt: skip
    problems = length_problems(written)
    if problems:
        raise _too_long(problems)
    raise TooLong(f"record cannot be written as ISO 2709 ({len(marc):,} bytes, "
                  f"{fields} fields: a tag not of three characters?)")


def structure_problems(chunk: bytes, *, marc21: bool = True) -> list[tuple[str | None, str]]:
    """``(tag or None, message)`` for each place where ``chunk`` breaks ISO 2709 structure.

    Checks the leader's numbers against the record (length, base address, terminator), the
    directory (tags, lengths and offsets in bounds, each field ending with 0x1E) and that each
    data field has exactly two indicators, ASCII, before its first subfield. For MARC21
    (``marc21=True``) leader/10-11 must be "22" and leader/20-23 should be "4500".
    """
    problems: list[tuple[str | None, str]] = []
    leader = chunk[:24].decode("latin-1")
    if len(leader) < 24:
        return [(None, f"record of {len(chunk)} bytes is shorter than a leader")]
    if not (leader[:5].isascii() and leader[:5].isdigit()):  # latin-1 has "²", a digit
        problems.append((None, f"leader/00-04 record length {leader[:5]!r} is not a number"))
    elif int(leader[:5]) != len(chunk):
        problems.append((None, f"leader says {int(leader[:5])} bytes, the record has {len(chunk)}"))
    if chunk[-1:] != bytes([RECORD_TERMINATOR]):
        problems.append((None, "record does not end with the record terminator 0x1D"))
    if leader[10:12] != "22":
        problems.append(
            (
                None,
                f"leader/10-11 {leader[10:12]!r}: indicator and subfield code "
                "counts must be 2 and 2",
            )
        )
    if marc21 and leader[20:24] != "4500":
        problems.append((None, f"leader/20-23 {leader[20:24]!r} should be '4500'"))
    if not (leader[12:17].isascii() and leader[12:17].isdigit()):
        problems.append((None, f"leader/12-16 base address {leader[12:17]!r} is not a number"))
        return problems
    base = int(leader[12:17])
    if base < 25 or base > len(chunk) or (base - 25) % 12 or chunk[base - 1] != 0x1E:
        problems.append((None, f"base address {base} does not end the directory"))
        return problems
    if base == 25:
        problems.append((None, "no fields: the directory is empty"))
    data = chunk[base:]
    for start in range(24, base - 1, 12):
        entry = chunk[start : start + 12].decode("latin-1")
        tag = entry[:3]
        if not (entry[3:].isascii() and entry[3:].isdigit()):
            problems.append((tag, f"directory entry {entry!r} has a non-numeric length or offset"))
            continue
        length, offset = int(entry[3:7]), int(entry[7:12])
        field_bytes = data[offset : offset + length]
        if not tag.isascii() or not tag.isalnum():
            problems.append((tag, f"tag {tag!r} is not three letters or digits"))
        if offset + length > len(data) or not field_bytes.endswith(b"\x1e"):
            problems.append(
                (
                    tag,
                    f"field at offset {offset}, length {length} does not end "
                    "with the field terminator 0x1E",
                )
            )
            continue
        if (tag >= "010" or not tag.isdigit()) and b"\x1f" not in field_bytes:
            if len(field_bytes) > 3:  # more than two indicators and the terminator
                problems.append((tag, f"{NO_DELIMITER}: {len(field_bytes) - 3} bytes of text "
                                      "after the indicators and no subfield"))
        elif tag >= "010" or not tag.isdigit():
            indicators = field_bytes[: field_bytes.index(b"\x1f")]
            if len(indicators) > 2 and not indicators[2:].strip(b" "):
                problems.append((tag, f"{BLANK_EXTRA_INDICATORS} ({len(indicators)}, not 2)"))
            elif len(indicators) != 2:
                problems.append((tag, f"{len(indicators)} indicator characters, not 2"))
            elif not indicators.isascii():  # pymarc reads them as ASCII: a UnicodeDecodeError
                byte = max(indicators)
                problems.append((tag, f"indicator byte 0x{byte:02x} is not ASCII"))
    return problems


NO_DELIMITER = "no subfield delimiter (0x1F)"
ENTRY_MAP = "leader/20-23"
BLANK_EXTRA_INDICATORS = "blank extra indicator characters"
REPAIRABLE = (ENTRY_MAP, BLANK_EXTRA_INDICATORS)
"""Structural faults a reader repairs, since nothing is lost: the entry map carries no data,
and pymarc keeps the first two indicators when the extra ones are blanks."""


def is_repairable(message: str) -> bool:
    """True for a :func:`structure_problems` message that :func:`decode_record` repairs."""
    return message.startswith(REPAIRABLE)


@contextlib.contextmanager
def _pymarc_quiet() -> Iterator[None]:
    """Mute pymarc's warning about extra indicators, already checked to be blanks here."""
    logger = logging.getLogger("pymarc")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def decode_record(
    chunk: bytes, *, allow_marc8: bool = True, charset: str | None = None
) -> tuple[Record, str]:
    """Build a Unicode pymarc record from one ISO 2709 record; return it and its charset.

    See :func:`read_record`, which also tells why the charset was chosen.
    """
    record, decision = read_record(chunk, allow_marc8=allow_marc8, charset=charset)
    return record, decision.charset


def read_record(
    chunk: bytes, *, allow_marc8: bool = True, charset: str | None = None
) -> tuple[Record, charsets.Decision]:
    """Build a Unicode pymarc record from one ISO 2709 record, with the charset decision.

    ``charset`` (a :data:`crosswalks.charsets.CANDIDATES` label) says what the data is;
    None decides per record (:func:`crosswalks.charsets.decide`). Raises
    :class:`RecordError` with a one-line reason when the record cannot be read faithfully:
    broken structure (:func:`structure_problems`), damaged UTF-8, bytes invalid in the given
    charset, undefined MARC-8 codes or escapes, non-ASCII subfield codes. ``allow_marc8`` is
    False for UNIMARC, which never uses MARC-8 and whose leader/20-23 differs; there the
    entry map is not checked.

    A record with a flawless structure (:func:`flawless_fields`) is built here directly,
    several times faster; any other record, and any record the direct build meets something
    unusual in, is built by pymarc. Both give the same record, as
    :func:`decode_record_with_pymarc` (the reference) shows in the tests.
    """
    fields, decision = _fields_and_charset(chunk, allow_marc8=allow_marc8, charset=charset)
    return _built(chunk, fields, decision.charset), decision


@dataclass(frozen=True)
class Canonical:
    """A MARC21 record read straight into the catalogue's canonical bytes, without building a
    :class:`Record` (:func:`read_record_or_canonical`).

    ``marc`` is what ``catalog.store.canonical_marc`` writes for the record
    :func:`read_record` builds from the same bytes (ISO 2709 in UTF-8, leader/09 'a', lengths
    and offsets recomputed); ``control_number`` and ``organization`` are the text of its first
    001 and first 003 (None: it has none).
    """

    marc: bytes
    control_number: str | None
    organization: str | None


def read_record_or_canonical(
    chunk: bytes, *, charset: str | None = None
) -> tuple[Record | Canonical, charsets.Decision]:
    """:func:`read_record` of a MARC21 record, except that a plain one (:func:`plain_canonical`,
    the common case) comes back as its :class:`Canonical` bytes instead of a record.

    What a reader that stores records does with a record is write it out again as canonical
    bytes (and a worker process reads those): for a plain record they are the bytes read,
    leader/09 set to 'a', so building the record and writing it would be wasted. The record
    built instead for any other record passes what it would have passed, and a plain one
    passes :func:`crosswalks.marc_syntax.syntax_problems` too, so the caller treats both alike.
    """
    fields, decision = _fields_and_charset(chunk, allow_marc8=True, charset=charset)
    if fields is not None and decision.charset == charsets.UTF8:
        canonical = plain_canonical(chunk, fields)
        if canonical is not None:
            return canonical, decision
    return _built(chunk, fields, decision.charset), decision


def _fields_and_charset(
    chunk: bytes, *, allow_marc8: bool, charset: str | None
) -> tuple[list[tuple[str, bytes]] | None, charsets.Decision]:
    """The fields of a flawless record (None for any other, once it is known to be readable)
    and its charset; :class:`RecordError` when it cannot be read."""
    fields = flawless_fields(chunk, marc21=allow_marc8)
    if fields is None:
        _check_structure(chunk, marc21=allow_marc8)
    return fields, _charset(chunk, allow_marc8=allow_marc8, given=charset)


def _built(chunk: bytes, fields: list[tuple[str, bytes]] | None, charset: str) -> Record:
    """The record of ``chunk`` (its ``fields`` when flawless) in ``charset``, leader/09 'a'."""
    record = None
    if fields is not None:
        leader = chunk[:24].decode("ascii")
        record = _build_record(leader[:9] + "a" + leader[10:], fields, charset)
    if record is None:
        record = _pymarc_record(chunk, charset)
    _decode_values(record, charset)
    return record


def read_utf8(chunk: bytes) -> Record:
    """What ``Record(chunk, force_utf8=True, to_unicode=True)`` reads from a record known to
    be in UTF-8 (the catalogue's canonical bytes, read again for every record stored): the same
    record, or the same exception. A record with a flawless structure (:func:`flawless_fields`)
    is built here directly, in half pymarc's time; pymarc reads any other, and any record the
    direct build meets something unusual in."""
    fields = flawless_fields(chunk)
    if fields is not None and chunk[:24].isascii():
        record = _build_record(chunk[:24].decode("ascii"), fields, charsets.UTF8)
        if record is not None:
            return record
    return Record(chunk, force_utf8=True, to_unicode=True)


def read_plain(marc: bytes) -> Record:
    """:func:`read_utf8` of the bytes of a :class:`Canonical` (made by :func:`plain_canonical`),
    without checking them again as it checks bytes from elsewhere: the record it builds, in
    two thirds of the time (pure Python). Those bytes hold their fields in directory order one
    after the other, and no field holds a field terminator (nor any other character XML
    forbids), so the fields are the data split at the terminators, under the directory's tags;
    and their indicators and subfield codes are ASCII, so the record is built here (were it
    not, :func:`read_utf8` would read it)."""
    base = int(marc[12:17])
    directory = marc[24 : base - 1]
    tags = [directory[at : at + 3].decode("ascii") for at in range(0, len(directory), 12)]
    fields = list(zip(tags, marc[base:-1].split(b"\x1e")[:-1], strict=True))
    record = _build_record(marc[:24].decode("ascii"), fields, charsets.UTF8)
    return read_utf8(marc) if record is None else record


def decode_record_with_pymarc(chunk: bytes, *, allow_marc8: bool = True) -> tuple[Record, str]:
    """:func:`decode_record` with pymarc building every record: the reference for its fast path."""
    _check_structure(chunk, marc21=allow_marc8)
    charset = _charset(chunk, allow_marc8=allow_marc8, given=None).charset
    record = _pymarc_record(chunk, charset)
    _decode_values(record, charset)
    return record, charset


def _check_structure(chunk: bytes, *, marc21: bool) -> None:
    """Raise :class:`RecordError` for the first fault :func:`structure_problems` cannot repair."""
    structure = structure_problems(chunk, marc21=marc21)
    fatal = [(tag, message) for tag, message in structure if not is_repairable(message)]
    if fatal:
        tag, message = fatal[0]
        more = f" (and {len(fatal) - 1} more)" if len(fatal) > 1 else ""
        raise RecordError((f"field {tag}: " if tag else "") + message + more)


def _charset(chunk: bytes, *, allow_marc8: bool, given: str | None) -> charsets.Decision:
    """The charset of a structurally sound record; :class:`RecordError` when it is damaged
    or, with ``given``, not valid in that charset."""
    leader = chunk[:24]
    if not leader.isascii():
        raise RecordError("leader is not ASCII")
    data = chunk[24:]
    if given is not None:
        if given == charsets.MARC8 and not allow_marc8:
            raise RecordError("MARC-8 is not used in UNIMARC records")
        _check_valid(data, given)
        return charsets.Decision(given, "given")
    unimarc_sets = "" if allow_marc8 else unimarc_character_sets(chunk)
    decision = charsets.decide(data, declared_utf8=leader[9:10] == b"a", unimarc_sets=unimarc_sets)
    if decision.charset == charsets.MARC8 and not allow_marc8:
        decision = charsets.Decision(charsets.LATIN1, "MARC-8 is not used in UNIMARC records")
    if decision.charset == charsets.BROKEN_UTF8:
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RecordError(
                f"invalid UTF-8: byte 0x{chunk[error.start]:02x} at offset {error.start}"
                " (no other charset reads it plausibly; say which with --charset)"
            ) from None
    if decision.charset == charsets.MARC8:
        _check_valid(data, charsets.MARC8)
    return decision


_UNIMARC_100A = re.compile(rb"\x1fa([^\x1e\x1f]*)")


def unimarc_character_sets(chunk: bytes) -> str:
    """100 $a/26-29 of the UNIMARC record ``chunk``: the codes of its G0 and G1 character sets
    (``0103``: ISO 646 and ISO 5426; ``50  ``: Unicode); empty when the record has no such
    field or its directory cannot be read."""
    try:
        base = int(chunk[12:17])
    except ValueError:
        return ""
    for at in range(24, min(base, len(chunk)) - 12, 12):
        entry = chunk[at : at + 12]
        if entry[:1] == b"\x1e":
            break
        if entry[:3] != b"100" or not entry[3:].isdigit():
            continue
        start = base + int(entry[7:12])
        match = _UNIMARC_100A.search(chunk, start, start + int(entry[3:7]))
        if match is None:
            return ""
        return match.group(1)[26:30].decode("ascii", errors="replace")
    return ""


def _check_valid(data: bytes, charset: str) -> None:
    if charset in charsets.VALUE_DECODERS:
        decode, error_class = charsets.VALUE_DECODERS[charset]
        for piece in charsets.VALUE_BOUNDARIES.split(data):
            try:
                decode(piece)
            except error_class as error:
                raise RecordError(str(error)) from None
        return
    try:
        data.decode(charsets.CODECS[charset])
    except UnicodeDecodeError as error:
        raise RecordError(
            f"not valid {charset}: byte 0x{data[error.start]:02x} at offset {error.start + 24}"
        ) from None


def _decode_values(record: Record, charset: str) -> None:
    """Turn values read byte for byte (Latin-1) into the MARC-8 or ISO 5426 text they encode;
    nothing for the other charsets, which are decoded as read."""
    if charset not in charsets.VALUE_DECODERS:
        return
    decode, error_class = charsets.VALUE_DECODERS[charset]
    try:
        for field in record.fields:
            if field.is_control_field():
                field.data = decode((field.data or "").encode("latin-1"))
            else:
                field.subfields = [
                    new_subfield((sub.code, decode(sub.value.encode("latin-1"))))
                    for sub in field.subfields
                ]
    except error_class as error:
        raise RecordError(str(error)) from None


def _pymarc_record(chunk: bytes, charset: str) -> Record:
    """pymarc's reading of ``chunk`` in ``charset`` (MARC-8 and ISO 5426 byte for byte, as
    Latin-1, for :func:`_decode_values`), leader/09 set to 'a'."""
    as_utf8 = charset == charsets.UTF8
    # pymarc decodes as UTF-8 when leader/09 is 'a' and with the given codec otherwise
    # (but as MARC-8 when that codec is named "iso8859-1", which "latin-1" avoids).
    patched = chunk[:9] + (b"a" if as_utf8 else b" ") + chunk[10:]
    codec = charsets.CODECS.get(charset, "latin-1")
    with warnings.catch_warnings(), _pymarc_quiet():
        warnings.simplefilter("error", BadSubfieldCodeWarning)
        try:
            record = Record(patched, force_utf8=as_utf8, file_encoding=codec)
        except BadSubfieldCodeWarning as warning:
            raise RecordError(f"non-ASCII subfield code ({warning})") from None
        except Exception as error:  # pymarc raises many kinds on malformed data
            raise RecordError(describe(error)) from error
    text = str(record.leader)
    record.leader = Leader(text[:9] + "a" + text[10:])
    return record


_DIRECTORY = re.compile(rb"(?:[0-9A-Za-z]{3}[0-9]{9})+")


def flawless_fields(chunk: bytes, *, marc21: bool = True) -> list[tuple[str, bytes]] | None:
    """``(tag, field bytes without the terminator)`` in directory order, or None.

    Not None only when :func:`structure_problems` finds nothing in ``chunk`` (it checks the
    same rules, more strictly: ASCII digits and tags only) and there is at least one field:
    the common case, read without building any message.
    """
    size = len(chunk)
    head, base_text = chunk[:5], chunk[12:17]
    if (
        size < _MIN_RECORD
        or not head.isdigit()
        or int(head) != size
        or chunk[-1] != RECORD_TERMINATOR
        or chunk[10:12] != b"22"
        or (marc21 and chunk[20:24] != b"4500")
        or not base_text.isdigit()
    ):
        return None
    base = int(base_text)
    if base > size or (base - 25) % 12 or chunk[base - 1] != 0x1E:
        return None
    directory = chunk[24 : base - 1]
    if _DIRECTORY.fullmatch(directory) is None:
        return None
    fields = []
    for start in range(0, len(directory), 12):
        tag = directory[start : start + 3].decode("ascii")
        first = base + int(directory[start + 7 : start + 12])
        end = first + int(directory[start + 3 : start + 7]) - 1
        if end >= size or end < first or chunk[end] != 0x1E:
            return None
        data = chunk[first:end]
        if (tag >= "010" or not tag.isdigit()) and (
            data.find(0x1F) not in (-1, 2) or (len(data) > 2 and 0x1F not in data)
            or not data[:2].isascii()
        ):
            return None
        fields.append((tag, data))
    return fields


def utf8_to_marc8(marc: bytes) -> bytes | None:
    """A UTF-8 record (the catalogue's canonical bytes) in MARC-8, with its field 066 (sets
    present), as :func:`crosswalks.charsets.record_to_iso2709_marc8` writes it from the record
    pymarc reads,
    but straight from the bytes; None when the record is not flawless (:func:`flawless_fields`)
    or not plainly readable (text not UTF-8, indicators or a subfield code not ASCII), for which
    the caller goes through pymarc.

    A Z39.50 client that negotiates no character set gets every record it reads this way, so
    the record is not read into pymarc objects and written out again.
    """
    fields = flawless_fields(marc)
    if fields is None or not marc[:24].isascii():
        return None
    written: list[tuple[str, bytes]] = []
    try:
        for tag, data in fields:
            if tag == marc8.CHARACTER_SETS_TAG:  # the record's own, of another encoding
                continue
            if tag < "010" and tag.isdigit():
                written.append((tag, marc8.encode(data.decode("utf-8")) + b"\x1e"))
                continue
            pieces = data.split(b"\x1f")
            if len(pieces[0]) != 2 or not pieces[0].isascii():
                return None
            parts = [pieces[0]]
            for piece in pieces[1:]:
                if not piece:
                    continue
                if piece[0] >= 0x80:
                    return None
                parts.append(b"\x1f" + piece[:1] + marc8.encode(piece[1:].decode("utf-8")))
            written.append((tag, b"".join(parts) + b"\x1e"))
    except UnicodeDecodeError:
        return None
    sets = marc8.character_sets(b"".join([data for _, data in written]))
    if sets:
        at = next((i for i, (tag, _) in enumerate(written) if tag > marc8.CHARACTER_SETS_TAG),
                  len(written))
        data = b"  " + b"".join([b"\x1fc" + designation for designation in sets]) + b"\x1e"
        written.insert(at, (marc8.CHARACTER_SETS_TAG, data))
    leader = marc[:24].decode("ascii")
    return assembled(leader[:9] + " " + leader[10:], written)


def plain_utf8(fields: list[Any], leader: str) -> bytes | None:
    """What pymarc's ``Record.as_marc()`` writes in UTF-8 for ``fields`` under ``leader`` (its
    09 'a'), when the record is plain: pymarc's own :class:`Field` objects, each with a tag of
    three ASCII characters, under a leader of 24 ASCII characters (the usual case); None for
    any other, which pymarc writes, however it does. Each field is written as pymarc 5's
    ``Field.as_marc`` writes it (:func:`_field_utf8`), compiled: pymarc's own writing of the
    fields, directory and leader cost a catalogue's canonical bytes more than all the rest."""
    if len(leader) != 24 or not leader.isascii():
        return None
    written: list[tuple[str, bytes]] = []
    for field in fields:  # Any, and the tag object: the compiled code checks before it trusts
        if type(field) is not Field:
            return None
        tag: object = field.tag
        if not isinstance(tag, str) or type(tag) is not str or len(tag) != 3 or not tag.isascii():
            return None
        written.append((tag, _field_utf8(field)))
    return assembled(leader, written)


def _field_utf8(field: Field) -> bytes:
    """``field.as_marc("utf-8")`` as pymarc 5 writes it: a control field's data, or the two
    indicators and each subfield after its delimiter and code, each value formatted as an
    f-string does (a stray None is written ``None``, as pymarc writes it); then the field
    terminator."""
    # Each value typed object: the compiled f-string then formats any value, as pymarc's does
    # (one typed str raises on a None).
    if field.control_field:
        data: object = field.data
        return f"{data}\x1e".encode()
    indicators: Any = field._indicators
    first: object = indicators[0] if indicators else ""
    second: object = indicators[1] if indicators else ""
    parts = [f"{first}{second}"]
    subfields: Any = field.subfields
    for subfield in subfields:
        code: object = subfield.code
        value: object = subfield.value
        parts.append(f"\x1f{code}{value}")
    parts.append("\x1e")
    return "".join(parts).encode()


def assembled(leader: str, fields: list[tuple[str, bytes]]) -> bytes:
    """ISO 2709 of ``fields`` (tag, data ending with the field terminator) in their order,
    stored in that order, under ``leader`` with the record length and base address written:
    what pymarc's ``Record.as_marc`` writes for the same fields. :class:`TooLong` when a
    field or the record is longer than ISO 2709 can hold."""
    entries: list[str] = []
    offset = 0
    for tag, data in fields:
        if len(data) > MAX_FIELD_BYTES:
            raise _too_long(length_problems([(tag, len(data))]))
        entries.append(f"{tag:>03}{len(data):04d}{offset:05d}")
        offset += len(data)
    directory = "".join(entries) + "\x1e"
    address = 24 + len(directory)
    if address + offset + 1 > MAX_RECORD_BYTES:
        raise _too_long(length_problems([(tag, len(data)) for tag, data in fields]))
    head = f"{address + offset + 1:0>5}{leader[5:12]}{address:0>5}{leader[17:]}{directory}"
    return b"".join([head.encode("ascii"), *[data for _tag, data in fields], b"\x1d"])


def _byte_class(pattern: re.Pattern[str]) -> bytes:
    """The ASCII characters that ``pattern`` (a one-character pattern) matches, as a class."""
    allowed = b"".join(re.escape(bytes([c])) for c in range(128) if pattern.match(chr(c)))
    return b"[" + allowed + b"]"


_PLAIN_TEXT = (
    b"[^" + b"".join(re.escape(bytes([c])) for c in range(128) if has_forbidden(chr(c))) + b"]*"
)
"""Text that holds no ASCII character XML forbids (the others are checked once decoded)."""
_PLAIN_CONTROL = re.compile(_PLAIN_TEXT)
_PLAIN_DATA = re.compile(
    _byte_class(marc_syntax.INDICATOR_PATTERN) * 2
    + b"(?:\x1f" + _byte_class(marc_syntax.SUBFIELD_CODE_PATTERN) + _PLAIN_TEXT + b")+"
)
"""A data field :func:`plain_canonical` takes: two indicators, then at least one subfield, each
a delimiter, a code and text (perhaps none); nothing before the first delimiter."""
_NOT_TEXT = re.compile(rb"\xef\xbf[\xbd-\xbf]")
"""U+FFFD (:data:`crosswalks.marc_syntax.REPLACEMENT_CHARACTER`), U+FFFE and U+FFFF in UTF-8:
the non-ASCII characters :func:`crosswalks.marc_syntax.syntax_problems` rejects (surrogates,
the others, never decode)."""
_CONTROL, _DATA = True, False


@cache
def _plain_tag(tag: str) -> bool | None:
    """:data:`_CONTROL` or :data:`_DATA` for a tag pymarc reads as such and
    :func:`crosswalks.marc_syntax.syntax_problems` accepts as such; None for another."""
    if tag < "010" and tag.isdigit():
        return _CONTROL if marc_syntax.CONTROL_TAG_PATTERN.match(tag) else None
    return _DATA if marc_syntax.DATA_TAG_PATTERN.match(tag) else None


def plain_canonical(chunk: bytes, fields: list[tuple[str, bytes]]) -> Canonical | None:
    """The canonical bytes of a flawless MARC21 record in UTF-8 (``fields`` from
    :func:`flawless_fields`), when it is plain; None when it is not.

    Plain means that the record built from it (:func:`_build_record`) is written out again
    field for field by ``Record.as_marc``, and has nothing
    :func:`crosswalks.marc_syntax.syntax_problems` finds: a valid leader; tags, indicators
    and subfield codes that MARCXML allows; a data field is two indicators and then subfields
    only (no text before the first delimiter, no delimiter without a code after it, which
    pymarc would drop); no character XML forbids, nor U+FFFD. The canonical bytes are then
    ``chunk`` with leader/09 'a' when its fields are stored in directory order one after the
    other (the usual case), else the same fields stored so.
    """
    leader = chunk[:24].decode("ascii")
    leader = leader[:9] + "a" + leader[10:]
    if marc_syntax.LEADER_PATTERN.match(leader) is None:
        return None
    ascii_only = chunk.isascii()
    if not ascii_only and _NOT_TEXT.search(chunk) is not None:
        return None
    directory = chunk[24 : int(leader[12:17]) - 1]
    control_number = organization = None
    offset = 0
    in_place = True
    for position, (tag, data) in enumerate(fields):
        if not ascii_only and not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return None
        kind = _plain_tag(tag)
        if kind is _CONTROL:
            if _PLAIN_CONTROL.fullmatch(data) is None:
                return None
            if tag == "001" and control_number is None:
                control_number = data.decode("utf-8")
            elif tag == "003" and organization is None:
                organization = data.decode("utf-8")
        elif kind is None or _PLAIN_DATA.fullmatch(data) is None:
            return None
        start = 12 * position + 7
        in_place = in_place and int(directory[start : start + 5]) == offset
        offset += len(data) + 1
    if in_place and 24 + len(directory) + 1 + offset + 1 == len(chunk):
        marc = chunk[:9] + b"a" + chunk[10:]
    else:
        marc = assembled(leader, [(tag, data + b"\x1e") for tag, data in fields])
    return Canonical(marc, control_number, organization)


_new_field = Field.__new__
_new_indicators = partial(tuple.__new__, Indicators)
new_subfield = partial(tuple.__new__, Subfield)
"""Field and named-tuple construction without their Python-level checks, which the bytes
have already passed; pymarc's constructors cost more than the rest of the read."""


def plain_data_field(tag: str, indicators: tuple[str, str], subfields: list[Subfield]) -> Field:
    """The data field ``Field(tag, Indicators(*indicators), subfields)`` makes, built without
    pymarc's checks (see :data:`new_subfield`): for a tag of three characters that pymarc
    does not take for a control field's (below 010 and all digits), which its caller checks."""
    field = _new_field(Field)
    field.tag = tag
    field.control_field, field.data = False, None
    field._indicators = _new_indicators(indicators)
    field.subfields = subfields
    return field
_SUBFIELD = re.compile("\x1f([^\x1f])([^\x1f]*)")
"""A subfield as pymarc reads it: delimiter, one-character code, value (empty ones skipped)."""
_NON_ASCII_CODE = re.compile("\x1f[^\x00-\x7f]")


def _build_record(leader: str, fields: list[tuple[str, bytes]], charset: str) -> Record | None:
    """The record pymarc would build from ``leader`` and ``fields`` in ``charset``; None when
    pymarc would meet anything unusual (undecodable bytes, non-ASCII indicators or subfield
    codes, other than two indicators), so that pymarc reads the record and gives its own reason.

    Decoding a whole field at once equals pymarc's decoding subfield by subfield: in UTF-8 the
    delimiter byte never occurs inside a multi-byte character, and the other codecs map byte
    to character. MARC-8 is taken byte for byte (as Latin-1) here and its values decoded
    afterwards, subfield by subfield (:func:`_decode_values`); ISO 5426 likewise."""
    codec = charsets.CODECS.get(charset, "latin-1")
    built = []
    try:
        for tag, data in fields:
            text = data.decode(codec)
            field = _new_field(Field)
            field.tag = tag
            if tag < "010" and tag.isdigit():
                field.control_field, field.data = True, text
                field.subfields, field._indicators = [], None
                built.append(field)
                continue
            indicators = text.partition("\x1f")[0]
            if (
                len(indicators) != 2
                or not indicators.isascii()
                or (not text.isascii() and _NON_ASCII_CODE.search(text) is not None)
            ):
                return None
            field.control_field, field.data = False, None
            field._indicators = _new_indicators(indicators)
            field.subfields = list(map(new_subfield, _SUBFIELD.findall(text)))
            built.append(field)
    except UnicodeDecodeError:
        return None
    record = Record(fields=built, force_utf8=charset == charsets.UTF8)
    record.leader = Leader(leader)
    return record


def describe(error: BaseException) -> str:
    """A one-line reason for a reading or writing error: a :class:`RecordError`'s own
    message, pymarc's in words, the error's message (without its class name: the record is at
    fault, and its reader says what is wrong), or, when it has none, the exception's name."""
    if isinstance(error, RecordError):
        return str(error)
    words = _PYMARC_WORDS.get(type(error).__name__)
    if words is not None:
        return words
    return " ".join(str(error).split()) or type(error).__name__


_PYMARC_WORDS = {
    "RecordLeaderInvalid": "the leader is not 24 characters",
    "RecordDirectoryInvalid": "the directory does not fit the record (lengths or offsets)",
    "NoFieldsFound": "no fields: the directory is empty",
    "BaseAddressInvalid": "base address does not end the directory",
    "BaseAddressNotFound": "base address not found in the leader",
    "RecordLengthInvalid": "record length in the leader is not a number",
    "TruncatedRecord": "record truncated: shorter than its leader says",
    "EndOfRecordNotFound": "record does not end with the record terminator 0x1D",
    "FieldNotFound": "a field the directory names is not in the record",
}
"""pymarc's exceptions in words, for a record that reaches pymarc with a fault the checks
here (:func:`structure_problems`) did not see first."""
