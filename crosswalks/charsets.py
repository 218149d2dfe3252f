"""Character sets of MARC data: detect, decode, and encode MARC-8.

Declarations are not trusted (leader/09 in MARC21, 100$a/26-29 in UNIMARC are often wrong), so
the bytes decide, in this order (:func:`detect_charset`):

1. ``marc-8`` when the data holds MARC-8 escape sequences (ESC followed by a set designator)
   and the declaration is not UTF-8, or when it is not valid UTF-8 but is plausible MARC-8;
2. ``utf-8`` when the data is valid UTF-8 (strict);
3. ``broken-utf-8`` when it holds valid multi-byte UTF-8 sequences *and* invalid bytes: UTF-8
   damaged on the way, which is reported rather than guessed at;
4. ``cp1251`` when the 8-bit bytes look like Cyrillic words (most of them in the CP1251 letter
   range, and mostly next to each other, as letters of a word are);
5. ``marc-8`` when every 8-bit byte is a defined MARC-8 (ANSEL) code, no combining mark
   stands before a space, delimiter or the end of the data (MARC-8 marks precede their base),
   and most marks compose with their base letter into a precomposed Unicode letter;
6. ``iso-8859-1`` otherwise.

:func:`utf8_to_marc8` encodes text as MARC-8 with pymarc's own code tables reversed (see its
docstring for what it covers), for Z39.50 clients that ask for MARC-8.
"""

from __future__ import annotations

import contextlib
import io
import unicodedata
from collections.abc import Iterator
from functools import cache

from pymarc import Indicators, Record, Subfield, marc8_mapping
from pymarc.field import RawField
from pymarc.marc8 import MARC8ToUnicode

UTF8 = "utf-8"
MARC8 = "marc-8"
CP1251 = "cp1251"
LATIN1 = "iso-8859-1"
BROKEN_UTF8 = "broken-utf-8"

ESC = 0x1B
_SET_DESIGNATORS = frozenset(b"()$,-bgsp234BENQS1")
_SUBFIELD_DELIMITER = 0x1F
_FIELD_TERMINATOR = 0x1E

CYRILLIC_SHARE = 0.8
"""Share of 8-bit bytes that must fall in the CP1251 letter range (0xC0-0xFF, Ё, ё)."""
CYRILLIC_ADJACENCY = 0.5
"""Share of 8-bit bytes that must have an 8-bit neighbour (letters inside a Cyrillic word)."""
MARC8_COMPOSED_SHARE = 0.5
"""Share of MARC-8 combining marks that must compose with their base letter (see below)."""

_ANSEL = marc8_mapping.CODESETS[0x45]
_ANSEL_COMBINING_RANGE = range(0xE0, 0xFF)


def has_marc8_escapes(data: bytes) -> bool:
    """True when ``data`` holds an ESC followed by a MARC-8 character-set designator."""
    start = data.find(ESC)
    while start != -1:
        if start + 1 < len(data) and data[start + 1] in _SET_DESIGNATORS:
            return True
        start = data.find(ESC, start + 1)
    return False


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode(UTF8)
    except UnicodeDecodeError:
        return False
    return True


def _has_utf8_sequences(data: bytes) -> bool:
    """True when ``data`` holds at least one well-formed multi-byte UTF-8 sequence."""
    for piece in data.split(b"\x1f"):
        try:
            text = piece.decode(UTF8)
        except UnicodeDecodeError as error:
            text = piece[: error.start].decode(UTF8)
        if not text.isascii():
            return True
    return False


def _looks_cyrillic(data: bytes) -> bool:
    high = [i for i, byte in enumerate(data) if byte >= 0x80]
    if len(high) < 3:
        return False
    letters = sum(1 for i in high if data[i] >= 0xC0 or data[i] in (0xA8, 0xB8))
    positions = set(high)
    paired = sum(1 for i in high if i - 1 in positions or i + 1 in positions)
    return letters >= CYRILLIC_SHARE * len(high) and paired >= CYRILLIC_ADJACENCY * len(high)


def _plausible_marc8(data: bytes) -> bool:
    for i, byte in enumerate(data):
        if byte < 0x80:
            continue
        if byte not in _ANSEL:
            return False
        if byte in _ANSEL_COMBINING_RANGE:
            following = data[i + 1] if i + 1 < len(data) else None
            if following in (None, 0x20, _SUBFIELD_DELIMITER, _FIELD_TERMINATOR):
                return False
    return True


def _marks_compose(data: bytes) -> bool:
    """True when most MARC-8 combining marks in ``data`` fuse with their base letter (NFC).

    Real MARC-8 puts marks on letters that carry them (é, ü, š, ł̣...), which compose into
    precomposed Unicode letters; Latin-1 letters misread as marks land on arbitrary letters
    (Danish "Stræk" gives "Strk̆") and stay loose.
    """
    marks = sum(1 for byte in data if byte in _ANSEL_COMBINING_RANGE)
    if not marks:
        return True
    text = MARC8ToUnicode(quiet=True).translate(data)
    loose = sum(1 for char in text if unicodedata.combining(char))
    return loose <= (1 - MARC8_COMPOSED_SHARE) * marks


def detect_charset(data: bytes, *, declared_utf8: bool = False) -> str:
    """The character set of ``data`` (field data of one record), judged from its bytes.

    ``declared_utf8`` is the record's own claim (leader/09 = 'a'); it only decides whether
    MARC-8 escapes in otherwise valid UTF-8 are taken as MARC-8. Returns one of
    :data:`UTF8`, :data:`MARC8`, :data:`CP1251`, :data:`LATIN1`, :data:`BROKEN_UTF8`.
    """
    if not declared_utf8 and has_marc8_escapes(data):
        return MARC8
    if _is_utf8(data):
        return UTF8
    if _has_utf8_sequences(data):
        return BROKEN_UTF8
    if _looks_cyrillic(data):
        return CP1251
    if _plausible_marc8(data) and _marks_compose(data):
        return MARC8
    return LATIN1


class Marc8Error(ValueError):
    """MARC-8 data holds a code or escape sequence that has no mapping."""


_ESCAPE_FINALS = frozenset(b"BEN1234QS")
_SINGLE_ESCAPES = frozenset(b"bgps")
_BENIGN = "Unable to parse character 0x20 "
"""pymarc complains about a space while a non-ASCII G0 set is designated, then writes a space:
in ISO 2022 0x20 is always SPACE, so the outcome is right and the complaint is ignored."""


def marc8_escape_problem(data: bytes) -> str | None:
    """Why an escape sequence in ``data`` is not MARC-8 (None when all are valid).

    Valid: ESC b/g/p/s (subscript, Greek symbols, superscript, back to ASCII) and ESC, an
    intermediate ( , $ ) - (with $ optionally followed by , or -), and a final naming a set
    pymarc has (B E N 1 2 3 4 Q S). pymarc itself drops an unknown ESC silently.
    """
    start = data.find(ESC)
    while start != -1:
        sequence = data[start + 1 : start + 4]
        if not sequence:
            return f"escape at the end of the data (offset {start})"
        first = sequence[0]
        rest = sequence[1:]
        if first == 0x24 and rest[:1] in (b",", b"-", b")"):  # ESC $ , 1
            rest = rest[1:]
        valid = first in _SINGLE_ESCAPES or (
            first in b"(,$)-" and rest[:1] != b"" and rest[0] in _ESCAPE_FINALS
        )
        if not valid:
            return f"invalid MARC-8 escape sequence {bytes(data[start : start + 4])!r}"
        start = data.find(ESC, start + 1)
    return None


@contextlib.contextmanager
def marc8_diagnostics() -> Iterator[None]:
    """Turn pymarc's MARC-8 complaints into a :class:`Marc8Error` raised at the block's end.

    pymarc's MARC-8 decoder reports undefined codes and bad escapes on stderr and goes on with
    a blank in their place; inside this block the report is captured instead, so nothing is
    replaced silently.
    """
    report = io.StringIO()
    with contextlib.redirect_stderr(report):
        try:
            yield
        except (IndexError, TypeError, KeyError) as error:
            raise Marc8Error(f"invalid MARC-8 multibyte sequence ({error})") from error
    complaints = [line for line in report.getvalue().splitlines() if _BENIGN not in line]
    if complaints:
        raise Marc8Error(f"invalid MARC-8: {complaints[0].strip()}")


def marc8_to_unicode_strict(data: bytes) -> str:
    """Decode MARC-8 ``data`` with pymarc (NFC), raising :class:`Marc8Error` on undefined codes."""
    with marc8_diagnostics():
        return MARC8ToUnicode(quiet=False).translate(data)


# --- MARC-8 encoding ---------------------------------------------------------------------------

_G0_ASCII = 0x42
_G0_CYRILLIC = 0x4E


@cache
def _reverse_tables() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(ANSEL spacing characters, ANSEL combining marks, basic Cyrillic) from pymarc's tables."""
    spacing: dict[str, int] = {}
    combining: dict[str, int] = {}
    for byte, (code_point, is_combining) in sorted(_ANSEL.items()):
        target = combining if is_combining else spacing
        target.setdefault(chr(code_point), byte)
    cyrillic: dict[str, int] = {}
    for byte, (code_point, _flag) in sorted(marc8_mapping.CODESETS[_G0_CYRILLIC].items()):
        if code_point >= 0x80:
            cyrillic.setdefault(chr(code_point), byte)
    return spacing, combining, cyrillic


def _ncr(char: str) -> bytes:
    return f"&#x{ord(char):04X};".encode("ascii")


def utf8_to_marc8(text: str) -> bytes:
    """Encode ``text`` as MARC-8 (G0 ASCII, G1 ANSEL by default).

    Covers what pymarc's code tables give for ANSEL (all spacing Latin specials such as Ł Ø Đ Þ
    Æ Œ ı ʻ ʹ £ © ℗ ° and every ANSEL combining diacritic, so any Latin letter that decomposes
    to a base letter plus those marks) and the basic Cyrillic set, which is designated into G0
    with ``ESC ( N`` (pymarc and yaz decode it there) and left with ``ESC ( B`` before any
    character it lacks, the space included (pymarc does not read 0x20 in that set).
    A character with its own code (Cyrillic й, Ў; Latin Ł) keeps it; any other letter is
    decomposed (NFD) into a base and ANSEL marks, each mark written before its base character
    as MARC-8 requires. Characters
    outside these sets are written as numeric character references ``&#xHHHH;``, LC's lossless
    convention. The result starts and ends with the default sets in force.
    """
    spacing, combining, cyrillic = _reverse_tables()
    out = bytearray()
    g0 = _G0_ASCII
    pending_marks = bytearray()
    trailing_refs = bytearray()

    def put_base(char: str) -> None:
        nonlocal g0
        code = ord(char)
        if code < 0x80 and (g0 == _G0_ASCII or 0x21 <= code < 0x40):
            out.extend(pending_marks)
            out.append(code)
        elif code < 0x80:
            out.extend(b"\x1b(B")
            g0 = _G0_ASCII
            out.extend(pending_marks)
            out.append(code)
        elif char in cyrillic:
            if g0 != _G0_CYRILLIC:
                out.extend(b"\x1b(N")
                g0 = _G0_CYRILLIC
            out.extend(pending_marks)
            out.append(cyrillic[char])
        elif char in spacing:
            out.extend(pending_marks)
            out.append(spacing[char])
        else:
            if g0 != _G0_ASCII:
                out.extend(b"\x1b(B")
                g0 = _G0_ASCII
            out.extend(pending_marks)
            out.extend(_ncr(char))
        out.extend(trailing_refs)
        pending_marks.clear()
        trailing_refs.clear()

    base: str | None = None
    for char in unicodedata.normalize("NFC", text):
        if unicodedata.combining(char) and base is not None:
            if char in combining:
                pending_marks.append(combining[char])
            else:
                trailing_refs.extend(_ncr(char))
            continue
        if base is not None:
            put_base(base)
        base = char
        if ord(char) >= 0x80 and char not in cyrillic and char not in spacing:
            decomposed = unicodedata.normalize("NFD", char)
            if len(decomposed) > 1 and all(mark in combining for mark in decomposed[1:]):
                base = decomposed[0]
                pending_marks.extend(combining[mark] for mark in decomposed[1:])
    if base is not None:
        put_base(base)
    if g0 != _G0_ASCII:
        out.extend(b"\x1b(B")
    return bytes(out)


def record_to_iso2709_marc8(record: Record) -> bytes:
    """``record`` (Unicode) as ISO 2709 in MARC-8, leader/09 blank (see :func:`utf8_to_marc8`).

    Lengths and base address are computed by pymarc from the encoded bytes; the record given
    is not changed.
    """
    leader = str(record.leader)
    encoded = Record(leader=leader[:9] + " " + leader[10:], to_unicode=False)
    for field in record.fields:
        if field.is_control_field():
            encoded.add_field(RawField(tag=field.tag, data=utf8_to_marc8(field.data or "")))
        else:
            encoded.add_field(
                RawField(
                    tag=field.tag,
                    indicators=Indicators(*(field.indicators or (" ", " "))),
                    subfields=[
                        Subfield(code=sub.code, value=utf8_to_marc8(sub.value))  # type: ignore[arg-type]
                        for sub in field.subfields
                    ],
                )
            )
    return encoded.as_marc()
