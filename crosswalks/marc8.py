"""MARC-8 both ways, from LoC's code tables kept as data (``tables/marc8.tsv``).

MARC-8 is ISO 2022: a working set G0 (bytes 0x21-0x7E) and G1 (0xA1-0xFE), ASCII and ANSEL by
default, changed by escape sequences (``ESC ( F`` / ``ESC , F`` / ``ESC $ F`` for G0,
``ESC ) F`` / ``ESC - F`` / ``ESC $ ) F`` for G1; ``ESC s`` back to ASCII; ``ESC g``, ``ESC b``,
``ESC p`` for Greek symbols, subscripts, superscripts in G0). Any set may be designated into
either half, so a code is looked up in its 7-bit position: yaz writes Extended Cyrillic ё as
``ESC ( Q`` 0x44, which pymarc's decoder (looking up 0x44 where LoC lists 0xC4) cannot read.
Combining marks precede their base letter in MARC-8 and follow it in Unicode. Numeric character
references ``&#xHHHH;`` (LoC's lossless convention, yaz's ``marc8lossless``) stand for
characters outside the tables, both ways.

>>> decode(b"\\x1b(NfEDOR\\x1b(B")
'Федор'
>>> encode("Фёдор") == b"\\x1b(Nf\\x1b(QD\\x1b(NDOR\\x1b(B"
True
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from pymarc import marc8_mapping

ESC = 0x1B
ASCII = 0x42
ANSEL = 0x45
CYRILLIC = 0x4E
EXTENDED_CYRILLIC = 0x51
EACC = 0x31
GREEK_SYMBOLS = 0x67
SUBSCRIPTS = 0x62
SUPERSCRIPTS = 0x70
_SHORT_ESCAPES = {ord("g"): GREEK_SYMBOLS, ord("b"): SUBSCRIPTS, ord("p"): SUPERSCRIPTS,
                  ord("s"): ASCII}
CHARACTER_REFERENCE = re.compile(rb"&#x([0-9A-Fa-f]{4,6});")
"""A character written as ``&#xHHHH;`` (the lossless convention), its code in group 1."""


def names_a_character(reference: re.Match[bytes]) -> bool:
    """Whether a :data:`CHARACTER_REFERENCE` match names a character (not a surrogate, nor a
    code past U+10FFFF): one that does not is ASCII text, kept as it is (``&#xFFFFFF;`` had
    stopped the reading of the whole file)."""
    code = int(reference.group(1), 16)
    return code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF


class Marc8Error(ValueError):
    """MARC-8 data holds a code or escape sequence that has no mapping."""


@dataclass(frozen=True, slots=True)
class CodedChar:
    """The character a code of a table stands for (MARC-8's sets here, ISO 5426 in
    :mod:`crosswalks.iso5426`), and whether it is a combining mark, which these tables write
    before its base letter (see :meth:`MarksAfterBase.add`)."""

    char: str
    combining: bool


@cache
def tables() -> dict[int, dict[int, CodedChar]]:
    """``{set final: {7-bit code: character}}`` for every single-byte set of the TSV."""
    sets: dict[int, dict[int, CodedChar]] = {}
    text = resources.files("crosswalks.tables").joinpath("marc8.tsv").read_text("utf-8")
    for line in text.splitlines()[1:]:
        if line.startswith("#") or line.startswith("set\t"):
            continue
        final, code, point, combining, _name = line.split("\t")
        sets.setdefault(int(final, 16), {})[int(code, 16) & 0x7F] = CodedChar(
            chr(int(point, 16)), combining == "1"
        )
    return sets


# --- decoding --------------------------------------------------------------------------------


def decode(data: bytes, undefined: list[int] | None = None) -> str:
    """MARC-8 ``data`` (one subfield or control field) as NFC Unicode.

    Starts with ASCII in G0 and ANSEL in G1. Raises :class:`Marc8Error` naming the first code
    or escape sequence that has no mapping; nothing is replaced silently. Given a list
    ``undefined`` (repair mode), the offset of each undefined code goes there instead and the
    code is left out.
    """
    if data.isascii() and ESC not in data and b"&#x" not in data:
        return data.decode("ascii")  # plain ASCII, the common case
    sets = tables()
    g0, g1 = ASCII, ANSEL
    text = MarksAfterBase()
    i = 0
    size = len(data)
    while i < size:
        byte = data[i]
        if byte == ESC:
            g0, g1, i = _escape(data, i, g0, g1)
            continue
        if byte == 0x26 and g0 == ASCII:
            match = CHARACTER_REFERENCE.match(data, i)
            if match and names_a_character(match):
                text.base(chr(int(match.group(1), 16)))
                i = match.end()
                continue
        active = g0 if byte < 0x80 else g1
        if active == EACC and byte > 0x20:
            try:
                char = _eacc(data, i)
            except Marc8Error:
                if undefined is None:
                    raise
                undefined.extend(range(i, min(i + 3, size)))
                i += 3
                continue
            text.base(char)
            i += 3
            continue
        i += 1
        if byte <= 0x20:  # space and C0 controls are the same whatever the sets
            text.base(chr(byte))
            continue
        entry = sets.get(active, {}).get(byte & 0x7F)
        if entry is None and undefined is not None:
            undefined.append(i - 1)
            continue
        if entry is None:
            raise Marc8Error(
                f"invalid MARC-8: code 0x{byte:02x} is not in set {chr(active)!r} "
                f"({'G0' if byte < 0x80 else 'G1'})"
            )
        text.add(entry)
    return text.nfc()


class MarksAfterBase:
    """Text being decoded from a character set that writes each combining mark before its base
    letter (MARC-8's ANSEL, ISO 5426), as Unicode wants it: after. Marks are held until their
    base comes; :meth:`nfc` gives the text composed."""

    __slots__ = ("_marks", "_out")

    def __init__(self) -> None:
        self._out: list[str] = []
        self._marks: list[str] = []

    def add(self, coded: CodedChar) -> None:
        """A character of the code table: a combining mark is held for the next base
        character, any other is a base (:meth:`base`'s step is written out here: a call to it
        made MARC-8 decoding some 5 % slower, the loop running once a character)."""
        if coded.combining:
            self._marks.append(coded.char)
            return
        self._out.append(coded.char)
        if self._marks:
            self._out.extend(self._marks)
            self._marks.clear()

    def base(self, char: str) -> None:
        """A base character (or a space or control), followed by the marks written before it."""
        self._out.append(char)
        if self._marks:
            self._out.extend(self._marks)
            self._marks.clear()

    def nfc(self) -> str:
        """The text, NFC; a mark with no base is kept, after the text, rather than lost."""
        return unicodedata.normalize("NFC", "".join(self._out + self._marks))


def _escape(data: bytes, i: int, g0: int, g1: int) -> tuple[int, int, int]:
    """The sets after the escape sequence at ``data[i]``, and where the data goes on."""
    sequence = data[i + 1 : i + 5]
    if not sequence:
        raise Marc8Error(f"invalid MARC-8: escape at the end of the data (offset {i})")
    first = sequence[0]
    if first in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[first], g1, i + 2
    if first == 0x24:  # ESC $ F (G0) or ESC $ ( F, ESC $ , F, ESC $ ) F, ESC $ - F
        if sequence[1:2] in (b"(", b","):
            final, width = sequence[2:3], 4
            target = "g0"
        elif sequence[1:2] in (b")", b"-"):
            final, width = sequence[2:3], 4
            target = "g1"
        else:
            final, width, target = sequence[1:2], 3, "g0"
    elif first in b"(,":
        final, width, target = sequence[1:2], 3, "g0"
    elif first in b")-":
        final, width, target = sequence[1:2], 3, "g1"
    else:
        raise Marc8Error(f"invalid MARC-8 escape sequence ({_show(data[i : i + 4])})")
    code = final[0] if final else -1
    if code == 0x21 and final:  # ESC ( ! E: ANSEL by its ISO registration
        code = data[i + width] if i + width < len(data) else -1
        width += 1
    if code not in tables() and code != EACC:
        raise Marc8Error(f"invalid MARC-8 escape sequence ({_show(data[i : i + width])})")
    if target == "g0":
        return code, g1, i + width
    return g0, code, i + width


def _show(data: bytes) -> str:
    """Bytes as a reader of a message takes them: ``0x1b 0x28 0x58``."""
    return " ".join(f"0x{byte:02x}" for byte in data)


def _eacc(data: bytes, i: int) -> str:
    code = int.from_bytes(data[i : i + 3], "big")
    entry = marc8_mapping.CODESETS[EACC].get(code)
    if entry is None:
        raise Marc8Error(f"invalid MARC-8: EACC code 0x{code:06x} undefined")
    return chr(entry[0])


# --- encoding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Code:
    final: int
    byte: int  # 7-bit position
    combining: bool


# Sets tried in this order for a character several sets hold (ASCII punctuation sits in
# Cyrillic, Greek, Hebrew and Arabic too; the default sets win).
_PREFERENCE = (ASCII, ANSEL, CYRILLIC, EXTENDED_CYRILLIC, 0x53, 0x32, 0x33, 0x34,
               SUBSCRIPTS, SUPERSCRIPTS, GREEK_SYMBOLS)
_SPECIAL = {GREEK_SYMBOLS: 0x67, SUBSCRIPTS: 0x62, SUPERSCRIPTS: 0x70}


@cache
def _in_set(final: int) -> dict[str, int]:
    """``{character: 7-bit code}`` of one set (what stays in G0 without an escape)."""
    entries = tables().get(final, {})
    return {entry.char: byte for byte, entry in entries.items() if not entry.combining}


@cache
def _eacc_codes() -> dict[str, bytes]:
    """``{character: three bytes}`` of East Asian (EACC), from pymarc's copy of LoC's table."""
    codes: dict[str, bytes] = {}
    for code, (point, _combining) in sorted(marc8_mapping.CODESETS[EACC].items()):
        codes.setdefault(chr(point), code.to_bytes(3, "big"))
    return codes


@cache
def _reverse() -> dict[str, _Code]:
    sets = tables()
    codes: dict[str, _Code] = {}
    for final in _PREFERENCE:
        for byte, entry in sorted(sets[final].items()):
            codes.setdefault(entry.char, _Code(final, byte, entry.combining))
    return codes


_DESIGNATION = re.compile(rb"\x1b(\$[()\-,]?[0-~]|[()\-,][!-/]?[0-~]|[gbp])")
"""An escape sequence designating a set (what follows ESC), as :func:`encode` and other
writers use them; ``ESC s`` (back to ASCII) is none."""
_DEFAULT_SETS = {b"(B", b")!E", b"(!E"}
"""ASCII in G0 and ANSEL in G1, which field 066 does not name."""
CHARACTER_SETS_TAG = "066"


def character_sets(encoded: bytes) -> list[bytes]:
    """What field 066 (Character Sets Present) of a record whose fields are ``encoded`` in
    MARC-8 holds, one ``$c`` each: the sets other than ASCII and ANSEL its escape sequences
    designate, each the sequence without its ESC (``(N`` Basic Cyrillic, ``$1`` CJK, ``p``
    superscripts), in the order first met; none, no field."""
    if ESC not in encoded:
        return []
    met = dict.fromkeys(m.group(1) for m in _DESIGNATION.finditer(encoded))
    return [designation for designation in met if designation not in _DEFAULT_SETS]


def encode(text: str) -> bytes:
    """``text`` as MARC-8, starting and ending with ASCII in G0 and ANSEL in G1.

    ASCII text other than DEL is its own MARC-8; other short texts are remembered, as the same
    names, places and subjects recur in record after record (a Z39.50 client that negotiates
    no character set gets every record it reads in MARC-8).
    """
    if text.isascii() and "\x7f" not in text:
        return text.encode("ascii")
    if len(text) <= _REMEMBERED_CHARS:
        return _encode_remembered(text)
    return _encode(text)


_REMEMBERED_CHARS = 200


@lru_cache(maxsize=16_384)
def _encode_remembered(text: str) -> bytes:
    return _encode(text)


def _encode(text: str) -> bytes:
    """:func:`encode`, worked out.

    A character with a code keeps it; any other letter is decomposed (NFD) into a base and
    marks, each mark written before its base as MARC-8 requires; what is still left is
    written as ``&#xHHHH;``. Spaces and controls are written in whatever set is in G0 (they
    are the same in all). ANSEL stays in G1; every other set is designated into G0, as yaz
    does, with ``ESC ( F`` (``ESC g``/``b``/``p`` for the special sets).
    """
    codes = _reverse()
    out = bytearray()
    state = {"g0": ASCII}

    def designate(final: int) -> bool:
        """Make ``final`` current; True when it sits in G0 (every set but ANSEL, as yaz)."""
        if final == ANSEL:
            return False
        if state["g0"] != final:
            if final in _SPECIAL:
                out.extend(bytes([ESC, _SPECIAL[final]]))
            elif final == ASCII and state["g0"] in _SPECIAL:
                out.extend(b"\x1bs")
            else:
                out.extend(bytes([ESC, 0x28, final]))
            state["g0"] = final
        return True

    def put(char: str) -> None:
        code = codes[char]
        current = _in_set(state["g0"]).get(char) if state["g0"] != code.final else None
        if current is not None:
            out.append(current)  # punctuation the designated set holds too
            return
        in_g0 = designate(code.final)
        out.append(code.byte if in_g0 else code.byte | 0x80)

    text = _DOUBLE_MARK.sub(_halves, unicodedata.normalize("NFC", text))
    for cluster in _clusters(text):
        base, marks = cluster[0], cluster[1:]
        if base not in codes and base != " " and ord(base) >= 0x20:
            decomposed = unicodedata.normalize("NFD", base)
            if all(char in codes for char in decomposed):
                base, marks = decomposed[0], decomposed[1:] + marks
        coded_marks = [m for m in marks if m in codes and codes[m].combining]
        loose = [m for m in marks if m not in coded_marks]
        for mark in coded_marks:
            put(mark)
        if base == " " or ord(base) < 0x20:
            out.append(ord(base))
        elif base in codes:
            put(base)
        elif base in _eacc_codes():
            if state["g0"] != EACC:
                out.extend(b"\x1b$1")
                state["g0"] = EACC
            out.extend(_eacc_codes()[base])
        else:
            designate(ASCII)
            out.extend(_reference(base))
        for mark in loose:
            designate(ASCII)
            out.extend(_reference(mark))
    designate(ASCII)
    return bytes(out)


_DOUBLE_MARK = re.compile("([\u0360\u0361])(.)", re.DOTALL)
"""A double diacritic over two letters (ALA-LC's ligature tie ``t͡s``, the double tilde): MARC-8
has none, only its halves, one on each letter (ANSEL EB and EC, FA and FB; LoC's mapping reads
them as U+FE20 and U+FE21, U+FE22 and U+FE23). It was written as ``&#x0361;``, which a MARC-8
system shows as it stands."""

_HALVES = {"\u0361": ("\ufe20", "\ufe21"), "\u0360": ("\ufe22", "\ufe23")}


def _halves(match: re.Match[str]) -> str:
    first, second = _HALVES[match[1]]
    return f"{first}{match[2]}{second}"


def _clusters(text: str) -> list[str]:
    """``text`` cut into base characters each followed by its combining marks."""
    clusters: list[str] = []
    for char in text:
        if clusters and unicodedata.combining(char):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _reference(char: str) -> bytes:
    return f"&#x{ord(char):04X};".encode("ascii")
