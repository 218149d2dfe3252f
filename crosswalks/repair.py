"""Repair of damaged ISO 2709 records (``--repair``), each repair listed.

Without repair a damaged record is rejected with its reason; with it, the guesses a reader
such as yaz-marcdump makes are made here, and said (:func:`repair_record`):

- bytes before the leader (a record length written twice) are skipped;
- the record length and base address are recomputed, "^" in the leader read as blanks,
  leader/10-11 set to "22" and leader/20-23 to "4500";
- fields are read with the indicator count the leader gives (leader/10), then kept with two
  indicators: extra non-blank ones are dropped, missing ones blank, characters that cannot be
  indicators blank;
- a directory length that contradicts the field terminator gives way to the terminator;
- text between the indicators and the first delimiter (or a field with no delimiter) becomes
  $a; a control field holding subfields keeps their values joined by blanks;
- control characters are left out, those separating words (tab, form feed...) made a space
  outside MARC-8 escaped text; a delimiter not followed by a subfield code MARCXML can carry
  (danMARC's å, a blank) is read as text;
- in MARC-8, codes no set defines are left out.

The repaired bytes are then read as any record is (:func:`crosswalks.iso2709.read_record`).
"""

from __future__ import annotations

import re

from crosswalks import charsets, iso2709, marc8
from crosswalks.marc_io import ReadItem, checked_item
from crosswalks.marc_syntax import SUBFIELD_CODE_PATTERN

FIELD_TERMINATOR = 0x1E
DELIMITER = 0x1F
_INDICATOR = re.compile(rb"[0-9a-z ]")
_ENTRY = re.compile(rb"([0-9A-Za-z]{3})(\d{4})(\d{5})")


def repair_record(chunk: bytes) -> tuple[bytes, list[str]]:
    """A structurally sound version of ``chunk`` and the repairs made (empty: none needed)."""
    repairs: list[str] = []
    chunk = _skip_junk(chunk, repairs)
    leader = bytearray(chunk[:24].ljust(24, b" "))
    if b"^" in leader:
        leader = bytearray(leader.replace(b"^", b" "))
        repairs.append('leader: "^" read as blanks')
    count = leader[10] - 0x30 if 0x31 <= leader[10] <= 0x39 else 2  # an ASCII digit, not 0
    if leader[10:12] != b"22":
        repairs.append(f"leader/10-11 {bytes(leader[10:12]).decode('latin-1')!r}: fields read "
                       f"with {count} indicators, written with 2")
    if leader[20:24] != b"4500":
        repairs.append(f"leader/20-23 {bytes(leader[20:24]).decode('latin-1')!r} set to '4500'")
    directory_end = chunk.find(FIELD_TERMINATOR, 24)
    if directory_end == -1:
        raise iso2709.RecordError("no directory terminator: nothing to repair")
    base = directory_end + 1
    if chunk[12:17] != f"{base:05d}".encode():
        repairs.append(f"base address {chunk[12:17].decode('latin-1')!r} set to {base}")
    fields = []
    for tag, length, offset in _entries(chunk[24:directory_end], repairs):
        data = _field_data(chunk, base, tag, length, offset, repairs)
        if data is None:
            continue
        data = _without_controls(tag, data, repairs)
        if tag < "010" and tag.isdigit():
            fields.append((tag, _control(tag, data, repairs)))
        else:
            fields.append((tag, _subfield_codes(tag, _data_field(tag, data, count, repairs),
                                                repairs)))
    if _is_marc8(fields):
        fields = [(tag, _drop_undefined(tag, data, repairs)) for tag, data in fields]
    return _assemble(bytes(leader), fields), repairs


def _skip_junk(chunk: bytes, repairs: list[str]) -> bytes:
    head = chunk[:5]
    if head.isdigit() and int(head) == len(chunk):
        return chunk
    for skip in range(1, min(iso2709.MAX_JUNK, len(chunk) - 24)):
        length = chunk[skip : skip + 5]
        if length.isdigit() and int(length) == len(chunk) - skip:
            repairs.append(f"{skip} bytes before the leader skipped")
            return chunk[skip:]
    repairs.append(f"record length {head.decode('latin-1')!r} set to {len(chunk)}, "
                   "where the record terminator ends it")
    return chunk


def _entries(directory: bytes, repairs: list[str]) -> list[tuple[str, int, int]]:
    entries = []
    for start in range(0, len(directory) - len(directory) % 12, 12):
        match = _ENTRY.fullmatch(directory[start : start + 12])
        if match is None:
            entry = directory[start : start + 12].decode("latin-1")
            repairs.append(f"directory entry {entry!r} left out")
            continue
        entries.append((match.group(1).decode(), int(match.group(2)), int(match.group(3))))
    if len(directory) % 12:
        repairs.append(f"{len(directory) % 12} bytes at the end of the directory left out")
    return entries


def _field_data(
    chunk: bytes, base: int, tag: str, length: int, offset: int, repairs: list[str]
) -> bytes | None:
    start = base + offset
    end = start + length - 1
    if end < len(chunk) and length and chunk[end] == FIELD_TERMINATOR:
        return chunk[start:end]
    found = chunk.find(FIELD_TERMINATOR, start)
    if start >= len(chunk) or found == -1:
        repairs.append(f"field {tag}: offset {offset} is outside the record; field left out")
        return None
    repairs.append(f"field {tag}: length {length} contradicts the field terminator; "
                   f"read to the terminator ({found - start + 1} bytes)")
    return chunk[start:found]


_WHITESPACE = frozenset(b"\t\n\x0b\x0c\r")
"""Control characters that separate words: a repair makes them a space (``Title with\ttab``
left out read ``Title withtab``)."""
_AS_SPACE = bytes.maketrans(bytes(sorted(_WHITESPACE)), b" " * len(_WHITESPACE))
_WHITESPACE_RUN = re.compile(rb" *[\t\n\x0b\x0c\r][ \t\n\x0b\x0c\r]*")
_WHITESPACE_AT_END = re.compile(rb"[\t\n\x0b\x0c\r][ \t\n\x0b\x0c\r]*\Z")


def _without_controls(tag: str, data: bytes, repairs: list[str]) -> bytes:
    """``data`` without C0 control characters, which no record may carry: the whitespace ones
    made spaces, the others left out (ESC, the MARC-8 escape, and the delimiter stay)."""
    found = sorted({byte for byte in data if byte < 0x20 and byte not in (0x1B, DELIMITER)})
    if not found:
        return data
    # in MARC-8 escaped text a control may sit inside a multibyte character: a space there
    # would cut it, so every control is left out, as before
    spacing = _WHITESPACE if 0x1B not in data else frozenset()
    spaced = [byte for byte in found if byte in spacing]
    dropped = [byte for byte in found if byte not in spacing]
    said = [f"{what} ({', '.join(f'0x{byte:02x}' for byte in bytes_)})"
            for what, bytes_ in (("made spaces", spaced), ("left out", dropped)) if bytes_]
    repairs.append(f"field {tag}: control characters {'; '.join(said)}")
    kept = bytes(byte for byte in data
                 if byte >= 0x20 or byte in (0x1B, DELIMITER) or byte in spacing)
    if not spaced:
        return kept
    # before the first delimiter (a control field, indicators) each one a space, positions
    # kept; in a subfield a run of them (a CR LF) one space, and none at either end
    head, *subfields = kept.split(bytes([DELIMITER]))
    pieces = [head.translate(_AS_SPACE)]
    for piece in subfields:
        text = _WHITESPACE_RUN.sub(b" ", piece[1:])
        if _WHITESPACE_RUN.match(piece[1:]):
            text = text[1:]
        if _WHITESPACE_AT_END.search(piece[1:]):
            text = text[:-1]
        pieces.append(piece[:1] + text)
    return bytes([DELIMITER]).join(pieces)


def _subfield_codes(tag: str, data: bytes, repairs: list[str]) -> bytes:
    """``data`` where a delimiter followed by what cannot be a subfield code (danMARC's å, a
    blank) is read as text of the subfield before it, so nothing is lost."""
    pieces = data.split(bytes([DELIMITER]))
    kept = [pieces[0]]
    for piece in pieces[1:]:
        if piece[:1] and SUBFIELD_CODE_PATTERN.fullmatch(piece[:1].decode("latin-1")):
            kept.append(piece)
        elif len(kept) > 1:
            repairs.append(f"field {tag}: delimiter before {_show(piece[:12])} is not followed "
                           "by a subfield code; read as text of the subfield before")
            kept[-1] += piece
        else:
            repairs.append(f"field {tag}: delimiter before {_show(piece[:12])} is not followed "
                           "by a subfield code; read as $a")
            kept.append(b"a" + piece)
    return bytes([DELIMITER]).join(kept)


def _control(tag: str, data: bytes, repairs: list[str]) -> bytes:
    if DELIMITER not in data:
        return data
    values = [part[1:] for part in data.split(bytes([DELIMITER]))[1:]]
    repairs.append(f"field {tag}: control field held subfields; their values kept, joined")
    return b" ".join(value.strip() for value in values)


def _data_field(tag: str, data: bytes, count: int, repairs: list[str]) -> bytes:
    first = data.find(DELIMITER)
    head = data if first == -1 else data[:first]
    rest = b"" if first == -1 else data[first:]
    indicators, text = head[:count], head[count:]
    if count == 2 and len(head) > 2 and _characters(head) == 2:
        indicators, text = head, b""  # two characters, one of them multi-byte
        repairs.append(f"field {tag}: indicators {_show(head)} are not ASCII; set blank")
        indicators = b"  "
    if len(indicators) > 2:
        if indicators[2:].strip(b" "):
            repairs.append(f"field {tag}: indicators beyond two ({_show(indicators[2:])}) "
                           "dropped")
        indicators = indicators[:2]
    if len(indicators) < 2:
        repairs.append(f"field {tag}: {len(indicators)} indicators; blanks added")
        indicators = indicators.ljust(2, b" ")
    fixed = bytes(byte if _INDICATOR.fullmatch(bytes([byte])) else 0x20 for byte in indicators)
    if fixed != indicators:
        repairs.append(f"field {tag}: indicators {_show(indicators)} set to {_show(fixed)}")
    if text.strip(b" "):
        repairs.append(f"field {tag}: {_show(text)} before the first subfield taken as $a")
        rest = b"\x1fa" + text.strip(b" ") + rest
    return fixed + rest


def _characters(data: bytes) -> int:
    try:
        return len(data.decode("utf-8"))
    except UnicodeDecodeError:
        return len(data)


def _show(data: bytes) -> str:
    return repr(data.decode("utf-8", errors="replace"))


def _is_marc8(fields: list[tuple[str, bytes]]) -> bool:
    data = b"\x1e".join(data for _tag, data in fields)
    return charsets.detect_charset(data) == charsets.MARC8


def _drop_undefined(tag: str, data: bytes, repairs: list[str]) -> bytes:
    pieces = data.split(bytes([DELIMITER]))
    kept = []
    for piece in pieces:
        undefined: list[int] = []
        try:
            marc8.decode(piece, undefined)
        except marc8.Marc8Error:
            kept.append(piece)
            continue
        if undefined:
            codes = ", ".join(f"0x{piece[i]:02x}" for i in undefined)
            repairs.append(f"field {tag}: MARC-8 codes no set defines left out ({codes})")
            piece = bytes(b for i, b in enumerate(piece) if i not in set(undefined))
        kept.append(piece)
    return bytes([DELIMITER]).join(kept)


def _assemble(leader: bytes, fields: list[tuple[str, bytes]]) -> bytes:
    directory = bytearray()
    body = bytearray()
    for tag, data in fields:
        field = data + bytes([FIELD_TERMINATOR])
        directory += f"{tag}{len(field):04d}{len(body):05d}".encode()
        body += field
    base = 24 + len(directory) + 1
    length = base + len(body) + 1
    head = f"{length:05d}".encode() + leader[5:10] + b"22" + f"{base:05d}".encode()
    return head + leader[17:20] + b"4500" + bytes(directory) + b"\x1e" + bytes(body) + b"\x1d"


def repair_item(item: ReadItem, charset: str | None = None) -> ReadItem:
    """A rejected ISO 2709 record read again after :func:`repair_record`, with its
    ``repairs``. Still rejected (with both reasons, or the one, when the repairs left it as it
    was) when even the repaired bytes cannot be read."""
    try:
        fixed, repairs = repair_record(item.raw)
        record, decision = iso2709.read_record(fixed, charset=charset)
    except iso2709.RecordError as error:
        return ReadItem(item.index, None, item.raw, f"{item.error}; repair failed: {error}")
    repaired = checked_item(item.index, record, item.raw)
    if repaired.record is None:
        if repaired.error == item.error:  # a fault no repair touches (a blank leader/06)
            repaired.error = f"{item.error} (--repair does not guess this)"
        else:
            repaired.error = f"{item.error}; after repair: {repaired.error}"
        return repaired
    repaired.decision = decision
    repaired.repairs = repairs
    return repaired
